"""Tables over the same rows: columns of one used in another, key set operations, updates."""

from __future__ import annotations

import pytest

import raystream as pw

OLD_ROWS = """
      | pet | age
    1 | cat | 3
    2 | dog | 5
    3 | fox | 1
"""


def table(text: str) -> pw.Table:
    return pw.debug.table_from_markdown(text)


def state(t: pw.Table) -> dict:
    return {k: r for k, r in pw.debug.compute_tables(t)[0].items()}


def test_columns_of_a_table_with_the_same_ids_can_be_used() -> None:
    OLD = table(OLD_ROWS)  # noqa: N806 - static tables share a universe within one graph
    other = table("""
          | owner
        1 | Ann
        2 | Bob
        3 | Cid
    """)
    joined = OLD.select(OLD.pet, owner=other.owner, older=OLD.age + 1)
    assert state(joined) == {pw.ref_scalar(1): ("cat", "Ann", 4),
                             pw.ref_scalar(2): ("dog", "Bob", 6),
                             pw.ref_scalar(3): ("fox", "Cid", 2)}
    assert state(OLD + other)[pw.ref_scalar(2)] == ("dog", 5, "Bob")
    assert pw.Table.from_columns(OLD.pet, other.owner).column_names() == ["pet", "owner"]
    unrelated = table("owner\nAnn")
    with pytest.raises(pw.ApiValueError, match="belongs to another table"):
        OLD.select(unrelated.owner)


def test_key_set_operations_and_updates() -> None:
    OLD = table(OLD_ROWS)  # noqa: N806
    some = table("""
          | pet | age
        2 | emu | 9
        4 | yak | 2
    """)
    cells = table("""
          | age
        3 | 10
    """)
    pw.universes.promise_is_subset_of(cells, OLD)
    got = pw.debug.compute_tables(OLD.intersect(some), OLD.difference(some),
                                  OLD.update_rows(some), OLD.update_cells(cells), OLD << cells,
                                  OLD.restrict(cells))
    k = pw.ref_scalar
    assert got[0] == {k(2): ("dog", 5)}
    assert got[1] == {k(1): ("cat", 3), k(3): ("fox", 1)}
    assert got[2] == {k(1): ("cat", 3), k(2): ("emu", 9), k(3): ("fox", 1), k(4): ("yak", 2)}
    assert got[3] == got[4] == {k(1): ("cat", 3), k(2): ("dog", 5), k(3): ("fox", 10)}
    assert got[5] == {k(3): ("fox", 1)}


def test_concat_needs_disjoint_universes_and_reindexes() -> None:
    OLD = table(OLD_ROWS)  # noqa: N806
    more = table("""
          | pet | age
        9 | owl | 2
    """)
    with pytest.raises(pw.ApiValueError, match="disjoint"):
        OLD.concat(more)
    pw.universes.promise_are_pairwise_disjoint(OLD, more)
    both = OLD.concat(more)
    again = pw.Table.concat_reindex(OLD, OLD)
    got = pw.debug.compute_tables(both, again)
    assert sorted(got[0].values()) == [("cat", 3), ("dog", 5), ("fox", 1), ("owl", 2)]
    assert sorted(got[1].values()) == sorted(2 * [("cat", 3), ("dog", 5), ("fox", 1)])


def test_broken_subset_promise_is_an_error() -> None:
    OLD = table(OLD_ROWS)  # noqa: N806
    extra = table("""
          | age
        8 | 1
    """)
    pw.universes.promise_is_subset_of(extra, OLD)
    with pytest.raises(KeyError, match="broken universe promise"):
        pw.debug.compute_tables(OLD.update_cells(extra))


def test_a_broken_disjointness_promise_is_caught_while_running() -> None:
    first = pw.debug.table_from_markdown("  | v\n1 | a\n2 | b")
    second = pw.debug.table_from_markdown("  | v\n1 | c\n3 | d")
    pw.universes.promise_are_pairwise_disjoint(first, second)
    both = first.concat(second)
    with pytest.raises(KeyError, match="duplicated entries for key"):
        pw.debug.compute_tables(both)
    rows, errors = pw.debug.compute_tables(both, pw.global_error_log(), terminate_on_error=False)
    assert len(rows) == 3 and {v for (v,) in rows.values()} >= {"b", "d"}
    (error,) = errors.values()
    assert error[2].startswith("duplicate key: ^")
    (reindexed,) = pw.debug.compute_tables(first.concat_reindex(second))
    assert sorted(reindexed.values()) == [("a",), ("b",), ("c",), ("d",)]
