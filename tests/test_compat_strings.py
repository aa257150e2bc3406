"""``.str`` methods against Python's own string methods, and parsing with Pathway's rules."""

from __future__ import annotations

import pandas as pd

import raystream as pw

WORDS = ["foo", "hello world", "oo", "", "Mississippi"]


def test_count_find_rfind_with_start_and_end_match_python() -> None:
    t = pw.debug.table_from_pandas(pd.DataFrame({"w": WORDS}))
    cases = {"c": ("count", "o", None, None), "c1": ("count", "s", 1, None),
             "c2": ("count", "o", 0, 3), "c3": ("count", "i", None, -2),
             "f": ("find", "o", None, None), "f1": ("find", "o", 2, None),
             "f2": ("find", "s", -5, None), "r": ("rfind", "o", None, None),
             "r1": ("rfind", "s", 0, 6), "r2": ("rfind", "o", None, 2)}
    exprs = {}
    for name, (method, sub, start, end) in cases.items():
        exprs[name] = getattr(t.w.str, method)(sub, start, end)
    got = pw.debug.table_to_dicts(t.select(t.w, **exprs))[1]
    for key, word in got["w"].items():
        for name, (method, sub, start, end) in cases.items():
            assert got[name][key] == getattr(word, method)(sub, start, end), (name, word)


def test_parse_bool_with_custom_values_and_optional_parsing() -> None:
    t = pw.debug.table_from_pandas(pd.DataFrame({"s": ["YES", "nope", "1", "off", "x"]}))
    got = pw.debug.table_to_dicts(t.select(
        t.s, d=t.s.str.parse_bool(optional=True),
        c=t.s.str.parse_bool(true_values=["yes"], false_values=["nope"], optional=True),
        i=t.s.str.parse_int(optional=True)))[1]
    defaults = {"yes": True, "1": True, "off": False}
    for key, text in got["s"].items():
        assert got["d"][key] == defaults.get(text.lower())
        assert got["c"][key] == {"yes": True, "nope": False}.get(text.lower())
        assert got["i"][key] == (int(text) if text.isdigit() else None)


def test_strings_from_pandas_work_with_str_methods_and_flatten() -> None:
    frame = pd.DataFrame({"w": pd.Series(["ab", "c"], dtype="string[pyarrow]")})
    t = pw.debug.table_from_pandas(frame)
    upper = t.select(u=t.w.str.upper())
    chars = t.flatten(t.w)
    got = pw.debug.compute_tables(upper, chars)
    assert sorted(r[0] for r in got[0].values()) == ["AB", "C"]
    assert sorted(r[0] for r in got[1].values()) == ["a", "b", "c"]
    assert chars.typehints()["w"] == pw.dtypes.STR
