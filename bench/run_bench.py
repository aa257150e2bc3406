"""raystream vs Pathway vs the floor on files, Kafka and Kinesis, in one run.

Every case runs ``--runs`` times (engines interleaved, run by run); the tables
show medians. How a run is measured: ``bench/runner.py``. What is run:
``bench/cases.py``. The services must be running (``bench/run_all.sh`` starts
them): ``python -m tests.services --state-dir bench/results/services start kafka``
(and ``kinesalite``).

Writes ``bench/results/bench.json`` (every run, the medians, the machine's
load average before each run) and prints the tables; ``bench/plot.py`` draws
them. Reproduce: ``bash bench/run_all.sh`` (or this script with the same
arguments, printed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # tests.services

from cases import ENGINES, PATHWAY_PY, SUITES, Case, Settings, build_cases  # noqa: E402
from gen_data import generate  # noqa: E402
from report import render, summarise  # noqa: E402
from runner import Result, Services, run_case  # noqa: E402
from workloads import make_rows  # noqa: E402

RESULTS = BENCH / "results"


def wait_for_quiet(max_load: float, max_wait_s: float, hold_s: float = 0.0) -> tuple[float, ...]:
    """Waits until the 1-minute load average stays below ``max_load`` for ``hold_s``."""
    deadline = time.monotonic() + max_wait_s
    calm_since: float | None = None
    while time.monotonic() < deadline:
        load = os.getloadavg()
        if load[0] < max_load:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= hold_s:
                return load
        else:
            calm_since = None
        time.sleep(2.0)
    print(f"# load still {os.getloadavg()[0]:.2f} after {max_wait_s:.0f} s; going on", flush=True)
    return os.getloadavg()


class Inputs:
    """Bulk inputs, generated once and shared by every engine and run."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.tables: dict[tuple[str, int], pa.Table] = {}

    def file(self, rows: int) -> Path:
        """The JSON-lines file of ``rows`` rows (bench/gen_data.py)."""
        path = self.data_dir / f"rows_{rows}_seed0.jsonl"
        if not path.exists():
            print(f"# generating {path}", flush=True)
            generate(rows, path)
        return path

    def table(self, case: Case) -> pa.Table:
        """The bulk rows of ``case``."""
        key = (case.source if case.source == "files" else "stream", case.rows)
        if key not in self.tables:
            if case.source == "files":
                schema = pa.schema([("key", pa.int64()), ("value", pa.int64())])
                self.tables[key] = pj.read_json(
                    self.file(case.rows), parse_options=pj.ParseOptions(explicit_schema=schema))
            else:
                self.tables[key] = make_rows(case.rows)
        return self.tables[key]


def blocks(cases: list[Case]) -> list[list[Case]]:
    """Cases grouped so that the engines (or variants) of one figure alternate."""
    out: dict[tuple, list[Case]] = {}
    for case in cases:
        out.setdefault((case.group, case.source, case.workload, case.kind,
                        case.rows if case.group != "scaling" else 0), []).append(case)
    return list(out.values())


def write_results(path: Path, meta: dict, cases: list[Case],
                  results: dict[str, list[Result]]) -> list[dict]:
    """Writes every run and the medians; returns the medians."""
    summaries = [summarise(c, results[c.key]) for c in cases if results.get(c.key)]
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": {**meta, "loadavg_now": os.getloadavg()}, "summary": summaries,
               "runs": {k: [asdict(r) for r in v] for k, v in results.items()}}
    path.write_text(json.dumps(payload, indent=2, default=str))
    return summaries


def _pathway_version() -> str | None:
    if not PATHWAY_PY.exists():
        return None
    import subprocess

    probe = [str(PATHWAY_PY), "-c", "import importlib.metadata as m; print(m.version('pathway'))"]
    return subprocess.run(probe, capture_output=True, text=True).stdout.strip() or None


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=list(SUITES), default="full")
    parser.add_argument("--sections", default=None,
                        help="comma-separated subset of files,kafka,kinesis,scaling,memory")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--only", default="",
                        help="comma-separated substrings; keep the cases whose key has all")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=None,
                        help="rows/s of the files and Kafka latency runs (default: the suite's)")
    parser.add_argument("--kinesis-rate", type=int, default=None,
                        help="rows/s of the Kinesis latency run (default: the suite's)")
    parser.add_argument("--commit-ms", type=int, default=200)
    parser.add_argument("--trace", action="store_true",
                        help="latency runs: trace raystream's batches and print where the "
                             "late rows waited (bench/latency_trace.py)")
    parser.add_argument("--max-load", type=float, default=1.5,
                        help="before starting, wait until the 1-minute load average stays "
                             "below this for --quiet-start seconds")
    parser.add_argument("--quiet-start", type=float, default=0.0)
    parser.add_argument("--run-max-load", type=float, default=99.0,
                        help="before each run, wait while the 1-minute load is above this")
    parser.add_argument("--services", type=Path, default=RESULTS / "services")
    parser.add_argument("--results", type=Path, default=RESULTS / "bench.json")
    parser.add_argument("--data-dir", type=Path, default=BENCH / "data")
    return parser.parse_args()


def main() -> None:
    """Runs the suite, prints the tables, writes the results."""
    args = parse_args()
    suite = SUITES[args.suite]
    if args.sections:
        suite.sections = tuple(args.sections.split(","))
    if args.rate:
        suite.rate = args.rate
    if args.kinesis_rate:
        suite.kinesis_rate = args.kinesis_rate
    engines = tuple(args.engines.split(","))
    settings = Settings(runs=args.runs, commit_ms=args.commit_ms, max_load=args.run_max_load,
                        trace=args.trace)
    cases = [c for c in build_cases(suite, engines)
             if all(part in c.key for part in args.only.split(",") if part)]
    services, inputs = Services(args.services), Inputs(args.data_dir)
    reproduce = shlex.join(["python", "bench/run_bench.py", *sys.argv[1:]])
    start_load = wait_for_quiet(args.max_load, settings.max_load_wait_s, args.quiet_start) \
        if args.quiet_start else os.getloadavg()
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
            "python": platform.python_version(), "pyarrow": pa.__version__,
            "pathway": _pathway_version(), "suite": args.suite, "suite_sizes": asdict(suite),
            "commit_ms": args.commit_ms, "runs": args.runs, "loadavg_start": start_load,
            "reproduce": reproduce}
    results: dict[str, list[Result]] = {}
    print(f"# {len(cases)} cases x {args.runs} runs; load {start_load[0]:.2f}", flush=True)
    for block in blocks(cases):
        for run in range(args.runs):
            for case in block:
                wait_for_quiet(settings.max_load, settings.max_load_wait_s)
                bulk = inputs.table(case) if case.kind == "throughput" else None
                bulk_file = inputs.file(case.rows) if case.kind == "throughput" and \
                    case.source == "files" else None
                duration = suite.latency_s
                result = run_case(case, run, services, settings, bulk, bulk_file, duration)
                results.setdefault(case.key, []).append(result)
                _print_run(case, result)
                write_results(args.results, meta, cases, results)
    summaries = write_results(args.results, meta, cases, results)
    print(render(summaries, args.commit_ms))
    print(f"\nwrote {args.results}\nreproduce: {reproduce}")


def _print_run(case: Case, r: Result) -> None:
    figures = (f"start {r.startup_s or 0:.2f}s window {r.window_s or 0:.2f}s "
               f"{(r.rows_per_s or 0):,.0f} rows/s cpu {r.cpu_s or 0:.1f}s"
               if case.kind == "throughput" else
               f"p50 {r.p50_ms or 0:.0f}ms p99 {r.p99_ms or 0:.0f}ms n={r.samples}")
    print(f"{case.key} run {r.run + 1}: {r.status} {figures} peak {r.peak_pipeline_mb or 0:.0f}/"
          f"{r.peak_all_mb or 0:.0f} MB load {r.loadavg[0]:.1f} {r.problem[:200]}", flush=True)
    if r.notes.get("cpu_by_role"):
        print(f"    cpu in window by process: {r.notes['cpu_by_role']}", flush=True)


if __name__ == "__main__":
    main()
