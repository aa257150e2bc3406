"""Row keys as users see them (``pw.Pointer`` values, printed like ``^X1MXHYY...``).

A key derived from values (``t.pointer_from(...)``, a primary key, a markdown
``id`` column, a group of ``groupby``) is the same function of those values
everywhere: :func:`ref_scalar` for Python values, ``hash_columns`` for columns.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from raystream.connectors.batch import pointer_repr


class Pointer(int):
    """A row key: an unsigned 64-bit integer with Pathway-like printing."""

    def __repr__(self) -> str:
        return pointer_repr(self)

    __str__ = __repr__

    def __class_getitem__(cls, item: Any) -> type[Pointer]:
        """``pw.Pointer[int]``: Pathway's typed pointers are plain pointers here."""
        return cls


def arrow_of_value(value: Any) -> pa.Array:
    """A one-value Arrow array typed as a column of such values would be."""
    if isinstance(value, Pointer):
        return pa.array([int(value)], pa.uint64())
    if isinstance(value, bool):
        return pa.array([value], pa.bool_())
    if isinstance(value, int):
        return pa.array([value], pa.int64())
    if isinstance(value, tuple):
        return pa.array([list(value)])
    return pa.array([value])


def ref_scalar(*values: Any) -> Pointer:
    """The key of a row identified by ``values`` (Pathway's ``pointer_from``).

    Equal to the key ``groupby`` gives the group of these values, and to the
    id of a markdown row whose ``id`` cell (or ``id_from`` columns) hold them.
    """
    from raystream.connectors.hashing import hash_columns  # noqa: PLC0415

    batch = pa.record_batch({f"c{i}": arrow_of_value(v) for i, v in enumerate(values)}) \
        if values else pa.record_batch({"c": pa.array([0])})
    names = [f"c{i}" for i in range(len(values))]
    return Pointer(int(hash_columns(batch, names)[0]))
