"""The reduce kernel: incremental aggregation per group with retractions, in columns.

Rows of a commit time are held until the frontier passes the time, then
applied to the per-group state at once, and for every group that changed the
old aggregate row is emitted with ``diff=-1`` and the new one with ``diff=+1``
(Pathway's changelog semantics): nothing for a group whose row is unchanged; a
group whose count drops to 0 is retracted and forgotten.

Input is raw rows, or partial rows (:mod:`~raystream.actors.kernels.partial`)
when the planner fused the combiner upstream. Raw rows are pre-aggregated into
partial rows as they arrive, so a time is held as one small table per batch.

State (see :mod:`reduce_groups`, :mod:`reduce_entries`):
    groups: sorted group hashes with counts and linear sums (numpy arrays);
    per multiset reducer: (group, value, multiplicity), sorted by group;
    per keyed reducer: (group, row key, value, time, multiplicity), sorted by group.

Determinism: a time's output does not depend on the order in which its
batches arrived. Partial rows are sorted by group (and float sums by value
within their group) before they are added, entries are sorted by value or
row key, output rows come in group-hash order. ``earliest``/``latest`` order
rows by insertion time, then row key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.actors.kernels.aggs import KEYED, MULTISET, AggSpec, ReduceError
from raystream.actors.kernels.base import Emitted, KernelState
from raystream.actors.kernels.columnar import equal_values, interleave
from raystream.actors.kernels.partial import (
    PartialLayout,
    group_hashes,
    nonnull_name,
    sum_name,
)
from raystream.actors.kernels.reduce_entries import (
    EXTREMES,
    D,
    G,
    K,
    KeyedState,
    M,
    MultisetState,
    UniqueConflict,
    V,
    finish_keyed,
    finish_multiset,
)
from raystream.actors.kernels.reduce_groups import GroupIndex, LinearDelta, LinearValues
from raystream.actors.kernels.reduce_state import restore_reduce, snapshot_reduce
from raystream.actors.routing import key_groups
from raystream.connectors.batch import DIFF, KEY, error_flag

__all__ = ["AggSpec", "ReduceError", "ReduceKernel", "ReduceSpec"]

E = "_e"
"""Column prefix of a keyed aggregate's error flags in the kernel's raw rows."""


@dataclass
class _Held:
    """One time's input so far: partial batches, and raw rows for keyed reducers."""

    partials: list[pa.RecordBatch] = field(default_factory=list)
    keyed: list[pa.RecordBatch] = field(default_factory=list)


@dataclass
class _Time:
    """One complete time, sorted by group: partial rows and the groups they touch."""

    rows: pa.Table
    order: np.ndarray
    starts: np.ndarray
    hashes: np.ndarray


class ReduceKernel:
    """Groups rows by ``group_columns`` and maintains ``aggs`` per group.

    Args:
        group_columns: Grouping columns (empty for a global reduce).
        aggs: The aggregations.
        group_types: Arrow types of the grouping columns.
        partial_input: Input batches are partial rows (the combiner ran upstream).
    """

    def __init__(self, group_columns: list[str], aggs: list[AggSpec],
                 group_types: list[pa.DataType], partial_input: bool = False,
                 flagged: tuple[str, ...] = (), append_only: bool = False) -> None:
        self.group_columns = list(group_columns)
        self.aggs = list(aggs)
        self.group_types = list(group_types)
        self.partial_input = partial_input
        self.flagged = tuple(flagged)
        self.layout = PartialLayout(tuple(group_columns), tuple(aggs), self.flagged)
        self.groups = GroupIndex()
        self.multisets = {i: MultisetState(a.kind if append_only and a.kind in EXTREMES else None)
                          for i, a in enumerate(aggs) if a.kind in MULTISET}
        self.keyed = {i: KeyedState() for i, a in enumerate(aggs) if a.kind in KEYED}
        self.pending: dict[int, _Held] = {}
        if partial_input and self.keyed:
            raise ValueError("keyed reducers need raw rows, not partial ones")

    # -- kernel contract -----------------------------------------------------
    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Holds the batch (pre-aggregated) until its time is complete."""
        if batch.num_rows:
            held = self.pending.setdefault(time, _Held())
            held.partials.append(batch if self.partial_input else self.layout.partial(batch))
            if self.keyed:
                held.keyed.append(self._keyed_rows(batch))
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Applies every held time below ``frontier``, emitting the changes."""
        out = []
        for time in sorted(t for t in self.pending if t < frontier):
            batch = self._apply(time, self.pending.pop(time))
            if batch.num_rows:
                out.append((time, batch))
        return out

    def snapshot(self) -> KernelState:
        """The applied per-group state as tables (see :mod:`reduce_state`)."""
        return snapshot_reduce(self)

    def restore(self, state: KernelState) -> None:
        """Replaces the per-group state by a snapshot's (of this instance's key groups)."""
        self.pending.clear()
        restore_reduce(self, state)

    # -- applying a complete time --------------------------------------------
    def _keyed_rows(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        hashes = group_hashes(batch, self.layout.group_columns)
        columns = {G: pa.array(hashes), K: batch.column(KEY), D: batch.column(DIFF)}
        for i in self.keyed:
            column = self.aggs[i].column
            columns[f"{V}{i}"] = batch.column(column)
            if column in self.flagged:  # error values are left out of the aggregate
                columns[f"{E}{i}"] = batch.column(error_flag(column)).fill_null(False)
        return pa.RecordBatch.from_pydict(columns)

    def _apply(self, time: int, held: _Held) -> pa.RecordBatch:
        step = _sorted_time(held.partials)
        values = step.rows.select(self.group_columns).take(pa.array(step.order[step.starts]))
        change = self.groups.apply(self._delta(step), lambda born: self._key_groups(values, born))
        hashes = step.hashes
        old_groups, new_groups = hashes[change.existed], hashes[change.alive]
        dead = hashes[~change.alive]
        old = self._linear_outputs(change.old)
        new = self._linear_outputs(change.new)
        try:
            for i, state in self.multisets.items():
                rows, column = step.rows, self.aggs[i].column
                counts = rows.column(DIFF)
                if column in self.flagged:  # error values are left out of the aggregate
                    counts = pc.if_else(rows.column(error_flag(column)).fill_null(False), 0,
                                        counts)
                delta = pa.table({G: rows.column(KEY), V: rows.column(column), M: counts})
                before, after = state.apply(hashes, dead, delta)
                old[i] = finish_multiset(self.aggs[i], before, old_groups)
                new[i] = finish_multiset(self.aggs[i], after, new_groups)
            if self.keyed:
                raw = pa.Table.from_batches(held.keyed)
                for i, keyed in self.keyed.items():
                    part = raw if f"{E}{i}" not in raw.column_names else \
                        raw.filter(pc.invert(raw.column(f"{E}{i}")))
                    delta = part.select([G, K, f"{V}{i}", D]).rename_columns([G, K, V, D])
                    before, after = keyed.apply(hashes, dead, delta, time)
                    old[i] = finish_keyed(self.aggs[i], before, old_groups)
                    new[i] = finish_keyed(self.aggs[i], after, new_groups)
        except UniqueConflict as conflict:
            row = int(np.searchsorted(hashes, np.uint64(conflict.group_hash)))
            group = tuple(values.slice(row, 1).to_pylist()[0].values()) if \
                self.group_columns else ()
            raise ReduceError(f"pw.reducers.unique: group {group} has several values: "
                              f"{conflict.values}") from None
        return self._changelog(hashes, values, change.existed, change.alive, old, new)

    def _delta(self, step: _Time) -> LinearDelta:
        rows, order, starts = step.rows, step.order, step.starts
        count = _segment_sums(_np(rows.column(DIFF))[order], starts)
        sums = {}
        for i in self.layout.summed:
            values = _np(rows.column(sum_name(i)))
            if values.dtype.kind == "f":  # floats add in value order within their group
                by_value = np.lexsort((values, _np(rows.column(KEY))))
                sums[i] = _segment_sums(values[by_value], starts)
            else:
                sums[i] = _segment_sums(values[order], starts)
        nonnull = {i: _segment_sums(_np(rows.column(nonnull_name(i)))[order], starts)
                   for i in self.layout.averaged}
        return LinearDelta(step.hashes, count, sums, nonnull)

    def _key_groups(self, values: pa.Table, born: np.ndarray) -> np.ndarray:
        """Key groups of the groups ``born`` selects, as routing computes them."""
        if not self.group_columns:
            return np.zeros(int(born.sum()), np.uint16)
        return key_groups(values.filter(pa.array(born)), self.group_columns)

    def _linear_outputs(self, linear: LinearValues) -> dict[int, pa.Array]:
        out: dict[int, pa.Array] = {}
        for i, agg in enumerate(self.aggs):
            if agg.kind == "count":
                out[i] = pa.array(linear.count, pa.int64())
            elif agg.kind == "sum":
                out[i] = _sum_array(linear.sums.get(i), len(linear.count), agg.arrow)
            elif agg.kind == "avg":
                n = linear.nonnull.get(i, np.zeros(len(linear.count), np.int64))
                total = linear.sums.get(i, np.zeros(len(n)))
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[i] = pa.array(total.astype(np.float64) / n, pa.float64(), mask=n == 0)
        return out

    # -- emitting changes ------------------------------------------------------
    def _changelog(self, hashes: np.ndarray, values: pa.Table, existed: np.ndarray,
                   alive: np.ndarray, old: dict[int, pa.Array],
                   new: dict[int, pa.Array]) -> pa.RecordBatch:
        both = existed & alive
        same = np.zeros(len(hashes), bool)
        in_old, in_new = np.cumsum(existed)[both] - 1, np.cumsum(alive)[both] - 1
        same[both] = True
        for i in range(len(self.aggs)):
            same[both] &= equal_values(old[i].take(pa.array(in_old)), new[i].take(pa.array(in_new)))
        rows, diffs = interleave(existed & ~same, alive & ~same)
        n = len(hashes)
        group = rows % n
        arrays = [pa.array(hashes[group], pa.uint64()), pa.array(diffs, pa.int64())]
        arrays += [values.column(c).combine_chunks().take(pa.array(group))
                   for c in self.group_columns]
        old_at, new_at = np.cumsum(existed) - 1, np.cumsum(alive) - 1
        is_new = rows >= n
        for i in range(len(self.aggs)):
            both_values = pa.concat_arrays([_cast(old[i], new[i].type), new[i]])
            index = np.where(is_new, len(old[i]) + new_at[group], old_at[group])
            arrays.append(both_values.take(pa.array(index)))
        names = [KEY, DIFF, *self.group_columns, *(a.out for a in self.aggs)]
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _sorted_time(partials: list[pa.RecordBatch]) -> _Time:
    rows = pa.Table.from_batches(partials) if len({b.schema for b in partials}) == 1 else \
        pa.concat_tables([pa.Table.from_batches([b]) for b in partials],
                         promote_options="permissive")
    rows = rows.combine_chunks()
    keys = _np(rows.column(KEY))
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    return _Time(rows, order, starts, sorted_keys[starts])


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts) if len(starts) else values[:0]


def _sum_array(sums: np.ndarray | None, n: int, typ: pa.DataType) -> pa.Array:
    values = sums if sums is not None else np.zeros(n, np.int64)
    if pa.types.is_null(typ):
        return pa.array(values)
    array = pa.array(values)
    return array if array.type == typ else array.cast(typ)


def _cast(array: pa.Array, like: pa.DataType) -> pa.Array:
    return array if array.type == like else array.cast(like)


def _np(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class ReduceSpec:
    """The compiled plan of a reduce: what its kernel needs, nothing from the API.

    Attributes:
        group_columns: Grouping columns (empty for a global reduce).
        aggs: The aggregations.
        group_types: Arrow types of the grouping columns.
        partial_input: The combiner runs upstream: input batches are partial rows.
        flagged: Input columns that can hold error values: a reducer leaves
            their error values out (``count`` still counts the row).
        append_only: No retraction can reach the reduce, so ``min`` and ``max``
            keep only each group's extreme value instead of its whole multiset.
    """

    group_columns: tuple[str, ...]
    aggs: tuple[AggSpec, ...]
    group_types: tuple[pa.DataType, ...]
    partial_input: bool = False
    flagged: tuple[str, ...] = ()
    append_only: bool = False

    def build(self, instance: int) -> ReduceKernel:
        """Builds the reduce kernel (every instance starts empty)."""
        return ReduceKernel(list(self.group_columns), list(self.aggs), list(self.group_types),
                            self.partial_input, self.flagged, self.append_only)
