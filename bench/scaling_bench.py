"""Scaling ingestion: Kafka at 64 partitions, against readers, nodes and partitions.

One run starts its own Kafka 0.9 broker (``tests/services/kafka.py``), fills a
64-partition topic with JSON events, and measures, each as a user runs it
(a fresh ``python`` process, start-up included, exiting when done):

* **readers**: the static groupby pipeline (``bench/scaling/pipeline.py``) on
  local Ray with ``parallel_readers`` = 1, 2, 4, 8, 16;
* **floor**: N plain confluent-kafka + pyarrow processes (``bench/scaling/floor.py``),
  N = 1, 2, 4, 8, 16, each reading 64/N partitions;
* **nodes**: the pipeline with its default layout joined to a running local
  cluster of 1, 2 or 4 ``ray start`` nodes (2 CPUs for one node, else 1 each;
  the cluster's start is not counted, the driver's is). On each cluster the
  pipeline first runs twice on a 640-message topic (a warm-up, then the
  start-up run), so that the rate beyond start-up is
  ``(messages - 640) / (wall - start-up run's wall)``;
* **partitions**: peak memory (summed PSS of every process of the run) with
  4, 16 and 64 partitions, default layout.

For each run: wall time, messages/s end to end and steady (the messages the
first output did not count, over the time from the first output to the last
growth of the output file; "-" when the first output counted more than 80%),
and the CPU seconds of each process role (broker,
Ray system processes, readers, operators, sink, coordinator, driver; from
``/proc``), so that the saturating resource is measured, not guessed.

Usage:
    python bench/scaling_bench.py [--messages 640000] [--sections readers floor nodes partitions]
        [--json bench/results/scaling.json] [--plot bench/results/scaling.png] [--from-json]

The plot needs matplotlib (``pip install matplotlib``; not a raystream dependency).
640k messages take about 6 minutes here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services.kafka import COMPAT, KafkaBroker  # noqa: E402
from tests.services.ray_cluster import LocalRayCluster  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")
ROLES = ("broker", "ray-system", "reader", "operator", "sink", "coordinator", "driver",
         "floor", "idle-worker")


def role_of(cmdline: str) -> str | None:
    """The benchmark role of a process, from its command line (None: not ours)."""
    if "kafka.Kafka" in cmdline or "zookeeper" in cmdline.lower():
        return "broker"
    for actor, role in (("ReaderActor", "reader"), ("OperatorActor", "operator"),
                        ("SinkActor", "sink"), ("CoordinatorActor", "coordinator")):
        if f"ray::{actor}" in cmdline:
            return role
    if "scaling/pipeline.py" in cmdline:
        return "driver"
    if "scaling/floor.py" in cmdline:
        return "floor"
    if "ray::IDLE" in cmdline or "default_worker.py" in cmdline:
        return "idle-worker"
    if any(s in cmdline for s in ("raylet", "gcs_server", "dashboard", "ray/_private",
                                  "log_monitor", "runtime_env", "monitor.py")):
        return "ray-system"
    return None


@dataclass
class Sampler:
    """Samples CPU ticks and PSS of every process by role, every ``interval`` s."""

    interval: float = 1.0
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)
    peak_pss: float = 0.0
    peak_by_role: dict[str, float] = field(default_factory=dict)
    baseline: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _processes(self) -> list[tuple[int, str]]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                continue
            role = role_of(cmd)
            if role is not None:
                found.append((int(entry.name), role))
        return found

    def sample(self) -> None:
        """One sample: CPU seconds so far and summed PSS, per role."""
        pss_by_role: Counter = Counter()
        for pid, role in self._processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks = (int(fields[11]) + int(fields[12])) / _TICKS
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except (OSError, IndexError, ValueError):
                continue
            self.baseline.setdefault(pid, ticks)
            self.cpu[pid] = (role, ticks)
            pss = next((int(line.split()[1]) for line in rollup.splitlines()
                        if line.startswith("Pss:")), 0)
            pss_by_role[role] += pss * 1024
        total = sum(v for r, v in pss_by_role.items() if r not in ("broker", "floor"))
        if total > self.peak_pss:
            self.peak_pss = total
            self.peak_by_role = {r: v / 2**20 for r, v in pss_by_role.items()}

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self.sample()  # baseline: CPU already used before the run is not counted
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds used during the run, by role."""
        used: Counter = Counter()
        for pid, (role, ticks) in self.cpu.items():
            used[role] += ticks - self.baseline.get(pid, 0.0)
        return {r: round(used[r], 2) for r in ROLES if used[r]}


@dataclass
class Run:
    """One measured run."""

    section: str
    x: int
    wall_s: float
    messages: int
    first_output_s: float | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_pss_mb: float = 0.0
    pss_by_role_mb: dict[str, float] = field(default_factory=dict)
    counted_at_first_output: int = 0
    last_output_s: float | None = None
    baseline: tuple[int, float] | None = None
    """Messages and wall time of the same pipeline on a 640-message topic, same cluster."""

    @property
    def marginal_rate(self) -> float | None:
        """Messages per second beyond the start-up run: start-up and exit cancel out."""
        if self.baseline is None or self.wall_s <= self.baseline[1]:
            return None
        return (self.messages - self.baseline[0]) / (self.wall_s - self.baseline[1])

    @property
    def rate(self) -> float:
        """Messages per second, end to end (start-up included)."""
        return self.messages / self.wall_s

    @property
    def steady_rate(self) -> float | None:
        """Messages per second between the first and the last output.

        Counts only the messages that the first output did not include, over
        the time until the output last grew: start-up and exit are left out.
        None when the first output already counted nearly everything.
        """
        if self.first_output_s is None or self.last_output_s is None:
            return None
        seconds = self.last_output_s - self.first_output_s
        later = self.messages - self.counted_at_first_output
        if seconds < 0.3 or later < 0.2 * self.messages:
            return None
        return later / seconds


def fill_topic(broker: KafkaBroker, topic: str, partitions: int, messages: int) -> None:
    """Creates ``topic`` and produces ``messages`` JSON events spread over its partitions."""
    from confluent_kafka import Producer

    broker.create_topic(topic, partitions)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, **COMPAT,
                         "linger.ms": 50, "batch.num.messages": 10_000, "log_level": 3})
    for i in range(messages):
        payload = b'{"k": %d, "v": %d}' % (i % 1000, i % 7)
        while True:
            try:
                producer.produce(topic, payload, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 50_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "every message delivered"


def run_pipeline(section: str, x: int, broker: KafkaBroker, topic: str, messages: int,
                 readers: int | None, env: dict[str, str]) -> Run:
    """Runs ``bench/scaling/pipeline.py`` once; checks its output counts every message."""
    out = Path(tempfile.mkdtemp(prefix="scaling-")) / "out.jsonl"
    argv = [sys.executable, str(ROOT / "bench/scaling/pipeline.py"), broker.bootstrap_servers,
            topic, str(out)] + (["--readers", str(readers)] if readers else [])
    with Sampler() as sampler:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        first, first_count, size, last_growth = None, 0, 0, None
        while proc.poll() is None:
            grown = out.stat().st_size if out.exists() else 0
            if grown > size:
                size, last_growth = grown, time.monotonic() - started
                if first is None:
                    first, first_count = last_growth, _counted(out, partial=True)
            time.sleep(0.05)
        wall = time.monotonic() - started
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{section}={x}: pipeline exited {proc.returncode}:\n{stderr[-3000:]}")
    counted = _counted(out)
    if counted != messages:
        raise RuntimeError(f"{section}={x}: the output counts {counted} of {messages} messages")
    return Run(section, x, wall, messages, first, sampler.cpu_by_role(),
               sampler.peak_pss / 2**20, sampler.peak_by_role, first_count, last_growth)


def _counted(out: Path, partial: bool = False) -> int:
    """Messages the output's latest totals count (``partial``: the file is still written)."""
    latest: dict[int, int] = {}
    for line in out.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if partial:
                continue  # a line being written
            raise
        if row["diff"] > 0:
            latest[row["k"]] = row["n"]
    return sum(latest.values())


def run_floor(processes: int, broker: KafkaBroker, topic: str, partitions: int,
              messages: int) -> Run:
    """Runs ``processes`` floor consumers side by side over the topic's partitions."""
    shares = [[p for p in range(partitions) if p % processes == i] for i in range(processes)]
    with Sampler() as sampler:
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, str(ROOT / "bench/scaling/floor.py"),
                                   broker.bootstrap_servers, topic, *map(str, share)],
                                  stdout=subprocess.PIPE, cwd=ROOT) for share in shares]
        counts = [int(p.communicate()[0].decode().strip() or 0) for p in procs]
        wall = time.monotonic() - started
    if sum(counts) != messages:
        raise RuntimeError(f"floor x{processes}: read {sum(counts)} of {messages}")
    return Run("floor", processes, wall, messages, None, sampler.cpu_by_role())


def local_env() -> dict[str, str]:
    """Environment of a pipeline on its own local Ray."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               PYTHONWARNINGS="ignore::DeprecationWarning")
    return env


def print_run(run: Run) -> None:
    """One line per run."""
    steady = f"{run.steady_rate:>9,.0f}" if run.steady_rate else f"{'-':>9}"
    cpu = " ".join(f"{r}={v:.1f}" for r, v in run.cpu_s.items())
    memory = f" peak {run.peak_pss_mb:,.0f} MB" if run.peak_pss_mb else ""
    marginal = (f" | beyond start-up ({run.baseline[1]:.1f} s for {run.baseline[0]} messages)"
                f" {run.marginal_rate:,.0f} msg/s" if run.marginal_rate and run.baseline else "")
    first = f" first output {run.first_output_s:.1f} s" if run.first_output_s else ""
    print(f"{run.section:>10} {run.x:>4} {run.wall_s:>7.1f} s {run.rate:>9,.0f} msg/s "
          f"steady {steady}{marginal}{first} | cpu s: {cpu}{memory}", flush=True)


def main() -> None:
    """Runs the sections and prints, stores and plots the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=640_000)
    parser.add_argument("--sections", nargs="+",
                        default=["readers", "floor", "nodes", "partitions"])
    parser.add_argument("--readers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partition-counts", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--json", default=str(ROOT / "bench/results/scaling.json"))
    parser.add_argument("--plot", default=str(ROOT / "bench/results/scaling.png"))
    parser.add_argument("--from-json", action="store_true",
                        help="print and plot the runs stored in --json, run nothing")
    args = parser.parse_args()
    if args.from_json:
        fields = set(Run.__dataclass_fields__)
        stored = json.loads(Path(args.json).read_text())["runs"]
        runs = [Run(**{k: v for k, v in r.items() if k in fields}) for r in stored]
        for run in runs:
            print_run(run)
        summarize(runs)
        plot(runs, Path(args.plot))
        return
    runs: list[Run] = []
    broker = KafkaBroker(timeout=120).start()
    try:
        topic = "scaling-64"
        fill_topic(broker, topic, 64, args.messages)
        startup_topic = "scaling-64-startup"  # 10 messages per partition: start-up and exit
        if "nodes" in args.sections:
            fill_topic(broker, startup_topic, 64, 640)
        print(f"# {args.messages:,} JSON messages over 64 partitions; {os.cpu_count()} cores")
        if "floor" in args.sections:
            for n in args.readers:
                runs.append(run_floor(n, broker, topic, 64, args.messages))
                print_run(runs[-1])
        if "readers" in args.sections:
            for n in args.readers:
                runs.append(run_pipeline("readers", n, broker, topic, args.messages, n,
                                         local_env()))
                print_run(runs[-1])
        if "nodes" in args.sections:
            for n in args.nodes:
                cluster = LocalRayCluster(workers=n - 1, cpus_per_node=max(1, 2 // n),
                                          timeout=240).start()
                try:
                    env = cluster.env(PYTHONWARNINGS="ignore::DeprecationWarning")
                    # a first job on a fresh cluster pays for its workers: warm it up,
                    # then time the 640-message run right before the measured one
                    run_pipeline("nodes-startup", n, broker, startup_topic, 640, None, env)
                    small = run_pipeline("nodes-startup", n, broker, startup_topic, 640, None,
                                         env)
                    print_run(small)
                    runs.append(run_pipeline("nodes", n, broker, topic, args.messages, None,
                                             env))
                    runs[-1].baseline = (small.messages, small.wall_s)
                    print_run(runs[-1])
                finally:
                    cluster.stop()
        if "partitions" in args.sections:
            for count in args.partition_counts:
                name = f"scaling-{count}"
                if count != 64:
                    fill_topic(broker, name, count, args.messages)
                runs.append(run_pipeline("partitions", count, broker, name, args.messages,
                                         None, local_env()))
                print_run(runs[-1])
    finally:
        broker.stop()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(
        {"messages": args.messages, "cores": os.cpu_count(),
         "runs": [dict(asdict(r), rate=r.rate, steady_rate=r.steady_rate,
                       marginal_rate=r.marginal_rate) for r in runs]},
        indent=1))
    summarize(runs)
    plot(runs, Path(args.plot))


def summarize(runs: list[Run]) -> None:
    """Ratios against the floor with the same process count, and the CPU shares."""
    floor = {r.x: r for r in runs if r.section == "floor"}
    best_floor = max((r.rate for r in floor.values()), default=None)
    for run in runs:
        if run.section == "nodes" and run.marginal_rate and 1 in floor:
            print(f"nodes={run.x}: beyond start-up {run.marginal_rate:,.0f} msg/s = "
                  f"{run.marginal_rate / floor[1].rate:.2f}x the single-process floor")
    for run in runs:
        if run.section == "readers" and run.x in floor:
            print(f"readers={run.x}: {run.rate / floor[run.x].rate:.2f}x the floor with "
                  f"{run.x} processes end to end"
                  + (f", steady {run.steady_rate / best_floor:.2f}x the best floor"
                     if run.steady_rate and best_floor else ""))
        total = sum(run.cpu_s.values())
        if total:
            shares = ", ".join(f"{r} {100 * v / total:.0f}%" for r, v in
                               sorted(run.cpu_s.items(), key=lambda kv: -kv[1]))
            print(f"  {run.section}={run.x}: {total:.1f} CPU s over {run.wall_s:.1f} s "
                  f"({total / run.wall_s:.2f} cores busy): {shares}")


def plot(runs: list[Run], path: Path) -> None:
    """Throughput against readers/processes and nodes, memory against partitions."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for section, label, style in (("readers", "raystream (end to end)", "o-"),
                                  ("floor", "floor: N plain consumers", "s--")):
        points = sorted((r.x, r.rate) for r in runs if r.section == section)
        if points:
            axes[0].plot(*zip(*points, strict=True), style, label=label)
    steady = sorted((r.x, r.steady_rate) for r in runs if r.section == "readers"
                    and r.steady_rate)
    if steady:
        axes[0].plot(*zip(*steady, strict=True), "o:", label="raystream (steady)")
    axes[0].set(xscale="log", xlabel="readers / processes", ylabel="messages/s",
                title="Kafka, 64 partitions")
    axes[0].legend()
    nodes = sorted((r.x, r.rate) for r in runs if r.section == "nodes")
    if nodes:
        axes[1].plot(*zip(*nodes, strict=True), "o-", label="end to end")
        axes[1].set_xticks([x for x, _ in nodes])
    nodes_steady = sorted((r.x, r.steady_rate) for r in runs if r.section == "nodes"
                          and r.steady_rate)
    if nodes_steady:
        axes[1].plot(*zip(*nodes_steady, strict=True), "o:", label="steady")
        axes[1].legend()
    axes[1].set(xlabel="Ray nodes (2 cores shared)", ylabel="messages/s",
                title="default layout, local cluster")
    memory = sorted((r.x, r.peak_pss_mb) for r in runs if r.section == "partitions")
    if memory:
        axes[2].plot(*zip(*memory, strict=True), "o-")
        axes[2].set_ylim(bottom=0)
        axes[2].set_xticks([x for x, _ in memory])
    axes[2].set(xlabel="partitions", ylabel="peak PSS of all processes, MB",
                title="memory, default layout")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
