"""In-run recovery: an actor's process dies, the pipeline rolls back and the output is exact."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

import raystream as pw
from raystream.run import start
from tests.recovery_helpers import (
    changelog,
    fold,
    kill_actor_process,
    negative_folds,
    repeated_changes,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("ray_session")

GROUPS = 40


class Event(pw.Schema):
    k: int
    v: int


def _append(path: Path, start: int, count: int) -> None:
    with path.open("a") as handle:
        for i in range(start, start + count):
            handle.write(json.dumps({"k": i % GROUPS, "v": i % 7}) + "\n")


def _expected(total: int) -> Counter:
    sums: Counter = Counter()
    counts: Counter = Counter()
    for i in range(total):
        sums[i % GROUPS] += i % 7
        counts[i % GROUPS] += 1
    return Counter({(k, sums[k], counts[k]): 1 for k in sums})


def _groupby_pipeline(source: Path, out: Path):
    t = pw.io.jsonlines.read(source, schema=Event, mode="streaming",
                             autocommit_duration_ms=150, max_batch_rows=400)
    totals = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.v), n=pw.reducers.count())
    pw.io.jsonlines.write(totals, out)
    return start(reduce_parallelism=2, monitoring=False)


def _run_with_a_kill(tmp_path: Path, victim: str) -> tuple[list[dict], object]:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _append(source, 0, 3000)
    pipeline = _groupby_pipeline(source, out)
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            wait_until(lambda: pipeline.checkpointer.written >= 1, 120, "a checkpoint")
            _append(source, 3000, 2000)
            wait_until(lambda: len(changelog(out)) > 0, 60, "output")
            kill_actor_process(pipeline, victim)
            wait_until(lambda: pipeline.supervisor.recoveries >= 1, 120, "a recovery")
            _append(source, 5000, 1000)
            total_rows = 6000
            wait_until(lambda: fold(changelog(out), ["k", "s", "n"]) == _expected(total_rows),
                       120, "the exact output")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            pipeline.stop()

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        pipeline.wait(timeout=400)
    finally:
        pipeline.shutdown()
        thread.join(timeout=10)
    if errors:
        raise errors[0]
    return changelog(out), pipeline


@pytest.mark.parametrize("victim", ["operator", "sink", "reader", "coordinator"])
def test_a_killed_actor_is_recovered_and_the_output_stays_exact(tmp_path, victim) -> None:
    rows, pipeline = _run_with_a_kill(tmp_path, victim)
    columns = ["k", "s", "n"]
    assert fold(rows, columns) == _expected(6000)
    assert repeated_changes(rows, columns) == []
    assert negative_folds(rows, columns) == []
    assert pipeline.supervisor.recoveries >= 1
    assert pipeline.supervisor.last_recovery_s is not None
