"""Streams written as markdown (``__time__``, ``__diff__``), as Pathway's tests write them.

Each row is inserted (or retracted) at its commit time; outputs change at the
same times. Expectations are plain Python over the same changes. Static
tables run in the driver (no Ray).
"""

from __future__ import annotations

import pytest

import raystream as pw

STREAM = """
  | g | v | __time__ | __diff__
1 | 1 | 2 |     2    |     1
2 | 1 | 3 |     4    |     1
3 | 2 | 4 |     6    |     1
2 | 1 | 3 |     8    |    -1
"""


def _changes(table: pw.Table) -> list[tuple]:
    seen: list[tuple] = []
    pw.io.subscribe(table, on_change=lambda key, row, time, is_addition: seen.append(
        (time, *row.values(), 1 if is_addition else -1)))
    pw.run()
    return seen


def test_a_groupby_changes_at_the_streams_times() -> None:
    t = pw.debug.table_from_markdown(STREAM)
    sums = t.groupby(pw.this.g).reduce(pw.this.g, s=pw.reducers.sum(pw.this.v))
    assert sorted(_changes(sums)) == sorted([
        (2, 1, 2, 1), (4, 1, 2, -1), (4, 1, 5, 1), (6, 2, 4, 1), (8, 1, 5, -1), (8, 1, 2, 1)])


def test_the_final_state_holds_the_rows_left_and_keeps_their_ids() -> None:
    t = pw.debug.table_from_markdown(STREAM)
    static = pw.debug.table_from_markdown("  | g | v\n1 | 1 | 2\n3 | 2 | 4")
    (rows,) = pw.debug.compute_tables(t)
    (expected,) = pw.debug.compute_tables(static)
    assert rows == expected


def test_a_retraction_counts_against_an_equal_row_of_another_id() -> None:
    class Count(pw.BaseCustomAccumulator):
        def __init__(self, n: int) -> None:
            self.n = n

        @classmethod
        def from_row(cls, row: list) -> Count:
            return cls(1)

        def update(self, other: Count) -> None:
            self.n += other.n

        def compute_result(self) -> int:
            return self.n

    t = pw.debug.table_from_markdown("""
        pet | age | __time__ | __diff__
        dog | 10  |    0     |    1
        dog | 7   |    0     |    1
        cat | 8   |    0     |    1
        dog | 7   |    2     |   -1
    """)
    counted = t.groupby(t.pet).reduce(t.pet, n=pw.reducers.udf_reducer(Count)())
    (rows,) = pw.debug.compute_tables(counted)
    assert sorted(rows.values()) == [("cat", 1), ("dog", 1)]


def test_a_custom_reducer_folds_in_its_sort_by_order() -> None:
    class Digits(pw.BaseCustomAccumulator):
        def __init__(self, text: str) -> None:
            self.text = text

        @classmethod
        def from_row(cls, row: list) -> Digits:
            return cls(str(row[0]))

        def update(self, other: Digits) -> None:
            self.text += other.text

        def compute_result(self) -> str:
            return self.text

        @classmethod
        def sort_by(cls, row: list) -> int:
            return row[1]

    t = pw.debug.table_from_markdown("d | order\n3 | 2\n1 | 0\n2 | 1\n4 | 3")
    joined = t.reduce(s=pw.reducers.udf_reducer(Digits)(t.d, t.order))
    (rows,) = pw.debug.compute_tables(joined)
    assert list(rows.values()) == [("1234",)]


UPSERTS = """
a | b | is_upsert | __time__
1 | 2 |   True    |    2
3 | 4 |   True    |    2
5 | 6 |   True    |    4
3 | 8 |   True    |    4
5 | 6 |  False    |    6
1 | 3 |  False    |    8
"""
TABLE_CHANGES = [(2, 1, 2, 1), (2, 3, 4, 1), (4, 5, 6, 1), (4, 3, 4, -1), (4, 3, 8, 1),
                 (6, 5, 6, -1), (8, 1, 2, -1)]  # a deletion's own values are not looked at


def test_stream_to_table_upserts_and_deletes_by_row_id() -> None:
    t = pw.debug.table_from_markdown(UPSERTS, id_from=["a"])
    table = t.stream_to_table(pw.this.is_upsert).without(pw.this.is_upsert)
    assert sorted(_changes(table)) == sorted(TABLE_CHANGES)
    with pytest.raises(TypeError, match="Expected 'is_upsert' to be of type 'bool'"):
        t.stream_to_table(pw.this.b)


def test_from_streams_ignores_deleting_an_absent_row() -> None:
    insertions = pw.debug.table_from_markdown(
        "a | b | __time__\n1 | 2 | 2\n3 | 4 | 2\n5 | 6 | 4\n3 | 8 | 4", id_from=["a"])
    deletions = pw.debug.table_from_markdown("a | __time__\n4 | 2\n5 | 6\n1 | 8", id_from=["a"])
    table = pw.Table.from_streams(insertions, deletions)
    assert table.typehints() == insertions.typehints()
    assert sorted(_changes(table)) == sorted(TABLE_CHANGES)


def test_to_stream_gives_upserts_and_deletions_and_stream_to_table_undoes_it() -> None:
    t = pw.debug.table_from_markdown("""
        a | b | __time__ | __diff__
        1 | 2 |    2     |    1
        3 | 4 |    2     |    1
        5 | 6 |    4     |    1
        3 | 4 |    4     |   -1
        3 | 8 |    4     |    1
        5 | 6 |    6     |   -1
    """, id_from=["a"])
    stream = t.to_stream()
    assert stream.is_append_only and not t.is_append_only
    rows = _changes(stream)
    assert sorted(rows) == sorted([(2, 1, 2, True, 1), (2, 3, 4, True, 1), (4, 5, 6, True, 1),
                                   (4, 3, 8, True, 1), (6, 5, 6, False, 1)])
    back = t.to_stream().stream_to_table(pw.this.is_upsert).without(pw.this.is_upsert)
    (final,) = pw.debug.compute_tables(back)
    (original,) = pw.debug.compute_tables(t)
    assert final == original
