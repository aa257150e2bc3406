"""Column types: Python type hints mapped to Arrow types, as Pathway names them."""

from __future__ import annotations

import datetime as dt
import pickle
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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

    arrow: pa.DataType = field(compare=False)
    optional: bool = False
    name: str = ""
    pyobject: bool = field(default=False, compare=False)
    args: tuple = ()

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
        return DType(self.arrow, optional, self.name, self.pyobject, self.args)

    def __str__(self) -> str:
        return f"Optional[{self.name}]" if self.optional else self.name

    def __repr__(self) -> str:
        return f"<dtype {self}>"

    def field(self, name: str) -> pa.Field:
        """Returns an Arrow field of this type."""
        return pa.field(name, self.arrow, nullable=self.optional)


INT = DType(pa.int64(), name="int")
FLOAT = DType(pa.float64(), name="float")
STR = DType(pa.string(), name="str")
BOOL = DType(pa.bool_(), name="bool")
BYTES = DType(pa.binary(), name="bytes")
JSON = DType(pa.string(), name="Json")
DATETIME_NAIVE = DType(pa.timestamp("ns"), name="DateTimeNaive")
DATETIME_UTC = DType(pa.timestamp("ns", tz="UTC"), name="DateTimeUtc")
DURATION = DType(pa.duration("ns"), name="Duration")  # nanoseconds, as in Pathway
POINTER = DType(pa.uint64(), name="Pointer")
ANY = DType(pa.binary(), optional=True, name="Any", pyobject=True)
"""Any Python value (stored pickled; its operators run on Python values)."""
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
        if origin is tuple and args and Ellipsis not in args:
            return tuple_dtype([dtype_of(a) for a in args])
        items = [a for a in args if a is not Ellipsis]
        return list_dtype(dtype_of(items[0]) if items else ANY)
    if hint is np.ndarray or origin is np.ndarray:
        return ARRAY
    if hint in (list, tuple):
        return list_dtype(ANY)
    raise TypeError(f"unsupported column type {hint!r}")


def list_dtype(item: DType) -> DType:
    """``list[item]`` (Pathway's ``List``; also ``tuple[item, ...]``): an Arrow list."""
    if item.name == "None":
        item = ANY
    return DType(pa.list_(item.field("item")), name=f"list[{item}]", args=(item,))


def tuple_dtype(items: list[DType]) -> DType:
    """``tuple[a, b, ...]``: an Arrow list when the items share a type, else Python objects."""
    name = f"tuple[{', '.join(str(i) for i in items)}]"
    if len({(i.arrow, i.name) for i in items}) == 1 and items[0].name != "None":
        return DType(pa.list_(items[0].field("item")), name=name, args=tuple(items))
    return DType(pa.binary(), name=name, pyobject=True, args=tuple(items))


ARRAY = DType(pa.binary(), name="Array", pyobject=True, args=(None, ANY))
PYOBJECT = DType(pa.binary(), name="PyObjectWrapper", pyobject=True)


def array_dtype(n_dim: int | None = None, wrapped: DType | None = None) -> DType:
    """``pw.Array``: numpy arrays of ``n_dim`` dimensions with items of type ``wrapped``."""
    wrapped = wrapped or ANY
    name = "Array" if n_dim is None and wrapped.is_any else f"Array({n_dim}, {wrapped})"
    return DType(pa.binary(), name=name, pyobject=True, args=(n_dim, wrapped))


def ndarray_dtype(values: list[Any]) -> DType:
    """The type of a column of numpy arrays."""
    if all(np.issubdtype(v.dtype, np.integer) for v in values):
        wrapped = INT
    elif all(np.issubdtype(v.dtype, np.floating) for v in values):
        wrapped = FLOAT
    else:
        wrapped = ANY
    dims = {v.ndim for v in values}
    return array_dtype(dims.pop() if len(dims) == 1 else None, wrapped)


def sequence_dtype(values: list[Any]) -> DType:
    """The type of a column of tuples/lists: ``tuple[a, b]`` if all have one length."""
    lengths = {len(v) for v in values}
    if len(lengths) == 1:
        n = lengths.pop()
        items = [_unify_all([_value_dtype(v[i]) for v in values]) for i in range(n)]
        return tuple_dtype(items)
    return list_dtype(_unify_all([_value_dtype(x) for v in values for x in v]))


def _value_dtype(value: Any) -> DType:
    if value is None:
        return NONE
    if isinstance(value, (tuple, list)):
        return sequence_dtype([value])
    if isinstance(value, np.ndarray):
        return ndarray_dtype([value])
    for python in (Pointer, bool, int, float, str, bytes, dt.timedelta, dt.datetime):
        if isinstance(value, python):
            found = _SIMPLE[python]
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                return DATETIME_UTC
            return found
    return ANY


def _unify_all(types: list[DType]) -> DType:
    result = types[0] if types else ANY
    for t in types[1:]:
        result = unify(result, t) or ANY
    return result


def to_arrow(values: list[Any], dtype: DType) -> pa.Array:
    """Python values as an Arrow array of ``dtype`` (Python objects are pickled)."""
    if dtype.pyobject:
        return pa.array([None if v is None else pickle.dumps(v) for v in values], pa.binary())
    if dtype.is_json:
        import json  # noqa: PLC0415
        return pa.array([None if v is None else json.dumps(getattr(v, "value", v))
                         for v in values], pa.string())
    if dtype.is_any:
        return pa.array(values)
    if pa.types.is_list(dtype.arrow):
        item = dtype.args[0] if dtype.args else None
        if item is not None and item.pyobject:
            values = [None if v is None else [None if x is None else pickle.dumps(x) for x in v]
                      for v in values]
        else:
            values = [None if v is None else list(v) for v in values]
    return pa.array(values, dtype.arrow)


def to_python(array: pa.Array, dtype: DType) -> list[Any]:
    """An Arrow array of ``dtype`` as the Python values users see."""
    values = array.to_pylist()
    if dtype.pyobject:
        return [None if v is None else pickle.loads(v) for v in values]  # noqa: S301
    if dtype.is_json:
        import json  # noqa: PLC0415
        return [None if v is None else Json(json.loads(v)) for v in values]
    if dtype.name == "Pointer":
        return [None if v is None else Pointer(v) for v in values]
    if pa.types.is_list(array.type):
        item = dtype.args[0] if dtype.args else None
        if item is not None and item.pyobject:
            return [None if v is None else tuple(None if x is None else pickle.loads(x)  # noqa: S301
                                                 for x in v) for v in values]
        return [None if v is None else tuple(v) for v in values]  # Pathway gives tuples
    return values


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


def item_dtype(dtype: DType) -> DType | None:
    """The type of the items ``flatten`` makes of a column of ``dtype`` (None: not flattenable)."""
    if dtype.name == "str" or dtype.is_json:
        return dtype.with_optional(False)
    if dtype.name.startswith("list[") and dtype.args:
        return dtype.args[0]
    if dtype.name.startswith("tuple["):
        return _unify_all(list(dtype.args)) if dtype.args else ANY
    if dtype.name.startswith("Array"):
        return array_item(dtype)
    if dtype.is_any:
        return ANY
    return None


def array_item(dtype: DType) -> DType:
    """The type of ``a[i]`` / a flattened item of an Array column."""
    n_dim, wrapped = dtype.args if dtype.args else (None, ANY)
    if n_dim == 1:
        return wrapped
    if n_dim is None:
        return ANY
    return array_dtype(n_dim - 1, wrapped)


def future_dtype(inner: DType) -> DType:
    """``Future[T]``: a fully async UDF's column until ``await_futures()``."""
    return DType(inner.arrow, inner.optional, f"Future[{inner}]", inner.pyobject, (inner,))


def future_inner(dtype: DType) -> DType:
    """``T`` of a ``Future[T]`` (other types unchanged)."""
    return dtype.args[0] if dtype.name.startswith("Future[") and dtype.args else dtype


def pathway_repr(dtype: DType) -> str:
    """A type as Pathway's messages show it (``<class 'int'>``, ``_asyncio.Future[int]``)."""
    if dtype.name.startswith("Future["):
        inner = future_inner(dtype)
        text = f"{inner.name} | None" if inner.optional else inner.name
        return f"_asyncio.Future[{text}]"
    simple = {"int": int, "float": float, "str": str, "bool": bool, "bytes": bytes}
    if dtype.name in simple and not dtype.optional:
        return repr(simple[dtype.name])
    return str(dtype)


def is_future(dtype: DType) -> bool:
    """True for a fully async UDF's column before ``await_futures()``."""
    return dtype.name.startswith("Future[")


def check_no_future(types: list[DType], operation: str) -> None:
    """Raises Pathway's TypeError if an operation gets a ``Future`` column."""
    for dtype in types:
        if is_future(dtype):
            raise TypeError(f"Cannot perform pathway.{operation} when column of type "
                            f"{pathway_repr(dtype)} is involved. Consider applying "
                            "`await_futures()` to the table used here.")


def may_retype(old: DType, new: DType) -> bool:
    """True if ``update_types`` may declare ``new`` for a column of ``old``.

    Narrowing or extending only: Optional added or removed, Any on either side,
    int read as float.
    """
    if old.is_any or new.is_any or old.name == "None" or new.name == "None":
        return True
    if old.name == new.name:
        return True
    return {old.name, new.name} == {"int", "float"}
