"""UDFs as Pathway runs them: executors, batches, UDF classes, Futures."""

from __future__ import annotations

import asyncio
import threading

import pytest

import raystream as pw

T = """
a
1
2
3
"""


def results(table: pw.Table) -> list:
    return sorted(row[0] for row in pw.debug.compute_tables(table)[0].values())


def test_async_udfs_run_the_rows_of_a_batch_concurrently() -> None:
    barrier = asyncio.Barrier(3)  # three rows wait for each other: only concurrent runs pass

    @pw.udf(executor=pw.udfs.async_executor(capacity=3))
    async def inc(a: int) -> int:
        await barrier.wait()
        return a + 1

    t = pw.debug.table_from_markdown(T)
    assert results(t.select(r=inc(t.a))) == [2, 3, 4]


def test_sync_udfs_run_one_row_after_another() -> None:
    barrier = threading.Barrier(2, timeout=0.2)

    @pw.udf
    def wait(a: int) -> int:
        barrier.wait()
        return a

    t = pw.debug.table_from_markdown(T)
    t.select(r=wait(t.a))
    with pytest.raises(threading.BrokenBarrierError):  # a batch computation stops on errors
        pw.run_all()


def test_batch_udfs_udf_classes_and_options() -> None:
    @pw.udf(max_batch_size=2)
    def double(a: list[int]) -> list[int]:
        assert len(a) <= 2
        return [2 * x for x in a]

    class Add(pw.UDF):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        def __wrapped__(self, a: int) -> int:
            return a + self.n

    @pw.udf(propagate_none=True)
    def neg(a: int) -> int:
        return -a

    async def slow(a: int) -> int:
        await asyncio.sleep(0.01)
        return a * 3

    t = pw.debug.table_from_markdown("a\n1\n2\n3")
    out = t.select(t.a, d=double(t.a), p=Add(10)(t.a), s=pw.apply_async(slow, t.a))
    maybe = pw.debug.table_from_markdown("a\n1\nNone")
    negated = maybe.select(maybe.a, n=neg(maybe.a))
    got = pw.debug.compute_tables(out, negated)
    assert sorted(got[0].values()) == [(a, 2 * a, a + 10, 3 * a) for a in (1, 2, 3)]
    assert sorted(got[1].values(), key=str) == sorted([(1, -1), (None, None)], key=str)
    assert out.typehints()["d"] == pw.dtypes.INT
    assert negated.typehints()["n"] == pw.dtypes.INT.with_optional()
    with pytest.raises(ValueError, match="Batching is not supported"):
        pw.udf(max_batch_size=2, executor=pw.udfs.fully_async_executor())(slow)


def test_fully_async_columns_are_futures_until_awaited() -> None:
    @pw.udf(executor=pw.udfs.fully_async_executor())
    async def inc(a: int) -> int:
        return a + 1

    t = pw.debug.table_from_markdown(T)
    future = t.select(r=inc(t.a))
    with pytest.raises(TypeError, match="Future"):
        future.select(x=future.r + 1)
    assert results(future.await_futures().select(x=pw.this.r + 1)) == [3, 4, 5]


def test_udf_timeouts_and_retries() -> None:
    calls = {"n": 0}

    @pw.udf(executor=pw.udfs.async_executor(
        retry_strategy=pw.udfs.FixedDelayRetryStrategy(max_retries=2, delay_ms=1)))
    async def flaky(a: int) -> int:
        calls["n"] += 1
        if calls["n"] % 2:
            raise RuntimeError("try again")
        return a

    t = pw.debug.table_from_markdown("a\n5")
    assert results(t.select(r=flaky(t.a))) == [5] and calls["n"] == 2

    @pw.udf(executor=pw.udfs.async_executor(timeout=0.01))
    async def stuck(a: int) -> int:
        await asyncio.sleep(1)
        return a

    t.select(r=stuck(t.a))
    with pytest.raises(TimeoutError):
        pw.run_all()
