"""Python functions on columns: ``pw.apply``, ``pw.apply_with_type``, ``@pw.udf``, ``pw.UDF``.

The function runs once per row (it is the user's Python), but a whole batch
is handled in one call of :meth:`Apply.evaluate`: columns become Python lists
once, results one Arrow array. ``async`` functions (and any function under an
async executor) run concurrently for the rows of a batch, ``capacity`` at a
time, each within ``timeout`` seconds and retried by the ``retry_strategy``.
Batch UDFs (``max_batch_size``) get lists of values and return a list.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import threading
import typing
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from typing_extensions import override

from raystream import dtypes as dt
from raystream.connectors.batch import DIFF, KEY
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, api_error, warn_at_user
from raystream.expressions import ColumnExpression, Resolver, wrap
from raystream.ops import Value
from raystream.udf_executors import (  # noqa: F401 - re-exported as pw.udfs.*
    AsyncExecutor,
    CacheStrategy,
    DiskCache,
    Executor,
    ExponentialBackoffRetryStrategy,
    FixedDelayRetryStrategy,
    FullyAsyncExecutor,
    InMemoryCache,
    NoRetryStrategy,
    SyncExecutor,
    async_executor,
    async_options,
    auto_executor,
    fully_async_executor,
    sync_executor,
)


class Apply(ColumnExpression):
    """A Python function applied to the values of its argument expressions.

    Attributes:
        cache: An :class:`InMemoryCache` of results by arguments, or None.
        deterministic: False for a ``@pw.udf`` that may return other results for
            the same arguments: where its input has retractions, the result of
            each row is kept until the row is retracted, so that the
            retraction carries the value that was inserted (as in Pathway).
        remembered: Those kept results by row key (None: not kept; the
            planner turns it on for inputs that are not append-only).
    """

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, return_type: DType,
                 propagate_none: bool = False, executor: Executor | None = None,
                 max_batch_size: int | None = None, cache: Any = None,
                 deterministic: bool = True) -> None:
        self.cache = cache if isinstance(cache, InMemoryCache) else None
        self.deterministic = deterministic
        self.remembered: dict[int, Any] | None = None
        self.fn = fn
        self.args = [wrap(a) for a in args]
        self.kwargs = {k: wrap(v) for k, v in kwargs.items()}
        self.return_type = return_type
        self.propagate_none = propagate_none
        self.executor = executor or auto_executor_for(fn)
        self.max_batch_size = max_batch_size
        if max_batch_size is not None and isinstance(executor, FullyAsyncExecutor):
            raise ValueError("Batching is not supported for fully asynchronous UDFs.")
        self.dtype = return_type

    @override
    def children(self) -> list[ColumnExpression]:
        return [*self.args, *self.kwargs.values()]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        resolved = Apply(self.fn, tuple(a.resolve(resolver) for a in self.args),
                         {k: v.resolve(resolver) for k, v in self.kwargs.items()},
                         self.return_type, self.propagate_none, self.executor,
                         self.max_batch_size, self.cache, self.deterministic)
        name = "apply" if isinstance(self.executor, SyncExecutor) else "apply_async"
        if not isinstance(self.executor, FullyAsyncExecutor):  # fully async UDFs chain
            try:
                dt.check_no_future([a.dtype for a in resolved.children()], name)
            except TypeError as exc:
                raise api_error(ApiTypeError, str(exc)) from None
        if self.propagate_none and any(a.dtype.optional for a in resolved.children()):
            resolved.dtype = resolved.dtype.with_optional()
        if isinstance(self.executor, FullyAsyncExecutor):
            resolved.dtype = dt.future_dtype(resolved.dtype)
        return resolved

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        n = batch.num_rows
        columns = [dt.to_python(a.column(batch), a.dtype) for a in self.args]
        names = list(self.kwargs)
        kw_columns = [dt.to_python(v.column(batch), v.dtype) for v in self.kwargs.values()]
        calls = []
        for i in range(n):
            args = [c[i] for c in columns]
            kwargs = {k: c[i] for k, c in zip(names, kw_columns, strict=True)}
            skip = self.propagate_none and (None in args or None in kwargs.values())
            calls.append(None if skip else (args, kwargs))
        results = self._results(batch, calls)
        target = dt.future_inner(self.dtype)
        return dt.to_arrow([_cast_result(r, target) for r in results], target)

    def _results(self, batch: pa.RecordBatch, calls: list) -> list:
        """Each call's result: kept for a retracted row, cached, or computed."""
        if self.remembered is None or KEY not in batch.schema.names:
            return self._computed(calls)
        keys = batch.column(KEY).to_pylist()
        diffs = batch.column(DIFF).to_pylist()
        results: list = [None] * len(calls)
        todo = []
        for i, (key, diff) in enumerate(zip(keys, diffs, strict=True)):
            if diff < 0 and key in self.remembered:
                results[i] = self.remembered.pop(key)
            else:
                todo.append(i)
        for i, result in zip(todo, self._computed([calls[i] for i in todo]), strict=True):
            results[i] = result
            if diffs[i] > 0:
                self.remembered[keys[i]] = result
        return results

    def _computed(self, calls: list) -> list:
        """Runs the function (once per distinct arguments, with a cache)."""
        if self.cache is None:
            return self.executor.run(self.fn, calls, self.max_batch_size)
        keys: list[bytes | None] = []
        results: list = [None] * len(calls)
        pending: dict[bytes, list[int]] = {}
        for i, call in enumerate(calls):
            key = _cache_key(call)
            hit, value = (False, None) if key is None else self.cache.get(key)
            keys.append(key)
            if hit:
                results[i] = value
            elif call is not None:
                pending.setdefault(key if key is not None else b"#%d" % i, []).append(i)
        firsts = [rows[0] for rows in pending.values()]
        computed = self.executor.run(self.fn, [calls[i] for i in firsts], self.max_batch_size)
        for rows, value in zip(pending.values(), computed, strict=True):
            for i in rows:
                results[i] = value
            key = keys[rows[0]]
            if key is not None:
                self.cache.put(key, value)
        return results


def _cache_key(call: Any) -> bytes | None:
    """The arguments of a call as a cache key (None: not picklable, or no call)."""
    if call is None:
        return None
    try:
        return pickle.dumps(call)
    except Exception:  # noqa: BLE001 - such arguments are not cached
        return None


def _cast_result(value: Any, dtype: DType) -> Any:
    if value is None:
        return None
    if dtype.name == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if dtype.name == "int" and isinstance(value, float) and value.is_integer():
        return value
    return value


def auto_executor_for(fn: Callable) -> Executor:
    """Async functions get an async executor, others run one row after another."""
    return AsyncExecutor() if inspect.iscoroutinefunction(fn) else SyncExecutor()


def _hint(fn: Callable) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable hints mean "unknown"
        hints = getattr(fn, "__annotations__", {})
    return hints.get("return", inspect.Signature.empty)


def _return_type(fn: Callable, batch: bool = False) -> DType:
    if isinstance(fn, type) and not batch:  # pw.apply(float, ...) gives floats
        try:
            return dt.dtype_of(fn)
        except TypeError:
            return dt.ANY
    hint = _hint(fn)
    if hint is inspect.Signature.empty:
        return dt.ANY
    if batch:
        origin = typing.get_origin(hint)
        if origin is not list and hint is not list:
            raise ValueError(f"A batch UDF has to return a list but is annotated as returning "
                             f"{hint!r}")
        args = typing.get_args(hint)
        hint = args[0] if args else Any
    try:
        return dt.dtype_of(hint)
    except TypeError:
        return dt.ANY


def _check_arity(fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise AssertionError(f"{getattr(fn, '__name__', fn)}: wrong arguments: {exc}") from None


def apply(fn: Callable, *args: Any, **kwargs: Any) -> ColumnExpression:
    """Applies ``fn`` to each row's values (``pw.apply``); type from its annotation."""
    _check_arity(fn, args, kwargs)
    return Apply(fn, args, kwargs, _return_type(fn))


def apply_with_type(fn: Callable, ret_type: Any, *args: Any, **kwargs: Any) -> ColumnExpression:
    """Like :func:`apply` with an explicit result type (``pw.apply_with_type``)."""
    _check_arity(fn, args, kwargs)
    try:
        return Apply(fn, args, kwargs, dt.dtype_of(ret_type))
    except TypeError as exc:
        raise api_error(ApiTypeError, str(exc)) from None


def apply_async(fn: Callable, *args: Any, **kwargs: Any) -> ColumnExpression:
    """Applies an async ``fn`` to each row, rows of a batch concurrently (``pw.apply_async``)."""
    return Apply(fn, args, kwargs, _return_type(fn), executor=AsyncExecutor())


class UDF:
    """A user-defined function (``pw.UDF``): subclass it and define ``__wrapped__``.

    Calling an instance on expressions builds a column expression. ``@pw.udf``
    turns a plain function into one.
    """

    def __init__(self, *, return_type: Any = None, deterministic: bool = False,
                 propagate_none: bool = False, executor: Executor | None = None,
                 cache_strategy: Any = None, max_batch_size: int | None = None) -> None:
        self.func: Callable = getattr(self, "__wrapped__", None)  # type: ignore[assignment]
        self._return_type = return_type
        self.deterministic = deterministic
        self.propagate_none = propagate_none
        self.executor = executor
        self.cache_strategy = cache_strategy
        self.max_batch_size = max_batch_size
        if max_batch_size is not None and isinstance(executor, FullyAsyncExecutor):
            raise ValueError("Batching is not supported for fully asynchronous UDFs.")

    def _check(self) -> None:
        batch = self.max_batch_size is not None
        self.dtype = _return_type(self.func, batch)
        if self._return_type is not None:
            declared = dt.dtype_of(self._return_type)
            hint = _hint(self.func)
            if hint is not inspect.Signature.empty and not batch:
                annotated = _return_type(self.func)
                if annotated.optional and not declared.optional:
                    warn_at_user(f"The value of return_type parameter ({self._return_type!r}) "
                                 f"is inconsistent with UDF's return type annotation "
                                 f"({hint}).")
            self.dtype = declared

    def __call__(self, *args: Any, **kwargs: Any) -> ColumnExpression:
        """The column expression applying this function to ``args``."""
        if self.func is None:
            self.func = self.__wrapped__  # type: ignore[attr-defined]
        self._check()
        executor = self.executor or auto_executor_for(self.func)
        if self.max_batch_size is not None:
            executor = executor.batched(self.max_batch_size)
        return Apply(self.func, args, kwargs, self.dtype, self.propagate_none, executor,
                     self.max_batch_size, self.cache_strategy, self.deterministic)


class _FunctionUDF(UDF):
    def __init__(self, fn: Callable, **options: Any) -> None:
        self.__wrapped__ = fn
        super().__init__(**options)
        self.__name__ = getattr(fn, "__name__", "udf")
        self.__doc__ = getattr(fn, "__doc__", None)


def udf(fn: Callable | None = None, /, *, return_type: Any = None, deterministic: bool = False,
        propagate_none: bool = False, executor: Executor | None = None,
        cache_strategy: Any = None, max_batch_size: int | None = None) -> Any:
    """Turns a Python function into a column function (``@pw.udf``).

    Example:
        >>> @udf
        ... def double(x: int) -> int:
        ...     return 2 * x
    """
    options = {"return_type": return_type, "deterministic": deterministic,
               "propagate_none": propagate_none, "executor": executor,
               "cache_strategy": cache_strategy, "max_batch_size": max_batch_size}

    def wrap_fn(f: Callable) -> UDF:
        return _FunctionUDF(f, **options)

    return wrap_fn(fn) if fn is not None else wrap_fn


__all__ = ["UDF", "Apply", "AsyncExecutor", "Executor", "SyncExecutor", "apply", "apply_async",
           "apply_with_type", "async_executor", "auto_executor", "fully_async_executor",
           "sync_executor", "udf"]
del threading, asyncio
