"""``pw.run_all()`` evaluates every table; batch (static) computations fail loudly."""

from __future__ import annotations

import pytest

import raystream as pw


def test_run_all_computes_tables_without_outputs() -> None:
    seen = []

    @pw.udf
    def record(a: int) -> int:
        seen.append(a)
        return a

    t = pw.debug.table_from_markdown("a\n1\n2")
    t.select(r=record(t.a))  # no output: pw.run() would have nothing to run
    pw.run_all()
    assert sorted(seen) == [1, 2]


def test_errors_surface_for_every_table_with_the_users_exception() -> None:
    t = pw.debug.table_from_markdown("a | b\n1 | 0")
    t.select(q=t.a // t.b)
    with pytest.raises(ZeroDivisionError) as info:
        pw.run_all()
    assert any("test_compat_run_all.py" in note for note in info.value.__notes__)


def test_unwrap_of_none_fails_the_run() -> None:
    t = pw.debug.table_from_markdown("a\n1\nNone")
    t.select(u=pw.unwrap(t.a))
    with pytest.raises(ValueError):
        pw.run_all()


def test_empty_tables_and_error_log_of_static_runs() -> None:
    empty = pw.Table.empty(a=int, b=str)
    assert empty.typehints() == {"a": pw.dtypes.INT, "b": pw.dtypes.STR}
    assert pw.debug.compute_tables(empty) == [{}]
    t = pw.debug.table_from_markdown("a | b\n1 | 0\n4 | 2")
    kept = t.select(q=t.a // t.b)
    log = pw.global_error_log()
    rows, errors = pw.debug.compute_tables(kept, log, terminate_on_error=False)
    assert sorted(rows.values(), key=str) == [(2,), (pw.errors.ERROR,)]  # the cell is an error
    (error,) = errors.values()
    source, _position, reason, _raw = error
    assert source.startswith("map at ") and "test_compat_run_all.py" in source
    assert reason.startswith("ZeroDivisionError")
