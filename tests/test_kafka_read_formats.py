"""pw.io.kafka.read: raw, plaintext, json (+ json_field_paths) and csv, in one static run.

The four sources run in one pipeline against the real Kafka 0.9 broker; the
csv topic has three partitions and only partition 0 carries the header, so
the readers of partitions 1 and 2 can only parse their rows by fetching it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import raystream as pw
from raystream import dtypes as dt
from tests.helpers import fold_rows
from tests.test_kafka_helpers import jsonl_rows, produce, reader_settings

pytestmark = [pytest.mark.kafka, pytest.mark.ray]


class Event(pw.Schema):
    id: int
    name: str
    score: float
    tag: str | None


class Reading(pw.Schema):
    sensor: str
    value: int
    note: str


RAW = [(b"k1", b"\xff\x00binary"), (None, b""), (b"k3", b"plain bytes")]
PLAIN = [("a", "Hello, world!"), ("b", "\u00fcn\u00efcode \u2713"), (None, "three")]
EVENTS = [{"id": i, "name": f"n{i}", "nested": {"score": i / 2}, "tag": "t" if i % 2 else None}
          for i in range(50)]
READINGS = [(f"s{i % 4}", i, f"note, {i}" if i % 5 == 0 else "plain") for i in range(30)]


@pytest.fixture(scope="module")
def outputs(kafka_broker, ray_session, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("formats")
    topics = {k: f"formats-{k}-{tmp.name}" for k in ("raw", "plain", "json", "csv")}
    for kind, topic in topics.items():
        kafka_broker.create_topic(topic, partitions=3 if kind == "csv" else 1)
    settings = kafka_broker.client_settings()
    produce(settings, topics["raw"], [v for _, v in RAW], keys=[k for k, _ in RAW])
    produce(settings, topics["plain"], [v for _, v in PLAIN], keys=[k for k, _ in PLAIN])
    produce(settings, topics["json"], [json.dumps(e) for e in EVENTS])
    # The header's column order differs from the schema's: only the header tells them apart.
    produce(settings, topics["csv"], ["value,note,sensor"], partition=0)
    lines = [f'{v},"{n}",{s}' if "," in n else f"{v},{n},{s}" for s, v, n in READINGS]
    produce(settings, topics["csv"], lines, partition=[i % 3 for i in range(len(lines))])

    def read(kind: str, **kwargs) -> pw.Table:
        return pw.io.kafka.read(reader_settings(kafka_broker, f"g-{topics[kind]}"),
                                topics[kind], mode="static", autocommit_duration_ms=200,
                                **kwargs)

    tables = {
        "raw": read("raw"),
        "plain": read("plain", format="plaintext"),
        "json": read("json", format="json", schema=Event,
                     json_field_paths={"score": "/nested/score"}),
        "csv": read("csv", format="csv", schema=Reading),
    }
    assert tables["raw"].typehints()["data"] == dt.BYTES
    assert tables["plain"].typehints()["key"] == dt.STR.with_optional()
    out = {kind: tmp / f"{kind}.jsonl" for kind in tables}
    for kind, table in tables.items():
        pw.io.jsonlines.write(table, out[kind])
    out["errors"] = tmp / "errors.jsonl"
    pw.io.jsonlines.write(pw.global_error_log(), out["errors"])
    pw.run()
    return out


def test_raw_gives_bytes_data_and_key(outputs) -> None:
    rows = jsonl_rows(outputs["raw"])
    assert set(rows[0]) == {"data", "key", "time", "diff"}
    got = {(r["key"] and base64.b64decode(r["key"]), base64.b64decode(r["data"])) for r in rows}
    assert got == set(RAW)
    assert all(r["diff"] == 1 for r in rows)


def test_plaintext_gives_text_data_and_key(outputs) -> None:
    assert fold_rows(jsonl_rows(outputs["plain"]), ["key", "data"]) == {kv: 1 for kv in PLAIN}


def test_json_with_field_paths(outputs) -> None:
    expected = {(e["id"], e["name"], e["nested"]["score"], e["tag"]): 1 for e in EVENTS}
    assert fold_rows(jsonl_rows(outputs["json"]), ["id", "name", "score", "tag"]) == expected


def test_csv_header_from_partition_zero_reaches_every_reader(outputs) -> None:
    expected = {r: 1 for r in READINGS}
    assert fold_rows(jsonl_rows(outputs["csv"]), ["sensor", "value", "note"]) == expected


def test_no_record_was_rejected(outputs) -> None:
    assert jsonl_rows(outputs["errors"]) == []
