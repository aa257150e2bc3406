"""In-run recovery: an actor's process dies, the pipeline rolls back and the output is exact."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import raystream as pw
from raystream.run import start
from tests.recovery_helpers import (
    changelog,
    expected_totals,
    fold,
    kill_actor_process,
    negative_folds,
    repeated_changes,
    run_driven,
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
    return expected_totals(total, GROUPS, 7)


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

    def drive() -> None:
        wait_until(lambda: pipeline.checkpointer.written >= 1, 120, "a checkpoint")
        _append(source, 3000, 2000)
        wait_until(lambda: len(changelog(out)) > 0, 60, "output")
        kill_actor_process(pipeline, victim)
        wait_until(lambda: pipeline.supervisor.recoveries >= 1, 120, "a recovery")
        _append(source, 5000, 1000)
        total_rows = 6000
        wait_until(lambda: fold(changelog(out), ["k", "s", "n"]) == _expected(total_rows),
                   120, "the exact output")

    run_driven(pipeline, drive, 400)
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
