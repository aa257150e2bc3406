"""Row ids as Pathway gives them: from ``id`` cells, ``id_from``, primary keys, row positions.

Every id derived from values is ``pw.ref_scalar(*values)`` (what
``t.pointer_from(...)`` computes and ``groupby`` gives its groups), so ids are
the same for the same input in every run and every table.
"""

from __future__ import annotations

import raystream as pw


def ids(table: pw.Table) -> set:
    return set(pw.debug.compute_tables(table)[0])


def test_ids_from_id_cells_positions_id_from_and_primary_keys() -> None:
    labelled = pw.debug.table_from_markdown("""
          | v
        1 | 10
        7 | 70
    """)
    plain = pw.debug.table_from_markdown("v\n10\n70")
    same = pw.debug.table_from_markdown("v\n10\n70")
    by_value = pw.debug.table_from_markdown("k | v\na | 1\nb | 2", id_from=["k"])

    class Keyed(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        v: int

    keyed = pw.debug.table_from_rows(Keyed, [(4, 40), (5, 50)])
    got = pw.debug.compute_tables(labelled, plain, same, by_value, keyed)
    assert set(got[0]) == {pw.ref_scalar(1), pw.ref_scalar(7)}
    assert set(got[1]) == {pw.ref_scalar(0), pw.ref_scalar(1)}  # the row's position
    assert got[1] == got[2]  # identical tables, identical ids
    assert set(got[3]) == {pw.ref_scalar("a"), pw.ref_scalar("b")}
    assert set(got[4]) == {pw.ref_scalar(4), pw.ref_scalar(5)}
    assert all(isinstance(k, pw.Pointer) for table in got for k in table)


def test_pointer_from_groupby_and_with_id_from_agree() -> None:
    t = pw.debug.table_from_markdown("k | v\n1 | 10\n1 | 20\n2 | 5")
    pointers = t.select(t.k, p=t.pointer_from(t.k))
    groups = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.v))
    rekeyed = t.with_id_from(t.v)
    got = pw.debug.compute_tables(pointers, groups, rekeyed)
    assert {row[1] for row in got[0].values()} == {pw.ref_scalar(1), pw.ref_scalar(2)}
    assert got[1] == {pw.ref_scalar(1): (1, 30), pw.ref_scalar(2): (2, 5)}
    assert set(got[2]) == {pw.ref_scalar(10), pw.ref_scalar(20), pw.ref_scalar(5)}


def test_groupby_id_keeps_the_given_pointers() -> None:
    t = pw.debug.table_from_markdown("""
          | k | v
        1 | 1 | 10
        2 | 1 | 20
        3 | 2 | 5
    """).with_columns(k=pw.this.pointer_from(pw.this.k))
    by_id = t.groupby(id=t.k).reduce(t.k, s=pw.reducers.sum(t.v))
    got = pw.debug.compute_tables(by_id)[0]
    assert {key: row[1] for key, row in got.items()} == {pw.ref_scalar(1): 30,
                                                           pw.ref_scalar(2): 5}
