"""Python functions on columns: ``pw.apply``, ``pw.apply_with_type``, ``@pw.udf``.

The function runs once per row (it is the user's Python), but a whole batch is
handled in one call of :meth:`Apply.evaluate`: columns are converted to Python
lists once, results back to one Arrow array.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from typing_extensions import override

from raystream import dtypes as dt
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, api_error
from raystream.expressions import ColumnExpression, Resolver, wrap
from raystream.ops import Value


class UdfError(RuntimeError):
    """A user function raised; the message names the function and its arguments."""


class Apply(ColumnExpression):
    """A Python function applied to the values of its argument expressions."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, return_type: DType,
                 propagate_none: bool = False) -> None:
        self.fn = fn
        self.args = [wrap(a) for a in args]
        self.kwargs = {k: wrap(v) for k, v in kwargs.items()}
        self.return_type = return_type
        self.propagate_none = propagate_none
        self.dtype = return_type

    @override
    def children(self) -> list[ColumnExpression]:
        return [*self.args, *self.kwargs.values()]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        resolved = Apply(self.fn, tuple(a.resolve(resolver) for a in self.args),
                         {k: v.resolve(resolver) for k, v in self.kwargs.items()},
                         self.return_type, self.propagate_none)
        if self.propagate_none and any(a.dtype.optional for a in resolved.children()):
            resolved.dtype = self.return_type.with_optional()
        return resolved

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        n = batch.num_rows
        columns = [_as_list(a.evaluate(batch), n) for a in self.args]
        names = list(self.kwargs)
        kw_columns = [_as_list(v.evaluate(batch), n) for v in self.kwargs.values()]
        results: list[Any] = []
        for i in range(n):
            args = [c[i] for c in columns]
            kwargs = {k: c[i] for k, c in zip(names, kw_columns, strict=False)}
            if self.propagate_none and (None in args or None in kwargs.values()):
                results.append(None)
                continue
            try:
                results.append(self.fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - reported with the row's values
                name = getattr(self.fn, "__name__", repr(self.fn))
                raise UdfError(f"{name}{tuple(args)} raised {type(exc).__name__}: {exc}") \
                    from exc
        return _to_arrow(results, self.dtype)


def _as_list(value: Value, n: int) -> list:
    if isinstance(value, pa.Scalar):
        return [value.as_py()] * n
    return value.to_pylist()


def _to_arrow(results: list, dtype: DType) -> pa.Array:
    if dtype.is_json:
        import json
        return pa.array([None if r is None else json.dumps(getattr(r, "value", r))
                         for r in results], pa.string())
    if dtype.is_any:
        return pa.array(results)
    return pa.array(results, dtype.arrow)


def _return_type(fn: Callable) -> DType:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable hints mean "unknown"
        hints = {}
    hint = hints.get("return", inspect.Signature.empty)
    if hint is inspect.Signature.empty:
        return dt.ANY
    try:
        return dt.dtype_of(hint)
    except TypeError:
        return dt.ANY


def apply(fn: Callable, *args: Any, **kwargs: Any) -> ColumnExpression:
    """Applies ``fn`` to each row's values (``pw.apply``); type from its annotation."""
    return Apply(fn, args, kwargs, _return_type(fn))


def apply_with_type(fn: Callable, ret_type: Any, *args: Any, **kwargs: Any) -> ColumnExpression:
    """Like :func:`apply` with an explicit result type (``pw.apply_with_type``)."""
    try:
        return Apply(fn, args, kwargs, dt.dtype_of(ret_type))
    except TypeError as exc:
        raise api_error(ApiTypeError, str(exc)) from None


def udf(fn: Callable | None = None, *, return_type: Any = None, propagate_none: bool = False,
        deterministic: bool = False, **_ignored: Any) -> Any:
    """Turns a Python function into a column function (``@pw.udf``).

    Example:
        >>> @udf
        ... def double(x: int) -> int:
        ...     return 2 * x
    """
    def wrap_fn(f: Callable) -> Callable[..., ColumnExpression]:
        result = dt.dtype_of(return_type) if return_type is not None else _return_type(f)

        @functools.wraps(f)
        def build(*args: Any, **kwargs: Any) -> ColumnExpression:
            return Apply(f, args, kwargs, result, propagate_none)
        build.__wrapped__ = f  # type: ignore[attr-defined]
        return build

    return wrap_fn(fn) if fn is not None else wrap_fn
