"""The file workloads, written once against the Pathway API.

The same script runs on Pathway (``--engine pathway``, inside
``bench/.venv-pathway``) and on raystream (``--engine raystream``): the only
difference is ``import pathway as pw`` versus ``import raystream as pw``. Use
only API that Pathway itself has.

Workloads (static mode, input rows ``{"key": int, "value": int}``):
    filter_select: keep ``value % 3 != 0``, output ``key`` and ``doubled = value * 2``.
    groupby: keep ``value % 3 != 0``, then per key ``total = sum(value)`` and
        ``n = count()``.

Prints one JSON line ``{"engine": ..., "workload": ..., "seconds": ...}`` where
``seconds`` is measured around ``pw.run()`` only (imports and graph building
are excluded). For raystream the Ray runtime is started before the timer (with
raystream's own ``ensure_ray``, which ``pw.run()`` would otherwise call), as
Pathway's engine is in-process; its cost is printed as ``runtime_start_seconds``.
Exits with code 3 if the engine cannot be imported or lacks an API this script
needs, so the harness can report "not available".

Usage:
    bench/.venv-pathway/bin/python bench/pipelines/files_pipeline.py \
        --engine pathway --workload groupby --input in.jsonl --output out.jsonl
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from typing import Any

NOT_AVAILABLE_EXIT = 3


def _load_engine(engine: str) -> Any:
    """Import the engine module that plays the role of ``pw``.

    Args:
        engine: ``"pathway"`` or ``"raystream"``.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(engine)
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"engine {engine} not available: {exc!r}", file=sys.stderr)
        sys.exit(NOT_AVAILABLE_EXIT)


def prestart_runtime(engine: str) -> float:
    """Start the engine's runtime outside the timed part (raystream: Ray).

    Args:
        engine: ``"pathway"`` or ``"raystream"``.

    Returns:
        Seconds spent (0.0 when there is nothing to start).
    """
    if engine != "raystream":
        return 0.0
    try:
        from raystream.actors.runtime import ensure_ray
    except ImportError:
        return 0.0  # no such hook: Ray start-up is then counted inside pw.run()
    start = time.perf_counter()
    ensure_ray()
    return time.perf_counter() - start


def build(pw: Any, workload: str, input_path: str, output_path: str) -> None:
    """Build the dataflow graph for one workload (does not run it).

    Args:
        pw: the ``pathway`` or ``raystream`` module.
        workload: ``"filter_select"`` or ``"groupby"``.
        input_path: JSON-lines input file.
        output_path: JSON-lines output file.
    """

    class InputSchema(pw.Schema):
        key: int
        value: int

    t = pw.io.jsonlines.read(input_path, schema=InputSchema, mode="static")
    kept = t.filter(t.value % 3 != 0)
    if workload == "filter_select":
        result = kept.select(kept.key, doubled=kept.value * 2)
    elif workload == "groupby":
        result = kept.groupby(kept.key).reduce(
            kept.key, total=pw.reducers.sum(kept.value), n=pw.reducers.count()
        )
    else:
        raise ValueError(f"unknown workload {workload!r}")
    pw.io.jsonlines.write(result, output_path)


def main() -> None:
    """Parse arguments, build the graph, time ``pw.run()`` and report it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["pathway", "raystream"], required=True)
    parser.add_argument("--workload", choices=["filter_select", "groupby"], required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    pw = _load_engine(args.engine)
    try:
        build(pw, args.workload, args.input, args.output)
        run = pw.run
    except (AttributeError, NotImplementedError) as exc:
        print(f"engine {args.engine} not available: {exc!r}", file=sys.stderr)
        sys.exit(NOT_AVAILABLE_EXIT)

    runtime_start = prestart_runtime(args.engine)
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    record = {"engine": args.engine, "workload": args.workload, "seconds": seconds}
    if runtime_start:
        record["runtime_start_seconds"] = runtime_start
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
