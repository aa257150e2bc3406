"""``pw.io.csv``: CSV files in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raystream.io._base import reject_unsupported
from raystream.io._files import read_files, write_file
from raystream.schema import Schema
from raystream.table import Table


@dataclass(frozen=True)
class CsvParserSettings:
    """CSV parsing options (``pw.io.csv.CsvParserSettings``)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    enable_double_quote_escapes: bool = True
    enable_quoting: bool = True
    comment_character: str | None = None


def read(path: Any, *, schema: type[Schema], csv_settings: CsvParserSettings | None = None,
         mode: str = "streaming", with_metadata: bool = False,
         autocommit_duration_ms: int | None = 1500, name: str | None = None,
         max_backlog_size: int | None = None, debug_data: Any = None,
         max_batch_rows: int | None = None) -> Table:
    """Reads CSV files; each file starts with a header naming its columns.

    Args:
        path: File, directory or glob.
        schema: Columns and types.
        csv_settings: Delimiter and quoting.
        mode: ``"streaming"`` or ``"static"``.
        with_metadata: Add a ``_metadata`` column.
        autocommit_duration_ms: Maximum time between two commits.
        name: Source name.
        max_backlog_size: Rows in flight that pause reading.
        debug_data: Not supported (raises if given).
        max_batch_rows: Rows per reader poll (raystream extension; default 262144).
    """
    reject_unsupported("csv.read", debug_data=debug_data)
    settings = csv_settings or CsvParserSettings()
    return read_files("csv", path, schema=schema, format="csv", mode=mode,
                      delimiter=settings.delimiter, with_metadata=with_metadata,
                      autocommit_duration_ms=autocommit_duration_ms, name=name,
                      max_backlog_size=max_backlog_size,
                      max_batch_rows=max_batch_rows)


def write(table: Table, filename: Any, *, name: str | None = None,
          sort_by: Any = None) -> None:
    """Writes the table's changes as CSV with ``time`` and ``diff`` columns."""
    write_file("csv", table, filename, "csv", name=name, sort_by=sort_by)
