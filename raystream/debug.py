"""``pw.debug``: small static tables in, final table states out (for tests and notebooks)."""

from __future__ import annotations

import io as _io
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

import pyarrow as pa

from raystream import dtypes as dt
from raystream.connectors.batch import KEY, error_flag
from raystream.errors import ERROR
from raystream.graph import SinkNode
from raystream.io._base import SinkDescriptor
from raystream.pointer import Pointer
from raystream.run import execute
from raystream.schema import Schema
from raystream.static import static_table, table_from_pandas, table_from_schema_rows
from raystream.table import Table

__all__ = ["compute_and_print", "compute_tables", "table_from_markdown", "table_from_pandas",
           "table_from_rows", "table_to_dicts", "table_to_pandas"]

_NA = ("", "None", "NaN", "nan", "NA", "NULL")


def markdown_to_pandas(table_def: str, split_on_whitespace: bool = True) -> pd.DataFrame:
    """Parses a markdown-like table as Pathway does.

    Cells are separated by ``|`` (and whitespace, unless ``split_on_whitespace``
    is False); a first column named ``id`` or with an empty name holds row ids;
    ``None``, ``NaN``, ``NA``, ``NULL`` and empty cells are missing values;
    column types are pandas' best guess (``convert_dtypes``).
    """
    import pandas as pd  # noqa: PLC0415 - only when used

    text = table_def.lstrip("\n")
    sep = r"(?:\s*\|\s*)|\s+" if split_on_whitespace else r"\s*\|\s*"
    header = re.split(sep, text.partition("\n")[0].strip())
    index_col = next((i for i, name in enumerate(header) if name in ("", "id")), None)
    frame = pd.read_table(_io.StringIO(text), sep=sep, index_col=index_col, engine="python",
                          na_values=_NA, keep_default_na=False)
    return frame.convert_dtypes()


def table_from_markdown(table_def: str, id_from: list[str] | None = None,
                        unsafe_trusted_ids: bool = False, schema: type[Schema] | None = None,
                        *, split_on_whitespace: bool = True, **kwargs: Any) -> Table:
    """A static table from a markdown-like text (``pw.debug.table_from_markdown``).

    Example:
        >>> t = table_from_markdown('''
        ...    | name  | age
        ...  1 | Alice | 10
        ...  2 | Bob   | 9
        ... ''')

    Row ids are ``pw.Pointer`` values derived from the id column (here 1 and
    2), from ``id_from`` columns, or else from the row's position.
    """
    frame = markdown_to_pandas(table_def, split_on_whitespace)
    return table_from_pandas(frame, id_from=id_from, unsafe_trusted_ids=unsafe_trusted_ids,
                             schema=schema)


def table_from_rows(schema: type[Schema], rows: list[tuple], unsafe_trusted_ids: bool = False,
                    is_stream: bool = False, **kwargs: Any) -> Table:
    """A static table from Python tuples in schema column order."""
    if is_stream:
        raise ValueError("table_from_rows(is_stream=True) is not supported")
    return table_from_schema_rows(schema, list(rows))


class _Capture:
    """Folds a table's changelog into its final state, in the driver."""

    def __init__(self, types: dict[str, dt.DType]) -> None:
        self.rows: dict[int, tuple] = {}
        self.types = types

    def on_batch(self, time: int, batch: pa.RecordBatch) -> None:
        columns = [_with_errors(batch, n, dt.to_python(batch.column(n), t))
                   for n, t in self.types.items()]
        values = list(zip(*columns, strict=True)) if columns else [()] * batch.num_rows
        for key, diff, row in zip(batch.column(KEY).to_pylist(),
                                  batch.column("diff").to_pylist(), values, strict=True):
            if diff > 0:
                self.rows[key] = row
            elif key in self.rows:
                del self.rows[key]

    def on_frontier(self, frontier: int) -> None:
        pass


def _with_errors(batch: pa.RecordBatch, name: str, values: list[Any]) -> list[Any]:
    """The column's values, with ``Error`` where its cells are error values."""
    flags = batch.column(error_flag(name)) if error_flag(name) in batch.schema.names else None
    if flags is None or not flags.true_count:
        return values
    return [ERROR if bad else v for v, bad in zip(values, flags.to_pylist(), strict=True)]


def compute_tables(*tables: Table, **options: Any) -> list[dict[Pointer, tuple]]:
    """Runs one pipeline computing ``tables``; returns each final state ``{id: row}``.

    Only what these tables need is computed (``pw.run_all()`` computes every table).
    As in Pathway, a row that fails while an expression is computed stops the
    run with that error (``terminate_on_error=False``: the failing cell holds
    ``Error`` and the failure is logged to ``pw.global_error_log()`` instead).
    """
    captures = [_Capture(t.typehints()) for t in tables]
    sinks = [SinkNode([t._node], dict(t._columns),
                      sink=SinkDescriptor("debug", "capture", None, callbacks=c,
                                          include_key=True))
             for t, c in zip(tables, captures, strict=True)]
    options.setdefault("reduce_parallelism", 1)
    options.setdefault("fuse_into_readers", True)
    options.setdefault("monitoring", False)
    execute(sinks, **options)
    return [{Pointer(k): row for k, row in c.rows.items()} for c in captures]


def table_to_dicts(table: Table, **options: Any) -> tuple[list[Pointer], dict[str, dict]]:
    """Runs the pipeline; returns the row ids and ``{column: {id: value}}``."""
    rows = compute_tables(table, **options)[0]
    keys = list(rows)
    columns = {name: {k: rows[k][i] for k in keys} for i, name in enumerate(table.column_names())}
    return keys, columns


def table_to_pandas(table: Table, *, include_id: bool = True, **options: Any) -> pd.DataFrame:
    """Runs the pipeline up to ``table`` and returns its final state as a DataFrame."""
    import pandas as pd  # noqa: PLC0415

    rows = compute_tables(table, **options)[0]
    keys = list(rows)
    series = {}
    for i, (name, dtype) in enumerate(table.typehints().items()):
        values = [rows[k][i] for k in keys]
        series[name] = pd.Series(values, dtype=_pandas_dtype(dtype), index=keys if include_id
                                 else None)
    frame = pd.DataFrame(series, index=pd.Index(keys) if include_id else None)
    return frame


def _pandas_dtype(dtype: dt.DType) -> Any:
    if dtype.name == "int":
        return "Int64" if dtype.optional else "int64"
    if dtype.name == "float":
        return "float64"
    if dtype.name == "bool" and not dtype.optional:
        return "bool"
    return object


def compute_and_print(table: Table, *, include_id: bool = True, short_pointers: bool = True,
                      n_rows: int | None = None, **options: Any) -> None:
    """Runs the pipeline up to ``table`` and prints its final state."""
    rows = compute_tables(table, **options)[0]
    names = table.column_names()
    keys = sorted(rows, key=lambda k: tuple(_sort_key(v) for v in rows[k]))[:n_rows]
    header = ([""] if include_id else []) + names
    body = [([repr(k)] if include_id else []) + [_show(v) for v in rows[k]] for k in keys]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for line in [header, *body]:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip())


def _sort_key(value: Any) -> tuple:
    return (value is None, str(type(value)), value if value is not None else 0)


def _show(value: Any) -> str:
    return "None" if value is None else str(value)


__all__ += ["markdown_to_pandas", "static_table"]
