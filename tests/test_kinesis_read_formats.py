"""pw.io.kinesis.read: raw, plaintext and json (with json_field_paths) in one pipeline."""

from __future__ import annotations

import base64
import json

import pytest

import raystream as pw
from raystream import dtypes as dt
from raystream.run import start
from tests.test_kinesis_helpers import (
    fold,
    jsonl_rows,
    point_env_at,
    put_records,
    stop_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.kinesis, pytest.mark.ray]


class Event(pw.Schema):
    id: int
    name: str
    score: float
    tag: str | None


def test_raw_plaintext_and_json(kinesalite, ray_session, unique_name, tmp_path, monkeypatch):
    """Each format yields its columns; a malformed JSON record is skipped, not fatal."""
    client = kinesalite.client()
    raw, plain, js = (f"{unique_name[:100]}-{k}" for k in ("raw", "plain", "json"))
    for stream in (raw, plain, js):
        kinesalite.create_stream(stream, shards=2)
    raw_payloads = [b"\xff\x00binary", b"", b"plain bytes"]
    put_records(client, raw, raw_payloads)
    put_records(client, plain, ["Hello, world!", "ünïcode ✓", "three"])
    events = [{"id": i, "name": f"n{i}", "nested": {"score": i / 2}, "tag": "t" if i % 2 else None}
              for i in range(50)]
    put_records(client, js, [json.dumps(e) for e in events] + ["{not json"])

    point_env_at(monkeypatch, kinesalite)
    out = {k: tmp_path / f"{k}.jsonl" for k in ("raw", "plain", "json")}
    state = {k: tmp_path / f"state-{k}" for k in out}
    raw_table = pw.io.kinesis.read(raw, state_dir=state["raw"], autocommit_duration_ms=200)
    plain_table = pw.io.kinesis.read(plain, format="plaintext", state_dir=state["plain"],
                                     autocommit_duration_ms=200)
    json_table = pw.io.kinesis.read(js, format="json", schema=Event,
                                    json_field_paths={"score": "/nested/score"},
                                    state_dir=state["json"], autocommit_duration_ms=200)
    assert raw_table.typehints()["data"] == dt.BYTES
    assert plain_table.typehints()["data"] == dt.STR
    pw.io.jsonlines.write(raw_table, out["raw"])
    pw.io.jsonlines.write(plain_table, out["plain"])
    pw.io.jsonlines.write(json_table, out["json"])
    pw.io.jsonlines.write(pw.global_error_log(), tmp_path / "errors.jsonl")
    pipeline = start()
    try:
        wait_for(lambda: len(jsonl_rows(out["raw"])) == 3 and len(jsonl_rows(out["plain"])) == 3
                 and len(jsonl_rows(out["json"])) == 50
                 and jsonl_rows(tmp_path / "errors.jsonl"), 60, "all rows and the error")
    finally:
        stop_pipeline(pipeline)

    raw_rows = jsonl_rows(out["raw"])
    assert sorted(base64.b64decode(r["data"]) for r in raw_rows) == sorted(raw_payloads)
    assert fold(jsonl_rows(out["plain"]), ["data"]) == {
        ("Hello, world!",): 1, ("ünïcode ✓",): 1, ("three",): 1}
    expected = {(e["id"], e["name"], e["nested"]["score"], e["tag"]): 1 for e in events}
    assert fold(jsonl_rows(out["json"]), ["id", "name", "score", "tag"]) == expected
    assert set(raw_rows[0]) == {"data", "time", "diff"}
    (error,) = jsonl_rows(tmp_path / "errors.jsonl")
    assert error["source"].startswith(f"kinesis stream={js} shard=shardId-")
    assert error["position"].startswith("sequence=") and "malformed JSON" in error["reason"]
    assert error["raw"] == "{not json"
