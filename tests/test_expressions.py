"""Expressions compile to pyarrow.compute over whole batches (no Ray)."""

from __future__ import annotations

import pytest

import raystream as pw
from tests.helpers import evaluate

T = pw.debug.table_from_markdown("""
    a | b   | s       | f    | flag
    7 | 2   | Hello   | 1.5  | True
    -7| 3   | wOrLd   | None | False
    0 | -2  | x_y     | 2.0  | True
""")


def test_arithmetic_follows_python_semantics() -> None:
    out = evaluate(T, add=T.a + T.b, sub=T.a - 1, mul=T.a * T.b, div=T.a / T.b,
                   floordiv=T.a // T.b, mod=T.a % T.b, pow=T.b ** 2, neg=-T.a, ab=abs(T.a),
                   radd=10 + T.a)
    assert out["add"] == [9, -4, -2]
    assert out["div"] == [3.5, -7 / 3, 0.0]
    assert out["floordiv"] == [7 // 2, -7 // 3, 0 // -2]
    assert out["mod"] == [7 % 2, -7 % 3, 0 % -2]
    assert out["pow"] == [4, 9, 4]
    assert out["neg"] == [-7, 7, 0] and out["ab"] == [7, 7, 0] and out["radd"] == [17, 3, 10]


def test_comparisons_logic_and_none() -> None:
    out = evaluate(T, gt=T.a > T.b, both=(T.a > 0) & T.flag, either=(T.a > 0) | ~T.flag,
                   missing=T.f.is_none(), present=T.f.is_not_none(), eq_none=T.f == None,  # noqa: E711
                   ne=T.s != "x_y")
    assert out["gt"] == [True, False, True]
    assert out["both"] == [True, False, False]
    assert out["either"] == [True, True, False]
    assert out["missing"] == [False, True, False] and out["present"] == [True, False, True]
    assert out["eq_none"] == [False, True, False]
    assert out["ne"] == [True, True, False]


def test_if_else_coalesce_cast_and_this() -> None:
    out = evaluate(T, sign=pw.if_else(pw.this.a >= 0, "non-negative", "negative"),
                   f=pw.coalesce(T.f, 0.0), as_float=pw.cast(float, T.a),
                   mixed=pw.if_else(T.flag, T.a, T.f), text=T.a.to_string())
    assert out["sign"] == ["non-negative", "negative", "non-negative"]
    assert out["f"] == [1.5, 0.0, 2.0]
    assert out["as_float"] == [7.0, -7.0, 0.0]
    assert out["mixed"] == [7.0, None, 0.0]
    assert out["text"] == ["7", "-7", "0"]


def test_string_methods() -> None:
    s = T.s.str
    out = evaluate(T, lower=s.lower(), upper=s.upper(), n=s.len(), starts=s.startswith("H"),
                   rep=s.replace("_", "-"), rev=s.reversed(), sl=s.slice(0, 2),
                   cat=T.s + "!", parsed=pw.this.a.to_string().str.parse_int())
    assert out["lower"] == ["hello", "world", "x_y"]
    assert out["upper"] == ["HELLO", "WORLD", "X_Y"]
    assert out["n"] == [5, 5, 3] and out["starts"] == [True, False, False]
    assert out["rep"] == ["Hello", "wOrLd", "x-y"] and out["rev"][0] == "olleH"
    assert out["sl"] == ["He", "wO", "x_"] and out["cat"][0] == "Hello!"
    assert out["parsed"] == [7, -7, 0]


def test_apply_and_udf_run_once_per_row_in_one_batch_call() -> None:
    calls = []

    def shout(text: str, times: int) -> str:
        calls.append(text)
        return text.upper() * times

    @pw.udf
    def add_one(x: int) -> int:
        return x + 1

    out = evaluate(T, shout=pw.apply(shout, T.s, 2), inc=add_one(T.a),
                   typed=pw.apply_with_type(lambda x: x * 2, float, T.b))
    assert out["shout"] == ["HELLOHELLO", "WORLDWORLD", "X_YX_Y"]
    assert out["inc"] == [8, -6, 1] and out["typed"] == [4.0, 6.0, -4.0]
    assert len(calls) == 3


def test_udf_errors_name_the_function_and_values() -> None:
    def boom(x: int) -> int:
        raise ValueError("bad")
    with pytest.raises(ValueError, match="bad") as info:  # the user's own exception, as Pathway
        evaluate(T, x=pw.apply(boom, T.a))
    assert any("boom(7,) raised ValueError: bad" in note for note in info.value.__notes__)


def test_json_values() -> None:
    class S(pw.Schema):
        doc: pw.Json

    table = pw.debug.table_from_markdown('doc\n{"a":{"b":[1,2]},"n":1.5}', schema=S)
    out = evaluate(table, b1=table.doc["a"]["b"][1].as_int(), n=table.doc["n"].as_float(),
                   missing=table.doc.get("zz", 5).as_int())
    assert out == {"b1": [2], "n": [1.5], "missing": [5]}
