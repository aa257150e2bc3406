"""Batch parsing and serialisation of records (no Ray)."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.connectors.base import ParseSpec
from raystream.connectors.parse import parse_payloads
from raystream.connectors.serialize import dsv_lines, json_lines

SCHEMA = pa.schema([pa.field("key", pa.int64(), nullable=False),
                    pa.field("name", pa.string(), nullable=True)])


def where(i: int) -> str:
    return f"line={i + 1}"


def test_bad_records_are_reported_with_position_and_reason_and_the_rest_parsed() -> None:
    payloads = [b'{"key": 1}', b'{"key": "x"}', b"{oops", b'{"name": "no key"}',
                b'{"key": 2} {"key": 3}', b'{"key": 4, "name": "d"}']
    result = parse_payloads(payloads, ParseSpec("json", SCHEMA), "file in.jsonl", where)
    assert result.batch.to_pylist() == [{"key": 1, "name": None}, {"key": 4, "name": "d"}]
    assert result.accepted.tolist() == [0, 5]
    described = [e.describe() for e in result.errors]
    assert described[0] == "file in.jsonl line=2: column 'key': expected int, got str 'x'"
    assert described[1].startswith("file in.jsonl line=3: malformed JSON")
    assert "column 'key': value is missing" in described[2]
    assert "line=5: malformed JSON: Extra data" in described[3]


def test_defaults_and_json_pointers() -> None:
    spec = ParseSpec("json", pa.schema([pa.field("a", pa.int64(), nullable=False),
                                        pa.field("b", pa.string(), nullable=False)]),
                     defaults={"b": "dflt"}, json_field_paths={"a": "/x/y~1z"})
    result = parse_payloads([b'{"x": {"y/z": 3}}', b'{"x": {"y/z": 4}, "b": "q"}'],
                            spec, "s", where)
    assert result.batch.to_pylist() == [{"a": 3, "b": "dflt"}, {"a": 4, "b": "q"}]


def test_csv_with_header_and_bad_rows() -> None:
    spec = ParseSpec("csv", pa.schema([("value", pa.int64()), ("label", pa.string())]))
    result = parse_payloads([b"1,a", b"2,b,extra", b"x,c", b'3,"q,uoted"'], spec, "topic t",
                            where, csv_header=["value", "label"])
    assert result.batch.to_pylist() == [{"value": 1, "label": "a"},
                                        {"value": 3, "label": "q,uoted"}]
    assert [e.position for e in result.errors] == ["line=2", "line=3"]


def test_plaintext_rejects_invalid_utf8_only() -> None:
    result = parse_payloads([b"ok", b"\xff\xfe", b"fine"], ParseSpec("plaintext", pa.schema(
        [("data", pa.string())])), "s", where)
    assert result.batch.column("data").to_pylist() == ["ok", "fine"]
    assert "not valid UTF-8" in result.errors[0].reason


texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**62, 2**62), st.one_of(st.none(), texts),
                          st.floats(allow_nan=False, allow_infinity=False), st.booleans()),
                min_size=1, max_size=30))
def test_json_lines_round_trip(rows) -> None:
    ints, strs, floats, bools = map(list, zip(*rows, strict=True))
    batch = pa.record_batch({"i": ints, "s": pa.array(strs, pa.string()), "f": floats,
                             "b": bools})
    decoded = [json.loads(line) for line in json_lines(batch).to_pylist()]
    assert decoded == [{"i": i, "s": s, "f": f, "b": b} for i, s, f, b in rows]
    again = parse_payloads([line.encode() for line in json_lines(batch).to_pylist()],
                           ParseSpec("json", batch.schema), "s", where)
    assert again.batch.to_pylist() == batch.to_pylist()


def test_dsv_quotes_delimiters_and_quotes() -> None:
    batch = pa.record_batch({"a": [1, None], "s": ['x,"y"', "plain"]})
    assert dsv_lines(batch).to_pylist() == ['1,"x,""y"""', ",plain"]
