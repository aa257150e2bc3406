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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from typing_extensions import override

from raystream import dtypes as dt
from raystream import str_ops  # noqa: F401 - registers the .str and JSON operations
from raystream.actors.kernels.cells import any_of, cell_values
from raystream.connectors.batch import KEY, flag_of
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, ApiValueError, api_error
from raystream.ops import HOOKS, LAZY, OPS, Value, fill_to_length, scalar_of

Names = frozenset[str]
"""Column names (declared outside the class: ``ColumnExpression.str`` shadows ``str``)."""

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
        if isinstance(key, ColumnExpression):
            return HOOKS["python_call"]("getitem", [self, key])
        return call("item", self, params=(key, None, True))

    def get(self, key: Any, default: Any = None) -> ColumnExpression:
        """Looks up a JSON field or list item; ``default`` where it is missing."""
        if isinstance(key, ColumnExpression) or isinstance(default, ColumnExpression):
            return HOOKS["python_call"]("get", [self, wrap(key), wrap(default)])
        return call("item", self, params=(key, default, False))

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

    def __rpow__(self, other: Any) -> ColumnExpression:
        return call("pow", other, self)

    def __lshift__(self, other: Any) -> ColumnExpression:
        return call("lshift", self, other)

    def __rlshift__(self, other: Any) -> ColumnExpression:
        return call("lshift", other, self)

    def __rshift__(self, other: Any) -> ColumnExpression:
        return call("rshift", self, other)

    def __rrshift__(self, other: Any) -> ColumnExpression:
        return call("rshift", other, self)

    def __matmul__(self, other: Any) -> ColumnExpression:
        return call("matmul", self, other)

    def __rmatmul__(self, other: Any) -> ColumnExpression:
        return call("matmul", other, self)

    def __rxor__(self, other: Any) -> ColumnExpression:
        return call("xor", other, self)

    def __iter__(self) -> Any:
        raise TypeError("a column expression is not iterable")

    @property
    def str(self) -> Any:
        """String methods: ``expr.str.lower()``, ``expr.str.len()``..."""
        return HOOKS["str"](self)

    @property
    def num(self) -> Any:
        """Number methods: ``expr.num.abs()``, ``expr.num.round(2)``, ``expr.num.fill_na(0)``."""
        return HOOKS["num"](self)

    @property
    def dt(self) -> Any:
        """Date and time methods: ``expr.dt.year()``, ``expr.dt.strftime(fmt)``..."""
        return HOOKS["dt"](self)

    def is_error(self) -> ColumnExpression:
        """True where the value is an error (its computation failed)."""
        return IsError(self)

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

    # -- error values (see raystream.actors.kernels.cells) ----------------------
    fallible: bool = True
    """True if computing this node itself can fail for a row (a division, a UDF...)."""

    def may_be_error(self, flagged: Names) -> bool:
        """True if a cell can be an error, given the input columns that can hold errors."""
        return self.fallible or any(c.may_be_error(flagged) for c in self.children())

    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        """Rows whose value is an error because an input cell is one (None: no such row)."""
        return any_of([c.error_mask(batch) for c in self.children()])


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

    fallible = False

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return IdReference(self.table)

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        return batch.column(KEY)


class InputColumn(ColumnExpression):
    """A resolved column of the operator's input batch."""

    fallible = False

    def __init__(self, name: str, dtype: DType) -> None:
        self.name = name
        self.dtype = dtype

    @override
    def may_be_error(self, flagged: Names) -> bool:
        return self.name in flagged

    @override
    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        return flag_of(batch, self.name)

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

    fallible = False

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
        if self.dtype.pyobject or isinstance(self.value, (tuple, list)):
            return dt.to_arrow([self.value] * batch.num_rows, self.dtype)
        return scalar_of(self.value, self.dtype)


def _const_dtype(value: Any) -> DType:
    if isinstance(value, dt.Json):
        return dt.JSON
    if isinstance(value, bool):
        return dt.BOOL
    if isinstance(value, dt.Pointer):
        return dt.POINTER
    for python, dtype in ((int, dt.INT), (float, dt.FLOAT), (str, dt.STR), (bytes, dt.BYTES),
                          (_dt.timedelta, dt.DURATION)):
        if isinstance(value, python):
            return dtype
    if isinstance(value, _dt.datetime):
        return dt.DATETIME_UTC if value.tzinfo else dt.DATETIME_NAIVE
    if value is None:
        return dt.NONE
    if isinstance(value, (tuple, list)):
        return dt.sequence_dtype([value]) if isinstance(value, tuple) else \
            dt.list_dtype(dt.sequence_dtype([value]).args[0] if value else dt.ANY)
    if isinstance(value, dt.Pointer):
        return dt.POINTER
    import numpy as np  # noqa: PLC0415
    if isinstance(value, np.ndarray):
        return dt.ndarray_dtype([value])
    raise api_error(ApiTypeError, f"unsupported constant {value!r} of type "
                                  f"{type(value).__name__}")


def wrap(value: Any) -> ColumnExpression:
    """Turns a Python constant into a :class:`Const`; expressions pass through.

    A tuple holding expressions becomes ``pw.make_tuple(...)``.
    """
    if isinstance(value, ColumnExpression):
        return value
    if isinstance(value, tuple) and any(isinstance(v, ColumnExpression) for v in value):
        return HOOKS["make_tuple"](*value)
    return Const(value)


class Call(ColumnExpression):
    """An operation from the :mod:`raystream.ops` registry applied to arguments."""

    def __init__(self, op: str, args: list[ColumnExpression], params: tuple = ()) -> None:
        self.op = op
        self.args = args
        self.params = params
        self.fallible = op not in _SAFE

    @override
    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        masks = [a.error_mask(batch) for a in self.args]
        if self.op != "if_else" or (masks[1] is None and masks[2] is None):
            return any_of(masks)
        try:  # an error in the branch not taken does not count (if_else is lazy)
            taken = pc.fill_null(self.args[0].column(batch), False)
        except Exception:  # noqa: BLE001 - the condition fails: its own cells say where
            return any_of(masks)
        no = pa.array(np.zeros(batch.num_rows, np.bool_))
        branch = pc.if_else(taken, masks[1] if masks[1] is not None else no,
                            masks[2] if masks[2] is not None else no)
        return any_of([masks[0], branch])

    @override
    def children(self) -> list[ColumnExpression]:
        return list(self.args)

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        args = [a.resolve(resolver) for a in self.args]
        op = self.op
        needs_python, python_call = HOOKS["needs_python"], HOOKS["python_call"]
        if op == "item":
            types = [a.dtype for a in args]
            if needs_python("getitem", types) or not (types[0].is_json or types[0].is_any):
                index, default, checked = self.params
                if checked:
                    return python_call("getitem", [args[0], wrap(index)]).resolve(lambda r: r)
                return python_call("get", [args[0], wrap(index), wrap(default)]).resolve(
                    lambda r: r)
        elif needs_python(op, [a.dtype for a in args]):
            return python_call(op, args, self.params).resolve(lambda r: r)
        _check_futures(op, [a.dtype for a in args])
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
        lazy = LAZY.get(self.op)
        if lazy is not None:
            return lazy(self, batch)
        return OPS[self.op].kernel([a.evaluate(batch) for a in self.args], self.params)


_SAFE = {"eq", "ne", "lt", "le", "gt", "ge", "and", "or", "xor", "not", "is_none",
         "is_not_none", "if_else", "coalesce", "to_string", "add", "sub", "mul", "neg", "abs"}
"""Operations that never fail on a row (their cells are errors only if an input is).

(Integer ``+``, ``-`` and ``*`` wrap around on overflow, as numpy does.)"""

_BINARY = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "eq", "ne", "lt", "le",
           "gt", "ge", "and", "or", "xor", "lshift", "rshift", "matmul"}


def _check_futures(op: str, types: list[DType]) -> None:
    if not any(dt.is_future(t) for t in types):
        return
    shown = [dt.pathway_repr(t) for t in types]
    if op in _BINARY:
        raise api_error(ApiTypeError, f"Pathway does not support using binary operator {op} "
                                      f"on columns of types {', '.join(shown)}.")
    if op == "if_else":
        raise api_error(ApiTypeError, f"Cannot perform pathway.if_else on columns of types "
                                      f"{shown[1]} and {shown[2]}.")
    try:
        dt.check_no_future(types, op)
    except TypeError as exc:
        raise api_error(ApiTypeError, str(exc)) from None


class FutureCheck(ColumnExpression):
    """Checks that no argument of ``inner`` is a ``Future`` column (named ``operation``)."""

    def __init__(self, operation: str, inner: ColumnExpression, watched: list[Any]) -> None:
        self.operation = operation
        self.inner = inner
        self.watched = [wrap(w) for w in watched]

    @override
    def children(self) -> list[ColumnExpression]:
        return [self.inner, *self.watched]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        _check_futures(self.operation, [w.resolve(resolver).dtype for w in self.watched])
        return self.inner.resolve(resolver)


def call(op: str, *args: Any, params: tuple = ()) -> Call:
    """Builds a :class:`Call`, wrapping constants."""
    return Call(op, [wrap(a) for a in args], params)


class ThisStar:
    """``*pw.this`` / ``*pw.this.without(...)``: every column of the table (but some)."""

    def __init__(self, excluded: frozenset[str] = frozenset(),
                 included: list[str] | None = None) -> None:
        self.excluded = excluded
        self.included = included

    def names(self, columns: list[str]) -> list[str]:
        """The columns it stands for, in order."""
        chosen = columns if self.included is None else self.included
        return [c for c in chosen if c not in self.excluded]


class _This:
    """``pw.this``: refers to columns of the table an expression is used on."""

    def __getattr__(self, name: str) -> ColumnExpression:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "id":
            return IdReference()
        return ThisReference(name)

    def __getitem__(self, name: Any) -> Any:
        if isinstance(name, list):
            return _ThisWithout(frozenset(), [_name(n) for n in name])
        name = _name(name)
        if name == "id":
            return IdReference()
        return ThisReference(name)

    def __iter__(self) -> Any:
        return iter([ThisStar()])

    def without(self, *columns: Any) -> _ThisWithout:
        """Every column but ``columns`` (``t.select(*pw.this.without("a"))``)."""
        return _ThisWithout(frozenset(_name(c) for c in columns))

    def pointer_from(self, *args: Any, optional: bool = False, instance: Any = None) -> Any:
        """The key a row with these values would have."""
        return PointerFrom(list(args) + ([instance] if instance is not None else []), optional)


def _name(column: Any) -> str:
    return column if isinstance(column, str) else column.name


class _ThisWithout:
    """``pw.this.without(...)`` / ``pw.this[[...]]``: some of the columns of ``pw.this``."""

    def __init__(self, excluded: frozenset[str], included: list[str] | None = None) -> None:
        self.excluded = excluded
        self.included = included

    def __iter__(self) -> Any:
        return iter([ThisStar(self.excluded, self.included)])

    def __getattr__(self, name: str) -> ColumnExpression:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self.excluded or (self.included is not None and name not in self.included):
            raise KeyError(f"column {name!r} is not among the selected columns")
        return ThisReference(name)

    def without(self, *columns: Any) -> _ThisWithout:
        """These columns but ``columns``."""
        return _ThisWithout(self.excluded | {_name(c) for c in columns}, self.included)


this = _This()


class PointerFrom(ColumnExpression):
    """``t.pointer_from(*values)``: the key of a row identified by values (``pw.Pointer``)."""

    fallible = False

    def __init__(self, args: list[Any], optional: bool = False) -> None:
        self.args = [wrap(a) for a in args]
        self.optional = optional
        self.dtype = dt.POINTER

    @override
    def children(self) -> list[ColumnExpression]:
        return list(self.args)

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        resolved = PointerFrom([a.resolve(resolver) for a in self.args], self.optional)
        _check_futures("pointer_from", [a.dtype for a in resolved.args])
        if self.optional and any(a.dtype.optional for a in resolved.args):
            resolved.dtype = dt.POINTER.with_optional()
        return resolved

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        from raystream.connectors.hashing import hash_columns  # noqa: PLC0415
        n = batch.num_rows
        arrays = [a.column(batch) for a in self.args]
        names = [f"p{i}" for i in range(len(arrays))]
        keys = pa.array(hash_columns(pa.record_batch(arrays, names=names), names)
                        if arrays else [0] * n, pa.uint64())
        if self.optional and arrays:
            import pyarrow.compute as pc  # noqa: PLC0415
            missing = None
            for a in arrays:
                missing = a.is_null() if missing is None else pc.or_(missing, a.is_null())
            keys = pc.if_else(missing, pa.scalar(None, pa.uint64()), keys)
        return keys


class IsError(ColumnExpression):
    """``expr.is_error()``: True where ``expr`` is an error (an input cell is, or it fails)."""

    fallible = False

    def __init__(self, arg: Any) -> None:
        self.arg = wrap(arg)
        self.dtype = dt.BOOL

    @override
    def may_be_error(self, flagged: Names) -> bool:
        return False

    @override
    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        return None

    @override
    def children(self) -> list[ColumnExpression]:
        return [self.arg]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        return IsError(self.arg.resolve(resolver))

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        return cell_values(self.arg, batch)[1]


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

from raystream import lazy as _lazy  # noqa: E402,F401 - registers the lazy operators
from raystream import ops_extra as _ops_extra  # noqa: E402,F401 - registers more operators
