"""Snapshots of the stateful kernels: restore and continue, and restore into other parallelisms.

No Ray: kernels are driven directly, rows routed between instances with
``split_by_target`` and snapshot tables split with ``filter_groups``, as the
runtime does.
"""

from __future__ import annotations

import random
from collections import Counter

import pyarrow as pa
import pytest
from raystream.actors.kernels.partial import PartialLayout, group_hashes
from raystream.actors.kernels.reduce import AggSpec, ReduceKernel
from raystream.actors.kernels.reduce_state import StateError
from raystream.actors.kernels.upsert import UpsertKernel
from raystream.actors.routing import (
    KEY_GROUP,
    Routing,
    filter_groups,
    key_groups,
    split_by_target,
)
from raystream.connectors.batch import DIFF, KEY

AGGS = [AggSpec("s", "sum", "v", pa.int64()), AggSpec("c", "count", None, pa.int64()),
        AggSpec("mn", "min", "v", pa.int64()), AggSpec("av", "avg", "v", pa.float64()),
        AggSpec("st", "sorted_tuple", "v", pa.list_(pa.int64())),
        AggSpec("tp", "tuple", "v", pa.list_(pa.int64())),
        AggSpec("ea", "earliest", "v", pa.int64()), AggSpec("am", "argmax", "v", pa.uint64())]
UPSERT_SCHEMA = pa.schema([(KEY, pa.uint64()), (DIFF, pa.int64()), ("v", pa.string()),
                           ("n", pa.int64())])


def reduce_commits(seed: int, times: int = 8, groups: int = 30) -> list[pa.RecordBatch]:
    """One batch per time of insertions and retractions of earlier rows."""
    rng = random.Random(seed)
    live: dict[int, tuple[int, int]] = {}
    out, next_key = [], 1
    for _ in range(times):
        rows = []
        for _ in range(rng.randint(1, 60)):
            if live and rng.random() < 0.3:
                key = rng.choice(sorted(live))
                g, v = live.pop(key)
                rows.append((key, -1, g, v))
            else:
                g, v = rng.randrange(groups), rng.randint(-50, 50)
                live[next_key] = (g, v)
                rows.append((next_key, 1, g, v))
                next_key += 1
        keys, diffs, gs, vs = zip(*rows, strict=True)
        out.append(pa.record_batch({KEY: pa.array(keys, pa.uint64()),
                                    DIFF: pa.array(diffs, pa.int64()), "g": gs, "v": vs}))
    return out


def upsert_commits(seed: int, times: int = 8) -> list[pa.RecordBatch]:
    rng = random.Random(seed)
    out = []
    for _ in range(times):
        n = rng.randint(1, 40)
        out.append(pa.record_batch([
            pa.array([rng.randrange(50) for _ in range(n)], pa.uint64()),
            pa.array([1] * n, pa.int64()),
            pa.array([rng.choice(["a", "b", None]) for _ in range(n)]),
            pa.array([rng.randrange(3) for _ in range(n)], pa.int64())], schema=UPSERT_SCHEMA))
    return out


def folded(emitted: list[tuple[int, pa.RecordBatch]]) -> Counter:
    state: Counter = Counter()
    for _, out in emitted:
        names = [n for n in out.schema.names if n != DIFF]
        for row, diff in zip(zip(*(out.column(n).to_pylist() for n in names), strict=True),
                             out.column(DIFF).to_pylist(), strict=True):
            state[tuple(tuple(v) if isinstance(v, list) else v for v in row)] += diff
    return +state


class Stage:
    """``parallelism`` kernel instances fed by hash routing, as an operator stage."""

    def __init__(self, make, parallelism: int, columns: tuple[str, ...]) -> None:
        self.kernels = [make() for _ in range(parallelism)]
        self.columns = columns
        self.emitted: list[tuple[int, pa.RecordBatch]] = []

    def feed(self, time: int, batch: pa.RecordBatch) -> None:
        for target, part in split_by_target(batch, Routing.HASH, len(self.kernels), 0,
                                            self.columns):
            self.kernels[target].on_data(0, time, part)
        for kernel in self.kernels:
            self.emitted += kernel.on_frontier(time + 1)

    def rescaled(self, make, parallelism: int) -> Stage:
        """A stage of ``parallelism`` instances restored from this one's snapshots."""
        snapshots = [kernel.snapshot() for kernel in self.kernels]
        stage = Stage(make, parallelism, self.columns)
        for instance, kernel in enumerate(stage.kernels):
            state = {}
            for name in snapshots[0]:
                parts = [filter_groups(s[name], instance, parallelism) for s in snapshots]
                state[name] = pa.concat_tables(parts)
            kernel.restore(state)
        return stage


def new_reduce() -> ReduceKernel:
    return ReduceKernel(["g"], AGGS, [pa.int64()])


def new_upsert() -> UpsertKernel:
    return UpsertKernel(UPSERT_SCHEMA)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("make", "commits", "columns"), [
    (new_reduce, reduce_commits, ("g",)), (new_upsert, upsert_commits, ())])
def test_snapshot_restore_continue_gives_the_uninterrupted_changelog(
        seed, make, commits, columns) -> None:
    batches = commits(seed)
    whole = make()
    expected = []
    for time, batch in enumerate(batches):
        whole.on_data(0, time, batch)
        expected += whole.on_frontier(time + 1)
    for cut in (0, 3, len(batches) - 1):
        first = make()
        got = []
        for time, batch in enumerate(batches[:cut]):
            first.on_data(0, time, batch)
            got += first.on_frontier(time + 1)
        first.on_data(0, cut, batches[cut])  # pending at the snapshot: not part of it
        second = make()
        second.restore(first.snapshot())
        for time, batch in enumerate(batches[cut:], start=cut):
            second.on_data(0, time, batch)
            got += second.on_frontier(time + 1)
        assert [(t, b.to_pydict()) for t, b in got] == [(t, b.to_pydict()) for t, b in expected]


@pytest.mark.parametrize(("before", "after"), [(2, 3), (3, 1), (1, 4)])
@pytest.mark.parametrize(("make", "commits", "columns"), [
    (new_reduce, reduce_commits, ("g",)), (new_upsert, upsert_commits, ())])
def test_state_of_n_instances_restored_into_m_folds_like_one_instance(
        before, after, make, commits, columns) -> None:
    batches = commits(7, times=10)
    single = Stage(make, 1, columns)
    for time, batch in enumerate(batches):
        single.feed(time, batch)
    stage = Stage(make, before, columns)
    for time, batch in enumerate(batches[:5]):
        stage.feed(time, batch)
    rescaled = stage.rescaled(make, after)
    for time, batch in enumerate(batches[5:], start=5):
        rescaled.feed(time, batch)
    assert folded(stage.emitted + rescaled.emitted) == folded(single.emitted)
    assert folded(single.emitted)


def test_snapshot_tables_carry_the_routing_key_group_of_every_row() -> None:
    kernel = new_reduce()
    routed: dict[int, int] = {}
    for time, batch in enumerate(reduce_commits(3)):
        kernel.on_data(0, time, batch)
        kernel.on_frontier(time + 1)
        routed.update(zip(group_hashes(batch, ("g",)).tolist(),
                          key_groups(batch, ["g"]).tolist(), strict=True))
    state = kernel.snapshot()
    assert set(state) == {"groups", "multiset2", "multiset4", "keyed5", "keyed6", "keyed7"}
    for name, table in state.items():
        pairs = zip(table.column("_g").to_pylist(), table.column(KEY_GROUP).to_pylist(),
                    strict=True)
        assert all(routed[g] == kg for g, kg in pairs), name
    groups = state["groups"]
    assert groups.num_rows == len(kernel.groups) > 0
    assert groups.column("_count").to_pylist() == kernel.groups.count.tolist()


def test_snapshots_are_copies_that_later_times_do_not_change() -> None:
    layout = PartialLayout(("g",), (AGGS[0], AGGS[1]))
    kernel = ReduceKernel(["g"], [AGGS[0], AGGS[1]], [pa.int64()], partial_input=True)
    batches = reduce_commits(5)
    kernel.on_data(0, 0, layout.partial(batches[0]))
    kernel.on_frontier(1)
    state = kernel.snapshot()
    before = state["groups"].to_pydict()
    kernel.on_data(0, 1, layout.partial(batches[1]))
    kernel.on_frontier(2)
    assert state["groups"].to_pydict() == before


def test_restoring_a_table_without_a_needed_column_names_it() -> None:
    kernel = new_reduce()
    kernel.on_data(0, 0, reduce_commits(1)[0])
    kernel.on_frontier(1)
    state = kernel.snapshot()
    state["groups"] = state["groups"].drop_columns(["_s0"])
    with pytest.raises(StateError, match=r"'groups' lacks columns \['_s0'\]"):
        new_reduce().restore(state)


def test_unique_keys_kernel_restored_still_knows_the_live_ids() -> None:
    from raystream.actors.kernels.unique_keys import UniqueKeysSpec  # noqa: PLC0415

    def rows(keys: list[int], diffs: list[int]) -> pa.RecordBatch:
        return pa.record_batch({KEY: pa.array(keys, pa.uint64()),
                                DIFF: pa.array(diffs, pa.int64()), "v": keys})

    spec = UniqueKeysSpec(label="concat")
    first = spec.build(0)
    first.on_data(0, 2, rows([1, 2, 2], [1, 1, 1]))  # 2 twice: the second is skipped
    assert first.on_frontier(3)[0][1].column(KEY).to_pylist() == [1, 2]
    assert [e.reason for _, errors in first.take_errors() for e in errors] == [
        "duplicate key: ^2000000000000"]
    again = spec.build(0)
    again.restore(first.snapshot())
    again.on_data(0, 4, rows([1, 2, 2, 3], [1, -1, -1, 1]))  # 1 is alive; 2 goes away
    ((_, out),) = again.on_frontier(5)
    changes = zip(out.column(KEY).to_pylist(), out.column(DIFF).to_pylist(), strict=True)
    assert sorted(changes) == [(2, -1), (3, 1)]
    with pytest.raises(KeyError, match="duplicated entries"):
        strict = UniqueKeysSpec(terminate_on_error=True).build(0)
        strict.restore(again.snapshot())
        strict.on_data(0, 6, rows([3], [1]))
        strict.on_frontier(7)
