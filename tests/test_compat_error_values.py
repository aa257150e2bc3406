"""Error values in cells, operator by operator, as Pathway keeps them.

A cell whose expression fails holds an error value; its row goes on. Each case
was checked against Pathway 0.33 (``bench/.venv-pathway``) and is compared here
with a plain-Python expectation. Static tables run in the driver (no Ray).
"""

from __future__ import annotations

import pytest

import raystream as pw
from raystream.errors import ERROR

OUTPUT = "Error value encountered in output, skipping the row"
FILTER = "Error value encountered in filter condition, skipping the row"
GROUPING = "Error value encountered in grouping columns, skipping the row"

ROWS = [(3, 3), (4, 0), (5, 5), (6, 2)]  # (a, b): b == 0 fails a // b


def _table() -> pw.Table:
    return pw.debug.table_from_markdown("a | b\n" + "\n".join(f"{a} | {b}" for a, b in ROWS))


def _values(table: pw.Table, log: pw.Table | None = None) -> tuple[list, list[str]]:
    """The table's rows (sorted) and the error log's reasons."""
    log = log if log is not None else pw.global_error_log()
    rows, errors = pw.debug.compute_tables(table, log, terminate_on_error=False)
    return sorted(rows.values(), key=repr), sorted(e[2] for e in errors.values())


def _quotient(a: int, b: int) -> object:
    return ERROR if b == 0 else a // b


def test_a_failing_cell_is_an_error_and_its_row_goes_on() -> None:
    t = _table()
    rows, errors = _values(t.select(t.a, q=t.a // t.b))
    assert rows == sorted([(a, _quotient(a, b)) for a, b in ROWS], key=repr)
    assert len(errors) == 1 and errors[0].startswith("ZeroDivisionError")


def test_fill_error_in_another_table_replaces_the_error_and_logs_nothing_new() -> None:
    t = _table()
    divided = t.select(q=t.a // t.b)
    filled = t.select(t.a, q=pw.fill_error(divided.q, -1), r=divided.q.is_error())
    rows, errors = _values(filled)
    assert rows == sorted([(a, -1 if b == 0 else a // b, b == 0) for a, b in ROWS])
    assert len(errors) == 1  # the division, logged once where it failed


def test_errors_spread_to_what_reads_them_but_not_through_the_if_else_branch_not_taken(
        ) -> None:
    t = _table()
    divided = t.with_columns(q=t.a // t.b)
    spread = divided.select(pw.this.a, r=pw.this.q + 1,
                            s=pw.if_else(pw.this.a == 4, 0, pw.this.q))
    rows, errors = _values(spread)
    expected = [(a, ERROR if b == 0 else a // b + 1, 0 if a == 4 else _quotient(a, b))
                for a, b in ROWS]
    assert rows == sorted(expected, key=repr)
    assert len(errors) == 1


def test_remove_errors_drops_the_rows_holding_any() -> None:
    t = _table()
    rows, _ = _values(t.with_columns(q=t.a // t.b).remove_errors())
    assert rows == sorted((a, b, a // b) for a, b in ROWS if b != 0)


def test_filter_skips_rows_whose_condition_is_an_error_and_keeps_other_errors() -> None:
    t = _table().with_columns(q=pw.this.a // pw.this.b)
    by_q, errors = _values(t.filter(pw.this.q > 1))
    assert by_q == sorted((a, b, a // b) for a, b in ROWS if b != 0 and a // b > 1)
    assert errors.count(FILTER) == 1
    by_a, _ = _values(t.filter(pw.this.a > 0).select(pw.this.a, q=pw.fill_error(pw.this.q, -1)))
    assert by_a == sorted((a, -1 if b == 0 else a // b) for a, b in ROWS)


def test_groupby_skips_error_keys_and_reducers_skip_error_values() -> None:
    t = pw.debug.table_from_markdown("g | a | b\n1 | 3 | 3\n1 | 4 | 0\n2 | 6 | 2\n2 | 5 | 0")
    t = t.select(pw.this.g, q=pw.this.a // pw.this.b)
    by_g, _ = _values(t.groupby(pw.this.g).reduce(
        pw.this.g, n=pw.reducers.count(), s=pw.reducers.sum(pw.this.q),
        m=pw.reducers.max(pw.this.q)))
    assert by_g == [(1, 2, 1, 1), (2, 2, 3, 3)]  # count counts every row; the rest skip errors
    by_q, errors = _values(t.groupby(pw.this.q).reduce(pw.this.q, n=pw.reducers.count()))
    assert by_q == [(1, 1), (3, 1)]
    assert errors.count(GROUPING) == 2


@pytest.mark.parametrize("combine_partials", [True, False])
def test_reducers_that_collect_values_leave_error_values_out(combine_partials: bool) -> None:
    t = pw.debug.table_from_markdown("g | a | b\n1 | 3 | 3\n1 | 4 | 0\n1 | 8 | 2\n2 | 6 | 2")
    t = t.select(pw.this.g, q=pw.this.a // pw.this.b)
    collected = t.groupby(pw.this.g).reduce(
        pw.this.g, tup=pw.reducers.tuple(pw.this.q), srt=pw.reducers.sorted_tuple(pw.this.q),
        distinct=pw.reducers.count_distinct(pw.this.q), n=pw.reducers.count())
    rows, _ = _values(collected) if combine_partials else (sorted(pw.debug.compute_tables(
        collected, terminate_on_error=False, combine_partials=False)[0].values()), None)
    assert [(g, sorted(tup), srt, d, n) for g, tup, srt, d, n in rows] == [
        (1, [1, 4], (1, 4), 2, 3), (2, [3], (3,), 1, 1)]
    multiset_only = t.groupby(pw.this.g).reduce(pw.this.g, srt=pw.reducers.sorted_tuple(pw.this.q))
    (by_g,) = pw.debug.compute_tables(multiset_only, terminate_on_error=False,
                                      combine_partials=combine_partials)
    assert sorted(by_g.values()) == [(1, (1, 4)), (2, (3,))]


def test_outputs_skip_rows_with_errors_and_log_each(tmp_path) -> None:
    t = _table()
    divided = t.select(t.a, q=t.a // t.b)
    changes: list[tuple] = []
    pw.io.subscribe(divided, on_change=lambda key, row, time, is_addition: changes.append(
        (row["a"], row["q"])))
    path = tmp_path / "out.jsonl"
    pw.io.jsonlines.write(divided, path)
    logged: list[str] = []
    pw.io.subscribe(pw.global_error_log(), on_change=lambda key, row, time, is_addition:
                    logged.append(row["reason"]))
    pw.run(terminate_on_error=False)
    assert sorted(changes) == sorted((a, a // b) for a, b in ROWS if b != 0)
    assert len(path.read_text().splitlines()) == len(ROWS) - 1
    assert logged.count(OUTPUT) == 2  # once per output
    assert sum(r.startswith("ZeroDivisionError") for r in logged) == 1


def test_concat_and_flatten_keep_errors_where_pathway_does() -> None:
    t = _table()
    left = t.select(q=t.a // t.b)
    right = t.select(q=t.a)
    rows, _ = _values(left.concat_reindex(right).select(q=pw.fill_error(pw.this.q, -1)))
    assert rows == sorted([(-1 if b == 0 else a // b,) for a, b in ROWS] + [(a,) for a, _ in ROWS])
    lists = t.select(t.a, items=pw.apply_with_type(lambda a, b: [a] * (a // b), list[int],
                                                   t.a, t.b))
    flat, errors = _values(lists.flatten(pw.this.items))
    assert flat == sorted((a, a) for a, b in ROWS if b != 0 for _ in range(a // b))
    assert any("flattened column" in e for e in errors)


def test_terminate_on_error_raises_the_users_exception() -> None:
    t = _table()
    with pytest.raises(ZeroDivisionError):
        pw.debug.compute_tables(t.select(q=t.a // t.b), terminate_on_error=True)
