"""Batch serialisers: one RecordBatch in, one encoded record per row out.

JSON objects are assembled column by column with pyarrow.compute string
kernels (millions of rows per second); only types with no vectorised encoding
(lists, structs, maps) fall back to Python's ``json`` for that column.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

_CONTROL_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")]


def json_lines(batch: pa.RecordBatch, json_columns: Sequence[str] = ()) -> pa.Array:
    """Encodes each row as a compact JSON object.

    Args:
        batch: Rows to encode; column order is kept.
        json_columns: Columns that already hold JSON text (``pw.Json``).

    Returns:
        A string array with one JSON object per row.
    """
    if batch.num_rows == 0:
        return pa.array([], pa.string())
    parts: list[pa.Array | str] = []  # one join of names and values: no array per column
    for i, name in enumerate(batch.schema.names):
        parts.append(("{" if i == 0 else ",") + json.dumps(name) + ":")
        parts.append(encode_json_values(batch.column(i), name in json_columns))
    return pc.binary_join_element_wise(*parts, "}", "")


def encode_json_values(column: pa.Array, is_json_text: bool = False) -> pa.Array:
    """Encodes one column's values as JSON text (``null`` for missing values)."""
    typ = column.type
    if is_json_text:
        encoded = column
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        encoded = quote_strings(column)
    elif pa.types.is_boolean(typ) or pa.types.is_integer(typ):
        encoded = pc.cast(column, pa.string())
    elif pa.types.is_floating(typ):
        encoded = _encode_floats(column)
    elif pa.types.is_timestamp(typ):
        encoded = _encode_timestamps(column)
    elif pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        encoded = pa.array([None if v is None else json.dumps(base64.b64encode(v).decode())
                            for v in column.to_pylist()], pa.string())
    else:
        encoded = pa.array([json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
    return pc.fill_null(encoded, "null")


def quote_strings(column: pa.Array) -> pa.Array:
    """Returns JSON string literals for a string column."""
    escaped = column
    for old, new in _CONTROL_ESCAPES:
        escaped = pc.replace_substring(escaped, old, new)
    if pc.any(pc.match_substring_regex(escaped, "[\\x00-\\x1f]")).as_py():
        escaped = pa.array([None if v is None else json.dumps(v)[1:-1]
                            for v in column.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', escaped, '"', "")


def _encode_floats(column: pa.Array) -> pa.Array:
    finite = pc.is_finite(column)
    text = pc.cast(column, pa.string())
    return pc.if_else(finite, text, pa.scalar(None, pa.string()))


def _encode_timestamps(column: pa.Array) -> pa.Array:
    """ISO 8601 text; sub-second units print their fraction, aware ones an offset."""
    fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if column.type.tz else "")
    return quote_strings(pc.strftime(column, format=fmt))


def dsv_lines(batch: pa.RecordBatch, delimiter: str = ",") -> pa.Array:
    """Encodes each row as delimiter-separated values (quoted where needed)."""
    if batch.num_rows == 0:
        return pa.array([], pa.string())
    cells = []
    for column in batch.columns:
        text = pc.fill_null(_as_text(column), "")
        needs_quote = pc.or_(pc.match_substring(text, delimiter),
                             pc.match_substring_regex(text, '["\\n\\r]'))
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        cells.append(pc.if_else(needs_quote, quoted, text))
    return pc.binary_join_element_wise(*cells, delimiter)


def dsv_header(names: Sequence[str], delimiter: str = ",") -> str:
    """Returns the header line for :func:`dsv_lines`."""
    return delimiter.join(names)


def _as_text(column: pa.Array) -> pa.Array:
    """Plain text for a DSV cell: a cast where Arrow has one, else JSON."""
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else json.dumps(v, default=str)
                         for v in column.to_pylist()], pa.string())
