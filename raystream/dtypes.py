"""Column types: Python type hints mapped to Arrow types, as Pathway names them."""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from raystream.pointer import Pointer


class Json:
    """A JSON value column (``pw.Json``); stored as JSON text."""

    NULL: Json

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"pw.Json({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Json) and other.value == self.value

    def __hash__(self) -> int:
        return hash(repr(self.value))


Json.NULL = Json(None)


class DateTimeNaive(dt.datetime):
    """A datetime without a time zone (``pw.DateTimeNaive``)."""


class DateTimeUtc(dt.datetime):
    """A time-zone-aware datetime, stored in UTC (``pw.DateTimeUtc``)."""


class Duration(dt.timedelta):
    """A time span (``pw.Duration``)."""


@dataclass(frozen=True)
class DType:
    """A column type: its Arrow storage, whether it may be None, and its kind.

    Attributes:
        arrow: The Arrow type of the stored values.
        optional: True if the column may hold None.
        name: Pathway-style name for messages (``int``, ``str``, ``Json``...).
    """

    arrow: pa.DataType
    optional: bool = False
    name: str = ""

    @property
    def is_json(self) -> bool:
        """True for ``pw.Json`` columns."""
        return self.name == "Json"

    @property
    def is_any(self) -> bool:
        """True when the type is unknown until values arrive."""
        return self.name == "Any"

    def with_optional(self, optional: bool = True) -> DType:
        """Returns the same type, optional or not."""
        return DType(self.arrow, optional, self.name)

    def __str__(self) -> str:
        return f"Optional[{self.name}]" if self.optional else self.name

    def field(self, name: str) -> pa.Field:
        """Returns an Arrow field of this type."""
        return pa.field(name, self.arrow, nullable=self.optional)


INT = DType(pa.int64(), name="int")
FLOAT = DType(pa.float64(), name="float")
STR = DType(pa.string(), name="str")
BOOL = DType(pa.bool_(), name="bool")
BYTES = DType(pa.binary(), name="bytes")
JSON = DType(pa.string(), name="Json")
DATETIME_NAIVE = DType(pa.timestamp("us"), name="DateTimeNaive")
DATETIME_UTC = DType(pa.timestamp("us", tz="UTC"), name="DateTimeUtc")
DURATION = DType(pa.duration("us"), name="Duration")
POINTER = DType(pa.uint64(), name="Pointer")
ANY = DType(pa.null(), optional=True, name="Any")
NONE = DType(pa.null(), optional=True, name="None")

_SIMPLE: dict[Any, DType] = {
    int: INT, float: FLOAT, str: STR, bool: BOOL, bytes: BYTES, Json: JSON,
    dt.datetime: DATETIME_NAIVE, DateTimeNaive: DATETIME_NAIVE, DateTimeUtc: DATETIME_UTC,
    dt.timedelta: DURATION, Duration: DURATION, Pointer: POINTER, Any: ANY,
    type(None): NONE, None: NONE,
}


def dtype_of(hint: Any) -> DType:
    """Maps a Python type hint (``int``, ``Optional[str]``, ``list[int]``...) to a DType.

    Raises:
        TypeError: For hints raystream cannot store.
    """
    if isinstance(hint, DType):
        return hint
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(inner) < len(args):
            return dtype_of(inner[0]).with_optional()
        raise TypeError(f"unsupported union type {hint!r}: only Optional[X] is allowed")
    if origin in (list, tuple):
        items = [a for a in args if a is not Ellipsis]
        item = dtype_of(items[0]) if items else ANY
        if item.is_any:
            raise TypeError(f"unsupported type {hint!r}: give the item type, e.g. list[int]")
        name = f"{'list' if origin is list else 'tuple'}[{item}]"
        return DType(pa.list_(item.field("item")), name=name)
    raise TypeError(f"unsupported column type {hint!r}")


def dtype_of_arrow(arrow: pa.DataType, optional: bool = True) -> DType:
    """Returns the DType for values that arrived as ``arrow`` (for ``Any`` results)."""
    for candidate in (INT, FLOAT, STR, BOOL, BYTES, DATETIME_NAIVE, DATETIME_UTC, DURATION):
        if candidate.arrow == arrow:
            return candidate.with_optional(optional)
    return DType(arrow, optional, str(arrow))


def is_numeric(dtype: DType) -> bool:
    """True for int and float columns."""
    return dtype.name in ("int", "float")


def unify(a: DType, b: DType) -> DType | None:
    """The common type of two branches (``if_else``, ``coalesce``, concat), or None."""
    optional = a.optional or b.optional
    if a.name == "None":
        return b.with_optional()
    if b.name == "None":
        return a.with_optional()
    if a.name == b.name:
        return a.with_optional(optional)
    if is_numeric(a) and is_numeric(b):
        return FLOAT.with_optional(optional)
    if a.is_any or b.is_any:
        return ANY
    return None
