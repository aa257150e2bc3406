"""Bad Kafka messages go to pw.global_error_log() with topic, partition and offset; the
rest of the stream is processed (real 0.9 broker, static runs).
"""

from __future__ import annotations

import json

import pytest
from raystream.actors.runtime import PipelineError

import raystream as pw
from tests.helpers import fold_rows
from tests.test_kafka_helpers import jsonl_rows, produce, reader_settings

pytestmark = [pytest.mark.kafka, pytest.mark.ray]


class Event(pw.Schema):
    id: int
    name: str


def test_bad_messages_are_logged_with_their_offsets(kafka_broker, ray_session, unique_name,
                                                    tmp_path) -> None:
    json_topic, csv_topic = f"{unique_name[:80]}-json", f"{unique_name[:80]}-csv"
    kafka_broker.create_topic(json_topic, partitions=2)
    kafka_broker.create_topic(csv_topic, partitions=1)
    settings = kafka_broker.client_settings()
    good = [json.dumps({"id": i, "name": f"n{i}"}) for i in range(200)]
    bad = {
        "{not json": "malformed JSON",
        '{"id": "seven", "name": "x"}': "column 'id': expected int",
        '{"name": "no id"}': "column 'id': value is missing",
        "[1, 2]": "expected a JSON object",
    }
    values = good[:100] + list(bad) + good[100:] + [None]
    where = produce(settings, json_topic, values,
                    partition=[i % 2 for i in range(len(values))])
    expected_errors = {f"kafka topic={json_topic} partition={p}": [] for p in (0, 1)}
    for (partition, offset), value in zip(where, values, strict=True):
        if value is None or value in bad:
            reason = "message has no value" if value is None else bad[value]
            expected_errors[f"kafka topic={json_topic} partition={partition}"].append(
                (f"offset={offset}", reason))
    produce(settings, csv_topic, ["id,name", "1,one", "2,two,extra", "x,three", "4,four"])

    events = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), json_topic,
                              format="json", schema=Event, mode="static",
                              autocommit_duration_ms=200)
    rows = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), csv_topic,
                            format="csv", schema=Event, mode="static")
    pw.io.jsonlines.write(events, tmp_path / "events.jsonl")
    pw.io.jsonlines.write(rows, tmp_path / "rows.jsonl")
    pw.io.jsonlines.write(pw.global_error_log(), tmp_path / "errors.jsonl")
    pw.run()

    assert fold_rows(jsonl_rows(tmp_path / "events.jsonl"), ["id", "name"]) == {
        (i, f"n{i}"): 1 for i in range(200)}
    assert fold_rows(jsonl_rows(tmp_path / "rows.jsonl"), ["id", "name"]) == {
        (1, "one"): 1, (4, "four"): 1}
    errors = jsonl_rows(tmp_path / "errors.jsonl")
    for source, wanted in expected_errors.items():
        got = sorted((e["position"], e["reason"]) for e in errors if e["source"] == source)
        assert [p for p, _ in got] == sorted(p for p, _ in wanted)
        for (_, reason), (_, expected) in zip(got, sorted(wanted), strict=True):
            assert expected in reason
    csv_errors = sorted((e["position"], e["reason"]) for e in errors
                        if e["source"] == f"kafka topic={csv_topic} partition=0")
    assert [p for p, _ in csv_errors] == ["offset=2", "offset=3"]
    assert "expected 2 fields" in csv_errors[0][1] and "expected int" in csv_errors[1][1]
    assert {e["raw"] for e in errors} >= {"{not json", "2,two,extra", "x,three"}


def test_static_csv_without_a_header_is_an_error(kafka_broker, ray_session,
                                                 unique_name) -> None:
    kafka_broker.create_topic(unique_name, partitions=2)
    produce(kafka_broker.client_settings(), unique_name, ["1,one"], partition=1)
    rows = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), unique_name,
                            format="csv", schema=Event, mode="static")
    pw.io.null.write(rows)
    with pytest.raises(PipelineError, match="needs a header line .* partition 0"):
        pw.run(timeout_s=60)
