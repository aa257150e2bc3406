"""Fault tolerance figures: checkpoint overhead, recovery time, checkpoint size, chaos.

Sections (``--sections``, comma-separated, default all):

* ``overhead``: a static file groupby (``--rows`` rows, ``--keys`` keys) run
  three ways in one process, interleaved ``--runs`` times: checkpoints off
  (internal setting, not a user option), checkpoints in the driver's memory
  (the default, in-run recovery), and persistence to a filesystem backend.
  Rows/s are timed from the started pipeline to its end (start-up apart);
  ratios are against checkpoints-off measured in the same run.
* ``recovery``: a streaming file groupby fed continuously; the stateful
  operator's worker process is SIGKILLed ``--kills`` times; for each kill, the
  time until the supervisor finished the rollback and the time until new
  output rows appeared after the kill.
* ``size``: a static groupby over ``--size-keys`` distinct keys with filesystem
  persistence: bytes of the final checkpoint (parts and manifest).
* ``chaos``: Kafka (0.9 broker) -> groupby -> transactional Kafka (noida-db):
  ``--chaos-kills`` random actor kills; then rows lost and duplicated (from
  the read_committed output against a Python reference) and recovery times.

Reproduce (from the repository root, after ``bash scripts/install.sh``)::

    python bench/recovery_bench.py --runs 3
    python bench/recovery_bench.py --sections chaos --chaos-kills 100

Results are printed and saved to ``bench/results/recovery.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import ray  # noqa: E402
from raystream.actors.runtime import CheckpointSettings, Pipeline  # noqa: E402

import raystream as pw  # noqa: E402
from raystream.graph import G  # noqa: E402
from raystream.run import build_plan, checkpoint_settings  # noqa: E402
from tests.recovery_helpers import (  # noqa: E402
    changelog,
    fold,
    kill_actor_process,
    repeated_changes,
    wait_until,
)

RESULTS = BENCH / "results"


class Event(pw.Schema):
    k: int
    v: int


def write_events(path: Path, start: int, count: int, keys: int) -> None:
    """Appends ``count`` JSON lines ``{"k": i % keys, "v": i % 7}``."""
    with path.open("a") as handle:
        for lo in range(start, start + count, 100_000):
            hi = min(lo + 100_000, start + count)
            handle.write("".join(f'{{"k": {i % keys}, "v": {i % 7}}}\n' for i in range(lo, hi)))


def groupby(source: Path, out: Path, mode: str, batch: int = 65536,
            autocommit_ms: int = 1500) -> None:
    """Defines files -> groupby(k) sum/count -> files."""
    G.clear()
    t = pw.io.jsonlines.read(source, schema=Event, mode=mode, max_batch_rows=batch,
                             autocommit_duration_ms=autocommit_ms)
    pw.io.jsonlines.write(t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.v),
                                                n=pw.reducers.count()), out)


def timed_run(settings: CheckpointSettings) -> tuple[float, float, Pipeline]:
    """Starts and runs the defined pipeline; returns (start-up s, run s, pipeline)."""
    began = time.monotonic()
    pipeline = Pipeline(build_plan(list(G.sinks), monitoring=False), settings).start()
    started = time.monotonic()
    pipeline.wait()
    ended = time.monotonic()
    pipeline.shutdown()
    return started - began, ended - started, pipeline


# -- overhead ----------------------------------------------------------------------------

def overhead(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = work / "overhead.jsonl"
    write_events(source, 0, args.rows, args.keys)
    modes: dict[str, Any] = {
        "checkpoints off": lambda: CheckpointSettings(None, None, 0),  # type: ignore[arg-type]
        "in-run (memory, default)": lambda: checkpoint_settings(None, 10, None),
        "persistence (filesystem)": lambda: checkpoint_settings(
            pw.persistence.Config(pw.persistence.Backend.filesystem(
                tempfile.mkdtemp(dir=work))), 10, None),
    }
    runs: dict[str, list[float]] = {m: [] for m in modes}
    checkpoints: dict[str, list[int]] = {m: [] for m in modes}
    for _ in range(args.runs):
        for mode, make in modes.items():
            groupby(source, work / "overhead-out.jsonl", "static")
            _, seconds, pipeline = timed_run(make())
            runs[mode].append(args.rows / seconds)
            checkpoints[mode].append(pipeline.checkpointer.written)
    medians = {m: statistics.median(v) for m, v in runs.items()}
    base = medians["checkpoints off"]
    return {"rows": args.rows, "keys": args.keys, "rows_per_s": runs, "median": medians,
            "ratio_to_off": {m: v / base for m, v in medians.items()},
            "checkpoints_written": checkpoints}


# -- recovery time ----------------------------------------------------------------------

def recovery(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source, out = work / "recovery.jsonl", work / "recovery-out.jsonl"
    write_events(source, 0, 20_000, 200)
    groupby(source, out, "streaming", batch=2000, autocommit_ms=200)
    pipeline = Pipeline(build_plan(list(G.sinks), monitoring=False,
                                   reduce_parallelism=2), checkpoint_settings(None, 10**6,
                                                                              None)).start()
    written, stop = [20_000], threading.Event()

    def feed() -> None:
        while not stop.is_set():
            write_events(source, written[0], 500, 200)
            written[0] += 500
            time.sleep(0.1)

    rollback_s, flowing_s = [], []
    feeder = threading.Thread(target=feed, daemon=True)

    def kills() -> None:
        wait_until(lambda: pipeline.checkpointer.written >= 1, 120, "a checkpoint")
        for _ in range(args.kills):
            time.sleep(2.0)
            recoveries, lines = pipeline.supervisor.recoveries, len(changelog(out))
            killed = time.monotonic()
            kill_actor_process(pipeline, "operator")
            wait_until(lambda r=recoveries: pipeline.supervisor.recoveries > r, 120, "recovery")
            rollback_s.append(pipeline.supervisor.last_recovery_s)
            wait_until(lambda n=lines: len(changelog(out)) > n, 120, "new output")
            flowing_s.append(time.monotonic() - killed)
        stop.set()

    killer = threading.Thread(target=kills, daemon=True)
    feeder.start()
    killer.start()
    while killer.is_alive():
        pipeline._step(0.05)
    pipeline.stop()
    pipeline.wait(timeout=300)
    pipeline.shutdown()
    expected = _expected(written[0], 200)
    return {"kills": args.kills, "rollback_s": rollback_s, "kill_to_output_s": flowing_s,
            "kill_to_output_median_s": statistics.median(flowing_s),
            "kill_to_output_max_s": max(flowing_s),
            "exact": fold(changelog(out), ["k", "s", "n"]) == expected}


def _expected(total: int, keys: int) -> Counter:
    sums: Counter = Counter()
    counts: Counter = Counter()
    for i in range(total):
        sums[i % keys] += i % 7
        counts[i % keys] += 1
    return Counter({(k, sums[k], counts[k]): 1 for k in sums})


# -- checkpoint size -------------------------------------------------------------------

def size(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source, storage = work / "size.jsonl", work / "size-pstorage"
    write_events(source, 0, args.size_keys, args.size_keys)
    groupby(source, work / "size-out.jsonl", "static")
    config = pw.persistence.Config(pw.persistence.Backend.filesystem(storage))
    timed_run(checkpoint_settings(config, 10, None))
    manifest = sorted(storage.glob("*/manifests/*.json"))[-1]
    parts = list(manifest.parent.parent.glob(f"chk-{manifest.stem}/**/*"))
    part_bytes = sum(p.stat().st_size for p in parts if p.is_file())
    return {"keys": args.size_keys, "part_bytes": part_bytes,
            "manifest_bytes": manifest.stat().st_size,
            "bytes_per_key": part_bytes / args.size_keys}


# -- chaos ---------------------------------------------------------------------------------

def chaos(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from tests.services.kafka import KafkaBroker
    from tests.services.noida import NoidaBroker
    from tests.test_kafka_helpers import consume_all, produce, reader_settings

    source_broker, sink_broker = KafkaBroker().start(), NoidaBroker().start()
    try:
        source_broker.create_topic("chaos-in", partitions=4)
        sink_broker.create_topic("chaos-out", partitions=2)
        G.clear()
        events = pw.io.kafka.read(reader_settings(source_broker, "chaos"), "chaos-in",
                                  format="json", schema=Event, autocommit_duration_ms=150,
                                  max_batch_rows=500)
        pw.io.kafka.write(events.groupby(events.k).reduce(
            events.k, s=pw.reducers.sum(events.v), n=pw.reducers.count()),
            sink_broker.client_config(), "chaos-out", format="json")
        pipeline = Pipeline(build_plan(list(G.sinks), monitoring=False, reduce_parallelism=2),
                            checkpoint_settings(None, 10**6, None)).start()
        rng = random.Random(args.seed)
        produced, stop, times, victims = [0], threading.Event(), [], Counter()

        def feed() -> None:
            settings = source_broker.client_settings()
            while not stop.is_set():
                produce(settings, "chaos-in", [json.dumps({"k": i % 50, "v": i % 7})
                                               for i in range(produced[0], produced[0] + 300)])
                produced[0] += 300
                time.sleep(0.1)

        def kills() -> None:
            wait_until(lambda: pipeline.checkpointer.written >= 1, 120, "a checkpoint")
            for n in range(args.chaos_kills):
                time.sleep(rng.uniform(0.5, 2.0))
                if n == args.chaos_kills // 2:
                    source_broker.restart_broker()
                kind = rng.choice(["reader", "operator", "sink", "coordinator"])
                recoveries = pipeline.supervisor.recoveries
                kill_actor_process(pipeline, kind)
                victims[kind] += 1
                wait_until(lambda r=recoveries: pipeline.supervisor.recoveries > r, 300,
                           "recovery")
                times.append(pipeline.supervisor.last_recovery_s)
            stop.set()

        threads = [threading.Thread(target=f, daemon=True) for f in (feed, kills)]
        for thread in threads:
            thread.start()
        while threads[1].is_alive():
            pipeline._step(0.05)
        threads[0].join()
        expected = _expected(produced[0], 50)
        rows: list[dict] = []

        def caught_up() -> bool:
            pipeline._step(0.05)
            rows[:] = [m.json() for m in consume_all(sink_broker.client_config(), "chaos-out",
                                                     idle_s=0.5, timeout_s=60)]
            return fold(rows, ["k", "s", "n"]) == expected

        exact = True
        try:
            wait_until(caught_up, 300, "the output to catch up")
        except TimeoutError:
            exact = False
        pipeline.stop()
        pipeline.wait(timeout=300)
        pipeline.shutdown()
        got = fold(rows, ["k", "s", "n"])
        return {"kills": args.chaos_kills, "killed": dict(victims),
                "recoveries": pipeline.supervisor.recoveries, "exact": exact,
                "groups_wrong_or_missing": len(expected - got), "groups_extra": len(got - expected),
                "changes_written_twice": len(repeated_changes(rows, ["k", "s", "n"])),
                "messages_in": produced[0], "recovery_s_median": statistics.median(times),
                "recovery_s_max": max(times)}
    finally:
        source_broker.stop()
        sink_broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="overhead,recovery,size,chaos")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--size-keys", type=int, default=1_000_000)
    parser.add_argument("--chaos-kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(include_dashboard=False, logging_level=logging.WARNING, configure_logging=False)
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="rs-recovery-") as tmp:
        for section in args.sections.split(","):
            results[section] = globals()[section](args, Path(tmp))
            print(section, json.dumps(results[section], indent=1, default=str), flush=True)
    results["load_after"] = os.getloadavg()
    (RESULTS / "recovery.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
