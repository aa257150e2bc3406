"""``.num`` methods and numeric operators against Python's results."""

from __future__ import annotations

import math

import raystream as pw


def test_num_namespace_matches_python() -> None:
    t = pw.debug.table_from_markdown("v | d\n-2.345 | 1\n7.5 | 0\nNone | 2")
    nan = t.select(v=pw.if_else(t.d == 0, math.nan, t.v), d=t.d)
    got = pw.debug.table_to_dicts(nan.select(
        nan.v, a=nan.v.num.abs(), r=nan.v.num.round(1), rc=nan.v.num.round(nan.d),
        f=nan.v.num.fill_na(0.0)))[1]
    for key, v in got["v"].items():
        if v is None or math.isnan(v):
            assert got["f"][key] == 0.0
            continue
        assert got["a"][key] == abs(v) and got["r"][key] == round(v, 1)
        assert got["f"][key] == v
    assert sorted(x for x in got["rc"].values() if x is not None and not math.isnan(x)) == \
        [round(-2.345, 1)]


def test_integer_division_and_modulo_follow_python() -> None:
    t = pw.debug.table_from_markdown("a | b\n-7 | 2\n7 | -2\n5 | 3")
    got = pw.debug.table_to_dicts(t.select(t.a, t.b, q=t.a // t.b, m=t.a % t.b,
                                           p=t.a ** 2, f=t.a / t.b))[1]
    for key, a in got["a"].items():
        b = got["b"][key]
        assert (got["q"][key], got["m"][key], got["p"][key]) == (a // b, a % b, a ** 2)
        assert got["f"][key] == a / b
