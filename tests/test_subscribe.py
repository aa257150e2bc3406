"""pw.io.subscribe: callbacks in the driver, per row or per batch (on Ray)."""

from __future__ import annotations

import pytest

import raystream as pw

pytestmark = pytest.mark.usefixtures("ray_session")


def test_on_change_on_time_end_on_end_and_on_batch(tmp_path) -> None:
    (tmp_path / "in.jsonl").write_text("".join(f'{{"k": {i % 3}, "v": {i}}}\n'
                                               for i in range(30)))

    class S(pw.Schema):
        k: int
        v: int

    t = pw.io.jsonlines.read(tmp_path / "in.jsonl", schema=S, mode="static")
    sums = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.v))
    changes, times, ended, batches = [], [], [], []
    pw.io.subscribe(sums, on_change=lambda key, row, time, is_addition:
                    changes.append((key, row, time, is_addition)),
                    on_time_end=times.append, on_end=lambda: ended.append(True))
    pw.io.subscribe(t, on_batch=lambda time, batch: batches.append((time, batch)))
    pw.run()
    final = {row["k"]: row["s"] for _, row, _, added in changes if added}
    assert final == {0: sum(range(0, 30, 3)), 1: sum(range(1, 30, 3)), 2: sum(range(2, 30, 3))}
    assert all(isinstance(key, pw.Pointer) for key, *_ in changes)
    assert times and times == sorted(times) and set(times) >= {c[2] for c in changes}
    assert ended == [True]
    rows = [v for _, b in batches for v in b.column("v").to_pylist()]
    assert sorted(rows) == list(range(30))
    assert batches[0][1].schema.names == ["k", "v", "diff", "id"]
    assert len(batches) < 30, "delivered in batches, not per row"
