"""``pw.io.plaintext``: one row per line of text."""

from __future__ import annotations

from typing import Any

from raystream.io._files import read_files
from raystream.table import Table


def read(path: Any, *, mode: str = "streaming", with_metadata: bool = False,
         autocommit_duration_ms: int | None = 1500, name: str | None = None,
         max_backlog_size: int | None = None) -> Table:
    """Reads lines of text into a ``data`` column."""
    return read_files("plaintext", path, schema=None, format="plaintext", mode=mode,
                      with_metadata=with_metadata,
                      autocommit_duration_ms=autocommit_duration_ms, name=name,
                      max_backlog_size=max_backlog_size)
