"""Static tables from pandas DataFrames: column types, values and row ids as Pathway does.

Row ids: ``ref_scalar(index value)`` per row, or ``ref_scalar(*id_from values)``
(so an ``id`` column ``1`` in markdown gives the id ``t.pointer_from(1)`` would).
Static tables with the same ids share one universe.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from raystream import dtypes as dt
from raystream.connectors.hashing import hash_columns
from raystream.connectors.memory import MemorySourceSpec
from raystream.errors import ApiValueError, api_error
from raystream.graph import G
from raystream.io._base import SourceDescriptor, source_options, source_table
from raystream.ops import HOOKS
from raystream.schema import Schema
from raystream.table import Table
from raystream.universes import Universe

if TYPE_CHECKING:
    import pandas as pd

_counter = iter(range(1, 1 << 62))
PSEUDOCOLUMNS = ("__time__", "__diff__", "__shard__")


def infer_dtype(values: list[Any], series: Any = None) -> dt.DType:
    """The column type of Python values (None makes it Optional), as Pathway infers it."""
    present = [v for v in values if not _is_missing(v)]
    if not values:
        return dt.ANY
    if not present:
        return dt.NONE
    optional = len(present) < len(values)
    base = _base_dtype(present, series)
    return base.with_optional(optional) if not base.is_any else base


def _base_dtype(present: list[Any], series: Any) -> dt.DType:
    kinds = {type(v) for v in present}
    if all(isinstance(v, dict) for v in present):
        return dt.JSON
    if all(isinstance(v, np.ndarray) for v in present):
        return dt.ndarray_dtype(present)
    if all(isinstance(v, (tuple, list)) for v in present):
        return dt.sequence_dtype(present)
    for dtype, types in ((dt.BOOL, (bool, np.bool_)), (dt.INT, (int, np.integer)),
                         (dt.FLOAT, (float, np.floating, int, np.integer)),
                         (dt.STR, (str,)), (dt.BYTES, (bytes,)),
                         (dt.DURATION, (_dt.timedelta,))):
        if all(isinstance(v, types) and not (dtype is not dt.BOOL and isinstance(v, bool))
               for v in present):
            return dtype
    if all(isinstance(v, _dt.datetime) for v in present):
        return dt.DATETIME_UTC if present[0].tzinfo is not None else dt.DATETIME_NAIVE
    if all(isinstance(v, dt.Pointer) for v in present):
        return dt.POINTER
    del kinds
    return dt.ANY


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd  # noqa: PLC0415
        return value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))
    except (TypeError, ValueError):
        return False


def python_values(series: Any) -> list[Any]:
    """A pandas Series as Python values (NA -> None, numpy scalars -> Python)."""
    out: list[Any] = []
    for value in series.tolist():
        if isinstance(value, np.ndarray):
            out.append(value)
        elif _is_missing(value):
            out.append(None)
        elif isinstance(value, np.generic):
            out.append(value.item())
        elif type(value).__name__ == "Timestamp":
            out.append(value.to_pydatetime())
        elif type(value).__name__ == "Timedelta":
            out.append(value.to_pytimedelta())
        else:
            out.append(value)
    return out


def table_from_pandas(df: pd.DataFrame, id_from: list[str] | None = None,
                      unsafe_trusted_ids: bool = False, schema: type[Schema] | None = None,
                      **kwargs: Any) -> Table:
    """A static table from a pandas DataFrame (``pw.debug.table_from_pandas``)."""
    if id_from is not None and schema is not None:
        raise ValueError("parameters `schema` and `id_from` are mutually exclusive")
    if "__shard__" in df.columns:
        raise api_error(ApiValueError, "special column __shard__ is not supported")
    stream = _stream_columns(df)
    df = df.drop(columns=[c for c in ("__time__", "__diff__") if c in df.columns])
    names = [str(c) for c in df.columns]
    values = {name: python_values(df[name]) for name in names}
    if schema is not None:
        if set(names) != set(schema.column_names()):
            raise ValueError("schema does not match given dataframe")
        types = dict(schema.typehints())
        id_from = schema.primary_key_columns()
    else:
        types = {name: infer_dtype(values[name]) for name in names}
    for name in names:  # JSON text in markdown/pandas cells is parsed
        if types[name].is_json:
            values[name] = [json.loads(v) if isinstance(v, str) else v for v in values[name]]
    batch = pa.record_batch([dt.to_arrow(values[n], types[n]) for n in names],
                            schema=pa.schema([types[n].field(n) for n in names]))
    if id_from:
        ids = hash_columns(batch, list(id_from))
    elif unsafe_trusted_ids:
        ids = np.array([int(v) for v in df.index], dtype=np.uint64)
    else:
        index = pa.record_batch({"i": pa.array(python_values(df.index.to_series()))})
        ids = hash_columns(index, ["i"])
    table = static_table(batch, types, ids, *stream)
    if schema is not None:
        table._node.primary_key = tuple(schema.primary_key_columns() or ())
    return table


def _stream_columns(df: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The ``__time__`` and ``__diff__`` columns of a stream (None where absent)."""
    times = diffs = None
    if "__time__" in df.columns:
        times = np.array([int(v) for v in df["__time__"]], np.int64)
    if "__diff__" in df.columns:
        diffs = np.array([int(v) for v in df["__diff__"]], np.int64)
        if not np.isin(diffs, (1, -1)).all():
            raise api_error(ApiValueError, "__diff__ must be 1 or -1")
    return times, diffs


def static_table(batch: pa.RecordBatch, types: dict[str, dt.DType], ids: np.ndarray,
                 times: np.ndarray | None = None, diffs: np.ndarray | None = None) -> Table:
    """A table of fixed rows with the given row ids (one universe per id set).

    With ``times`` (and ``diffs``) the rows are a stream: each row is inserted
    (or retracted) at its commit time.
    """
    number = next(_counter)
    if times is None and diffs is None:
        if len(set(ids.tolist())) != len(ids):
            raise api_error(ApiValueError, "static table: duplicate row ids")
        spec = MemorySourceSpec(f"static#{number}", batch, pa.array(ids, pa.uint64()))
        final = ids.tolist()
    else:
        spec, final = _stream_spec(f"static#{number}", batch, ids, times, diffs)
    descriptor = SourceDescriptor("static", str(number), spec,
                                  source_options("debug", autocommit_duration_ms=50),
                                  tuple(types), raw_ids=True,
                                  append_only=diffs is None or bool((diffs > 0).all()))
    table = source_table(descriptor, types)
    key = tuple(sorted(final))
    universe = G.static_universes.setdefault(key, Universe())
    universe.always_empty = not key
    table._node.universe = universe
    return table


def _stream_spec(name: str, batch: pa.RecordBatch, ids: np.ndarray, times: np.ndarray | None,
                 diffs: np.ndarray | None) -> tuple[MemorySourceSpec, list[int]]:
    """The source of a stream, its rows in time order; and the ids alive at its end."""
    n = batch.num_rows
    times = times if times is not None else np.full(n, 2, np.int64)
    diffs = diffs if diffs is not None else np.ones(n, np.int64)
    order = np.argsort(times, kind="stable")
    alive: dict[int, int] = {}  # a changelog, as in Pathway: diffs add up per id
    for key, diff in zip(ids.tolist(), diffs.tolist(), strict=True):
        alive[key] = alive.get(key, 0) + diff
    taken = pa.array(order)
    spec = MemorySourceSpec(name, batch.take(taken), pa.array(ids[order], pa.uint64()),
                            pa.array(times[order], pa.int64()), pa.array(diffs[order], pa.int64()))
    return spec, [k for k, count in alive.items() if count > 0]


def table_from_schema_rows(schema: type[Schema], rows: list[tuple]) -> Table:
    """A static table of Python tuples in schema column order.

    Ids come from the primary key, or else from the row's position.
    """
    types = dict(schema.typehints())
    names = list(types)
    columns = [[row[i] for row in rows] for i in range(len(names))]
    batch = pa.record_batch([dt.to_arrow(c, types[n]) for c, n in zip(columns, names, strict=True)],
                            schema=pa.schema([types[n].field(n) for n in names]))
    keys = schema.primary_key_columns()
    if keys:
        ids = hash_columns(batch, keys)
    else:
        ids = hash_columns(pa.record_batch({"i": pa.array(range(len(rows)), pa.int64())}), ["i"])
    table = static_table(batch, types, ids)
    table._node.primary_key = tuple(keys or ())
    return table


HOOKS["static_table_from_rows"] = table_from_schema_rows  # Table.empty builds on it
