"""Stateless steps and the chain kernel that runs them in one actor.

Each step maps one dataflow batch (``_key``, ``_diff``, columns) to another,
with whole-column pyarrow operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raystream.actors.hashing import splitmix64
from raystream.actors.messages import DIFF, KEY, Emitted, Kernel
from raystream.expressions import ColumnExpression

Step = Callable[[pa.RecordBatch], pa.RecordBatch]


@dataclass(frozen=True)
class MapStep:
    """Computes the output columns (``select``, ``with_columns``, ``rename``...)."""

    outputs: tuple[tuple[str, ColumnExpression], ...]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Computes the output columns of a batch."""
        arrays = [batch.column(KEY), batch.column(DIFF)]
        arrays += [expr.column(batch) for _, expr in self.outputs]
        return pa.RecordBatch.from_arrays(arrays, names=[KEY, DIFF, *(n for n, _ in self.outputs)])


@dataclass(frozen=True)
class FilterStep:
    """Keeps rows where the predicate is true (None counts as false)."""

    predicate: ColumnExpression

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Keeps the batch's rows where the predicate holds."""
        mask = self.predicate.column(batch)
        if mask.null_count:
            mask = pc.fill_null(mask, False)
        return batch.filter(mask)


@dataclass(frozen=True)
class FlattenStep:
    """One row per list item; the item's key mixes the row key and its index."""

    column: str

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Flattens the list column of a batch."""
        lists = batch.column(self.column)
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        parents = np.repeat(np.arange(batch.num_rows), lengths)
        starts = np.cumsum(lengths) - lengths
        index = np.arange(len(parents)) - np.repeat(starts, lengths)
        taken = batch.take(pa.array(parents, pa.int64()))
        keys = taken.column(KEY).to_numpy(zero_copy_only=False)
        with np.errstate(over="ignore"):
            new_keys = splitmix64(keys ^ splitmix64(index.astype(np.uint64) + np.uint64(1)))
        arrays = []
        for name in batch.schema.names:
            if name == KEY:
                arrays.append(pa.array(new_keys, pa.uint64()))
            elif name == self.column:
                arrays.append(pc.list_flatten(lists))
            else:
                arrays.append(taken.column(name))
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


@dataclass(frozen=True)
class ProjectStep:
    """Reorders (and casts) columns so that every concat input has one layout."""

    names: tuple[str, ...]
    types: tuple[pa.DataType | None, ...]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Reorders and casts the batch's columns."""
        arrays = [batch.column(KEY), batch.column(DIFF)]
        for name, typ in zip(self.names, self.types, strict=False):
            column = batch.column(name)
            arrays.append(column.cast(typ) if typ is not None and column.type != typ else column)
        return pa.RecordBatch.from_arrays(arrays, names=[KEY, DIFF, *self.names])


def run_steps(steps: Sequence[Step], batch: pa.RecordBatch) -> pa.RecordBatch:
    """Applies steps in order, stopping early on an empty batch."""
    for step in steps:
        if batch.num_rows == 0:
            break
        batch = step(batch)
    return batch


@dataclass
class ChainKernel:
    """A stateful head (optional) followed by stateless steps, in one actor.

    Attributes:
        steps: Steps applied to every batch (after the head, if any).
        head: A stateful kernel (reduce, upsert) whose output the steps transform.
        port_steps: Per input port, steps applied first (concat projections).
    """

    steps: list[Step]
    head: Kernel | None = None
    port_steps: dict[int, list[Step]] | None = None

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Transforms the batch (or feeds the head)."""
        if self.port_steps and port in self.port_steps:
            batch = run_steps(self.port_steps[port], batch)
        if self.head is not None:
            return self._tail(self.head.on_data(port, time, batch))
        return self._tail([(time, batch)])

    def on_frontier(self, frontier: int) -> Emitted:
        """Emits the head's completed times through the steps."""
        if self.head is None:
            return []
        return self._tail(self.head.on_frontier(frontier))

    def _tail(self, emitted: Emitted) -> Emitted:
        out = []
        for time, batch in emitted:
            batch = run_steps(self.steps, batch)
            if batch.num_rows:
                out.append((time, batch))
        return out
