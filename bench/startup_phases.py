"""Where a tiny pipeline's start-up and exit time goes, phase by phase (issue 13).

Runs, in alternation, two child processes and times them from the outside
(launch, first output row, exit) and from the inside (wall-clock timestamps):

* ``rayinit``: ``import ray; ray.init(); ray.shutdown()`` (Ray's own floor);
* ``pipeline``: a 10-row JSON-lines file, ``groupby(key).reduce(sum)``,
  ``pw.io.jsonlines.write`` (``--filter`` adds the README example's filter;
  ``--input FILE`` reads that file instead, e.g. the 10M lines of
  ``bench/end_to_end.py``, to see where an end-to-end run's time goes).

Driver phases come from wrapping raystream's functions in the child (import,
graph, ``ray.init``, planning, ``Pipeline.start`` parts, ``wait``,
``shutdown``, ``ray.shutdown``, exit). With ``--probe`` the child also reads,
after the run, Ray's task timeline and worker table: per actor the time its
worker process was launched and registered and when its ``__init__`` ran
(this adds the probe's own time before exit; exit figures come from runs
without it). With ``--importtime`` every Ray worker runs with
``PYTHONPROFILEIMPORTTIME=1`` and the per-module import times of the actor
workers are summarised from their logs.

``RAY_ADDRESS`` in the environment runs against that cluster instead.

Usage:
    python bench/startup_phases.py --runs 3 [--probe] [--importtime] [--json out.json]
    python bench/startup_phases.py --runs 2 --input bench/results/data/rows_10000000_seed0.jsonl
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

T0 = time.time()
MARKS: list[tuple[str, float]] = [("script_start", T0)]


def mark(name: str) -> None:
    """Records a wall-clock timestamp in the child."""
    MARKS.append((name, time.time()))


def _wrap(owner: Any, attr: str, label: str) -> None:
    """Replaces ``owner.attr`` with a version that marks its start and end."""
    original = getattr(owner, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(f"{label}:start")
        try:
            return original(*args, **kwargs)
        finally:
            mark(f"{label}:end")
    setattr(owner, attr, wrapper)


# -- child: ray.init alone ---------------------------------------------------------------

def child_rayinit(out: Path) -> None:
    """``import ray``, ``ray.init()``, ``ray.shutdown()``, as raystream calls it."""
    import logging

    atexit.register(lambda: _dump(out))
    import ray
    mark("import_ray")
    ray.init(address=os.environ.get("RAY_ADDRESS") or None, logging_level=logging.WARNING,
             log_to_driver=True, configure_logging=False)
    mark("ray_init")
    ray.shutdown()
    mark("ray_shutdown")


# -- child: the pipeline -----------------------------------------------------------------

def child_pipeline(out: Path, work: Path, with_filter: bool, probe: bool,
                   source: Path | None = None) -> None:
    """The 10-row groupby pipeline with every driver phase marked."""
    atexit.register(lambda: _dump(out))  # registered first: runs after Ray's own atexit
    import raystream as pw
    pw.Schema  # noqa: B018 - the API loads on first use, as in any user script
    mark("import_raystream")
    import ray
    run_mod = sys.modules["raystream.run"]
    from raystream.actors import runtime

    _wrap(ray, "init", "ray_init")
    _wrap(ray, "shutdown", "ray_shutdown")
    _wrap(run_mod.Planner, "plan", "planner")
    _wrap(run_mod, "build_plan", "build_plan")
    _wrap(runtime.Pipeline, "start", "pipeline_start")
    _wrap(runtime, "alive_nodes", "alive_nodes")
    if hasattr(runtime, "Deployer"):  # main after the checkpoint work: a Deployer creates actors
        _wrap(runtime.Deployer, "stage", "create_stage")
    else:
        _wrap(runtime.Pipeline, "_create", "create_stage")
    _wrap(runtime.Pipeline, "wait", "wait")
    _wrap(runtime.Pipeline, "shutdown", "pipeline_shutdown")

    src = source or work / "input.jsonl"
    if source is None:
        src.write_text("".join(json.dumps({"key": i % 3, "value": i}) + "\n" for i in range(10)))

    class InputSchema(pw.Schema):
        key: int
        value: int

    t = pw.io.jsonlines.read(src, schema=InputSchema, mode="static")
    if with_filter:
        t = t.filter(t.value % 3 != 0)
    totals = t.groupby(t.key).reduce(t.key, total=pw.reducers.sum(t.value))
    pw.io.jsonlines.write(totals, work / "out.jsonl")
    mark("graph_built")
    if probe:
        runtime.Pipeline.shutdown = _probe_then(runtime.Pipeline.shutdown, out)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    mark("run_returned")
    atexit.register(lambda: mark("atexit_first"))  # runs before Ray's ray.shutdown()


def _probe_then(shutdown: Any, out: Path) -> Any:
    """Reads the timeline and the worker table before the actors are killed."""
    def wrapper(self: Any) -> Any:
        if not getattr(self, "_probed", False):
            self._probed = True
            mark("probe:start")
            try:
                _probe(self, out)
            except Exception as exc:  # noqa: BLE001 - a probe must not fail the run
                print(f"probe failed: {exc!r}", file=sys.stderr)
            mark("probe:end")
        return shutdown(self)
    return wrapper


def _probe(pipeline: Any, out: Path) -> None:
    import ray
    from ray.util.state import list_actors, list_workers

    time.sleep(1.5)  # task events reach the GCS every ~1 s
    events = ray.timeline()
    address = ray.get_runtime_context().gcs_address
    actors = [a.__dict__ if hasattr(a, "__dict__") else dict(a)
              for a in list_actors(address=address, detail=True, limit=1000)]
    workers = [w.__dict__ if hasattr(w, "__dict__") else dict(w)
               for w in list_workers(address=address, detail=True, limit=1000)]
    cpu = _cpu_by_process()
    node = getattr(ray._private.worker, "_global_node", None)
    session = node.get_session_dir_path() if node is not None else None
    Path(str(out) + ".probe.json").write_text(json.dumps(
        {"events": events, "actors": actors, "workers": workers, "session": session,
         "cpu": cpu},
        default=str))


def _cpu_by_process() -> dict[str, tuple[str, float]]:
    """CPU seconds so far of every process of this driver's tree (pid -> name, cpu)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from engine_proc import cmdline, cpu_seconds
    from proc_sampler import process_tree

    out = {}
    for pid in process_tree(os.getpid()):
        name = cmdline(pid).split(b"\0")[0].decode(errors="replace")
        out[str(pid)] = (name.rsplit("/", 1)[-1][:60], cpu_seconds(pid))
    return out


def _dump(out: Path) -> None:
    mark("atexit_last")
    out.write_text(json.dumps(MARKS))


# -- parent ------------------------------------------------------------------------------

def _watch_first_output(path: Path, found: dict[str, float], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if path.stat().st_size > 0:
                found["first_output"] = time.time()
                return
        except OSError:
            pass
        time.sleep(0.001)


def run_child(mode: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Runs one child; returns its marks plus launch, first output and exit times."""
    work = Path(tempfile.mkdtemp(prefix="rs-startup-"))
    out = work / "marks.json"
    argv = [sys.executable, __file__, "--child", mode, "--work", str(work), "--out", str(out)]
    if args.filter:
        argv.append("--filter")
    if args.probe:
        argv.append("--probe")
    if args.input:
        argv += ["--input", str(args.input.resolve())]
    found: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_first_output,
                               args=(work / "out.jsonl", found, stop), daemon=True)
    load = os.getloadavg()
    watcher.start()
    launched = time.time()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    exited = time.time()
    stop.set()
    marks = dict(json.loads(out.read_text())) if out.exists() else {}
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    result = {"mode": mode, "load": load, "launched": launched, "exited": exited,
              "first_output": found.get("first_output"), "marks": marks,
              "returncode": proc.returncode, "work": str(work)}
    if args.probe and Path(str(out) + ".probe.json").exists():
        result["probe"] = json.loads(Path(str(out) + ".probe.json").read_text())
    return result


def phases(r: dict[str, Any]) -> dict[str, float]:
    """Durations (seconds) of the phases of one child run."""
    m, t = r["marks"], r["launched"]
    d: dict[str, float] = {"python_start": m.get("script_start", t) - t}

    def span(a: str, b: str) -> float | None:
        return m[b] - m[a] if a in m and b in m else None

    if r["mode"] == "rayinit":
        d["import_ray"] = span("script_start", "import_ray")
        d["ray_init"] = span("import_ray", "ray_init")
        d["ray_shutdown"] = span("ray_init", "ray_shutdown")
        d["exit_after_atexit"] = r["exited"] - m.get("atexit_last", r["exited"])
        d["total"] = r["exited"] - t
        return {k: v for k, v in d.items() if v is not None}
    d["import_raystream"] = span("script_start", "import_raystream")
    d["graph"] = span("import_raystream", "graph_built")
    d["ray_init"] = span("ray_init:start", "ray_init:end")
    d["planner"] = span("planner:start", "planner:end")
    d["build_plan_other"] = (span("build_plan:start", "build_plan:end") or 0) - \
        (d["ray_init"] or 0) - (d["planner"] or 0)
    d["start:alive_nodes"] = span("alive_nodes:start", "alive_nodes:end")
    d["start:coordinator"] = span("alive_nodes:end", "create_stage:start")
    d["start:create_actors"] = span("create_stage:start", "create_stage:end")
    d["start:attach+run"] = span("create_stage:end", "pipeline_start:end")
    d["wait"] = span("wait:start", "wait:end")
    if r.get("first_output"):
        d["first_output_from_launch"] = r["first_output"] - t
        d["wait_until_first_output"] = r["first_output"] - m.get("wait:start", t)
        d["exit_after_first_output"] = r["exited"] - r["first_output"]
    d["pipeline_shutdown"] = span("pipeline_shutdown:start", "pipeline_shutdown:end")
    d["ray_shutdown_atexit"] = span("atexit_first", "atexit_last")
    d["exit_after_atexit"] = r["exited"] - m.get("atexit_last", r["exited"])
    d["wait_end_to_exit"] = r["exited"] - m.get("wait:end", r["exited"])
    d["total"] = r["exited"] - t
    return {k: v for k, v in d.items() if v is not None}


def _ms(value: Any, base: float) -> float | None:
    """A Ray millisecond timestamp as seconds since ``base`` (None if unset)."""
    return value / 1000 - base if value and value < 1e18 else None


def actor_table(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Per actor: worker launch/registration, ``__init__`` start/end (s since launch)."""
    p, base = r["probe"], r["launched"]
    by_pid = {a["pid"]: a for a in p["actors"]}
    worker_of = {w["worker_id"]: w for w in p["workers"]}
    init: dict[int, tuple[float, float]] = {}
    for e in p["events"]:
        w = worker_of.get(str(e.get("tid", "")).split(":", 1)[-1])
        if w is not None and e["name"] == "__init__":
            start = e["ts"] / 1e6 - base
            init[w["pid"]] = (start, start + e["dur"] / 1e6)
    rows = []
    for w in sorted(p["workers"], key=lambda w: w["start_time_ms"]):
        actor = by_pid.get(w["pid"])
        if w["worker_type"] != "WORKER" or actor is None:
            continue
        rows.append({"actor": actor["name"].split(":", 1)[-1][:40], "class": actor["class_name"],
                     "pid": w["pid"], "launch": _ms(w["worker_launch_time_ms"], base),
                     "registered": _ms(w["worker_launched_time_ms"], base),
                     "init_start": init.get(w["pid"], (None, None))[0],
                     "init_end": init.get(w["pid"], (None, None))[1],
                     "cpu_s": p.get("cpu", {}).get(str(w["pid"]), ("", None))[1]})
    return rows


WATCHED = ("ray", "numpy", "pyarrow", "pyarrow.compute", "pandas", "pyarrow.acero",
           "pyarrow.dataset", "pyarrow.json", "raystream", "raystream.actors.reader",
           "raystream.actors.operator", "raystream.actors.sink",
           "raystream.actors.coordinator", "confluent_kafka", "pydantic")


def import_summary(session: str, pid: int) -> dict[str, float]:
    """Import times (s) in one worker, from its PYTHONPROFILEIMPORTTIME log."""
    logs = list(Path(session, "logs").glob(f"worker-*-{pid}.err"))
    found: dict[str, float] = {}
    total = 0.0
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            head, cumulative, name = line.split("|", 2)
            self_us = head.split(":", 1)[1]
            total += int(self_us) / 1e6
            module = name.strip()
            if module in WATCHED and module not in found:
                found[module] = int(cumulative) / 1e6
    found["all_imports"] = total
    return found


def main() -> None:
    """Parent: alternates the children and prints medians; child: one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["rayinit", "pipeline"])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--filter", action="store_true")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--input", type=Path, default=None,
                        help="the pipeline reads this JSON-lines file (key, value)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--max-load", type=float, default=99.0,
                        help="before each pair of runs, wait (up to 5 min) for a lower load")
    args = parser.parse_args()
    if args.child == "rayinit":
        child_rayinit(args.out)
        return
    if args.child == "pipeline":
        child_pipeline(args.out, args.work, args.filter, args.probe, args.input)
        return
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    if args.importtime:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        deadline = time.monotonic() + 300
        while os.getloadavg()[0] > args.max_load and time.monotonic() < deadline:
            time.sleep(2)
        for mode in ("rayinit", "pipeline"):
            r = run_child(mode, args, env)
            r["phases"] = phases(r)
            runs.append(r)
            shown = " ".join(f"{k}={v:.2f}" for k, v in r["phases"].items())
            print(f"run {i} {mode} load {r['load'][0]:.2f} rc {r['returncode']}: {shown}",
                  flush=True)
    for mode in ("rayinit", "pipeline"):
        rows = [r["phases"] for r in runs if r["mode"] == mode and r["returncode"] == 0]
        if not rows:
            continue
        print(f"\nmedian {mode} over {len(rows)} runs:")
        for key in rows[0]:
            values = [row[key] for row in rows if key in row]
            print(f"  {key:28s} {statistics.median(values):7.3f} s  "
                  f"(min {min(values):.3f}, max {max(values):.3f})")
    for r in runs:
        if r.get("probe"):
            print(f"\nactors of one {r['mode']} run (s since launch; load {r['load'][0]:.2f}):")
            for row in actor_table(r):
                shown = " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in row.items())
                print("  " + shown)
                if args.importtime and r["probe"].get("session"):
                    imports = import_summary(r["probe"]["session"], row["pid"])
                    print("    imports: " + " ".join(f"{k}={v:.2f}" for k, v in
                                                   imports.items()))
        if r.get("probe", {}).get("cpu"):
            by_name: dict[str, float] = {}
            for name, cpu in r["probe"]["cpu"].values():
                key = name if not name.startswith("ray::") else "ray:: workers (actors)"
                by_name[key] = by_name.get(key, 0.0) + cpu
            print("  cpu so far by process: " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, default=str))


if __name__ == "__main__":
    main()
