"""Steps that reshape rows: flatten, concat projections, upsert signs, error flags.

Each maps one dataflow batch to another with whole-column pyarrow operations
(see :mod:`raystream.actors.kernels.steps` for the step contract).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.actors.kernels.cells import FLATTEN_MESSAGE, flags_for, skip_rows
from raystream.connectors.base import RecordError
from raystream.connectors.batch import DIFF, KEY, error_flag, flag_of, no_errors
from raystream.connectors.hashing import splitmix64


@dataclass(frozen=True)
class FlattenStep:
    """One row per item; the item's key mixes the row key and its index.

    Attributes:
        column: The column to flatten.
        mode: How its values are stored: ``list`` (Arrow lists), ``str`` (one
            item per character), ``json`` (JSON arrays as text), ``pickle``
            (Python objects: tuples, numpy arrays).
        item_arrow: The items' Arrow type when ``pickle`` items are stored plainly
            (None: they stay pickled).
        origin_id: Name of a new column holding the original row key, if any.
        label: The operator and user's line (for errors).
    """

    column: str
    mode: str = "list"
    item_arrow: pa.DataType | None = None
    origin_id: str | None = None
    label: str = ""

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Flattens the column of a batch (rows skipped for errors are not logged)."""
        return self.run(batch, [])

    def run(self, batch: pa.RecordBatch, errors: list[RecordError] | None) -> pa.RecordBatch:
        """Flattens the column of a batch; a row whose column is an error is skipped."""
        flags = flag_of(batch, self.column)
        if flags is not None:
            if pc.any(flags).as_py():
                batch = skip_rows(batch, flags, FLATTEN_MESSAGE, self.label, errors)
            batch = batch.drop_columns([error_flag(self.column)])
        lists = self._lists(batch.column(self.column))
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        parents = np.repeat(np.arange(batch.num_rows), lengths)
        starts = np.cumsum(lengths) - lengths
        index = np.arange(len(parents)) - np.repeat(starts, lengths)
        taken = batch.take(pa.array(parents, pa.int64()))
        keys = taken.column(KEY).to_numpy(zero_copy_only=False)
        with np.errstate(over="ignore"):
            new_keys = splitmix64(keys ^ splitmix64(index.astype(np.uint64) + np.uint64(1)))
        arrays, names = [], list(batch.schema.names)
        for name in batch.schema.names:
            if name == KEY:
                arrays.append(pa.array(new_keys, pa.uint64()))
            elif name == self.column:
                arrays.append(self._items(pc.list_flatten(lists)))
            else:
                arrays.append(taken.column(name))
        if self.origin_id is not None:
            arrays.append(taken.column(KEY))
            names.append(self.origin_id)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _lists(self, column: pa.Array) -> pa.Array:
        """The column as an Arrow list array."""
        if self.mode == "str":
            return pa.array([None if v is None else list(v) for v in column.to_pylist()],
                            pa.list_(pa.string()))
        if self.mode == "json":
            items = [None if v is None else [json.dumps(x) for x in json.loads(v)]
                     for v in column.to_pylist()]
            return pa.array(items, pa.list_(pa.string()))
        if self.mode == "pickle":
            values = [None if v is None else pickle.loads(v)  # noqa: S301 - our own rows
                      for v in column.to_pylist()]
            return pa.array([None if v is None else [pickle.dumps(x) for x in v]
                             for v in values], pa.list_(pa.binary()))
        return column

    def _items(self, items: pa.Array) -> pa.Array:
        if self.mode == "pickle" and self.item_arrow is not None:
            values = [pickle.loads(v) for v in items.to_pylist()]  # noqa: S301
            return pa.array([v.item() if hasattr(v, "item") else v for v in values],
                            self.item_arrow)
        return items


@dataclass(frozen=True)
class ProjectStep:
    """Reorders (and casts) columns so that every concat input has one layout.

    Attributes:
        names: The columns, in order.
        types: Their Arrow types (None: unchanged).
        flags: Columns that get error flags (all false where the input has none).
    """

    names: tuple[str, ...]
    types: tuple[pa.DataType | None, ...]
    flags: tuple[str, ...] = ()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Reorders and casts the batch's columns."""
        arrays = [batch.column(KEY), batch.column(DIFF)]
        for name, typ in zip(self.names, self.types, strict=False):
            column = batch.column(name)
            arrays.append(column.cast(typ) if typ is not None and column.type != typ else column)
        arrays += flags_for(batch, self.flags)
        return pa.RecordBatch.from_arrays(
            arrays, names=[KEY, DIFF, *self.names, *(error_flag(f) for f in self.flags)])


@dataclass(frozen=True)
class SignStep:
    """Sets each row's change from a bool column: true +1 (upsert), false -1 (delete)."""

    column: str

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with ``_diff`` from ``column`` (None counts as false)."""
        upsert = pc.fill_null(batch.column(self.column), False).to_numpy(zero_copy_only=False)
        diffs = pa.array(np.where(upsert, 1, -1).astype(np.int64))
        return batch.set_column(batch.schema.get_field_index(DIFF), DIFF, diffs)


@dataclass(frozen=True)
class EnsureFlags:
    """Adds all-false error flags for the columns that have none (a combine's inputs)."""

    columns: tuple[str, ...]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with a flag for every one of ``columns``."""
        for name in self.columns:
            if error_flag(name) not in batch.schema.names:
                batch = batch.append_column(error_flag(name), no_errors(batch.num_rows))
        return batch
