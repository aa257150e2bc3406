"""``pw.io.jsonlines``: JSON-lines files in and out."""

from __future__ import annotations

from typing import Any

from raystream.io._base import reject_unsupported
from raystream.io._files import read_files, write_file
from raystream.schema import Schema
from raystream.table import Table


def read(path: Any, *, schema: type[Schema], mode: str = "streaming",
         json_field_paths: dict[str, str] | None = None, with_metadata: bool = False,
         autocommit_duration_ms: int | None = 1500, name: str | None = None,
         max_backlog_size: int | None = None, debug_data: Any = None,
         max_batch_rows: int | None = None) -> Table:
    """Reads JSON lines (one object per line) from a file, directory or glob.

    Args:
        path: Where to read.
        schema: Columns and types; primary keys make later rows replace earlier ones.
        mode: ``"streaming"`` keeps reading appended lines and new files;
            ``"static"`` reads what is there and ends.
        json_field_paths: Column -> JSON Pointer into each object.
        with_metadata: Add a ``_metadata`` column (path, size, modified_at).
        autocommit_duration_ms: Maximum time between two commits.
        name: Source name (logs, monitoring).
        max_backlog_size: Rows read but not yet written that pause reading.
        debug_data: Not supported (raises if given).
        max_batch_rows: Rows per reader poll (raystream extension; default 262144).

    Returns:
        The table of rows.
    """
    reject_unsupported("jsonlines.read", debug_data=debug_data)
    return read_files("jsonlines", path, schema=schema, format="json", mode=mode,
                      json_field_paths=json_field_paths, with_metadata=with_metadata,
                      autocommit_duration_ms=autocommit_duration_ms, name=name,
                      max_backlog_size=max_backlog_size,
                      max_batch_rows=max_batch_rows)


def write(table: Table, filename: Any, *, name: str | None = None,
          sort_by: Any = None) -> None:
    """Writes the table's changes as JSON lines, with ``time`` and ``diff`` fields."""
    write_file("jsonlines", table, filename, "json", name=name, sort_by=sort_by)
