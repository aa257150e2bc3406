"""Expressions as Pathway evaluates them: lazy if_else/coalesce/&/|, operators, casts, tuples."""

from __future__ import annotations

import pytest

import raystream as pw

T = pw.debug.table_from_markdown("""
      | a | b | s
    1 | 7 | 2 | x
    2 | 4 | 0 | y
    3 | 9 | 3 |
""")


def values(table: pw.Table) -> dict:
    return {k: row for k, row in sorted(pw.debug.compute_tables(table)[0].items())}


def column(table: pw.Table, name: str) -> list:
    rows = pw.debug.table_to_dicts(table)[1][name]
    return [rows[pw.ref_scalar(i)] for i in (1, 2, 3)]


def test_lazy_operators_skip_rows_that_would_fail() -> None:
    t = T.select(
        guarded=pw.if_else(T.b != 0, T.a // T.b, -1),
        first=pw.coalesce(T.a, T.a // T.b),  # the division is never needed
        both=(T.b != 0) & (T.a // T.b > 2),
        either=(T.b == 0) | (T.a // T.b > 2),
        required=pw.require(T.a + 1, T.s))
    rows = [(7, 2, "x"), (4, 0, "y"), (9, 3, None)]
    expected = {"guarded": [a // b if b != 0 else -1 for a, b, _ in rows],
                "first": [a for a, _, _ in rows],
                "both": [b != 0 and a // b > 2 for a, b, _ in rows],
                "either": [b == 0 or a // b > 2 for a, b, _ in rows],
                "required": [a + 1 if s is not None else None for a, _, s in rows]}
    got = pw.debug.table_to_dicts(t)[1]
    for name, want in expected.items():
        assert [got[name][pw.ref_scalar(i)] for i in (1, 2, 3)] == want, name


def test_operators_pathway_has() -> None:
    t = T.select(p=2 ** T.b, l=T.a << T.b, r=T.a >> 1, m=T.a % 4, t=(T.a, T.b),
                 g=pw.make_tuple(T.a, T.s)[1], lt=pw.make_tuple(T.a, T.b) < (8, 0),
                 c=pw.cast(str, T.a), f=pw.cast(int, T.a / 2), x=T.a.to_string())
    got = pw.debug.table_to_dicts(t)[1]
    rows = [(7, 2, "x"), (4, 0, "y"), (9, 3, None)]
    for i, (a, b, s) in zip((1, 2, 3), rows, strict=True):
        key = pw.ref_scalar(i)
        assert got["p"][key] == 2 ** b and got["l"][key] == a << b and got["r"][key] == a >> 1
        assert got["m"][key] == a % 4 and got["t"][key] == (a, b) and got["g"][key] == s
        assert got["lt"][key] == ((a, b) < (8, 0)) and got["c"][key] == str(a)
        assert got["f"][key] == int(a / 2) and got["x"][key] == str(a)
    assert t.typehints()["t"] == pw.dtypes.dtype_of(tuple[int, int])


def test_this_star_without_and_iteration_end() -> None:
    assert len(list(iter(pw.this))) == 1  # no endless iteration over pw.this
    t = T.select(*pw.this.without(pw.this.s))
    assert t.column_names() == ["a", "b"]
    assert T.select(*pw.this[["s", "a"]]).column_names() == ["s", "a"]
    with pytest.raises(KeyError):
        T.select(pw.this.without("a").a)
    with pytest.raises(TypeError):
        iter(T.a)
    assert T.with_columns(**T.select(z=T.a + 1)).column_names() == ["a", "b", "s", "z"]


def test_rename_puts_renamed_columns_last_and_with_columns_keeps_places() -> None:
    assert T.rename({"a": "x"}).column_names() == ["b", "s", "x"]
    assert T.with_columns(a=T.b, c=T.a).column_names() == ["a", "b", "s", "c"]
    assert T.update_types(b=float).typehints()["b"] == pw.dtypes.FLOAT
