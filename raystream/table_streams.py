"""Tables from streams of upserts and deletions (``stream_to_table``, ``from_streams``).

A stream is an append-only table whose rows say what happens to a row id:
an upsert (insert, or replace the row with that id) or a deletion. Turning it
into a table runs the upsert kernel, which keeps the latest row per id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raystream import dtypes as dt
from raystream.graph import ColumnInfo, ConcatNode, SignNode, ToStreamNode, UpsertNode
from raystream.universes import Universe

if TYPE_CHECKING:
    from raystream.table import Table

_MARK = "_rs_is_upsert"
_PYTHON = {"int": int, "float": float, "str": str, "bytes": bytes}


class StreamOperations:
    """Mixin of :class:`raystream.table.Table`: streams of upserts and deletions."""

    def stream_to_table(self: Table, is_upsert: Any) -> Table:  # type: ignore[misc]
        """The table a stream describes: ``is_upsert`` rows upsert their id, others delete it.

        Raises:
            TypeError: ``is_upsert`` is not a bool column.
        """
        mark = self._resolve(is_upsert)
        if mark.dtype.with_optional(False) != dt.BOOL:
            shown = _PYTHON.get(mark.dtype.name, mark.dtype)
            raise TypeError(f"Expected 'is_upsert' to be of type 'bool', got '{shown}'")
        marked = self._map({_MARK: is_upsert}, keep=True, check=False)
        signed = SignNode([marked._node], dict(marked._columns), column=_MARK)
        table = type(self)(UpsertNode([signed], dict(marked._columns), universe=Universe()))
        return table.without(_MARK)

    def to_stream(self: Table) -> Table:  # type: ignore[misc]
        """The table's changes as an append-only stream (``Table.to_stream``).

        Each row of a commit time that inserts or replaces a row is an upsert
        (``is_upsert`` true); one that only deletes it, a deletion (false).
        Rows keep their ids; ``stream_to_table(pw.this.is_upsert)`` undoes it.
        """
        columns = {**self._columns, "is_upsert": ColumnInfo(dt.BOOL)}
        return type(self)(ToStreamNode([self._node], columns, universe=Universe()))

    @staticmethod
    def from_streams(insertions: Table, deletions: Table) -> Table:
        """The table of a stream of upserts and a stream of deletions (by row id).

        ``deletions`` needs only some (or none) of the columns: a deletion's
        values are not looked at. Deleting an id that has no row does nothing.
        """
        upserts = insertions._map({_MARK: True}, keep=True, check=False)
        columns = dict(upserts._columns)
        present = set(deletions.column_names())
        removals = deletions._map({
            **{n: deletions[n] if n in present else None for n in insertions.column_names()},
            _MARK: False}, keep=False, check=False)
        stream = type(insertions)(ConcatNode(
            [upserts._node, removals._node],
            {n: ColumnInfo(c.dtype) for n, c in columns.items()}, universe=Universe(),
            check_keys=False))  # a deletion shares its row's id, by design
        return stream.stream_to_table(stream[_MARK])
