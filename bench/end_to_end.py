"""End to end, as a user runs it: from the script's launch to its exit (files) or last output.

Cases (issue 13, target 2):

* ``files_groupby``, ``files_filter_select``: ``--rows`` JSON lines (10M by
  default, ``bench/gen_data.py``) in one file, read with ``mode="static"``,
  the workload, ``pw.io.jsonlines.write``, ``pw.run()``. The figure is the
  time from the launch of the script to the exit of its process: Python's
  start, imports, graph building, Ray's start for raystream, the whole input,
  shutdown.
* ``kafka_groupby``: ``--messages`` JSON messages (5M) produced beforehand over
  4 partitions of a Kafka 0.9 broker (``tests.services``, started and stopped
  here by PID), read with ``pw.io.kafka.read`` (streaming), groupby-sum,
  ``pw.io.jsonlines.write``. A streaming pipeline never exits by itself, so the
  figure is the time from the launch to the arrival of the output line that
  completes the result (the harness tails the output file); then the engine
  is stopped.

Every engine runs the same script (``bench/pipelines/stream_pipeline.py``,
``import raystream as pw`` or ``import pathway as pw``; Pathway from
``bench/.venv-pathway``) on the same input, and the floor
(``bench/floor/stream_floor.py``: one plain Python process, pyarrow and
confluent-kafka) too. Engines alternate within each run, and every output is
folded and checked against the expected result. Peak memory is the summed
PSS of the engine's process tree, sampled every second ("-": the engine ended
before the first sample).

Usage (``bash scripts/install.sh`` and ``bash bench/setup_pathway.sh`` first):
    python bench/end_to_end.py                        # 10M rows, 5M messages, 2 runs
    python bench/end_to_end.py --rows 1000000 --messages 500000 --runs 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # tests.services

from cases import FLOOR, PATHWAY_PY, PIPELINE  # noqa: E402
from channels import FileTail, produce_round_robin  # noqa: E402
from engine_proc import MB, EngineProcess  # noqa: E402
from gen_data import generate  # noqa: E402
from workloads import (  # noqa: E402
    Progress,
    check,
    compute,
    expected,
    make_rows,
    parse_changelog,
    payloads,
)  # noqa: E402

CASES = ("files_groupby", "files_filter_select", "kafka_groupby")
ENGINES = ("raystream", "pathway", "floor")
KAFKA_PARTITIONS = 4
MEMORY_INTERVAL_S = 1.0  # a process that ends before the first sample shows "-"
SCHEMA = pa.schema([("key", pa.int64()), ("value", pa.int64())])


@dataclass
class Run:
    """One engine's end-to-end run of one case."""

    case: str
    engine: str
    run: int
    seconds: float | None = None
    peak_mb: float | None = None
    problem: str = ""


def engine_argv(engine: str, source: str, workload: str) -> list[str]:
    """The command line of ``engine`` on ``workload`` (without input and output)."""
    common = ["--source", source, "--workload", workload, "--sink", "files"]
    if source == "files":
        common.append("--static")
    if engine == "floor":
        return [sys.executable, str(FLOOR), *common]
    python = str(PATHWAY_PY) if engine == "pathway" else sys.executable
    return [python, str(PIPELINE), "--engine", engine, *common]


def input_file(rows: int, data_dir: Path) -> Path:
    """The shared input of ``rows`` JSON lines (generated once)."""
    path = data_dir / f"rows_{rows}_seed0.jsonl"
    if not path.exists():
        print(f"# generating {path}", flush=True)
        generate(rows, path)
    return path


def run_files(engine: str, workload: str, source: Path, want: pa.Table, work: Path,
              timeout: float) -> tuple[float | None, float, str]:
    """Runs a static file pipeline to its exit; returns (seconds, peak MB, problem)."""
    (work / "in").mkdir(parents=True)
    os.link(source, work / "in" / source.name)  # the same bytes, no copy
    output = work / "out.jsonl"
    argv = engine_argv(engine, "files", workload) + [
        "--input", str(work / "in"), "--output", str(output)]
    proc = EngineProcess(argv, work / "engine", memory_interval_s=MEMORY_INTERVAL_S)
    try:
        code = proc.proc.wait(timeout)
        seconds = time.time() - proc.launched
    except Exception:  # noqa: BLE001 - a timeout is reported, not raised
        code, seconds = None, None
    proc.stop()
    peak = proc.memory.peak.all / MB
    if code != 0:
        return None, peak, f"exit code {code}: {proc.stderr_tail()}"
    changelog = parse_changelog(output.read_bytes()) if output.exists() else None
    return seconds, peak, check(changelog, want)


def run_kafka(engine: str, broker: object, topic: str, rows: pa.Table, want: pa.Table,
              work: Path, group: str, timeout: float) -> tuple[float | None, float, str]:
    """Runs the Kafka pipeline until its output is complete; returns (s, peak MB, problem)."""
    work.mkdir(parents=True)
    output = work / "out.jsonl"
    argv = engine_argv(engine, "kafka", "groupby") + [
        "--input", topic, "--output", str(output),
        "--bootstrap", broker.bootstrap_servers]  # type: ignore[attr-defined]
    if engine != "floor":
        argv += ["--kafka-opt", f"group.id={group}"]
    proc = EngineProcess(argv, work / "engine", memory_interval_s=MEMORY_INTERVAL_S)
    progress = Progress("groupby", compute(rows, "groupby"))
    tail, chunks, done_at = FileTail(output), [], None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.alive():
        got = tail.poll(0.02)
        if got is None:
            continue
        chunks.append(got[1])
        progress.feed(got[1])
        if progress.done():
            done_at = got[0]
            break
    tail.close()
    proc.stop()
    peak = proc.memory.peak.all / MB
    if done_at is None:
        return None, peak, f"incomplete output: {proc.stderr_tail()}"
    problem = check(parse_changelog(b"".join(chunks)), want)
    return done_at - proc.launched, peak, problem


def produce(broker: object, topic: str, rows: pa.Table) -> float:
    """Produces every row as one JSON message, round-robin over the partitions."""
    from confluent_kafka import Producer

    settings = {**broker.client_settings(), "log_level": 3,  # type: ignore[attr-defined]
                "linger.ms": 20, "batch.num.messages": 10000,
                "queue.buffering.max.messages": 2_000_000,
                "queue.buffering.max.kbytes": 1 << 21}
    producer, started = Producer(settings), time.time()
    for start in range(0, rows.num_rows, 500_000):
        produce_round_robin(producer, topic, payloads(rows.slice(start, 500_000)),
                            KAFKA_PARTITIONS, start)
    if producer.flush(300) != 0:
        raise RuntimeError("the input did not flush")
    return time.time() - started


def summarise(runs: list[Run]) -> dict[str, dict]:
    """Median seconds and peak MB per case and engine, with ratios to raystream."""
    out: dict[str, dict] = {}
    for case in CASES:
        medians = {}
        for engine in ENGINES:
            good = [r for r in runs if r.case == case and r.engine == engine and not r.problem
                    and r.seconds is not None]
            if good:
                medians[engine] = {
                    "seconds": statistics.median(r.seconds for r in good),  # type: ignore[misc]
                    "peak_mb": statistics.median(r.peak_mb or 0.0 for r in good),
                    "runs": [round(r.seconds, 2) for r in good]}  # type: ignore[arg-type]
        if medians:
            out[case] = medians
    return out


def print_table(summary: dict[str, dict], sizes: dict[str, int]) -> None:
    """The end-to-end table with raystream's speed-up over Pathway and the floor."""
    print("\n| case (input rows) | raystream s | Pathway s | floor s "
          "| Pathway / raystream | floor / raystream | peak MB r / P / f |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for case, medians in summary.items():
        secs = {e: medians[e]["seconds"] if e in medians else None for e in ENGINES}
        mems = "/".join(f"{medians[e]['peak_mb']:.0f}" if medians.get(e, {}).get("peak_mb")
                        else "-" for e in ENGINES)
        ray = secs["raystream"]

        def ratio(other: float | None, ray: float | None = ray) -> str:
            return f"{other / ray:.2f}" if other and ray else "-"

        cells = " | ".join(f"{s:.2f}" if s else "-" for s in secs.values())
        print(f"| {case} ({sizes[case]:,}) | {cells} | {ratio(secs['pathway'])} "
              f"| {ratio(secs['floor'])} | {mems} |")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--work", type=Path, default=BENCH / "results" / "e2e")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "end_to_end.json")
    return parser.parse_args()


def main() -> None:  # noqa: C901 - the run loop reads best in one place
    """Runs every case for every engine, alternating, and prints the table."""
    import shutil

    args = parse_args()
    cases = [c for c in args.cases.split(",") if c]
    engines = [e for e in args.engines.split(",") if e]
    if "pathway" in engines and not PATHWAY_PY.exists():
        sys.exit("Pathway is not installed: run `bash bench/setup_pathway.sh` first")
    shutil.rmtree(args.work, ignore_errors=True)
    data_dir = BENCH / "results" / "data"
    runs: list[Run] = []
    sizes = {c: args.messages if c.startswith("kafka") else args.rows for c in CASES}
    file_cases = [c for c in cases if c.startswith("files")]
    if file_cases:
        source = input_file(args.rows, data_dir)
        table = pj.read_json(source, parse_options=pj.ParseOptions(explicit_schema=SCHEMA))
        wants = {c: expected(table, c.removeprefix("files_")) for c in file_cases}
        del table
        for run in range(args.runs):
            for case in file_cases:
                for engine in engines:
                    work = args.work / f"{case}-{engine}-{run}"
                    secs, peak, problem = run_files(engine, case.removeprefix("files_"), source,
                                                    wants[case], work, args.timeout)
                    runs.append(Run(case, engine, run, secs, peak, problem))
                    print(f"# {case} {engine} run {run}: {secs and round(secs, 2)} s, "
                          f"{peak:.0f} MB {problem}", flush=True)
                    shutil.rmtree(work, ignore_errors=True)
    if "kafka_groupby" in cases:
        from tests.services.kafka import KafkaBroker

        broker = KafkaBroker(args.work / "kafka").start()
        try:
            topic = f"e2e-{int(time.time())}"
            broker.create_topic(topic, KAFKA_PARTITIONS)
            rows = make_rows(args.messages)
            print(f"# produced {args.messages:,} messages in {produce(broker, topic, rows):.1f} s",
                  flush=True)
            want = expected(rows, "groupby")
            for run in range(args.runs):
                for engine in engines:
                    work = args.work / f"kafka-{engine}-{run}"
                    secs, peak, problem = run_kafka(engine, broker, topic, rows, want, work,
                                                    f"e2e-{engine}-{run}-{time.time_ns()}",
                                                    args.timeout)
                    runs.append(Run("kafka_groupby", engine, run, secs, peak, problem))
                    print(f"# kafka_groupby {engine} run {run}: {secs and round(secs, 2)} s, "
                          f"{peak:.0f} MB {problem}", flush=True)
        finally:
            broker.stop()
    summary = summarise(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": [asdict(r) for r in runs], "summary": summary,
                                    "rows": args.rows, "messages": args.messages,
                                    "cpus": os.cpu_count()}, indent=2))
    print_table(summary, sizes)
    print(f"\nreproduce: python bench/end_to_end.py --rows {args.rows} "
          f"--messages {args.messages} --runs {args.runs}")


if __name__ == "__main__":
    main()
