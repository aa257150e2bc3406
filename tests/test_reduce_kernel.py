"""The reduce kernel against a plain-Python reference, with retractions (no Ray)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.actors.messages import DIFF, KEY

from raystream.engine.reduce import ReduceError, ReduceKernel
from raystream.reducers import AggSpec

AGGS = [AggSpec("s", "sum", "v", pa.int64()), AggSpec("c", "count", None, pa.int64()),
        AggSpec("mn", "min", "v", pa.int64()), AggSpec("mx", "max", "v", pa.int64()),
        AggSpec("av", "avg", "v", pa.float64()), AggSpec("cd", "count_distinct", "v", pa.int64()),
        AggSpec("tp", "tuple", "v", pa.list_(pa.int64())),
        AggSpec("st", "sorted_tuple", "v", pa.list_(pa.int64())),
        AggSpec("an", "any", "v", pa.int64()), AggSpec("ea", "earliest", "v", pa.int64()),
        AggSpec("la", "latest", "v", pa.int64())]


def batch(rows: list[tuple[int, int, int, int]]) -> pa.RecordBatch:
    """Rows of (key, diff, group, value)."""
    keys, diffs, groups, values = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.record_batch({KEY: pa.array(keys, pa.uint64()), DIFF: pa.array(diffs, pa.int64()),
                            "g": pa.array(groups, pa.int64()), "v": pa.array(values, pa.int64())})


def reference(live: dict[int, tuple[int, int, int]]) -> dict[int, tuple]:
    """Aggregates per group from the live rows: key -> (group, value, arrival)."""
    groups: dict[int, list] = defaultdict(list)
    for key, (group, value, arrival) in live.items():
        groups[group].append((key, value, arrival))
    out = {}
    for group, rows in groups.items():
        values = [v for _, v, _ in rows]
        by_key = [v for _, v, _ in sorted(rows)]
        by_arrival = sorted(rows, key=lambda r: r[2])
        out[group] = (group, sum(values), len(values), min(values), max(values),
                      sum(values) / len(values), len(set(values)), tuple(by_key),
                      tuple(sorted(values)), by_key[0], by_arrival[0][1], by_arrival[-1][1])
    return out


def fold(state: Counter, emitted: list[tuple[int, pa.RecordBatch]]) -> None:
    for _, out in emitted:
        names = ["g", "s", "c", "mn", "mx", "av", "cd", "tp", "st", "an", "ea", "la"]
        for row, diff in zip(zip(*(out.column(n).to_pylist() for n in names), strict=True),
                             out.column(DIFF).to_pylist(), strict=True):
            state[tuple(tuple(v) if isinstance(v, list) else v for v in row)] += diff


ops = st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 5), st.booleans()), max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, min_size=1, max_size=4))
def test_changelog_folds_to_the_reference_after_every_commit(commits) -> None:
    kernel = ReduceKernel(["g"], AGGS, [pa.int64()])
    live: dict[int, tuple[int, int, int]] = {}
    folded: Counter = Counter()
    next_key, arrival = 1, 0
    for time, commit in enumerate(commits, start=1):
        rows = []
        for group, value, delete in commit:
            if delete and live:
                key = sorted(live)[0]
                g, v, _ = live.pop(key)
                rows.append((key, -1, g, v))
            else:
                arrival += 1
                live[next_key] = (group, value, arrival)
                rows.append((next_key, 1, group, value))
                next_key += 1
        for half in (rows[: len(rows) // 2], rows[len(rows) // 2:]):
            kernel.on_data(0, time * 2, batch(half))
        fold(folded, kernel.on_frontier(time * 2 + 1))
        assert +folded == Counter(reference(live).values())


def test_only_changed_groups_are_emitted_and_unchanged_values_are_not() -> None:
    kernel = ReduceKernel(["g"], [AggSpec("s", "sum", "v", pa.int64())], [pa.int64()])
    kernel.on_data(0, 2, batch([(1, 1, 0, 5), (2, 1, 1, 7)]))
    first = kernel.on_frontier(3)
    assert first[0][1].column(DIFF).to_pylist() == [1, 1]
    kernel.on_data(0, 4, batch([(3, 1, 0, 2), (4, 1, 0, -2)]))  # group 0's sum unchanged
    assert kernel.on_frontier(5) == []


def test_times_are_applied_in_order_and_held_until_the_frontier_passes() -> None:
    kernel = ReduceKernel([], [AggSpec("c", "count", None, pa.int64())], [])
    kernel.on_data(0, 10, batch([(1, 1, 0, 0)]))
    kernel.on_data(0, 4, batch([(2, 1, 0, 0), (3, 1, 0, 0)]))
    assert kernel.on_frontier(4) == []  # time 4 is not complete yet
    emitted = kernel.on_frontier(11)
    assert [t for t, _ in emitted] == [4, 10]
    assert emitted[1][1].column("c").to_pylist() == [2, 3]
    assert emitted[1][1].column(DIFF).to_pylist() == [-1, 1]


def test_group_keys_are_stable_hashes_of_the_group_values() -> None:
    one = ReduceKernel(["g"], [AggSpec("c", "count", None, pa.int64())], [pa.int64()])
    two = ReduceKernel(["g"], [AggSpec("c", "count", None, pa.int64())], [pa.int64()])
    one.on_data(0, 2, batch([(1, 1, 42, 0)]))
    two.on_data(0, 2, batch([(9, 1, 42, 0), (8, 1, 42, 1)]))
    key_one = one.on_frontier(3)[0][1].column(KEY).to_pylist()
    key_two = two.on_frontier(3)[0][1].column(KEY).to_pylist()
    assert key_one == key_two


def test_unique_with_different_values_is_an_error_naming_the_group() -> None:
    kernel = ReduceKernel(["g"], [AggSpec("u", "unique", "v", pa.int64())], [pa.int64()])
    kernel.on_data(0, 2, batch([(1, 1, 3, 1), (2, 1, 3, 2)]))
    with pytest.raises(ReduceError, match=r"group \(3,\) has several values"):
        kernel.on_frontier(3)
