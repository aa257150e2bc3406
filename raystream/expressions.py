"""Column expressions: ``t.a + 1``, ``pw.this.name.str.lower()``, ``pw.if_else(...)``.

Expressions are trees. Building one records what to compute; resolving it
against a table (:meth:`ColumnExpression.resolve`) checks every column and
type, raising an error that points at the user's line; evaluating a resolved
tree computes whole columns of a RecordBatch with ``pyarrow.compute``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from typing_extensions import override

from raystream import dtypes as dt
from raystream import str_ops  # noqa: F401 - registers the .str and JSON operations
from raystream.actors.messages import KEY
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, ApiValueError, api_error
from raystream.ops import OPS, Value, fill_to_length, scalar_of

Resolver = Callable[["ColumnExpression"], "ColumnExpression"]
"""Maps a column reference to a resolved :class:`InputColumn` (or raises)."""


class ColumnExpression:
    """Base class of every expression; defines the operators users write."""

    dtype: DType = dt.ANY

    # -- building -----------------------------------------------------------
    def __add__(self, other: Any) -> ColumnExpression:
        return call("add", self, other)

    def __radd__(self, other: Any) -> ColumnExpression:
        return call("add", other, self)

    def __sub__(self, other: Any) -> ColumnExpression:
        return call("sub", self, other)

    def __rsub__(self, other: Any) -> ColumnExpression:
        return call("sub", other, self)

    def __mul__(self, other: Any) -> ColumnExpression:
        return call("mul", self, other)

    def __rmul__(self, other: Any) -> ColumnExpression:
        return call("mul", other, self)

    def __truediv__(self, other: Any) -> ColumnExpression:
        return call("truediv", self, other)

    def __rtruediv__(self, other: Any) -> ColumnExpression:
        return call("truediv", other, self)

    def __floordiv__(self, other: Any) -> ColumnExpression:
        return call("floordiv", self, other)

    def __rfloordiv__(self, other: Any) -> ColumnExpression:
        return call("floordiv", other, self)

    def __mod__(self, other: Any) -> ColumnExpression:
        return call("mod", self, other)

    def __rmod__(self, other: Any) -> ColumnExpression:
        return call("mod", other, self)

    def __pow__(self, other: Any) -> ColumnExpression:
        return call("pow", self, other)

    def __neg__(self) -> ColumnExpression:
        return call("neg", self)

    def __abs__(self) -> ColumnExpression:
        return call("abs", self)

    def __eq__(self, other: Any) -> ColumnExpression:  # type: ignore[override]
        return call("eq", self, other)

    def __ne__(self, other: Any) -> ColumnExpression:  # type: ignore[override]
        return call("ne", self, other)

    def __lt__(self, other: Any) -> ColumnExpression:
        return call("lt", self, other)

    def __le__(self, other: Any) -> ColumnExpression:
        return call("le", self, other)

    def __gt__(self, other: Any) -> ColumnExpression:
        return call("gt", self, other)

    def __ge__(self, other: Any) -> ColumnExpression:
        return call("ge", self, other)

    def __and__(self, other: Any) -> ColumnExpression:
        return call("and", self, other)

    def __rand__(self, other: Any) -> ColumnExpression:
        return call("and", other, self)

    def __or__(self, other: Any) -> ColumnExpression:
        return call("or", self, other)

    def __ror__(self, other: Any) -> ColumnExpression:
        return call("or", other, self)

    def __xor__(self, other: Any) -> ColumnExpression:
        return call("xor", self, other)

    def __invert__(self) -> ColumnExpression:
        return call("not", self)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise api_error(ApiTypeError, "an expression has no truth value: use &, |, ~ "
                        "instead of and, or, not, and pw.if_else instead of if")

    def __getitem__(self, key: Any) -> ColumnExpression:
        return call("item", self, params=(key, None))

    def get(self, key: Any, default: Any = None) -> ColumnExpression:
        """Looks up a JSON field or list item, with a default."""
        return call("item", self, params=(key, default))

    def is_none(self) -> ColumnExpression:
        """True where the value is None."""
        return call("is_none", self)

    def is_not_none(self) -> ColumnExpression:
        """True where the value is not None."""
        return call("is_not_none", self)

    def to_string(self) -> ColumnExpression:
        """The value's text."""
        return call("to_string", self)

    def as_int(self) -> ColumnExpression:
        """A Json value as int (None if absent)."""
        return call("json.as_int", self)

    def as_float(self) -> ColumnExpression:
        """A Json value as float (None if absent)."""
        return call("json.as_float", self)

    def as_str(self) -> ColumnExpression:
        """A Json value as str (None if absent)."""
        return call("json.as_str", self)

    def as_bool(self) -> ColumnExpression:
        """A Json value as bool (None if absent)."""
        return call("json.as_bool", self)

    @property
    def str(self) -> StrNamespace:
        """String methods: ``expr.str.lower()``, ``expr.str.len()``..."""
        return StrNamespace(self)

    # -- resolving and evaluating ------------------------------------------
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        """Returns a resolved copy (columns bound, types checked)."""
        raise NotImplementedError

    def evaluate(self, batch: pa.RecordBatch) -> Value:
        """Computes the expression over a batch (resolved expressions only)."""
        raise NotImplementedError

    def children(self) -> list[ColumnExpression]:
        """Direct sub-expressions."""
        return []

    def column(self, batch: pa.RecordBatch) -> pa.Array:
        """Computes the expression as a full-length array of its type."""
        return fill_to_length(self.evaluate(batch), batch.num_rows, self.dtype)


class ColumnReference(ColumnExpression):
    """``table.name``: a column of a specific table."""

    def __init__(self, table: Any, name: str) -> None:
        self.table = table
        self.name = name

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return resolver(self)

    def __repr__(self) -> str:
        return f"<{self.name}>"


class ThisReference(ColumnExpression):
    """``pw.this.name``: a column of whatever table the expression is used on."""

    def __init__(self, name: str) -> None:
        self.name = name

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return resolver(self)


class IdReference(ColumnExpression):
    """``table.id`` / ``pw.this.id``: the row key."""

    def __init__(self, table: Any = None) -> None:
        self.table = table
        self.name = "id"
        self.dtype = dt.POINTER

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return IdReference(self.table)

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        return batch.column(KEY)


class InputColumn(ColumnExpression):
    """A resolved column of the operator's input batch."""

    def __init__(self, name: str, dtype: DType) -> None:
        self.name = name
        self.dtype = dtype

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return self

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        return batch.column(self.name)

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Const(ColumnExpression):
    """A constant."""

    def __init__(self, value: Any) -> None:
        self.value = value.value if isinstance(value, dt.Json) else value
        self.dtype = _const_dtype(value)

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return self

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        if self.dtype.is_json:
            import json
            return pa.scalar(json.dumps(self.value), pa.string())
        return scalar_of(self.value, self.dtype)


def _const_dtype(value: Any) -> DType:
    if isinstance(value, dt.Json):
        return dt.JSON
    if isinstance(value, bool):
        return dt.BOOL
    for python, dtype in ((int, dt.INT), (float, dt.FLOAT), (str, dt.STR), (bytes, dt.BYTES),
                          (_dt.timedelta, dt.DURATION)):
        if isinstance(value, python):
            return dtype
    if isinstance(value, _dt.datetime):
        return dt.DATETIME_UTC if value.tzinfo else dt.DATETIME_NAIVE
    if value is None:
        return dt.NONE
    raise api_error(ApiTypeError, f"unsupported constant {value!r} of type "
                                  f"{type(value).__name__}")


def wrap(value: Any) -> ColumnExpression:
    """Turns a Python constant into a :class:`Const`; expressions pass through."""
    if isinstance(value, ColumnExpression):
        return value
    return Const(value)


class Call(ColumnExpression):
    """An operation from the :mod:`raystream.ops` registry applied to arguments."""

    def __init__(self, op: str, args: list[ColumnExpression], params: tuple = ()) -> None:
        self.op = op
        self.args = args
        self.params = params

    @override
    def children(self) -> list[ColumnExpression]:
        return list(self.args)

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        args = [a.resolve(resolver) for a in self.args]
        op = self.op
        if op == "item":
            op = "json.get" if args[0].dtype.is_json or args[0].dtype.is_any else "list.get"
        resolved = Call(op, args, self.params)
        try:
            resolved.dtype = OPS[op].typer([a.dtype for a in args], self.params)
        except TypeError as exc:
            raise api_error(ApiTypeError, str(exc)) from None
        return resolved

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        return OPS[self.op].kernel([a.evaluate(batch) for a in self.args], self.params)


def call(op: str, *args: Any, params: tuple = ()) -> Call:
    """Builds a :class:`Call`, wrapping constants."""
    return Call(op, [wrap(a) for a in args], params)


class StrNamespace:
    """The ``.str`` methods of an expression (as in Pathway)."""

    def __init__(self, expr: ColumnExpression) -> None:
        self._expr = expr

    def _call(self, name: str, *params: Any) -> ColumnExpression:
        return call(f"str.{name}", self._expr, params=params)

    def lower(self) -> ColumnExpression:
        """Lower-cased text."""
        return self._call("lower")

    def upper(self) -> ColumnExpression:
        """Upper-cased text."""
        return self._call("upper")

    def title(self) -> ColumnExpression:
        """Title-cased text."""
        return self._call("title")

    def swapcase(self) -> ColumnExpression:
        """Case-swapped text."""
        return self._call("swapcase")

    def reversed(self) -> ColumnExpression:
        """Reversed text."""
        return self._call("reversed")

    def strip(self, chars: str | None = None) -> ColumnExpression:
        """Text without surrounding whitespace (or ``chars``)."""
        return self._call("strip", chars)

    def len(self) -> ColumnExpression:
        """Number of characters."""
        return self._call("len")

    def startswith(self, prefix: str) -> ColumnExpression:
        """True where the text starts with ``prefix``."""
        return self._call("startswith", prefix)

    def endswith(self, suffix: str) -> ColumnExpression:
        """True where the text ends with ``suffix``."""
        return self._call("endswith", suffix)

    def contains(self, sub: str) -> ColumnExpression:
        """True where the text contains ``sub``."""
        return self._call("contains", sub)

    def count(self, sub: str) -> ColumnExpression:
        """Non-overlapping occurrences of ``sub``."""
        return self._call("count", sub)

    def find(self, sub: str) -> ColumnExpression:
        """Index of the first ``sub``, or -1."""
        return self._call("find", sub)

    def replace(self, old: str, new: str, count: int = -1) -> ColumnExpression:
        """Text with ``old`` replaced by ``new`` (at most ``count`` times)."""
        return self._call("replace", old, new, None if count < 0 else count)

    def removeprefix(self, prefix: str) -> ColumnExpression:
        """Text without a leading ``prefix``."""
        return self._call("removeprefix", prefix)

    def removesuffix(self, suffix: str) -> ColumnExpression:
        """Text without a trailing ``suffix``."""
        return self._call("removesuffix", suffix)

    def slice(self, start: int, end: int) -> ColumnExpression:
        """Characters ``start`` to ``end``."""
        return self._call("slice", start, end)

    def parse_int(self, optional: bool = False) -> ColumnExpression:
        """The text as int (None where unparsable if ``optional``)."""
        return self._call("parse_int", optional)

    def parse_float(self, optional: bool = False) -> ColumnExpression:
        """The text as float (None where unparsable if ``optional``)."""
        return self._call("parse_float", optional)

    def parse_bool(self, optional: bool = False) -> ColumnExpression:
        """The text as bool (None where unparsable if ``optional``)."""
        return self._call("parse_bool", optional)


class _This:
    """``pw.this``: refers to columns of the table an expression is used on."""

    def __getattr__(self, name: str) -> ColumnExpression:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "id":
            return IdReference()
        return ThisReference(name)

    def __getitem__(self, name: str) -> ColumnExpression:
        return ThisReference(name)


this = _This()


def if_else(condition: Any, then: Any, otherwise: Any) -> ColumnExpression:
    """``then`` where ``condition`` holds, else ``otherwise`` (``pw.if_else``)."""
    return call("if_else", condition, then, otherwise)


def coalesce(*args: Any) -> ColumnExpression:
    """The first argument that is not None (``pw.coalesce``)."""
    if not args:
        raise api_error(ApiValueError, "coalesce needs at least one argument")
    return call("coalesce", *args)


def cast(target: Any, expr: Any) -> ColumnExpression:
    """Converts ``expr`` to ``target`` type (``pw.cast(float, t.a)``)."""
    return call("cast", expr, params=(dt.dtype_of(target),))


def unwrap(expr: Any) -> ColumnExpression:
    """Declares an Optional expression non-None (``pw.unwrap``)."""
    return call("unwrap", expr)


def _unwrap_kernel(args: list[Value], _params: tuple) -> Value:
    if args[0].null_count:
        raise ValueError("pw.unwrap found a None value")
    return args[0]


from raystream.ops import register as _register  # noqa: E402

_register("unwrap", lambda t, p: t[0].with_optional(False), _unwrap_kernel)
