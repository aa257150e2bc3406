"""File-workload benchmark: raystream vs Pathway vs the floor (plain pyarrow).

For each workload (``filter_select``, ``groupby``) and input size, every engine
runs as its own subprocess ``--runs`` times (runs are interleaved across
engines). Per run it records the wall time from process start to exit, the
pipeline-only time the script prints (``pw.run()`` only, so import and startup
show separately), the peak memory of the whole process tree (summed RSS sampled
from /proc every 50 ms; ``--memory pss`` to split shared pages such as Ray's
object store fairly), and checks that the folded output equals the floor's
result (sum ``diff`` per distinct row, keep the rows with a positive net count).

Memory: ``peak MB`` is the engine's process tree (a local Ray started by the
driver, workers included, is inside it). With ``--count-external`` (for an
engine attached to an already running Ray cluster, ``RAY_ADDRESS``), a ``+ext``
column also adds every process whose command line contains ``ray::`` and that
started during the run; on a shared machine that includes other users' Ray
workers, which is why it is off by default.

Engines:
    pathway     PyPI Pathway in bench/.venv-pathway (``bash bench/setup_pathway.sh``),
                default settings (PATHWAY_THREADS unset = 1 worker thread).
    pathway_t2  the same with PATHWAY_THREADS=2 (one per core on this machine).
    floor       bench/floor/files_floor.py: one process, pyarrow, no framework.
    raystream   bench/pipelines/files_pipeline.py with ``import raystream as pw``.

Table columns: ``wall s`` process start to exit; ``pipe s`` the script's own
timing (``pw.run()``; the floor: read to write); ``start s`` = wall - pipe
(interpreter, imports, graph building, Ray start-up for raystream, and exit);
``cpu s`` user+system CPU of the process and the children it waited for (less
sensitive than wall time to other load on a shared machine);
rows/s are input rows over the median time. ``/pw`` and ``/fl`` are throughput
ratios against Pathway and the floor (engine rows/s / baseline rows/s, above 1
= faster). An engine whose script exits with code 3 is "not available", any
other failure "failed"; its remaining runs are skipped and the harness carries
on. Outputs and logs go to bench/results/files_out/, results to
bench/results/files.json, generated inputs to bench/data/ (all git-ignored).

Reproduce:
    bash bench/setup_pathway.sh
    python bench/run_files.py --rows 1000000,5000000 --engines pathway,floor --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from floor.files_floor import compute, read_input
from gen_data import generate
from proc_sampler import TreeSampler

BENCH = Path(__file__).resolve().parent
PATHWAY_PY = BENCH / ".venv-pathway" / "bin" / "python"
PIPELINE = BENCH / "pipelines" / "files_pipeline.py"
FLOOR = BENCH / "floor" / "files_floor.py"
WORKLOADS = ("filter_select", "groupby")
NOT_AVAILABLE_EXIT = 3


@dataclass(frozen=True)
class Engine:
    """How to launch one engine: command prefix, extra env, extra processes to measure."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    extra_cmdline: tuple[str, ...] = ()


ENGINES: dict[str, Engine] = {
    "pathway": Engine((str(PATHWAY_PY), str(PIPELINE), "--engine", "pathway")),
    "pathway_t2": Engine(
        (str(PATHWAY_PY), str(PIPELINE), "--engine", "pathway"), env=(("PATHWAY_THREADS", "2"),)
    ),
    "floor": Engine((sys.executable, str(FLOOR))),
    "raystream": Engine(
        (sys.executable, str(PIPELINE), "--engine", "raystream"), extra_cmdline=("ray::",)
    ),
}


@dataclass
class Run:
    """One measured subprocess run."""

    wall_s: float
    pipeline_s: float | None
    runtime_start_s: float | None
    cpu_s: float
    peak_tree_mb: float
    peak_total_mb: float
    verified: bool
    problem: str = ""


@dataclass
class Cell:
    """All runs of one engine on one workload and size."""

    engine: str
    workload: str
    rows: int
    status: str = "ok"
    reason: str = ""
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        """Median of one Run attribute over the runs that have it."""
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    def rate(self, attr: str) -> float | None:
        """Input rows per second from the median of a time attribute."""
        seconds = self.median(attr)
        return self.rows / seconds if seconds else None


def fold(path: Path) -> pa.Table:
    """Fold a Pathway-style changelog into the multiset of rows it ends with.

    Args:
        path: JSON-lines output with ``diff`` and ``time`` columns.

    Returns:
        The distinct value rows with their positive net count in ``count``, sorted.
    """
    table = pj.read_json(path)
    cols = [c for c in table.column_names if c not in ("diff", "time")]
    net = table.group_by(cols).aggregate([("diff", "sum")]).rename_columns([*cols, "count"])
    net = net.filter(pc.greater(net["count"], 0))
    return net.sort_by([(c, "ascending") for c in cols])


def expected(input_path: Path, workload: str) -> pa.Table:
    """The floor's result for ``workload``, in the shape :func:`fold` returns."""
    result = compute(read_input(str(input_path)), workload)
    cols = result.column_names
    counted = result.group_by(cols).aggregate([([], "count_all")])
    return counted.rename_columns([*cols, "count"]).sort_by([(c, "ascending") for c in cols])


def verify(output: Path, want: pa.Table) -> str:
    """Return "" if ``output`` folds to ``want``, else what is wrong."""
    if not output.exists() or output.stat().st_size == 0:
        return "no output"
    try:
        got = fold(output)
    except (pa.ArrowInvalid, OSError) as exc:
        return f"unreadable output: {exc}"
    if got.column_names != want.column_names:
        return f"columns {got.column_names} != {want.column_names}"
    got = got.cast(want.schema, safe=False)
    return "" if got.equals(want) else f"result differs ({got.num_rows} vs {want.num_rows} rows)"


def _timing_record(stdout: str) -> dict[str, float]:
    """The last JSON line with ``seconds`` that a pipeline script printed, or {}."""
    for line in reversed(stdout.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "seconds" in record:
            return record
    return {}


def run_once(engine: Engine, workload: str, data: Path, out: Path, log: Path,
             timeout: float, metric: str, external: bool) -> tuple[int, Run, str]:
    """Run one engine once; return its exit code, measurements and stderr tail."""
    out.unlink(missing_ok=True)
    argv = [*engine.argv, "--workload", workload, "--input", str(data), "--output", str(out)]
    env = {**os.environ, **dict(engine.env)}
    with open(log.with_suffix(".out"), "w") as fo, open(log.with_suffix(".err"), "w") as fe:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=fo, stderr=fe, env=env, start_new_session=True)
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        extra = engine.extra_cmdline if external else ()
        with TreeSampler(proc.pid, extra, metric=metric) as sampler:
            # usage.ru_maxrss is not used: across fork+exec it inherits this
            # harness's own high-water mark, so the sampler is the memory source.
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    stderr_tail = " | ".join(log.with_suffix(".err").read_text().strip().splitlines()[-3:])
    mb = 1024 * 1024
    record = _timing_record(log.with_suffix(".out").read_text())
    run = Run(
        wall_s=wall,
        pipeline_s=record.get("seconds"),
        runtime_start_s=record.get("runtime_start_seconds"),
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_tree_mb=sampler.peak.tree / mb,
        peak_total_mb=sampler.peak.total / mb,
        verified=False,
    )
    return code, run, stderr_tail


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return "-".rjust(int(spec.split(".")[0].strip(",") or 0))
    return format(value, spec)


def _ratio(cell: Cell, base: Cell | None, attr: str) -> str:
    if base is None or cell.status != "ok" or base.status != "ok":
        return "-"
    a, b = cell.rate(attr), base.rate(attr)
    return f"{a / b:.2f}" if a and b else "-"


def _row(c: Cell, pw: Cell | None, fl: Cell | None, external: bool) -> list[tuple[str, str]]:
    """(column title, formatted value) pairs for one table row."""
    wall, pipe = c.median("wall_s"), c.median("pipeline_s")
    startup = wall - pipe if wall is not None and pipe is not None else None
    cols = [
        ("engine", f"{c.engine:<11}"), ("status", f"{c.status:<14}"),
        ("wall s", _fmt(wall, "7.2f")), ("pipe s", _fmt(pipe, "7.2f")),
        ("start s", _fmt(startup, "7.2f")), ("cpu s", _fmt(c.median("cpu_s"), "7.2f")),
        ("rows/s wall", _fmt(c.rate("wall_s"), "12,.0f")),
        ("rows/s pipe", _fmt(c.rate("pipeline_s"), "12,.0f")),
        ("peak MB", _fmt(c.median("peak_tree_mb"), "8.0f")),
    ]
    if external:
        cols.append(("+ext MB", _fmt(c.median("peak_total_mb"), "8.0f")))
    for label, base in (("/pw", pw), ("/fl", fl)):
        cols += [(f"{label} wall", f"{_ratio(c, base, 'wall_s'):>8}"),
                 (f"{label} pipe", f"{_ratio(c, base, 'pipeline_s'):>8}")]
    ok = "-" if not c.runs else "yes" if all(r.verified for r in c.runs) else "NO"
    return [*cols, ("ok", ok)]


def print_table(cells: list[Cell], external: bool) -> None:
    """Print one block per workload and size (medians over runs)."""
    for rows in sorted({c.rows for c in cells}):
        for workload in WORKLOADS:
            block = [c for c in cells if c.rows == rows and c.workload == workload]
            if not block:
                continue
            pw = next((c for c in block if c.engine == "pathway"), None)
            fl = next((c for c in block if c.engine == "floor"), None)
            table = [_row(c, pw, fl, external) for c in block]
            print(f"\n== {workload}, {rows:,} rows (medians of runs) ==")
            print(" ".join(t.ljust(len(v)) if i < 2 else t.rjust(len(v))
                           for i, (t, v) in enumerate(table[0])))
            for c, row in zip(block, table):
                print(" ".join(v for _, v in row))
                if c.reason:
                    print(f"{'':<11} {c.reason[:200]}")


def _pathway_version() -> str | None:
    if not PATHWAY_PY.exists():
        return None
    probe = [str(PATHWAY_PY), "-c", "import importlib.metadata as m; print(m.version('pathway'))"]
    done = subprocess.run(probe, capture_output=True, text=True)
    return done.stdout.strip() or None


def main() -> None:
    """Parse arguments, run the matrix, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000", help="comma-separated input sizes")
    parser.add_argument("--engines", default="pathway,floor", help=f"of {','.join(ENGINES)}")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--memory", choices=["rss", "pss"], default="rss")
    parser.add_argument("--count-external", action="store_true",
                        help="also count ray:: processes started during a raystream run")
    parser.add_argument("--data-dir", type=Path, default=BENCH / "data")
    parser.add_argument("--results", type=Path, default=BENCH / "results" / "files.json")
    args = parser.parse_args()
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engines {unknown}; known: {list(ENGINES)}")
    sizes = [int(r) for r in args.rows.split(",")]
    work = args.results.parent / "files_out"
    work.mkdir(parents=True, exist_ok=True)

    cells: list[Cell] = []
    load_before = os.getloadavg()
    for rows in sizes:
        data = args.data_dir / f"rows_{rows}_seed0.jsonl"
        if not data.exists():
            print(f"generating {data}", flush=True)
            generate(rows, data)
        for workload in args.workloads.split(","):
            want = expected(data, workload)
            block = [Cell(e, workload, rows) for e in engines]
            cells.extend(block)
            for i in range(args.runs):
                for cell in (c for c in block if c.status == "ok"):
                    stem = work / f"{cell.engine}_{workload}_{rows}"
                    code, run, tail = run_once(
                        ENGINES[cell.engine], workload, data, stem.with_suffix(".jsonl"),
                        stem, args.timeout, args.memory, args.count_external)
                    if code != 0:
                        cell.status = "not available" if code == NOT_AVAILABLE_EXIT else "failed"
                        cell.reason = f"exit {code}: {tail}"
                        print(f"{cell.engine} {workload} {rows}: {cell.status} ({tail})",
                              flush=True)
                        continue
                    run.problem = verify(stem.with_suffix(".jsonl"), want)
                    run.verified = not run.problem
                    cell.runs.append(run)
                    print(f"{cell.engine} {workload} {rows} run {i + 1}: wall {run.wall_s:.2f}s "
                          f"pipeline {_fmt(run.pipeline_s, '.2f')}s cpu {run.cpu_s:.2f}s "
                          f"peak {run.peak_tree_mb:.0f} MB verified={run.verified} {run.problem}",
                          flush=True)

    print_table(cells, args.count_external)
    reproduce = shlex.join(["python", "bench/run_files.py", *sys.argv[1:]])
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "pathway": _pathway_version(),
        "memory_metric": args.memory,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "reproduce": reproduce,
    }
    summary = [
        {**asdict(c), "median_wall_s": c.median("wall_s"),
         "median_pipeline_s": c.median("pipeline_s"), "median_cpu_s": c.median("cpu_s"),
         "min_wall_s": min((r.wall_s for r in c.runs), default=None),
         "min_pipeline_s": min((r.pipeline_s for r in c.runs if r.pipeline_s), default=None),
         "rows_per_s_wall": c.rate("wall_s"), "rows_per_s_pipeline": c.rate("pipeline_s"),
         "median_peak_tree_mb": c.median("peak_tree_mb"),
         "median_peak_total_mb": c.median("peak_total_mb")}
        for c in cells
    ]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"meta": meta, "cells": summary}, indent=2))
    print(f"\nwrote {args.results}\nreproduce: {reproduce}")


if __name__ == "__main__":
    main()
