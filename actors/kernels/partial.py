"""Partial aggregates: a reduce's input pre-aggregated per batch (the combiner).

A *partial batch* is a dataflow batch with one row per distinct
``(group, multiset values)`` of the raw rows it stands for:

* ``_key``: the group hash (:func:`group_hashes`; the reduce's output key);
* ``_diff``: the sum of the rows' diffs (the partial count; may be 0 or negative);
* the group columns (as in the raw rows, so hash routing is unchanged);
* ``_s<i>``: per ``sum``/``avg`` aggregate ``i``, the sum of value * diff
  (None counts as 0), int64 or float64 (:func:`~aggs.sum_dtype`);
* ``_n<i>``: per ``avg`` aggregate, the sum of diffs of its non-None values;
* every multiset aggregate's input column, unchanged: each partial row says
  "these values, with multiplicity ``_diff``"; and the error flag of each such
  column that has one (an error value is null with its flag set: the kernel
  leaves it out of that aggregate).

Partial rows of one group add up: the reduce kernel sums them per group (and
per group and value for multisets), so pre-aggregating any split of the rows
gives exactly the raw rows' result. The planner fuses :class:`PartialAggregate`
into the stage that feeds a reduce whose aggregates are all combinable, so the
hash shuffle carries groups, not rows; the kernel does the same step itself on
raw input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.aggs import MULTISET, AggSpec, sum_column, sum_dtype
from raystream.connectors.batch import DIFF, KEY, error_flag
from raystream.connectors.hashing import hash_columns

GLOBAL_GROUP = 0x5EED
"""The group hash (and output key) of a global reduce's single group."""


def group_hashes(batch: pa.RecordBatch | pa.Table, group_columns: tuple[str, ...]) -> np.ndarray:
    """The 64-bit hash identifying each row's group (the reduce's output key).

    Two groups are the same group exactly when their hashes are equal: the
    kernel assumes no two distinct group values share a 64-bit hash (for a
    million groups the chance that any two do is about 3e-8). The output row
    keys of a reduce are these hashes, so a collision would already merge two
    output rows under one key.
    """
    if not group_columns:
        return np.full(batch.num_rows, GLOBAL_GROUP, np.uint64)
    return hash_columns(batch, group_columns)


def sum_name(i: int) -> str:
    """Column of the partial sum of aggregate ``i``."""
    return f"_s{i}"


def nonnull_name(i: int) -> str:
    """Column of the partial non-None count of ``avg`` aggregate ``i``."""
    return f"_n{i}"


@dataclass(frozen=True)
class PartialLayout:
    """Which columns a reduce's partial batches carry.

    Attributes:
        group_columns: Grouping columns (empty for a global reduce).
        aggs: The aggregations (keyed ones are ignored: they are not combinable).
        flagged: Input columns that can hold error values (they have error flags).
    """

    group_columns: tuple[str, ...]
    aggs: tuple[AggSpec, ...]
    flagged: tuple[str, ...] = ()

    @cached_property
    def summed(self) -> list[int]:
        """Indices of the ``sum`` and ``avg`` aggregates."""
        return [i for i, a in enumerate(self.aggs) if a.kind in ("sum", "avg")]

    @cached_property
    def averaged(self) -> list[int]:
        """Indices of the ``avg`` aggregates."""
        return [i for i, a in enumerate(self.aggs) if a.kind == "avg"]

    @cached_property
    def value_columns(self) -> list[str]:
        """Input columns of the multiset aggregates (distinct, in order), and their flags."""
        names: list[str] = []
        for agg in self.aggs:
            if agg.kind in MULTISET and agg.column is not None and agg.column not in names:
                names.append(agg.column)
        return names + [error_flag(c) for c in names if c in self.flagged]

    def partial(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Pre-aggregates raw rows into partial rows (see the module docstring).

        Rows are grouped on the group (and multiset value) columns themselves;
        only the distinct groups are hashed.
        """
        diff = batch.column(DIFF).to_numpy(zero_copy_only=False)
        sums: dict[str, np.ndarray] = {DIFF: diff}
        for i in self.summed:
            values = batch.column(self.aggs[i].column)
            sums[sum_name(i)] = sum_column(values, sum_dtype(values.type)) * diff
        for i in self.averaged:
            valid = batch.column(self.aggs[i].column).is_valid()
            sums[nonnull_name(i)] = valid.to_numpy(zero_copy_only=False) * diff
        keys = [*self.group_columns, *(c for c in self.value_columns
                                       if c not in self.group_columns)]
        if keys:
            table = pa.table({**{k: batch.column(k) for k in keys}, **sums})
            grouped = table.group_by(keys, use_threads=False).aggregate(
                [(c, "sum") for c in sums])
            totals = {c: _contiguous(grouped.column(f"{c}_sum")) for c in sums}
            columns = {k: _contiguous(grouped.column(k)) for k in keys}
        else:
            totals = {c: pa.array([v.sum()]) for c, v in sums.items()}
            columns = {}
        hashes = group_hashes(pa.table(columns) if columns else pa.table({DIFF: totals[DIFF]}),
                              self.group_columns)
        arrays = [pa.array(hashes, pa.uint64()), totals[DIFF]]
        arrays += [columns[c] for c in self.group_columns]
        arrays += [totals[c] for c in sums if c != DIFF]
        arrays += [columns[c] for c in self.value_columns]
        names = [KEY, DIFF, *self.group_columns, *(c for c in sums if c != DIFF),
                 *self.value_columns]
        return pa.RecordBatch.from_arrays(arrays, names=names)


@dataclass(frozen=True)
class PartialAggregate:
    """The combiner step: a batch of raw rows becomes its partial rows.

    Attributes:
        layout: The partial columns of the reduce it feeds.
    """

    layout: PartialLayout

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Pre-aggregates one batch per group (and per multiset values)."""
        return self.layout.partial(batch)


def _contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks()
    return array
