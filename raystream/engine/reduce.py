"""The reduce kernel: incremental aggregation per group with retractions.

Rows of a commit time are pre-aggregated with Arrow ``group_by`` as they arrive
(so a minibatch of millions of rows is held as one small table per group
family), and applied to the per-group state when the frontier passes their
time. Then, for every group that changed, the old aggregate row is emitted with
``diff=-1`` and the new one with ``diff=+1`` (Pathway's changelog semantics).

Reducers fall into three state families:
    linear: ``sum``, ``count``, ``avg``, kept as running sums (invertible).
    multiset: ``min``, ``max``, ``count_distinct``, ``sorted_tuple``, ``unique``,
        kept as value -> multiplicity.
    keyed: ``any``, ``tuple``, ``earliest``, ``latest``, ``argmin``, ``argmax``,
        kept as row key -> (value, arrival order).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raystream.actors.hashing import hash_columns
from raystream.actors.messages import DIFF, KEY, Emitted
from raystream.reducers import AggSpec

LINEAR = {"sum", "count", "avg"}
MULTISET = {"min", "max", "count_distinct", "sorted_tuple", "unique"}
KEYED = {"any", "tuple", "earliest", "latest", "argmin", "argmax"}
_ONE_GROUP = "_one"


class ReduceError(ValueError):
    """A reducer could not produce a value (e.g. ``unique`` over different values)."""


@dataclass
class _Group:
    count: int = 0
    sums: dict[int, Any] = field(default_factory=dict)
    nonnull: dict[int, int] = field(default_factory=dict)
    multisets: dict[int, Counter] = field(default_factory=dict)
    keyed: dict[int, dict[int, tuple]] = field(default_factory=dict)
    output: tuple | None = None


@dataclass
class _Partial:
    linear: pa.Table
    multisets: dict[int, pa.Table]
    keyed: dict[int, pa.Table]


class ReduceKernel:
    """Groups rows by ``group_columns`` and maintains ``aggs`` per group.

    Args:
        group_columns: Grouping columns (empty for a global reduce).
        aggs: The aggregations.
        group_types: Arrow types of the grouping columns.
    """

    def __init__(self, group_columns: list[str], aggs: list[AggSpec],
                 group_types: list[pa.DataType]) -> None:
        self.group_columns = list(group_columns)
        self.keys = self.group_columns or [_ONE_GROUP]
        self.aggs = aggs
        self.group_types = group_types
        self.state: dict[tuple, _Group] = {}
        self.pending: dict[int, list[_Partial]] = {}
        self.arrivals = 0

    # -- kernel contract -----------------------------------------------------
    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Pre-aggregates the batch and holds it until its time is complete."""
        if batch.num_rows:
            self.pending.setdefault(time, []).append(self._partial(batch))
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Applies every held time below ``frontier``, emitting the changes."""
        out = []
        for time in sorted(t for t in self.pending if t < frontier):
            changed = self._apply(time, self.pending.pop(time))
            batch = self._emit(changed)
            if batch.num_rows:
                out.append((time, batch))
        return out

    # -- pre-aggregation -----------------------------------------------------
    def _partial(self, batch: pa.RecordBatch) -> _Partial:
        table = pa.Table.from_batches([batch])
        if not self.group_columns:
            table = table.append_column(_ONE_GROUP, pa.array(np.zeros(len(table), np.int8)))
        diff = table.column(DIFF)
        columns = {k: table.column(k) for k in self.keys}
        columns["_cnt"] = diff
        for i, agg in enumerate(self.aggs):
            if agg.kind in ("sum", "avg"):
                columns[f"_s{i}"] = pc.multiply(table.column(agg.column), diff)
            if agg.kind == "avg":
                valid = pc.cast(pc.is_valid(table.column(agg.column)), pa.int64())
                columns[f"_n{i}"] = pc.multiply(valid, diff)
        linear = _sum_by(pa.table(columns), self.keys)
        multisets, keyed = {}, {}
        for i, agg in enumerate(self.aggs):
            if agg.kind in MULTISET:
                values = pa.table({**{k: table.column(k) for k in self.keys},
                                   "_v": table.column(agg.column), "_cnt": diff})
                multisets[i] = _sum_by(values, [*self.keys, "_v"])
            elif agg.kind in KEYED:
                keyed[i] = pa.table({**{k: table.column(k) for k in self.keys},
                                     "_k": table.column(KEY), "_v": table.column(agg.column),
                                     "_cnt": diff})
        return _Partial(linear, multisets, keyed)

    # -- applying a complete time ----------------------------------------------
    def _apply(self, time: int, parts: list[_Partial]) -> list[tuple]:
        changed: dict[tuple, None] = {}
        linear = _sum_by(pa.concat_tables([p.linear for p in parts]), self.keys)
        self._apply_linear(linear, changed)
        for i in {i for p in parts for i in p.multisets}:
            table = _sum_by(pa.concat_tables([p.multisets[i] for p in parts]),
                            [*self.keys, "_v"])
            self._apply_multiset(i, table, changed)
        for i in {i for p in parts for i in p.keyed}:
            self._apply_keyed(i, time, pa.concat_tables([p.keyed[i] for p in parts]), changed)
        return list(changed)

    def _groups_of(self, table: pa.Table) -> list[tuple]:
        return list(zip(*(table.column(k).to_pylist() for k in self.keys), strict=False))

    def _apply_linear(self, table: pa.Table, changed: dict) -> None:
        groups = self._groups_of(table)
        counts = table.column("_cnt").to_pylist()
        sums = {i: table.column(f"_s{i}").to_pylist() for i, a in enumerate(self.aggs)
                if a.kind in ("sum", "avg")}
        nonnull = {i: table.column(f"_n{i}").to_pylist() for i, a in enumerate(self.aggs)
                   if a.kind == "avg"}
        for row, group in enumerate(groups):
            state = self.state.setdefault(group, _Group())
            state.count += counts[row]
            for i, values in sums.items():
                state.sums[i] = state.sums.get(i, 0) + (values[row] or 0)
            for i, values in nonnull.items():
                state.nonnull[i] = state.nonnull.get(i, 0) + values[row]
            changed[group] = None

    def _apply_multiset(self, i: int, table: pa.Table, changed: dict) -> None:
        values = table.column("_v").to_pylist()
        counts = table.column("_cnt").to_pylist()
        for row, group in enumerate(self._groups_of(table)):
            multiset = self.state.setdefault(group, _Group()).multisets.setdefault(i, Counter())
            multiset[values[row]] += counts[row]
            if multiset[values[row]] == 0:
                del multiset[values[row]]
            changed[group] = None

    def _apply_keyed(self, i: int, time: int, table: pa.Table, changed: dict) -> None:
        keys = table.column("_k").to_pylist()
        values = table.column("_v").to_pylist()
        diffs = table.column("_cnt").to_pylist()
        for row, group in enumerate(self._groups_of(table)):
            rows = self.state.setdefault(group, _Group()).keyed.setdefault(i, {})
            if diffs[row] > 0:
                self.arrivals += 1
                rows[keys[row]] = (values[row], (time, self.arrivals))
            else:
                rows.pop(keys[row], None)
            changed[group] = None

    # -- emitting changes ------------------------------------------------------
    def _emit(self, changed: list[tuple]) -> pa.RecordBatch:
        rows: list[tuple] = []
        diffs: list[int] = []
        for group in changed:
            state = self.state[group]
            new = self._output(group, state) if state.count > 0 else None
            if new == state.output:
                continue
            if state.output is not None:
                rows.append(state.output)
                diffs.append(-1)
            if new is not None:
                rows.append(new)
                diffs.append(1)
            state.output = new
            if state.count <= 0:
                del self.state[group]
        return self._to_batch(rows, diffs)

    def _output(self, group: tuple, state: _Group) -> tuple:
        values = [_finish(agg, i, state, group) for i, agg in enumerate(self.aggs)]
        return (*(group if self.group_columns else ()), *values)

    def _to_batch(self, rows: list[tuple], diffs: list[int]) -> pa.RecordBatch:
        names = [*self.group_columns, *(a.out for a in self.aggs)]
        types = [*self.group_types, *(a.arrow for a in self.aggs)]
        columns = list(zip(*rows, strict=False)) if rows else [() for _ in names]
        arrays = [pa.array(list(c), t) for c, t in zip(columns, types, strict=False)]
        body = pa.RecordBatch.from_arrays(arrays, names=names) if names else None
        keys = hash_columns(body, self.group_columns) if self.group_columns else \
            np.full(len(rows), 0x5EED, np.uint64)
        return pa.RecordBatch.from_arrays(
            [pa.array(keys, pa.uint64()), pa.array(diffs, pa.int64()), *arrays],
            names=[KEY, DIFF, *names])


def _sum_by(table: pa.Table, keys: list[str]) -> pa.Table:
    """Sums every non-key column per distinct key (names unchanged)."""
    others = [c for c in table.column_names if c not in keys]
    result = table.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in others])
    return result.rename_columns([c.removesuffix("_sum") if c.endswith("_sum") and
                                  c[:-4] in others else c for c in result.column_names])


def _finish(agg: AggSpec, i: int, state: _Group, group: tuple) -> Any:
    """Computes one reducer's value from the group state."""
    kind = agg.kind
    if kind == "count":
        return state.count
    if kind == "sum":
        return state.sums.get(i, 0)
    if kind == "avg":
        n = state.nonnull.get(i, 0)
        return state.sums.get(i, 0) / n if n else None
    if kind in MULTISET:
        return _finish_multiset(kind, state.multisets.get(i, Counter()), agg, group)
    return _finish_keyed(kind, state.keyed.get(i, {}), agg)


def _finish_multiset(kind: str, multiset: Counter, agg: AggSpec, group: tuple) -> Any:
    present = [v for v in multiset if v is not None]
    if kind == "min":
        return min(present, default=None)
    if kind == "max":
        return max(present, default=None)
    if kind == "count_distinct":
        return len(present)
    if kind == "sorted_tuple":
        values = [v for v in sorted(present) for _ in range(multiset[v])]
        return tuple(values) if agg.skip_nones else \
            tuple([None] * multiset.get(None, 0) + values)
    distinct = list(multiset)
    if len(distinct) > 1:
        raise ReduceError(f"pw.reducers.unique: group {group} has several values: "
                          f"{distinct[:5]}")
    return distinct[0] if distinct else None


def _finish_keyed(kind: str, rows: dict[int, tuple], agg: AggSpec) -> Any:
    if not rows:
        return None
    if kind == "any":
        return rows[min(rows)][0]
    if kind == "tuple":
        values = [rows[k][0] for k in sorted(rows)]
        return tuple(v for v in values if v is not None) if agg.skip_nones else tuple(values)
    if kind == "earliest":
        return min(rows.values(), key=lambda r: r[1])[0]
    if kind == "latest":
        return max(rows.values(), key=lambda r: r[1])[0]
    candidates = [(v, k) for k, (v, _) in rows.items() if v is not None]
    if not candidates:
        return None
    pick = min(candidates) if kind == "argmin" else max(candidates, key=lambda c: (c[0], -c[1]))
    return pick[1]
