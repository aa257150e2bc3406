"""The upsert kernel: a row whose key already exists replaces the old row.

Used after sources with a primary key (or with message keys as row keys), and
for ``Table.stream_to_table``. Within one commit time the last row per key
wins; for each key that changed the old row is retracted (``diff=-1``) and
the new one inserted (``diff=+1``). An incoming row with ``diff=-1`` deletes
its key (its values are not looked at); deleting an absent key does nothing.

State is columnar: the row keys sorted (numpy uint64) and the latest row of
each key in an Arrow table aligned with them. A time touches its own keys
only: positions by binary search, equality column by column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.base import Emitted, HeldTimes, KernelState
from raystream.actors.kernels.columnar import equal_values, interleave, locate
from raystream.actors.routing import KEY_GROUP, key_groups
from raystream.connectors.batch import DIFF, KEY

ROWS = "rows"


class UpsertKernel:
    """Keeps the latest row per key and emits replacements as changes.

    Args:
        schema: The dataflow schema of incoming batches (``_key``, ``_diff``, columns).
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.columns = [n for n in schema.names if n not in (KEY, DIFF)]
        self.user_schema = pa.schema([schema.field(n) for n in self.columns])
        self.keys = np.empty(0, np.uint64)
        self.rows = self.user_schema.empty_table()
        self.held = HeldTimes()

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Holds rows until their time is complete."""
        self.held.hold(time, batch)
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Applies every held time below ``frontier`` in order."""
        out = []
        for time, rows in self.held.complete(frontier):
            batch = self._apply(rows)
            if batch.num_rows:
                out.append((time, batch))
        return out

    def snapshot(self) -> KernelState:
        """The latest row per key, as one table ``rows`` (``_kg``, ``_key``, columns)."""
        keys = pa.array(self.keys.copy(), pa.uint64())
        table = self.rows.add_column(0, KEY, keys)
        groups = key_groups(table)
        return {ROWS: table.add_column(0, KEY_GROUP, pa.array(groups, pa.uint16()))}

    def restore(self, state: KernelState) -> None:
        """Replaces the rows by a snapshot's (possibly several instances' tables).

        Raises:
            ValueError: The table lacks a column, or holds a key twice.
        """
        self.held.clear()
        table = state.get(ROWS)
        if table is None:
            self.keys, self.rows = np.empty(0, np.uint64), self.user_schema.empty_table()
            return
        missing = [c for c in [KEY, *self.columns] if c not in table.column_names]
        if missing:
            raise ValueError(f"upsert state table {ROWS!r} lacks columns {missing}")
        keys = table.column(KEY).to_numpy().astype(np.uint64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if len(keys) > 1 and (keys[1:] == keys[:-1]).any():
            raise ValueError(f"upsert state table {ROWS!r} holds a key twice")
        self.keys = keys
        self.rows = table.select(self.columns).cast(self.user_schema).take(
            pa.array(order)).combine_chunks()

    def _apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        keys = batch.column(KEY).to_numpy(zero_copy_only=False)
        reversed_first = np.unique(keys[::-1], return_index=True)[1]
        last = np.sort(len(keys) - 1 - reversed_first)  # arrival order of each key's last row
        deleted = batch.column(DIFF).to_numpy(zero_copy_only=False)[last] < 0
        if deleted.any():
            removed = self._delete(keys[last][deleted])
            if deleted.all():
                return removed
            last = last[~deleted]
            changed = self._upsert(batch, keys, last)
            return pa.RecordBatch.from_arrays(
                [pa.concat_arrays([removed.column(i), changed.column(i)])
                 for i in range(len(self.schema))], schema=self.schema)
        return self._upsert(batch, keys, last)

    def _delete(self, keys: np.ndarray) -> pa.RecordBatch:
        """Removes the keys that exist; returns their retractions."""
        pos, existed = locate(self.keys, keys)
        gone = pos[existed]
        old = self.rows.take(pa.array(gone, pa.int64()))
        keep = np.ones(len(self.keys), np.bool_)
        keep[gone] = False
        self.keys = self.keys[keep]
        self.rows = self.rows.filter(pa.array(keep))
        arrays = [pa.array(keys[existed], pa.uint64()), pa.array(np.full(len(gone), -1, np.int64))]
        arrays += [old.column(c).combine_chunks() for c in self.columns]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _upsert(self, batch: pa.RecordBatch, keys: np.ndarray, last: np.ndarray
                ) -> pa.RecordBatch:
        latest = pa.Table.from_batches([batch.take(pa.array(last, pa.int64()))])
        new_keys = keys[last]
        pos, existed = locate(self.keys, new_keys)
        old = self.rows.take(pa.array(np.where(existed, pos, 0), mask=~existed)) \
            if len(self.keys) else _nulls(self.user_schema, len(new_keys))
        same = existed.copy()
        for name in self.columns:
            same &= equal_values(old.column(name).combine_chunks(),
                                 latest.column(name).combine_chunks())
        rows, diffs = interleave(existed & ~same, ~same)
        self._store(new_keys[~same], latest.select(self.columns).filter(pa.array(~same)),
                    pos[~same], existed[~same])
        n = len(new_keys)
        both = pa.concat_tables([old, latest.select(self.columns).cast(self.user_schema)])
        out = both.take(pa.array(rows))
        arrays = [pa.array(new_keys[rows % n], pa.uint64()), pa.array(diffs, pa.int64())]
        arrays += [out.column(c).combine_chunks() for c in self.columns]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _store(self, keys: np.ndarray, rows: pa.Table, pos: np.ndarray,
               existed: np.ndarray) -> None:
        """Replaces the rows of existing keys and inserts the new keys, in key order."""
        if not len(keys):
            return
        size = len(self.keys)
        index = np.arange(size, dtype=np.int64)
        index[pos[existed]] = size + np.flatnonzero(existed)
        born = np.flatnonzero(~existed)
        born = born[np.argsort(keys[born])]  # np.insert keeps the keys sorted only so
        at = np.searchsorted(self.keys, keys[born])
        index = np.insert(index, at, size + born)
        self.keys = np.insert(self.keys, at, keys[born])
        both = pa.concat_tables([self.rows, rows.cast(self.user_schema)])
        self.rows = both.take(pa.array(index)).combine_chunks()


def _nulls(schema: pa.Schema, n: int) -> pa.Table:
    return pa.table({f.name: pa.nulls(n, f.type) for f in schema}, schema=schema)


@dataclass(frozen=True)
class UpsertSpec:
    """The compiled plan of an upsert.

    Attributes:
        schema: The dataflow schema of its input (and output) batches.
    """

    schema: pa.Schema

    def build(self, instance: int) -> UpsertKernel:
        """Builds the upsert kernel (every instance starts empty)."""
        return UpsertKernel(self.schema)
