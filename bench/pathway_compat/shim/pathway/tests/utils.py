"""Pathway's test helpers (``pathway/tests/utils.py``) on raystream's public API only.

Same semantics as Pathway's: ``assert_table_equality`` compares row ids, values,
column names and column types; ``_wo_index`` compares multisets of rows;
``_wo_types`` skips the type check; ``assert_stream_equality`` compares every
change (id, values, time, diff). Tables are computed with
``pw.debug.compute_tables`` (streams with ``pw.io.subscribe`` and ``pw.run``),
keyword arguments (``terminate_on_error=False``...) go to that run.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import pathway as pw

Tables = pw.Table | tuple[pw.Table, ...]

mp_fork = multiprocessing.get_context("fork") if sys.platform != "win32" else None
needs_multiprocessing_fork = pytest.mark.xfail(sys.platform != "linux",
                                               reason="multiprocessing needs fork()")
xfail_on_multiple_threads = pytest.mark.xfail(os.getenv("PATHWAY_THREADS", "1") != "1",
                                              reason="multiple threads")
only_standard_build = pytest.mark.xfail(False, reason="only works on standard build")


def T(*args: Any, format: str = "markdown", _stacklevel: int = 1,  # noqa: A002, N802
      **kwargs: Any) -> pw.Table:
    """A table from markdown (``pw.debug.table_from_markdown``) or from pandas."""
    if format == "pandas":
        return pw.debug.table_from_pandas(*args, **kwargs)
    assert format == "markdown"
    return pw.debug.table_from_markdown(*args, **kwargs)


def make_value_hashable(value: Any) -> Hashable:
    """A value as a dict key/Counter item (numpy arrays and Json by their text)."""
    if isinstance(value, np.ndarray):
        return (type(value), value.dtype, value.shape, str(value))
    if isinstance(value, pw.Json):
        return (type(value), repr(value))
    if isinstance(value, list | dict):  # unhashable: tagged, so that a list never equals a tuple
        items = value.items() if isinstance(value, dict) else value
        return (type(value), tuple(make_value_hashable(v) for v in items))
    return value


def make_row_hashable(row: Iterable[Any]) -> tuple:
    """A row of hashable values."""
    return tuple(make_value_hashable(v) for v in row)


def _as_tuple(tables: Tables) -> tuple[pw.Table, ...]:
    return (tables,) if isinstance(tables, pw.Table) else tuple(tables)


def _check_schemas(table: pw.Table, expected: pw.Table, check_types: bool) -> None:
    """Raises as Pathway does when column types (if checked) or column names differ."""
    if check_types and table.schema.typehints() != expected.schema.typehints():
        raise RuntimeError(f"Output schema validation error, table {table.schema.typehints()} "
                           f"vs expected {expected.schema.typehints()}")
    if list(table.column_names()) != list(expected.column_names()):
        raise RuntimeError(f"Mismatched column names, {list(table.column_names())} vs "
                           f"{list(expected.column_names())}")


def _table_checker(compare: Callable[[dict, dict], None], check_types: bool = True) -> Callable:
    """An ``assert_table_equality*`` helper comparing final states with ``compare``."""

    def check(table: Tables, expected: Tables, **kwargs: Any) -> None:
        tables, expecteds = _as_tuple(table), _as_tuple(expected)
        for t, ex in zip(tables, expecteds, strict=True):
            _check_schemas(t, ex, check_types)
        states = pw.debug.compute_tables(*tables, *expecteds, **kwargs)
        n = len(expecteds)
        for got, want in zip(states[:n], states[n:], strict=True):
            compare(got, want)

    return check


def _difference(got: collections.Counter, want: collections.Counter) -> str:
    """``unexpected [...], missing [...]`` (a few items of each)."""
    extra, missing = list((got - want).elements()), list((want - got).elements())
    return f"unexpected {extra[:5]!r} ({len(extra)}), missing {missing[:5]!r} ({len(missing)})"


def _with_ids(got: dict, want: dict) -> None:
    got_rows = collections.Counter((k, *make_row_hashable(r)) for k, r in got.items())
    want_rows = collections.Counter((k, *make_row_hashable(r)) for k, r in want.items())
    assert got_rows == want_rows, f"tables differ (id, *values): {_difference(got_rows, want_rows)}"


def _without_ids(got: dict, want: dict) -> None:
    got_rows = collections.Counter(make_row_hashable(r) for r in got.values())
    want_rows = collections.Counter(make_row_hashable(r) for r in want.values())
    assert got_rows == want_rows, f"tables differ (rows): {_difference(got_rows, want_rows)}"


class _StreamCapture:
    """An ``on_change`` callback collecting ``(id?, *values, time, diff)`` of every change."""

    def __init__(self, table: pw.Table, with_ids: bool) -> None:
        self.names = table.column_names()
        self.with_ids = with_ids
        self.changes: list[tuple] = []

    def __call__(self, key: Any, row: dict, time: int, is_addition: bool) -> None:
        values = make_row_hashable(row[n] for n in self.names)
        key_part = (key,) if self.with_ids else ()
        self.changes.append((*key_part, *values, time, 1 if is_addition else -1))


def _stream_checker(with_ids: bool, check_types: bool = True) -> Callable:
    """An ``assert_stream_equality*`` helper comparing every (id, values, time, diff)."""

    def check(table: Tables, expected: Tables, **kwargs: Any) -> None:
        tables, expecteds = _as_tuple(table), _as_tuple(expected)
        for t, ex in zip(tables, expecteds, strict=True):
            _check_schemas(t, ex, check_types)
        captures = [_StreamCapture(t, with_ids) for t in (*tables, *expecteds)]
        for t, capture in zip((*tables, *expecteds), captures, strict=True):
            pw.io.subscribe(t, capture)
        run(**kwargs)
        n = len(expecteds)
        for got, want in zip(captures[:n], captures[n:], strict=True):
            got_changes = collections.Counter(got.changes)
            want_changes = collections.Counter(want.changes)
            assert got_changes == want_changes, \
                f"streams differ: {_difference(got_changes, want_changes)}"

    return check


assert_table_equality = _table_checker(_with_ids)
assert_table_equality_wo_index = _table_checker(_without_ids)
assert_table_equality_wo_types = _table_checker(_with_ids, check_types=False)
assert_table_equality_wo_index_types = _table_checker(_without_ids, check_types=False)
assert_stream_equality = _stream_checker(with_ids=True)
assert_stream_equality_wo_index = _stream_checker(with_ids=False)
assert_stream_equality_wo_types = _stream_checker(with_ids=True, check_types=False)
assert_stream_equality_wo_index_types = _stream_checker(with_ids=False, check_types=False)


def run(**kwargs: Any) -> None:
    """``pw.run`` without the status line."""
    kwargs.setdefault("monitoring_level", pw.MonitoringLevel.NONE)
    pw.run(**kwargs)


def run_all(**kwargs: Any) -> None:
    """``pw.run_all`` without the status line."""
    kwargs.setdefault("monitoring_level", pw.MonitoringLevel.NONE)
    pw.run_all(**kwargs)


@dataclass(order=True)
class DiffEntry:
    """One expected change of a stream: the row ``key`` added or removed, in ``order``."""

    key: Any
    order: int
    insertion: bool
    row: dict[str, Any]

    @staticmethod
    def create(pk_table: pw.Table, pk_columns: dict[str, Any], order: int, insertion: bool,
               row: dict[str, Any]) -> DiffEntry:
        """An entry whose key is ``pw.ref_scalar`` of the primary key values."""
        return DiffEntry(pw.ref_scalar(*pk_columns.values()), order, insertion, row)


def assert_key_entries_in_stream_consistent(expected: list[DiffEntry], table: pw.Table) -> None:
    """Subscribes to ``table``: each key's changes must be a subsequence of ``expected``'s."""
    state: dict[Any, collections.deque] = collections.defaultdict(collections.deque)
    for entry in sorted(expected):
        state[entry.key].append(entry)

    def on_change(key: Any, row: dict, time: int, is_addition: bool) -> None:
        queue = state.get(key)
        assert queue, f"unexpected entry {key=} {row=} {time=} {is_addition=}"
        while True:
            entry = queue.popleft()
            if (is_addition, row) == (entry.insertion, entry.row):
                if not queue:
                    state.pop(key)
                return
            assert queue, f"no expected entry left for {key=}: {row=} {is_addition=}"

    def on_end() -> None:
        assert not state, f"non-empty final state {dict(state)!r}"

    pw.io.subscribe(table, on_change, on_end)


def wait_result_with_checker(checker: Callable[[], bool], timeout_sec: float, *,
                             step: float = 0.1, target: Callable[..., None] | None = run,
                             args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None,
                             **_ignored: Any) -> None:
    """Runs ``target`` in a forked process until ``checker()`` is true (or fails after timeout)."""
    process = None
    if target is not None:
        assert mp_fork is not None
        process = mp_fork.Process(target=target, args=tuple(args), kwargs=dict(kwargs or {}))
        process.start()
    try:
        deadline = time.monotonic() + timeout_sec
        while time.monotonic() < deadline:
            time.sleep(step)
            if checker():
                return
            if process is not None and not process.is_alive():
                assert process.exitcode == 0, f"target exited with {process.exitcode}"
                if checker():
                    return
                break
        raise AssertionError("checker failed")
    finally:
        if process is not None and process.is_alive():
            process.terminate()
            process.join(30)


@contextlib.contextmanager
def warns_here(expected_warning: type[Warning] | tuple[type[Warning], ...] = Warning, *,
               match: str | re.Pattern[str] | None = None) -> Iterator[Any]:
    """``pytest.warns`` that also needs a matching warning raised from the caller's lines."""
    frame = sys._getframe(2)
    code, first_line = frame.f_code, frame.f_lineno
    del frame
    lines = {line for (_start, _end, line) in code.co_lines() if line is not None}
    with pytest.warns(expected_warning, match=match) as record:
        yield record

    def matches(warning: Any) -> bool:
        return (isinstance(warning.message, expected_warning)
                and (match is None or re.search(match, str(warning.message)) is not None)
                and warning.filename == code.co_filename
                and warning.lineno >= first_line and warning.lineno in lines)

    if not any(matches(w) for w in record):
        raise AssertionError("No matched warning caused by expected source line.\nAll warnings:\n"
                             + "\n".join(f"  {w}" for w in record))


def deprecated_call_here(*, match: str | re.Pattern[str] | None = None
                         ) -> contextlib.AbstractContextManager[Any]:
    """``warns_here`` for DeprecationWarning and PendingDeprecationWarning."""
    return warns_here((DeprecationWarning, PendingDeprecationWarning), match=match)
