"""The dataflow batch format: the one place that defines it.

Every batch that moves between raystream's actors is a ``pyarrow.RecordBatch``
whose first two columns are

* ``_key`` (uint64): the row key (Pathway's ``id``, a ``pw.Pointer``);
* ``_diff`` (int64): ``+1`` for an insertion, ``-1`` for a retraction;

followed by the user's columns. A column ``x`` that can hold Pathway's error
values (a cell whose expression failed) is followed by its *error flag*
``_err:x`` (bool): true where the cell is an error, whose value is then null
(see :mod:`raystream.actors.kernels.cells`). Outputs (what sinks write) carry the user's
columns plus ``time`` (the commit time) and ``diff``, as Pathway writes them.
Row keys are derived with :mod:`raystream.connectors.hashing`; users see them
as pointer text (``^`` plus 13 base-32 digits).

This module sits in the lowest layer so that connectors, actors and the
public API all import it; nothing else defines these names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

KEY = "_key"
"""Row key column (uint64) carried by every dataflow batch."""
DIFF = "_diff"
"""Change column (int64: +1 insertion, -1 retraction) carried by every dataflow batch."""
KEY_TYPE = pa.uint64()
DIFF_TYPE = pa.int64()

OUT_TIME = "time"
"""Commit-time column of output batches (what sinks write)."""
OUT_DIFF = "diff"
"""Change column of output batches."""
RESERVED_OUTPUT = (OUT_TIME, OUT_DIFF)
ERROR_FLAG_PREFIX = "_err:"
"""Prefix of the error-flag column of a column that can hold error values."""
"""User columns may not use these names in a table that is written out."""

_POINTER_ALPHABET = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALPHABET = np.frombuffer(_POINTER_ALPHABET, dtype="S1")


def dataflow_fields() -> list[pa.Field]:
    """The ``_key`` and ``_diff`` fields that start every dataflow schema."""
    return [pa.field(KEY, KEY_TYPE), pa.field(DIFF, DIFF_TYPE)]


def dataflow_schema(fields: Sequence[pa.Field]) -> pa.Schema:
    """The dataflow schema of a table with the given user fields."""
    return pa.schema([*dataflow_fields(), *fields])


def user_columns(schema: pa.Schema) -> list[str]:
    """The user's column names of a dataflow schema (without ``_key``/``_diff``/flags)."""
    return [n for n in schema.names if n not in (KEY, DIFF) and not is_error_flag(n)]


def error_flag(column: str) -> str:
    """The name of ``column``'s error-flag column."""
    return ERROR_FLAG_PREFIX + column


def is_error_flag(name: str) -> bool:
    """True if ``name`` is an error-flag column."""
    return name.startswith(ERROR_FLAG_PREFIX)


def flag_of(batch: pa.RecordBatch, column: str) -> pa.Array | None:
    """``column``'s error flags (None counts as false), or None if it has none."""
    name = error_flag(column)
    if name not in batch.schema.names:
        return None
    flags = batch.column(name)
    return flags if flags.null_count == 0 else flags.fill_null(False)


def no_errors(n: int) -> pa.Array:
    """Error flags for ``n`` cells that hold values."""
    return pa.array(np.zeros(n, np.bool_))


def make_batch(keys: np.ndarray | pa.Array | Sequence[int],
               diffs: np.ndarray | pa.Array | Sequence[int],
               columns: Sequence[pa.Array | pa.ChunkedArray], names: Sequence[str],
               schema: pa.Schema | None = None) -> pa.RecordBatch:
    """Builds a dataflow batch from keys, diffs and the user's columns.

    Args:
        keys: Row keys (uint64).
        diffs: Changes (int64).
        columns: The user's columns, aligned with ``keys``.
        names: Their names.
        schema: The full dataflow schema, to fix the column types exactly.
    """
    arrays = [_as_array(keys, KEY_TYPE), _as_array(diffs, DIFF_TYPE), *columns]
    if schema is not None:
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
    return pa.RecordBatch.from_arrays(arrays, names=[KEY, DIFF, *names])


def insertions(keys: np.ndarray | pa.Array, batch: pa.RecordBatch,
               columns: Sequence[str] | None = None) -> pa.RecordBatch:
    """A dataflow batch inserting the rows of ``batch`` (every diff ``+1``) under ``keys``."""
    names = list(batch.schema.names if columns is None else columns)
    ones = np.ones(batch.num_rows, np.int64)
    return make_batch(keys, ones, [batch.column(c) for c in names], names)


def with_user_columns(batch: pa.RecordBatch, columns: Sequence[pa.Array],
                      names: Sequence[str]) -> pa.RecordBatch:
    """The batch's keys and diffs with new user columns."""
    return make_batch(batch.column(KEY), batch.column(DIFF), columns, names)


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A batch with no rows."""
    return pa.RecordBatch.from_pylist([], schema=schema)


def concat_batches(batches: Sequence[pa.RecordBatch]) -> pa.RecordBatch:
    """Concatenates batches of one schema into one contiguous batch."""
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(list(batches))
    return pa.RecordBatch.from_arrays(
        [table.column(i).combine_chunks() for i in range(table.num_columns)],
        schema=table.schema)


def pointer_text(keys: pa.Array) -> pa.Array:
    """Row keys (uint64) as Pathway-style pointer text, ``^`` plus 13 base-32 digits."""
    values = keys.to_numpy(zero_copy_only=False).astype(np.uint64)
    shifts = np.arange(0, 65, 5, dtype=np.uint64)[:13]
    digits = _ALPHABET[((values[:, None] >> shifts) & np.uint64(31)).astype(np.intp)]
    text = np.char.add(b"^", digits.view("S13").ravel())
    return pa.array(text, pa.binary()).cast(pa.string())


def pointer_repr(key: int) -> str:
    """One row key as pointer text (the scalar form of :func:`pointer_text`)."""
    value, digits = int(key), []
    for _ in range(13):
        digits.append(chr(_POINTER_ALPHABET[value & 31]))
        value >>= 5
    return "^" + "".join(digits)


def _as_array(values: np.ndarray | pa.Array | pa.ChunkedArray | Sequence[int],
              typ: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == typ else values.cast(typ)
    return pa.array(values, typ)
