"""Upsert kernel and stateless steps (no Ray)."""

from __future__ import annotations

import pyarrow as pa
from raystream.actors.kernels.reshape import FlattenStep
from raystream.actors.kernels.upsert import UpsertKernel
from raystream.connectors.batch import DIFF, KEY

SCHEMA = pa.schema([(KEY, pa.uint64()), (DIFF, pa.int64()), ("v", pa.string())])


def rows(*items: tuple[int, str]) -> pa.RecordBatch:
    keys, values = zip(*items, strict=True)
    return pa.record_batch([pa.array(keys, pa.uint64()), pa.array([1] * len(keys), pa.int64()),
                            pa.array(values)], schema=SCHEMA)


def changes(emitted) -> list[tuple[int, str, int]]:
    return [(k, v, d) for _, b in emitted for k, v, d in zip(
        b.column(KEY).to_pylist(), b.column("v").to_pylist(), b.column(DIFF).to_pylist(),
        strict=True)]


def test_last_row_per_key_in_a_time_wins_and_replaces_the_old_row() -> None:
    kernel = UpsertKernel(SCHEMA)
    kernel.on_data(0, 2, rows((1, "a"), (2, "b"), (1, "c")))
    assert changes(kernel.on_frontier(3)) == [(2, "b", 1), (1, "c", 1)]
    kernel.on_data(0, 4, rows((1, "d"), (2, "b")))  # 2 unchanged: nothing emitted
    assert changes(kernel.on_frontier(5)) == [(1, "c", -1), (1, "d", 1)]


def test_a_retraction_deletes_its_key_and_deleting_an_absent_key_does_nothing() -> None:
    kernel = UpsertKernel(SCHEMA)
    kernel.on_data(0, 2, rows((1, "a"), (2, "b"), (3, "c")))
    kernel.on_frontier(3)
    deletions = rows((2, "ignored"), (9, "absent"), (3, "x"))
    deletions = deletions.set_column(1, DIFF, pa.array([-1, -1, 1], pa.int64()))
    kernel.on_data(0, 4, deletions)  # 2 deleted, 9 absent, 3 replaced
    assert sorted(changes(kernel.on_frontier(5))) == [(2, "b", -1), (3, "c", -1), (3, "x", 1)]
    kernel.on_data(0, 6, rows((2, "again")))
    assert changes(kernel.on_frontier(7)) == [(2, "again", 1)]
    assert sorted(kernel.snapshot()["rows"].column("v").to_pylist()) == ["a", "again", "x"]


def test_flatten_gives_one_row_per_item_with_distinct_stable_keys() -> None:
    batch = pa.record_batch({KEY: pa.array([10, 20], pa.uint64()), DIFF: [1, -1],
                             "xs": [[1, 2, 3], []], "tag": ["a", "b"]})
    out = FlattenStep("xs")(batch)
    assert out.column("xs").to_pylist() == [1, 2, 3]
    assert out.column("tag").to_pylist() == ["a", "a", "a"]
    assert out.column(DIFF).to_pylist() == [1, 1, 1]
    keys = out.column(KEY).to_pylist()
    assert len(set(keys)) == 3 and keys == FlattenStep("xs")(batch).column(KEY).to_pylist()
