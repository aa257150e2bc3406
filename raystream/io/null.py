"""``pw.io.null``: an output that discards rows (still drives the pipeline)."""

from __future__ import annotations

from raystream.connectors.file_sink import NullSinkSpec
from raystream.io._base import SinkDescriptor, register_sink
from raystream.table import Table


def write(table: Table, *, name: str | None = None) -> None:
    """Computes ``table`` and discards the result."""
    register_sink(table, SinkDescriptor("null", "", NullSinkSpec(), name=name),
                  check_reserved=False)
