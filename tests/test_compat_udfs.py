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


@pytest.mark.parametrize("is_async", [False, True])
def test_in_memory_cache_calls_once_per_distinct_arguments_across_places_and_runs(
        is_async: bool) -> None:
    calls: list[int] = []
    cache = pw.udfs.InMemoryCache()
    if is_async:
        @pw.udf(cache_strategy=cache)
        async def inc(a: int) -> int:
            calls.append(a)
            return a + 1
    else:
        @pw.udf(cache_strategy=cache)
        def inc(a: int) -> int:
            calls.append(a)
            return a + 1
    t = pw.debug.table_from_markdown("a\n1\n2\n1\n2\n3")
    first, second = t.select(r=inc(pw.this.a)), t.select(r=inc(pw.this.a) * 10)
    rows = pw.debug.compute_tables(first, second)
    assert sorted(rows[0].values()) == [(2,), (2,), (3,), (3,), (4,)]
    assert sorted(rows[1].values()) == [(20,), (20,), (30,), (30,), (40,)]
    pw.debug.compute_tables(first)
    assert sorted(calls) == [1, 2, 3]


def test_an_in_memory_cache_of_size_zero_keeps_nothing() -> None:
    calls: list[int] = []

    @pw.udf(cache_strategy=pw.udfs.InMemoryCache(max_size=0))
    def inc(a: int) -> int:
        calls.append(a)
        return a + 1

    t = pw.debug.table_from_markdown("a | __time__\n1 | 2\n1 | 4\n1 | 6")
    assert sorted(pw.debug.compute_tables(t.select(r=inc(pw.this.a)))[0].values()) == [(2,)] * 3
    assert calls == [1, 1, 1]


def test_a_non_deterministic_udf_retracts_the_value_it_inserted() -> None:
    count = 0

    @pw.udf
    def numbered(a: int) -> int:
        nonlocal count
        count += 1
        return count

    t = pw.debug.table_from_markdown("""
          | a | __time__ | __diff__
        1 | 1 |     2    |     1
        2 | 2 |     4    |     1
        1 | 1 |     6    |    -1
        1 | 5 |     6    |     1
    """)
    seen: list[tuple] = []
    pw.io.subscribe(t.select(pw.this.a, n=numbered(pw.this.a)),
                    on_change=lambda key, row, time, is_addition: seen.append(
                        (time, row["a"], row["n"], is_addition)))
    pw.run()
    assert sorted(seen) == [(2, 1, 1, True), (4, 2, 2, True), (6, 1, 1, False), (6, 5, 3, True)]
    assert count == 3  # the retraction did not call the function
