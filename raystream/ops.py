"""The operations expressions are built from: a type rule and an Arrow kernel each.

A type rule maps argument types to the result type, raising ``TypeError`` with
a message for the user when the arguments do not fit. A kernel computes the
result for whole columns (Arrow arrays, or scalars for constants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raystream import dtypes as dt
from raystream.dtypes import DType

Value: TypeAlias = Any
"""An Arrow array or scalar (pyarrow ships no type information)."""


@dataclass(frozen=True)
class Op:
    """One operation: ``typer(arg_types, params) -> DType`` and ``kernel(args, params)``."""

    name: str
    typer: Callable[[list[DType], tuple], DType]
    kernel: Callable[[list[Value], tuple], Value]


OPS: dict[str, Op] = {}
LAZY: dict[str, Callable[[Any, pa.RecordBatch], Value]] = {}
"""Operations that evaluate their arguments themselves (only where needed): see lazy.py."""

class _Hooks(dict):
    """A registry that imports the modules that fill it when a name is missing."""

    def __missing__(self, name: str) -> Callable[..., Any]:
        import importlib  # noqa: PLC0415

        for module in _HOOK_MODULES:
            importlib.import_module(module)
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        raise KeyError(name)


_HOOK_MODULES = ("raystream.pyops", "raystream.namespaces", "raystream.static")
HOOKS: dict[str, Callable[..., Any]] = _Hooks()
"""Expression kinds defined in modules that build on :mod:`raystream.expressions`,
registered when they are imported, so that expressions can create them without
importing them back: ``python_call`` / ``needs_python`` / ``make_tuple`` (pyops.py),
``str`` / ``num`` / ``dt`` namespaces (namespaces.py), ``static_table_from_rows``
(static.py, for ``Table.empty``). A name asked for before its module was imported
(a Ray worker does not load the public API) imports the modules above."""


def register(name: str, typer: Callable, kernel: Callable) -> None:
    """Adds an operation to the registry."""
    OPS[name] = Op(name, typer, kernel)


def _optional(types: list[DType]) -> bool:
    return any(t.optional for t in types)


def _names(types: list[DType]) -> str:
    return ", ".join(str(t) for t in types)


# ---- arithmetic -------------------------------------------------------------

_TEMPORAL_ADD = {("DateTimeNaive", "Duration"): dt.DATETIME_NAIVE,
                 ("DateTimeUtc", "Duration"): dt.DATETIME_UTC,
                 ("Duration", "DateTimeNaive"): dt.DATETIME_NAIVE,
                 ("Duration", "DateTimeUtc"): dt.DATETIME_UTC,
                 ("Duration", "Duration"): dt.DURATION}
_TEMPORAL_SUB = {("DateTimeNaive", "DateTimeNaive"): dt.DURATION,
                 ("DateTimeUtc", "DateTimeUtc"): dt.DURATION,
                 ("DateTimeNaive", "Duration"): dt.DATETIME_NAIVE,
                 ("DateTimeUtc", "Duration"): dt.DATETIME_UTC,
                 ("Duration", "Duration"): dt.DURATION}


def _numeric(symbol: str, int_result: DType | None = dt.INT,
             extra: dict | None = None) -> Callable:
    def typer(types: list[DType], _params: tuple) -> DType:
        a, b = types
        found = (extra or {}).get((a.name, b.name))
        if found is not None:
            return found.with_optional(_optional(types))
        if dt.is_numeric(a) and dt.is_numeric(b):
            both_int = a.name == b.name == "int"
            result = int_result if both_int and int_result is not None else dt.FLOAT
            return result.with_optional(_optional(types))
        if a.is_any or b.is_any:
            return dt.ANY
        raise TypeError(f"cannot apply {symbol} to {a} and {b}")
    return typer


def _add_typer(types: list[DType], params: tuple) -> DType:
    if types[0].name == types[1].name == "str":
        return dt.STR.with_optional(_optional(types))
    return _numeric("+", extra=_TEMPORAL_ADD)(types, params)


def _add(args: list[Value], _params: tuple) -> Value:
    a, b = args
    if pa.types.is_string(a.type):
        return pc.binary_join_element_wise(a, b, "")
    return pc.add(a, b)


def _as_float(v: Value) -> Value:
    return pc.cast(v, pa.float64()) if pa.types.is_integer(v.type) else v


def _truediv(args: list[Value], _params: tuple) -> Value:
    return pc.divide(_as_float(args[0]), _as_float(args[1]))


def _numpy_binary(func: Callable, args: list[Value]) -> Value:
    """Applies a numpy ufunc with Python semantics (floor division, modulo)."""
    a, b = args
    n = max(len(x) if isinstance(x, pa.Array) else 1 for x in args)
    arrays = [_to_numpy(x, n) for x in (a, b)]
    if all(pa.types.is_integer(x.type) for x in args) and np.any(arrays[1][0] == 0):
        raise ZeroDivisionError("integer division or modulo by zero")
    with np.errstate(divide="ignore", invalid="ignore"):
        result = func(arrays[0][0], arrays[1][0])
    mask = arrays[0][1] | arrays[1][1]
    out = pa.array(result, mask=mask if mask.any() else None)
    return out if any(isinstance(x, pa.Array) for x in args) else out[0]


def _to_numpy(v: Value, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(v, pa.Scalar):
        value = v.as_py()
        return np.full(n, 1 if value is None else value), np.full(n, value is None)
    nulls = v.is_null().to_numpy(zero_copy_only=False)
    filled = v.fill_null(1) if v.null_count else v
    return filled.to_numpy(zero_copy_only=False), nulls


def _pow(args: list[Value], _params: tuple) -> Value:
    a, b = args
    if pa.types.is_integer(a.type) and pa.types.is_integer(b.type):
        return pc.power_checked(a, b)
    return pc.power(_as_float(a), _as_float(b))


register("add", _add_typer, _add)
register("sub", _numeric("-", extra=_TEMPORAL_SUB), lambda a, p: pc.subtract(*a))
register("mul", _numeric("*", extra={("Duration", "int"): dt.DURATION,
                                     ("int", "Duration"): dt.DURATION}),
         lambda a, p: pc.multiply(*a))
register("truediv", _numeric("/", int_result=None), _truediv)
register("floordiv", _numeric("//"), lambda a, p: _numpy_binary(np.floor_divide, a))
register("mod", _numeric("%"), lambda a, p: _numpy_binary(np.mod, a))
register("pow", _numeric("**"), _pow)


def _unary_numeric(symbol: str) -> Callable:
    def typer(types: list[DType], _params: tuple) -> DType:
        if dt.is_numeric(types[0]) or types[0].name == "Duration" or types[0].is_any:
            return types[0]
        raise TypeError(f"cannot apply {symbol} to {types[0]}")
    return typer


register("neg", _unary_numeric("-"), lambda a, p: pc.negate(a[0]))
register("abs", _unary_numeric("abs()"), lambda a, p: pc.abs(a[0]))

# ---- comparison and logic ---------------------------------------------------

_COMPARABLE = [{"int", "float"}, {"str"}, {"bool"}, {"bytes"}, {"DateTimeNaive"},
               {"DateTimeUtc"}, {"Duration"}, {"Pointer"}]


def _comparison(symbol: str, equality: bool) -> Callable:
    def typer(types: list[DType], _params: tuple) -> DType:
        a, b = types
        ok = a.is_any or b.is_any or "None" in (a.name, b.name) and equality or \
            any(a.name in group and b.name in group for group in _COMPARABLE) or \
            (equality and a.name == b.name)
        if not ok:
            raise TypeError(f"cannot compare {a} {symbol} {b}")
        return dt.BOOL.with_optional(_optional(types) and "None" not in (a.name, b.name))
    return typer


register("eq", _comparison("==", True), lambda a, p: _equal(a, True))
register("ne", _comparison("!=", True), lambda a, p: _equal(a, False))
register("lt", _comparison("<", False), lambda a, p: pc.less(*a))
register("le", _comparison("<=", False), lambda a, p: pc.less_equal(*a))
register("gt", _comparison(">", False), lambda a, p: pc.greater(*a))
register("ge", _comparison(">=", False), lambda a, p: pc.greater_equal(*a))


def _equal(args: list[Value], equal: bool) -> Value:
    """Equality where comparing with None means ``is None`` (Pathway's semantics)."""
    a, b = args
    for x, y in ((a, b), (b, a)):
        if isinstance(y, pa.Scalar) and not y.is_valid:
            result = pc.is_null(x)
            return result if equal else pc.invert(result)
    return pc.equal(a, b) if equal else pc.not_equal(a, b)


def _logic(symbol: str) -> Callable:
    def typer(types: list[DType], _params: tuple) -> DType:
        if all(t.name == "bool" or t.is_any for t in types):
            return dt.BOOL.with_optional(_optional(types))
        raise TypeError(f"cannot apply {symbol} to {_names(types)}: booleans expected "
                        "(use &, |, ~ instead of and, or, not)")
    return typer


register("and", _logic("&"), lambda a, p: pc.and_kleene(*a))
register("or", _logic("|"), lambda a, p: pc.or_kleene(*a))
register("xor", _logic("^"), lambda a, p: pc.xor(*a))
register("not", _logic("~"), lambda a, p: pc.invert(a[0]))

# ---- None handling, conditionals, casts -------------------------------------

register("is_none", lambda t, p: dt.BOOL, lambda a, p: pc.is_null(a[0]))
register("is_not_none", lambda t, p: dt.BOOL, lambda a, p: pc.is_valid(a[0]))


def _if_else_typer(types: list[DType], _params: tuple) -> DType:
    cond, a, b = types
    if cond.name != "bool" and not cond.is_any:
        raise TypeError(f"if_else condition must be bool, got {cond}")
    result = dt.unify(a, b)
    if result is None:
        raise TypeError(f"if_else branches have different types: {a} and {b}")
    return result


def _if_else(args: list[Value], _params: tuple) -> Value:
    cond, a, b = args
    cond = pc.fill_null(cond, False) if isinstance(cond, pa.Array) else cond
    return pc.if_else(cond, *_common([a, b]))


def _coalesce_typer(types: list[DType], _params: tuple) -> DType:
    result = types[0]
    for t in types[1:]:
        unified = dt.unify(result, t)
        if unified is None:
            raise TypeError(f"coalesce arguments have different types: {_names(types)}")
        result = unified
    return result.with_optional(all(t.optional for t in types))


def _common(values: list[Value]) -> list[Value]:
    """Casts values to one Arrow type (int and float mix to float; nulls take the other)."""
    types = {v.type for v in values if not pa.types.is_null(v.type)}
    if len(types) <= 1:
        target = next(iter(types), pa.null())
        return [pc.cast(v, target) if pa.types.is_null(v.type) and target != pa.null() else v
                for v in values]
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        return [pc.cast(v, pa.float64()) for v in values]
    return values


register("if_else", _if_else_typer, _if_else)
register("coalesce", _coalesce_typer, lambda a, p: pc.coalesce(*_common(a)))


def _cast_typer(types: list[DType], params: tuple) -> DType:
    target: DType = params[0]
    return target.with_optional(types[0].optional or target.optional)


def _cast(args: list[Value], params: tuple) -> Value:
    """Python's conversions: ``int(10.9) == 10``, ``str(True) == "True"``, ``bool("x")``."""
    target: DType = params[0]
    value = args[0]
    source = value.type
    if target.name == "int" and pa.types.is_floating(source):
        return pc.cast(pc.trunc(value), pa.int64())
    if target.name == "str" and (pa.types.is_floating(source) or pa.types.is_boolean(source)):
        return pa.array([None if v is None else str(v) for v in value.to_pylist()], pa.string())
    if target.name == "bool" and pa.types.is_string(source):
        return pc.greater(pc.utf8_length(value), 0)
    if target.name == "int" and pa.types.is_string(source):
        return pc.cast(pc.utf8_trim_whitespace(value), pa.int64())
    return pc.cast(value, target.arrow)


register("cast", _cast_typer, _cast)
def _to_string(args: list[Value], _params: tuple) -> Value:
    """``str(value)`` per row, as Python prints it (``None`` gives ``"None"``)."""
    value = args[0]
    if pa.types.is_string(value.type) and not value.null_count:
        return value
    if pa.types.is_integer(value.type) and not value.null_count:
        return pc.cast(value, pa.string())
    if pa.types.is_timestamp(value.type):  # as Pathway prints them: ISO, nanoseconds
        fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if value.type.tz else "")
        text = pc.strftime(value.cast(pa.timestamp("ns", tz=value.type.tz)), format=fmt)
        return pc.fill_null(text, "None")
    return pa.array([str(v) for v in value.to_pylist()], pa.string())


register("to_string", lambda t, p: dt.STR, _to_string)


def fill_to_length(value: Value, n: int, dtype: DType) -> pa.Array:
    """Turns a kernel result into an array of ``n`` values of ``dtype``'s Arrow type."""
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Scalar):
        target = dtype.arrow if not dtype.is_any else value.type
        if not value.is_valid:
            return pa.nulls(n, target)
        return pa.nulls(n, target).fill_null(value.cast(target))
    if not dtype.is_any and value.type != dtype.arrow:
        return pc.cast(value, dtype.arrow)
    return value


def scalar_of(value: Any, dtype: DType) -> pa.Scalar:
    """An Arrow scalar for a Python constant."""
    if value is None:
        return pa.scalar(None, pa.null())
    return pa.scalar(value, dtype.arrow if not dtype.is_any else None)
