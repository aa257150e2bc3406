"""Helpers for failure tests: find an actor's worker process, kill it, fold outputs."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str | Callable[[], str],
               interval_s: float = 0.1) -> Any:
    """Polls ``predicate`` until it returns something true; raises after ``timeout_s``.

    ``what`` (or what it returns, evaluated at the timeout) names what was awaited.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    described = what() if callable(what) else what
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {described}")


def actor_of_kind(pipeline: Any, kind: str) -> tuple[str, Any]:
    """The first actor of a kind: ``reader``, ``operator`` (stateful first), ``sink``,
    ``coordinator``."""
    from raystream.actors.plan import OperatorStage, ReaderStage, SinkStage

    if kind == "coordinator":
        return "coordinator", pipeline.coordinator
    wanted = {"reader": ReaderStage, "operator": OperatorStage, "sink": SinkStage}[kind]
    stages = [s for s in pipeline.plan.stages if isinstance(s, wanted)]
    stages.sort(key=lambda s: not getattr(getattr(s, "kernel", None), "stateful", False))
    stage = stages[0]
    return f"{stage.name}[0]", pipeline.deployed.handles[stage.id][0]


def kill_actor_process(pipeline: Any, kind: str) -> str:
    """SIGKILLs the worker process of an actor (Ray restarts it; the pipeline must recover)."""
    name, handle = actor_of_kind(pipeline, kind)
    pid = int(ray.get(handle.ping.remote(), timeout=60)["pid"])
    os.kill(pid, signal.SIGKILL)
    return name


def run_driven(pipeline: Any, drive: Callable[[], None], timeout_s: float) -> None:
    """Runs a started pipeline to its end while ``drive`` acts on it from a thread.

    The pipeline is stopped once ``drive`` returns or raises, and shut down at
    the end; what ``drive`` raised is raised here.
    """
    errors: list[BaseException] = []

    def driver() -> None:
        try:
            drive()
        except BaseException as exc:  # noqa: BLE001 - raised again by the caller's thread
            errors.append(exc)
        finally:
            pipeline.stop()

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    try:
        pipeline.wait(timeout=timeout_s)
    finally:
        pipeline.shutdown()
        thread.join(timeout=10)
    if errors:
        raise errors[0]


def expected_totals(total: int, groups: int, modulo: int) -> Counter:
    """The folded output of a groupby over events ``i = 0 .. total-1``.

    Event ``i`` has ``k = i % groups`` and ``v = i % modulo``; the result has one
    ``(k, sum of v, count)`` row per group, as :func:`fold` gives it.
    """
    sums: Counter = Counter()
    counts: Counter = Counter()
    for i in range(total):
        sums[i % groups] += i % modulo
        counts[i % groups] += 1
    return Counter({(k, sums[k], counts[k]): 1 for k in sums})


def changelog(path: str | Path) -> list[dict]:
    """The rows of a JSON-lines changelog output (complete lines only)."""
    text = Path(path).read_text() if Path(path).exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fold(rows: list[dict], columns: list[str]) -> Counter:
    """Folds changelog rows into a multiset of value tuples (diffs summed)."""
    state: Counter = Counter()
    for row in rows:
        state[tuple(row[c] for c in columns)] += row["diff"]
    return +state


def repeated_changes(rows: list[dict], columns: list[str]) -> list[tuple]:
    """(time, row, diff) changes written more than once (must be none)."""
    seen = Counter((row["time"], *(row[c] for c in columns), row["diff"]) for row in rows)
    return [change for change, count in seen.items() if count > 1]


def negative_folds(rows: list[dict], columns: list[str]) -> list[tuple]:
    """Rows whose diffs sum below zero at some point: a retraction of a row never written."""
    state: Counter = Counter()
    bad = []
    for row in sorted(rows, key=lambda r: r["time"]):
        key = tuple(row[c] for c in columns)
        state[key] += row["diff"]
        if state[key] < 0:
            bad.append(key)
    return bad
