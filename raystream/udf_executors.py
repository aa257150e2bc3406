"""How UDFs run: one row after another, or concurrently (``pw.udfs.*_executor``).

``async_executor`` runs the rows of a batch concurrently (``capacity`` at a
time), each call within ``timeout`` seconds, retried by ``retry_strategy``.
``fully_async_executor`` computes the same way; its column type is
``Future[T]`` until ``Table.await_futures()`` (as in Pathway, but values are
ready when the batch is). Caches are accepted and not used yet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

Call = tuple[list[Any], dict[str, Any]] | None


def run_coroutine(coroutine: Coroutine) -> Any:
    """Runs a coroutine to its end from synchronous code (in a thread if a loop is running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass(frozen=True)
class NoRetryStrategy:
    """Calls once."""

    async def invoke(self, call: Callable[[], Coroutine]) -> Any:
        """Runs the call."""
        return await call()


@dataclass(frozen=True)
class FixedDelayRetryStrategy:
    """Retries up to ``max_retries`` times, ``delay_ms`` apart."""

    max_retries: int = 3
    delay_ms: int = 1000

    async def invoke(self, call: Callable[[], Coroutine]) -> Any:
        """Runs the call, retrying on exceptions."""
        for attempt in range(self.max_retries + 1):
            try:
                return await call()
            except Exception:
                if attempt == self.max_retries:
                    raise
                await asyncio.sleep(self._delay(attempt) / 1000)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int) -> float:
        return self.delay_ms


@dataclass(frozen=True)
class ExponentialBackoffRetryStrategy(FixedDelayRetryStrategy):
    """Retries with delays ``initial_delay * backoff_factor ** attempt`` milliseconds."""

    initial_delay: int = 1000
    backoff_factor: float = 2
    jitter_ms: int = 300

    def _delay(self, attempt: int) -> float:
        return self.initial_delay * self.backoff_factor ** attempt


@dataclass(frozen=True)
class CacheStrategy:
    """Base of UDF result caches."""


@dataclass(frozen=True)
class InMemoryCache(CacheStrategy):
    """Caches a UDF's results by its arguments, in the memory of each process running it.

    One cache per strategy object: a UDF used in several places (or several
    runs in one process) calls its function once per distinct arguments.

    Attributes:
        max_size: Most results kept (least recently used go first); None: no limit.
    """

    max_size: int | None = None
    _store: OrderedDict = field(default_factory=OrderedDict, compare=False, repr=False)

    def get(self, key: bytes) -> tuple[bool, Any]:
        """``(True, result)`` if the arguments ``key`` are cached, else ``(False, None)``."""
        if key not in self._store:
            return False, None
        self._store.move_to_end(key)
        return True, self._store[key]

    def put(self, key: bytes, result: Any) -> None:
        """Remembers a result, forgetting the oldest beyond ``max_size``."""
        if self.max_size is not None and self.max_size <= 0:
            return
        self._store[key] = result
        self._store.move_to_end(key)
        if self.max_size is not None and len(self._store) > self.max_size:
            self._store.popitem(last=False)

    def __getstate__(self) -> dict:
        """Pickled (sent to an actor) without the results: each process has its own."""
        return {"max_size": self.max_size}

    def __setstate__(self, state: dict) -> None:
        """An empty cache with the same limit."""
        object.__setattr__(self, "max_size", state["max_size"])
        object.__setattr__(self, "_store", OrderedDict())


@dataclass(frozen=True)
class DiskCache(CacheStrategy):
    """An on-disk UDF cache (accepted; raystream does not cache on disk: no effect)."""

    name: str | None = None


@dataclass(frozen=True)
class Executor:
    """Runs a UDF over the calls of a batch; ``None`` calls give ``None``."""

    batch_size: int | None = None

    def batched(self, size: int) -> Executor:
        """The same executor, calling the function with lists of ``size`` rows."""
        return dataclasses.replace(self, batch_size=size)

    def run(self, fn: Callable, calls: list[Call], max_batch_size: int | None = None) -> list:
        """Returns one result per call."""
        raise NotImplementedError

    def _groups(self, calls: list[Call]) -> list[list[int]]:
        rows = [i for i, c in enumerate(calls) if c is not None]
        size = self.batch_size or 1
        return [rows[i:i + size] for i in range(0, len(rows), size)]

    def _batch_args(self, fn: Callable, calls: list[Call], rows: list[int]) -> tuple:
        first = calls[rows[0]]
        assert first is not None
        args = [[calls[r][0][j] for r in rows] for j in range(len(first[0]))]  # type: ignore[index]
        kwargs = {k: [calls[r][1][k] for r in rows] for k in first[1]}  # type: ignore[index]
        return args, kwargs

    def _place(self, out: list, rows: list[int], values: Any) -> None:
        if self.batch_size is None:
            out[rows[0]] = values
            return
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__") \
                or len(values) != len(rows):
            got = len(values) if hasattr(values, "__len__") else type(values).__name__
            raise ValueError(f"The number of rows produced by a UDF ({got}) is different than the "
                             f"number of rows on its input ({len(rows)}).")
        for row, value in zip(rows, list(values), strict=True):
            out[row] = value.item() if hasattr(value, "item") and not hasattr(value, "shape") \
                or getattr(value, "shape", None) == () else value

    def _invoke_args(self, fn: Callable, calls: list[Call], rows: list[int]) -> tuple:
        if self.batch_size is None:
            call = calls[rows[0]]
            assert call is not None
            return call
        return self._batch_args(fn, calls, rows)


@dataclass(frozen=True)
class SyncExecutor(Executor):
    """Calls the function for one row (or batch) after another."""

    def run(self, fn: Callable, calls: list[Call], max_batch_size: int | None = None) -> list:
        """Returns one result per call."""
        out: list[Any] = [None] * len(calls)
        for rows in self._groups(calls):
            args, kwargs = self._invoke_args(fn, calls, rows)
            try:
                value = fn(*args, **kwargs)
                if inspect.iscoroutine(value):
                    value = run_coroutine(value)
            except Exception as exc:
                name = getattr(fn, "__name__", repr(fn))
                exc.add_note(f"{name}{tuple(args)} raised {type(exc).__name__}: {exc}")
                raise
            self._place(out, rows, value)
        return out


@dataclass(frozen=True)
class AsyncExecutor(Executor):
    """Calls the function for the rows (or batches) of a batch concurrently."""

    capacity: int | None = None
    timeout: float | None = None
    retry_strategy: Any = None

    def run(self, fn: Callable, calls: list[Call], max_batch_size: int | None = None) -> list:
        """Returns one result per call."""
        return run_coroutine(self._run(fn, calls))

    async def _run(self, fn: Callable, calls: list[Call]) -> list:
        out: list[Any] = [None] * len(calls)
        limit = asyncio.Semaphore(self.capacity) if self.capacity else None
        strategy = self.retry_strategy or NoRetryStrategy()

        async def one(rows: list[int]) -> None:
            args, kwargs = self._invoke_args(fn, calls, rows)

            async def attempt() -> Any:
                if inspect.iscoroutinefunction(fn):
                    coro = fn(*args, **kwargs)
                else:
                    coro = asyncio.to_thread(fn, *args, **kwargs)
                return await asyncio.wait_for(coro, self.timeout) if self.timeout else await coro

            if limit is None:
                value = await strategy.invoke(attempt)
            else:
                async with limit:
                    value = await strategy.invoke(attempt)
            self._place(out, rows, value)

        await asyncio.gather(*(one(rows) for rows in self._groups(calls)))
        return out


@dataclass(frozen=True)
class FullyAsyncExecutor(AsyncExecutor):
    """As :class:`AsyncExecutor`; the column is typed ``Future[T]`` until awaited."""

    autocommit_duration_ms: int | None = None


def sync_executor() -> Executor:
    """Rows one after another (``pw.udfs.sync_executor``)."""
    return SyncExecutor()


def async_executor(*, capacity: int | None = None, timeout: float | None = None,
                   retry_strategy: Any = None) -> Executor:
    """Rows of a batch concurrently (``pw.udfs.async_executor``)."""
    return AsyncExecutor(capacity=capacity, timeout=timeout, retry_strategy=retry_strategy)


def fully_async_executor(*, capacity: int | None = None, timeout: float | None = None,
                         retry_strategy: Any = None,
                         autocommit_duration_ms: int | None = 1500) -> Executor:
    """Like :func:`async_executor`, with ``Future[T]`` columns (Pathway's name)."""
    return FullyAsyncExecutor(capacity=capacity, timeout=timeout,
                              retry_strategy=retry_strategy,
                              autocommit_duration_ms=autocommit_duration_ms)


def auto_executor() -> Executor:
    """Chosen per function: async functions run concurrently."""
    return SyncExecutor()


def async_options(capacity: int | None = None, timeout: float | None = None,
                  retry_strategy: Any = None, cache_strategy: Any = None) -> Callable:
    """A decorator giving an async function these options (``pw.udfs.async_options``)."""
    def decorate(fn: Callable) -> Callable:
        fn.__raystream_executor__ = async_executor(  # type: ignore[attr-defined]
            capacity=capacity, timeout=timeout, retry_strategy=retry_strategy)
        return fn
    return decorate
