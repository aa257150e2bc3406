"""The reduce kernel against a plain-Python reference, with retractions (no Ray)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.actors.kernels.partial import PartialLayout
from raystream.actors.kernels.reduce import AggSpec, ReduceError, ReduceKernel
from raystream.connectors.batch import DIFF, KEY

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


COMBINABLE = [a for a in AGGS if a.kind not in ("tuple", "any", "earliest", "latest")]


def rows_of(emitted: list[tuple[int, pa.RecordBatch]]) -> list[tuple]:
    """Every emitted row with its time, as plain values (the changelog, in order)."""
    return [(time, *row) for time, out in emitted
            for row in zip(*(out.column(n).to_pylist() for n in out.schema.names), strict=True)]


def commit_rows(commits: list) -> list[list[tuple[int, int, int, int]]]:
    """Turns (group, value, delete) ops into (key, diff, group, value) rows per commit."""
    live: dict[int, tuple[int, int]] = {}
    out, next_key = [], 1
    for commit in commits:
        rows = []
        for group, value, delete in commit:
            if delete and live:
                key = sorted(live)[0]
                g, v = live.pop(key)
                rows.append((key, -1, g, v))
            else:
                live[next_key] = (group, value)
                rows.append((next_key, 1, group, value))
                next_key += 1
        out.append(rows)
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(ops, min_size=1, max_size=4), st.integers(1, 5))
def test_partial_rows_from_the_combiner_give_the_raw_rows_changelog(commits, pieces) -> None:
    raw = ReduceKernel(["g"], COMBINABLE, [pa.int64()])
    combined = ReduceKernel(["g"], COMBINABLE, [pa.int64()], partial_input=True)
    layout = PartialLayout(("g",), tuple(COMBINABLE))
    raw_out, combined_out = [], []
    for time, rows in enumerate(commit_rows(commits), start=1):
        raw.on_data(0, time, batch(rows))
        size = -(-len(rows) // pieces) or 1
        for start in range(0, len(rows), size):
            combined.on_data(0, time, layout.partial(batch(rows[start:start + size])))
        raw_out += raw.on_frontier(time + 1)
        combined_out += combined.on_frontier(time + 1)
    assert rows_of(combined_out) == rows_of(raw_out)


def float_batch(rows: list[tuple[int, int, int, float | None]]) -> pa.RecordBatch:
    keys, diffs, groups, values = zip(*rows, strict=True)
    return pa.record_batch({KEY: pa.array(keys, pa.uint64()), DIFF: pa.array(diffs, pa.int64()),
                            "g": pa.array(groups, pa.int64()), "v": pa.array(values, pa.float64())})


def test_float_sums_do_not_depend_on_the_arrival_order_of_batches() -> None:
    aggs = [AggSpec("s", "sum", "v", pa.float64()), AggSpec("a", "avg", "v", pa.float64())]
    parts = [float_batch([(1, 1, 0, 0.1), (2, 1, 1, 1e16)]), float_batch([(3, 1, 0, 0.2)]),
             float_batch([(4, 1, 0, 0.3), (5, 1, 1, 1.0)]), float_batch([(6, 1, 1, -1e16)])]
    outputs = []
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        for combine in (False, True):
            kernel = ReduceKernel(["g"], aggs, [pa.int64()], partial_input=combine)
            layout = PartialLayout(("g",), tuple(aggs))
            for i in order:
                kernel.on_data(0, 2, layout.partial(parts[i]) if combine else parts[i])
            outputs.append(rows_of(kernel.on_frontier(3)))
    assert all(out == outputs[0] for out in outputs[1:])
    sums = {row[3]: row[4] for row in outputs[0]}
    assert sums[0] == pytest.approx(0.6)


def test_none_values_are_skipped_by_value_reducers_and_counted_by_count() -> None:
    aggs = [AggSpec("s", "sum", "v", pa.float64()), AggSpec("c", "count", None, pa.int64()),
            AggSpec("mn", "min", "v", pa.float64()), AggSpec("mx", "max", "v", pa.float64()),
            AggSpec("av", "avg", "v", pa.float64()),
            AggSpec("cd", "count_distinct", "v", pa.int64()),
            AggSpec("st", "sorted_tuple", "v", pa.list_(pa.float64())),
            AggSpec("sk", "sorted_tuple", "v", pa.list_(pa.float64()), skip_nones=True),
            AggSpec("tp", "tuple", "v", pa.list_(pa.float64())),
            AggSpec("tk", "tuple", "v", pa.list_(pa.float64()), skip_nones=True),
            AggSpec("am", "argmin", "v", pa.uint64()), AggSpec("ax", "argmax", "v", pa.uint64())]
    kernel = ReduceKernel(["g"], aggs, [pa.int64()])
    kernel.on_data(0, 2, float_batch([(1, 1, 0, None), (2, 1, 0, 2.0), (3, 1, 0, None),
                                      (4, 1, 0, 1.0), (5, 1, 1, None)]))
    out = {row[3]: row[4:] for row in rows_of(kernel.on_frontier(3))}
    assert out[0] == (3.0, 4, 1.0, 2.0, 1.5, 2, [None, None, 1.0, 2.0], [1.0, 2.0],
                      [None, 2.0, None, 1.0], [2.0, 1.0], 4, 2)
    assert out[1] == (0.0, 1, None, None, None, 0, [None], [], [None], [], None, None)


def test_argmin_argmax_and_any_break_ties_by_the_smallest_row_key() -> None:
    aggs = [AggSpec("am", "argmin", "v", pa.uint64()), AggSpec("ax", "argmax", "v", pa.uint64()),
            AggSpec("an", "any", "v", pa.int64())]
    kernel = ReduceKernel(["g"], aggs, [pa.int64()])
    kernel.on_data(0, 2, batch([(7, 1, 0, 1), (3, 1, 0, 5), (5, 1, 0, 1), (9, 1, 0, 5)]))
    assert [row[4:] for row in rows_of(kernel.on_frontier(3))] == [(5, 3, 5)]
    kernel.on_data(0, 4, batch([(5, -1, 0, 1), (3, -1, 0, 5)]))  # the winners leave
    assert [row[2:] for row in rows_of(kernel.on_frontier(5))] == [
        (-1, 0, 5, 3, 5), (1, 0, 7, 9, 1)]


def test_earliest_and_latest_follow_insertion_time_then_row_key() -> None:
    aggs = [AggSpec("ea", "earliest", "v", pa.int64()), AggSpec("la", "latest", "v", pa.int64())]
    kernel = ReduceKernel(["g"], aggs, [pa.int64()])
    kernel.on_data(0, 2, batch([(8, 1, 0, 80), (4, 1, 0, 40)]))
    assert [row[4:] for row in rows_of(kernel.on_frontier(3))] == [(40, 80)]
    kernel.on_data(0, 4, batch([(1, 1, 0, 10)]))  # a smaller key, but a later time
    kernel.on_data(0, 4, batch([(4, 1, 0, 41), (4, -1, 0, 40)]))  # an update re-inserts key 4
    assert [row[2:] for row in rows_of(kernel.on_frontier(5))] == [
        (-1, 0, 40, 80), (1, 0, 80, 41)]


def test_a_group_retracted_to_zero_is_forgotten_and_starts_afresh() -> None:
    aggs = [AggSpec("c", "count", None, pa.int64()), AggSpec("ea", "earliest", "v", pa.int64()),
            AggSpec("mn", "min", "v", pa.int64())]
    kernel = ReduceKernel(["g"], aggs, [pa.int64()])
    kernel.on_data(0, 2, batch([(1, 1, 0, 5), (2, 1, 0, 3)]))
    kernel.on_frontier(3)
    kernel.on_data(0, 4, batch([(1, -1, 0, 5), (2, -1, 0, 3)]))
    assert [row[2:] for row in rows_of(kernel.on_frontier(5))] == [(-1, 0, 2, 5, 3)]
    assert len(kernel.groups) == 0 and kernel.multisets[2].table.num_rows == 0
    kernel.on_data(0, 6, batch([(3, 1, 0, 9)]))
    assert [row[2:] for row in rows_of(kernel.on_frontier(7))] == [(1, 0, 1, 9, 9)]


def test_insert_and_retract_in_one_time_emit_nothing() -> None:
    kernel = ReduceKernel(["g"], AGGS, [pa.int64()])
    kernel.on_data(0, 2, batch([(1, 1, 0, 5)]))
    kernel.on_data(0, 2, batch([(1, -1, 0, 5)]))
    assert kernel.on_frontier(3) == []
    assert len(kernel.groups) == 0


def test_global_reduce_with_partial_rows_has_one_group() -> None:
    aggs = [AggSpec("s", "sum", "v", pa.int64()), AggSpec("c", "count", None, pa.int64())]
    kernel = ReduceKernel([], aggs, [], partial_input=True)
    layout = PartialLayout((), tuple(aggs))
    kernel.on_data(0, 2, layout.partial(batch([(1, 1, 0, 5), (2, 1, 3, 6)])))
    kernel.on_data(0, 2, layout.partial(batch([(3, 1, 9, 7)])))
    assert [row[2:] for row in rows_of(kernel.on_frontier(3))] == [(1, 18, 3)]
    kernel.on_data(0, 4, layout.partial(batch([(3, -1, 9, 7)])))
    assert [row[2:] for row in rows_of(kernel.on_frontier(5))] == [(-1, 18, 3), (1, 11, 2)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(
    [1e20, -1e20, 0.1, 0.2, 0.3, 1.0, -1.0, 3.0e-5])), max_size=12), min_size=1, max_size=5))
def test_strict_float_sum_stays_exact_through_retractions(commits) -> None:
    import math  # noqa: PLC0415

    kernel = ReduceKernel([], [AggSpec("s", "exact_sum", "v", pa.float64())], [])
    live: dict[int, float] = {}
    result: float | None = None
    for t, ops in enumerate(commits):
        keys, diffs, values = [], [], []
        for key, value in dict(ops).items():
            if key in live:  # retract the old row, then insert the new value
                keys.append(key), diffs.append(-1), values.append(live.pop(key))
            else:
                keys.append(key), diffs.append(1), values.append(value)
                live[key] = value
        kernel.on_data(0, 2 * t + 2, pa.record_batch({
            KEY: pa.array(keys, pa.uint64()), DIFF: pa.array(diffs, pa.int64()),
            "v": pa.array(values, pa.float64())}))
        for _, out in kernel.on_frontier(2 * t + 3):
            for value, diff in zip(out.column("s").to_pylist(), out.column(DIFF).to_pylist(),
                                   strict=True):
                if diff > 0:
                    result = value
        if live:
            assert result == math.fsum(live.values())


def nullable_batch(rows: list[tuple[int, int, int, int | None]]) -> pa.RecordBatch:
    keys, diffs, groups, values = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.record_batch({KEY: pa.array(keys, pa.uint64()), DIFF: pa.array(diffs, pa.int64()),
                            "g": pa.array(groups, pa.int64()), "v": pa.array(values, pa.int64())})


inserts = st.lists(st.tuples(st.integers(0, 3), st.none() | st.integers(-5, 5)), max_size=60)


@settings(max_examples=120, deadline=None)
@given(st.lists(inserts, min_size=1, max_size=5), st.booleans())
def test_append_only_min_max_keep_one_entry_a_group_and_the_same_changelog(commits,
                                                                           combine) -> None:
    """With no retraction possible, min/max drop every value but the extreme: same output."""
    aggs = [AggSpec("mn", "min", "v", pa.int64()), AggSpec("mx", "max", "v", pa.int64()),
            AggSpec("c", "count", None, pa.int64())]
    full = ReduceKernel(["g"], aggs, [pa.int64()], partial_input=combine)
    pruned = ReduceKernel(["g"], aggs, [pa.int64()], partial_input=combine, append_only=True)
    layout = PartialLayout(("g",), tuple(aggs))
    full_out, pruned_out, key = [], [], 1
    for time, commit in enumerate(commits, start=1):
        rows = []
        for group, value in commit:
            rows.append((key, 1, group, value))
            key += 1
        data = nullable_batch(rows)
        for kernel in (full, pruned):
            kernel.on_data(0, time, layout.partial(data) if combine else data)
        full_out += full.on_frontier(time + 1)
        pruned_out += pruned.on_frontier(time + 1)
        for state in pruned.multisets.values():
            if state.table is not None and state.table.num_rows:
                groups = state.table.column("_g").to_pylist()
                assert len(groups) == len(set(groups)), "one entry a group"
    assert rows_of(pruned_out) == rows_of(full_out)
