"""Profiles (py-spy) or memory-samples one raystream benchmark case, run as the harness runs it.

The case runs through ``bench/runner.py`` unchanged (launch, warm-up,
suspend, hand-over, resume, final output, stop). This script only hooks in:

* ``--mode profile``: right after the resume, one ``py-spy record --native
  --idle --threads --format raw`` per pipeline process (driver and every
  ``ray::`` actor worker); all are stopped with SIGINT when the final output
  is seen, so the profiles cover the throughput window only. The harness's
  0.2 s memory sampling is turned off (it stalls the pipeline).
* ``--mode memory``: PSS (and its anon / shmem / file parts) of every process
  of the tree every ``--interval`` seconds; per process the peak is kept, and
  the peak of the sum, with the per-process values at that moment.
* ``--mode plain``: neither (the throughput reference for the profile's overhead).

Results go to ``bench/results/profile/<case>-<mode>-<run>/`` (git-ignored);
``bench/flame_summary.py`` summarises the raw profiles.

Usage (services as for run_bench.py):
    python bench/profile_case.py --source kafka --workload filter_select --rows 1000000 \
        --mode profile --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import runner  # noqa: E402
from cases import Case, Settings  # noqa: E402
from engine_proc import is_pipeline_process  # noqa: E402
from proc_sampler import _read, process_tree  # noqa: E402
from run_bench import Inputs  # noqa: E402

PY_SPY = os.environ.get("PY_SPY", "py-spy")
OUT = BENCH / "results" / "profile"


class Profilers:
    """One ``py-spy record`` per pipeline process of the engine."""

    def __init__(self, out: Path, rate: int, native: bool) -> None:
        self.out, self.rate, self.native = out, rate, native
        self.procs: list[tuple[int, str, subprocess.Popen]] = []
        self.started = 0.0

    def start(self, engine: Any) -> None:
        """Attaches to the driver and every actor worker of ``engine``."""
        self.started = time.time()
        for pid in sorted(engine.tree()):
            if not is_pipeline_process(pid, engine.pid):
                continue
            role = engine.role(pid).replace("ray::", "")
            argv = [PY_SPY, "record", "--pid", str(pid), "--rate", str(self.rate), "--idle",
                    "--threads", "--format", "raw", "-o", str(self.out / f"{role}-{pid}.txt")]
            if self.native:
                argv.append("--native")
            log = open(self.out / f"{role}-{pid}.log", "w")  # noqa: SIM115 - child's log
            self.procs.append((pid, role, subprocess.Popen(argv, stdout=log, stderr=log)))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Waits until every profiler has attached and samples (native symbols load slowly)."""
        deadline = time.monotonic() + timeout
        for pid, role, _ in self.procs:
            log = self.out / f"{role}-{pid}.log"
            while time.monotonic() < deadline and "Sampling process" not in log.read_text():
                time.sleep(0.05)

    def signal(self, sig: int) -> None:
        """Sends ``sig`` to every profiler (SIGSTOP/SIGCONT: pause with the engine)."""
        for _, _, proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, sig)

    def stop(self) -> float:
        """SIGINTs every profiler (they write their files) and waits; returns seconds."""
        seconds = time.time() - self.started
        self.signal(signal.SIGCONT)
        for _, _, proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for _, _, proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        return seconds


def _smaps(pid: int) -> dict[str, int]:
    """Pss and its parts (kB) from ``smaps_rollup``."""
    out: dict[str, int] = {}
    for line in (_read(f"/proc/{pid}/smaps_rollup") or "").splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"):
            out[key] = int(rest.split()[0])
    return out


class PerProcessMemory:
    """Samples every process of the engine's tree; keeps per-process and summed peaks."""

    def __init__(self, engine: Any, interval: float) -> None:
        self.engine, self.interval = engine, interval
        self.peaks: dict[int, dict[str, Any]] = {}
        self.peak_sum = 0
        self.at_peak: dict[int, dict[str, Any]] = {}
        self.series: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        """One sample of every process."""
        now: dict[int, dict[str, Any]] = {}
        for pid in process_tree(self.engine.pid):
            mem = _smaps(pid)
            if not mem:
                continue
            role = self.engine.role(pid)
            now[pid] = {"role": role, "pipeline": is_pipeline_process(pid, self.engine.pid),
                        **mem}
            peak = self.peaks.setdefault(pid, {"role": role, "Pss": 0})
            if mem.get("Pss", 0) > peak["Pss"]:
                peak.update(now[pid])
        total = sum(m.get("Pss", 0) for m in now.values())
        pipeline = sum(m.get("Pss", 0) for m in now.values() if m["pipeline"])
        self.series.append((time.time(), pipeline, total))
        if pipeline > self.peak_sum:
            self.peak_sum, self.at_peak = pipeline, now

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:  # noqa: D102
        self._thread.start()

    def stop(self) -> None:  # noqa: D102
        self._stop.set()
        self._thread.join()


CURRENT: dict[str, Any] = {}


def _install_hooks(mode: str, args: argparse.Namespace) -> None:
    """Wraps the runner's engine start, resume and throughput step (once per process).

    The per-run state lives in ``CURRENT`` (``out``: the run's directory).
    """
    original_resume = runner.EngineProcess.resume
    original_suspend = runner.EngineProcess.suspend
    original_throughput = runner._throughput
    original_init = runner.EngineProcess.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        if mode in ("profile", "memory"):
            kw["memory_interval_s"] = 3600.0  # no harness smaps reads (memory: ours only)
        original_init(self, *a, **kw)
        if mode == "memory":
            CURRENT["memory"] = PerProcessMemory(self, args.interval)
            CURRENT["memory"].start()

    def suspend(self: Any) -> None:
        # The profilers attach before the hand-over and are paused with the engine, so
        # their samples cover the window only (a late attach misses the start: py-spy
        # --native needs seconds to load symbols).
        if mode == "profile" and CURRENT.get("in_window") and "profilers" not in CURRENT:
            CURRENT["profilers"] = Profilers(CURRENT["out"], args.rate, not args.no_native)
            CURRENT["profilers"].start(self)
            CURRENT["profilers"].wait_ready()
            CURRENT["profilers"].signal(signal.SIGSTOP)
        original_suspend(self)

    def resume(self: Any) -> None:
        original_resume(self)
        if "profilers" in CURRENT and CURRENT.get("in_window"):
            CURRENT["profilers"].started = time.time()
            CURRENT["profilers"].signal(signal.SIGCONT)

    def throughput(*a: Any, **kw: Any) -> Any:
        CURRENT["in_window"] = True
        try:
            return original_throughput(*a, **kw)
        finally:
            CURRENT["in_window"] = False
            if "profilers" in CURRENT:
                CURRENT["profiled_s"] = CURRENT["profilers"].stop()
            if "memory" in CURRENT:
                CURRENT["memory"].sample()
                CURRENT["memory"].stop()

    runner.EngineProcess.__init__ = init  # type: ignore[method-assign]
    runner.EngineProcess.resume = resume  # type: ignore[method-assign]
    runner.EngineProcess.suspend = suspend  # type: ignore[method-assign]
    runner._throughput = throughput  # type: ignore[assignment]


def main() -> None:
    """Runs the case ``--runs`` times in the chosen mode; writes a summary per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="kafka")
    parser.add_argument("--workload", default="filter_select")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--mode", choices=["profile", "memory", "plain"], default="profile")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--no-native", action="store_true")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--read-opt", action="append", default=[])
    parser.add_argument("--run-opt", action="append", default=[])
    parser.add_argument("--kafka-opt", action="append", default=[],
                        help="librdkafka settings of the reader (k=v), e.g. "
                             "queued.min.messages=100000 for librdkafka's default prefetch")
    parser.add_argument("--commit-ms", type=int, default=200)
    parser.add_argument("--services", type=Path, default=BENCH / "results" / "services")
    args = parser.parse_args()
    partitions = args.partitions or (1 if args.source == "files" else 4)
    label = ",".join(args.read_opt + args.run_opt + args.kafka_opt)
    case = Case("profile", args.source, args.workload, args.rows, "raystream",
                partitions=partitions, read_opts=tuple(args.read_opt),
                run_opts=tuple(args.run_opt), kafka_opts=tuple(args.kafka_opt), label=label)
    inputs, services = Inputs(BENCH / "data"), runner.Services(args.services)
    bulk = inputs.table(case)
    bulk_file = inputs.file(case.rows) if case.source == "files" else None
    _install_hooks(args.mode, args)
    for run in range(args.runs):
        out = OUT / f"{case.key}-{args.mode}-{run}"
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*"):
            old.unlink()
        CURRENT.clear()
        CURRENT["out"] = out
        state = CURRENT
        load = os.getloadavg()
        result = runner.run_case(case, run, services, Settings(commit_ms=args.commit_ms),
                                 bulk, bulk_file, 0.0)
        summary = {"case": case.key, "mode": args.mode, "run": run, "load_before": load,
                   "load_after": os.getloadavg(), "status": result.status,
                   "problem": result.problem[:300], "startup_s": result.startup_s,
                   "window_s": result.window_s, "rows_per_s": result.rows_per_s,
                   "cpu_s": result.cpu_s, "cpu_by_role": result.notes.get("cpu_by_role"),
                   "profiled_s": state.get("profiled_s"), "verified": result.verified}
        memory = state.get("memory")
        if memory is not None:
            summary["peak_pipeline_mb"] = memory.peak_sum / 1024
            summary["at_peak"] = {str(p): v for p, v in memory.at_peak.items()}
            summary["per_process_peak"] = {str(p): v for p, v in memory.peaks.items()}
            summary["series"] = memory.series
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        print(json.dumps({k: v for k, v in summary.items()
                          if k not in ("at_peak", "per_process_peak", "series")}, default=str),
              flush=True)


if __name__ == "__main__":
    main()
