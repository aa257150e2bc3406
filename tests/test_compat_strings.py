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


def test_datetimes_keep_nanoseconds_through_strptime_to_string_and_strftime() -> None:
    t = pw.debug.table_from_markdown("""
          | t
        1 | 2019-12-31T23:49:59.999999999+0100
        2 | 2019-12-31T23:49:59.0001+0100
        3 | 2023-03-26T12:00:00.000000001+0100
    """)
    parsed = t.select(d=pw.this.t.dt.strptime("%Y-%m-%dT%H:%M:%S.%f%z"))
    shown = parsed.select(s=pw.this.d.to_string(), f=pw.this.d.dt.strftime("%H:%M:%S.%f|%3f"))
    (rows,) = pw.debug.compute_tables(shown)
    assert sorted(rows.values()) == sorted([
        ("2019-12-31T22:49:59.999999999+0000", "22:49:59.999999999|999"),
        ("2019-12-31T22:49:59.000100000+0000", "22:49:59.000100000|000"),
        ("2023-03-26T11:00:00.000000001+0000", "11:00:00.000000001|000")])
    naive = pw.debug.table_from_markdown("t\n2020-03-04T11:13:00.345612")
    (values,) = pw.debug.compute_tables(naive.select(
        s=pw.this.t.dt.strptime("%Y-%m-%dT%H:%M:%S.%f").to_string()))
    assert list(values.values()) == [("2020-03-04T11:13:00.345612000",)]
