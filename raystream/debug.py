"""``pw.debug``: small static tables in, final table states out (for tests and notebooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

import numpy as np
import pyarrow as pa

from raystream import dtypes as dt
from raystream.actors.hashing import hash_array
from raystream.actors.messages import KEY
from raystream.connectors.memory import MemorySourceSpec
from raystream.connectors.values import BadValue, convert_value
from raystream.errors import ApiValueError, api_error
from raystream.graph import SinkNode
from raystream.io._base import SinkDescriptor, SourceDescriptor, source_options, source_table
from raystream.pointer import Pointer
from raystream.run import run_pipeline, start
from raystream.schema import Schema
from raystream.table import Table

_counter = iter(range(1, 1 << 62))


def table_from_markdown(table_def: str, id_from: list[str] | None = None,
                        unsafe_trusted_ids: bool = False, schema: type[Schema] | None = None,
                        **kwargs: Any) -> Table:
    """A static table from a markdown-like text (``pw.debug.table_from_markdown``).

    A header starting with ``|`` means the first column holds row ids. Types
    are inferred (int, float, bool, str; ``None`` makes a column Optional)
    unless ``schema`` is given.
    """
    lines = [line.strip() for line in table_def.strip().splitlines() if line.strip()]
    header = [c.strip() for c in lines[0].split("|")]
    has_ids = header[0] == ""
    names = header[1:] if has_ids else header
    rows = [[c.strip() for c in line.split("|")] for line in lines[1:]]
    if any(n.startswith("__") for n in names):
        raise api_error(ApiValueError, "special columns like __time__ are not supported")
    for row in rows:
        if len(row) != len(header):
            raise api_error(ApiValueError, f"row {'|'.join(row)!r} has {len(row)} cells, "
                                           f"the header has {len(header)}")
    labels = [r[0] for r in rows] if has_ids else None
    cells = [r[1:] if has_ids else r for r in rows]
    columns = {n: [row[i] for row in cells] for i, n in enumerate(names)}
    types = schema.typehints() if schema is not None else \
        {n: _infer(values) for n, values in columns.items()}
    arrays = {n: _convert_column(n, columns[n], types[n]) for n in names}
    if id_from:
        ids = hash_array(pa.array(["|".join(str(arrays[c][i]) for c in id_from)
                                   for i in range(len(rows))]))
    elif labels is not None:
        ids = hash_array(pa.array(labels))
    else:
        ids = None
    return _static_table(pa.record_batch(arrays, schema=pa.schema(
        [types[n].field(n) for n in names])), types, ids)


def table_from_rows(schema: type[Schema], rows: list[tuple], **kwargs: Any) -> Table:
    """A static table from Python tuples in schema column order."""
    names = schema.column_names()
    types = schema.typehints()
    columns = list(zip(*rows, strict=False)) if rows else [() for _ in names]
    arrays = [pa.array(list(c), types[n].arrow) for c, n in zip(columns, names, strict=True)]
    batch = pa.record_batch(arrays,
                            schema=pa.schema([types[n].field(n) for n in names]))
    return _static_table(batch, types, None)


def table_from_pandas(df: pd.DataFrame, id_from: list[str] | None = None,
                      schema: type[Schema] | None = None, **kwargs: Any) -> Table:
    """A static table from a pandas DataFrame."""
    import pandas as pd  # noqa: F401,PLC0415 - pandas is imported only when used

    batch = pa.RecordBatch.from_pandas(df, preserve_index=False)
    types = schema.typehints() if schema is not None else \
        {f.name: dt.dtype_of_arrow(f.type, optional=f.nullable and
                                   batch.column(f.name).null_count > 0) for f in batch.schema}
    ids = hash_columns_of(batch, id_from) if id_from else None
    return _static_table(batch, types, ids)


def hash_columns_of(batch: pa.RecordBatch, columns: list[str]) -> np.ndarray:
    """Row ids from the values of some columns."""
    from raystream.actors.hashing import hash_columns
    return hash_columns(batch, columns)


def _static_table(batch: pa.RecordBatch, types: dict[str, dt.DType],
                  ids: np.ndarray | None) -> Table:
    number = next(_counter)
    record_ids = pa.array(ids if ids is not None else np.arange(batch.num_rows, dtype=np.uint64),
                          pa.uint64())
    spec = MemorySourceSpec(f"static#{number}", batch, record_ids)
    descriptor = SourceDescriptor("static", str(number), spec,
                                  source_options("debug", autocommit_duration_ms=50),
                                  tuple(types), raw_ids=ids is not None)
    return source_table(descriptor, types)


def _infer(values: list[str]) -> dt.DType:
    present = [v for v in values if v != "None"]
    optional = len(present) < len(values)
    for dtype, parse in ((dt.INT, int), (dt.FLOAT, float)):
        try:
            for v in present:
                parse(v)
            return dtype.with_optional(optional)
        except ValueError:
            continue
    if present and all(v in ("True", "False") for v in present):
        return dt.BOOL.with_optional(optional)
    return dt.STR.with_optional(optional)


def _convert_column(name: str, values: list[str], dtype: dt.DType) -> pa.Array:
    field = dtype.field(name)
    out: list[Any] = []
    for value in values:
        if value == "None":
            out.append(None)
            continue
        try:
            out.append(value if dtype.name == "str" else convert_value(field, value, True))
        except BadValue as exc:
            raise api_error(ApiValueError, str(exc)) from None
    return pa.array(out, dtype.arrow)


class _Capture:
    """Folds a table's changelog into its final state, in the driver."""

    def __init__(self, types: dict[str, dt.DType]) -> None:
        self.rows: dict[int, tuple] = {}
        self.names = list(types)
        self.tuples = {n for n, t in types.items() if t.name.startswith("tuple")}

    def on_batch(self, time: int, batch: pa.RecordBatch) -> None:
        values = list(zip(*(self._values(batch, n) for n in self.names), strict=False))
        for key, diff, row in zip(batch.column(KEY).to_pylist(),
                                  batch.column("diff").to_pylist(), values, strict=False):
            if diff > 0:
                self.rows[key] = row
            elif self.rows.get(key) == row:
                del self.rows[key]

    def _values(self, batch: pa.RecordBatch, name: str) -> list:
        values = batch.column(name).to_pylist()
        if name in self.tuples:
            return [None if v is None else tuple(v) for v in values]
        return values

    def on_frontier(self, frontier: int) -> None:
        pass


def _capture(table: Table, **options: Any) -> tuple[list[str], dict[int, tuple]]:
    capture = _Capture(table.typehints())
    sink = SinkNode([table._node], dict(table._columns),
                    sink=SinkDescriptor("debug", "capture", None, callbacks=capture,
                                        include_key=True))
    run_pipeline(start([sink], **options))
    return table.column_names(), capture.rows


def table_to_pandas(table: Table, *, include_id: bool = True, **options: Any) -> pd.DataFrame:
    """Runs the pipeline up to ``table`` and returns its final state as a DataFrame."""
    import pandas as pd  # noqa: PLC0415

    names, rows = _capture(table, **options)
    keys = sorted(rows)
    frame = pd.DataFrame([rows[k] for k in keys], columns=names)
    if include_id:
        frame.index = pd.Index([Pointer(k) for k in keys], name="id")
    return frame


def compute_and_print(table: Table, *, include_id: bool = True, short_pointers: bool = True,
                      n_rows: int | None = None, **options: Any) -> None:
    """Runs the pipeline up to ``table`` and prints its final state."""
    names, rows = _capture(table, **options)
    keys = sorted(rows, key=lambda k: tuple(_sort_key(v) for v in rows[k]))[:n_rows]
    header = ([""] if include_id else []) + names
    body = [([repr(Pointer(k))] if include_id else []) + [_show(v) for v in rows[k]]
            for k in keys]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for line in [header, *body]:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip())


def _sort_key(value: Any) -> tuple:
    return (value is None, str(type(value)), value if value is not None else 0)


def _show(value: Any) -> str:
    return "None" if value is None else str(value)
