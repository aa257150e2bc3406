"""pw.io.kinesis.write: json with time/diff, plaintext with a partition key, a stream per row."""

from __future__ import annotations

import json

import pytest

import raystream as pw
from raystream.errors import ApiTypeError, ApiValueError
from tests.test_kinesis_helpers import point_env_at, shard_records

pytestmark = [pytest.mark.kinesis, pytest.mark.ray]


def _records(client, stream):
    return [r for records in shard_records(client, stream).values() for r in records]


def test_json_plaintext_and_stream_per_row(kinesalite, ray_session, unique_name, monkeypatch):
    """One pipeline, three outputs; an oversize row is refused and the others are written."""
    client = kinesalite.client()
    base = unique_name[:100]
    streams = {k: f"{base}-{k}" for k in ("json", "plain", "one", "two")}
    for stream in streams.values():
        kinesalite.create_stream(stream, shards=2)
    point_env_at(monkeypatch, kinesalite)

    table = pw.debug.table_from_markdown(f"""
        | key | value | stream
      1 | 1   | one   | {streams["one"]}
      2 | 2   | two   | {streams["two"]}
      3 | 3   | three | {streams["one"]}
    """)
    # row 2 gets a payload over 1 MiB: refused (logged with its row), rows 1 and 3 written
    sized = table.select(key=pw.this.key, value=pw.apply_with_type(
        lambda k, v: v * (400 * 1024) if k == 2 else v, str, pw.this.key, pw.this.value))
    pw.io.kinesis.write(table, streams["json"], format="json")
    pw.io.kinesis.write(sized, stream_name=streams["plain"], format="plaintext",
                        partition_key=sized.key, data=sized.value)
    pw.io.kinesis.write(table, stream_name=table.stream, format="json")
    pw.run()

    rows = [json.loads(r["Data"]) for r in _records(client, streams["json"])]
    assert sorted((r["key"], r["value"], r["diff"]) for r in rows) == [
        (1, "one", 1), (2, "two", 1), (3, "three", 1)]
    assert all(isinstance(r["time"], int) and r["time"] > 0 for r in rows)
    assert {tuple(r) for r in rows} == {("key", "value", "stream", "diff", "time")}

    plain = _records(client, streams["plain"])
    assert sorted((r["PartitionKey"], r["Data"].decode()) for r in plain) == [
        ("1", "one"), ("3", "three")]

    one = sorted(json.loads(r["Data"])["value"] for r in _records(client, streams["one"]))
    two = sorted(json.loads(r["Data"])["value"] for r in _records(client, streams["two"]))
    assert (one, two) == (["one", "three"], ["two"])
    assert all(r["PartitionKey"].startswith("^") for r in _records(client, streams["one"]))


def test_write_argument_errors(kinesalite, monkeypatch):
    """Bad arguments fail at definition time with messages naming the problem."""
    point_env_at(monkeypatch, kinesalite)
    table = pw.debug.table_from_markdown("""
        key | value | blob
        1   | one   | x
    """)
    with pytest.raises(ApiValueError, match="writes one column: pass data="):
        pw.io.kinesis.write(table, "s", format="plaintext")
    with pytest.raises(ApiTypeError, match="needs a bytes data column"):
        pw.io.kinesis.write(table, "s", format="raw", data=table.value)
    with pytest.raises(ApiTypeError, match="must hold str"):
        pw.io.kinesis.write(table, table.key)
    with pytest.raises(ApiValueError, match="format"):
        pw.io.kinesis.write(table, "s", format="csv")
    with pytest.raises(ApiValueError, match="stream_name"):
        pw.io.kinesis.write(table, "bad name!")
