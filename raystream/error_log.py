"""``pw.global_error_log()``: bad input records as a table."""

from __future__ import annotations

from raystream import dtypes as dt
from raystream.graph import ColumnInfo, ErrorLogNode
from raystream.table import Table


def global_error_log() -> Table:
    """A table of every rejected input record: ``source``, ``position``, ``reason``, ``raw``.

    ``source`` names the file, topic/partition or stream/shard; ``position`` the
    line, offset or sequence number; ``reason`` what was wrong. Write it out
    like any table (``pw.io.jsonlines.write(pw.global_error_log(), "errors.jsonl")``).
    """
    columns = {name: ColumnInfo(dt.STR) for name in ("source", "position", "reason", "raw")}
    return Table(ErrorLogNode([], columns))
