"""pw.io.kafka.write on the 0.9 broker: json, dsv, plaintext/raw with key and value, a topic
per row, and what is refused (time/diff columns, undeliverable messages).
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from raystream.actors.runtime import PipelineError
from raystream.connectors.kafka_sink import KafkaSinkSpec

import raystream as pw
from tests.test_kafka_helpers import Received, consume_all

pytestmark = [pytest.mark.kafka, pytest.mark.ray]


def table(a_topic: str = "A", b_topic: str = "B") -> pw.Table:
    return pw.debug.table_from_markdown(f"""
    name  | dest      | n | payload
    alice | {a_topic} | 1 | hello
    bob   | {b_topic} | 2 | world,again
    carol | {a_topic} | 3 | "quoted"
    """)


@pytest.fixture(scope="module")
def written(kafka_broker, ray_session, tmp_path_factory) -> dict[str, list[Received]]:
    prefix = f"write-{tmp_path_factory.mktemp('w').name}"
    topics = {k: f"{prefix}-{k}" for k in ("json", "dsv", "plain", "raw", "row-a", "row-b")}
    settings = kafka_broker.client_settings()
    t = table(topics["row-a"], topics["row-b"])
    pw.io.kafka.write(t, settings, topics["json"])
    pw.io.kafka.write(t.without(t.dest), settings, topics["dsv"], format="dsv", delimiter=";")
    pw.io.kafka.write(t, settings, topics["plain"], format="plaintext", key=t.name,
                      value=t.payload)
    raw = t.select(blob=pw.apply_with_type(lambda s: s.encode() + b"\xff", bytes, t.payload))
    pw.io.kafka.write(raw, settings, topics["raw"], format="raw")
    pw.io.kafka.write(t, settings, t.dest)
    pw.run()
    expect = {"json": 3, "dsv": 4, "plain": 3, "raw": 3, "row-a": 2, "row-b": 1}
    return {k: consume_all(settings, topic, expect=expect[k], idle_s=1.0)
            for k, topic in topics.items()}


def test_json_has_columns_time_diff_and_the_row_key(written) -> None:
    messages = written["json"]
    rows = sorted((m.json() for m in messages), key=lambda r: r["n"])
    assert [r["name"] for r in rows] == ["alice", "bob", "carol"]
    assert list(rows[0]) == ["name", "dest", "n", "payload", "diff", "time"]
    assert {r["diff"] for r in rows} == {1} and len({r["time"] for r in rows}) == 1
    keys = {m.key for m in messages}
    assert len(keys) == 3 and all(k.startswith(b"^") and len(k) == 14 for k in keys)


def test_dsv_sends_a_header_then_rows(written) -> None:
    header, *rows = [m.value.decode() for m in sorted(written["dsv"], key=lambda m: m.offset)]
    assert header == "name;n;payload;diff;time"
    cells = sorted(r.split(";")[:3] for r in rows)
    assert cells == [["alice", "1", "hello"], ["bob", "2", "world,again"],
                     ["carol", "3", '"""quoted"""']]


def test_plaintext_key_and_value_columns(written) -> None:
    got = {(m.key, m.value) for m in written["plain"]}
    assert got == {(b"alice", b"hello"), (b"bob", b"world,again"), (b"carol", b'"quoted"')}


def test_raw_single_column_is_the_value(written) -> None:
    assert sorted(m.value for m in written["raw"]) == sorted(
        [b"hello\xff", b"world,again\xff", b'"quoted"\xff'])


def test_topic_per_row_leaves_the_topic_column_out(written) -> None:
    a = sorted(m.json()["name"] for m in written["row-a"])
    b = [m.json() for m in written["row-b"]]
    assert a == ["alice", "carol"]
    assert [r["name"] for r in b] == ["bob"] and "dest" not in b[0]


def test_time_and_diff_columns_are_refused(kafka_broker) -> None:
    t = pw.debug.table_from_markdown("time | x\n1 | 2")
    with pytest.raises(pw.ApiValueError, match="'time'"):
        pw.io.kafka.write(t, kafka_broker.client_settings(), "never")


def test_argument_errors(kafka_broker) -> None:
    settings = kafka_broker.client_settings()
    t = table()
    with pytest.raises(pw.ApiValueError, match="value is required when key"):
        pw.io.kafka.write(t, settings, "x", format="raw", key=t.name)
    with pytest.raises(pw.ApiValueError, match="needs value=<column>"):
        pw.io.kafka.write(t, settings, "x", format="plaintext")
    with pytest.raises(pw.ApiValueError, match="value cannot be used"):
        pw.io.kafka.write(t, settings, "x", value=t.name)
    with pytest.raises(pw.ApiValueError, match="must be of type str or bytes"):
        pw.io.kafka.write(t, settings, "x", format="plaintext", key=t.n, value=t.payload)
    with pytest.raises(pw.ApiValueError, match="No such configuration property"):
        pw.io.kafka.write(t, {**settings, "no.such.setting": 1}, "x")
    with pytest.raises(pw.ApiValueError, match="bootstrap.servers"):
        pw.io.kafka.write(t, {"group.id": "g"}, "x")


def test_undeliverable_messages_fail_the_run_naming_topic_and_row(kafka_broker, ray_session,
                                                                  unique_name) -> None:
    # Kafka 0.9 refuses every produce request with acks=2 (INVALID_REQUIRED_ACKS): a
    # delivery failure reported by the broker, after the message left the client.
    settings = {**kafka_broker.client_settings(), "acks": 2}
    pw.io.kafka.write(table(), settings, unique_name)
    with pytest.raises(PipelineError) as failure:
        pw.run(timeout_s=60)
    message = str(failure.value)
    assert "3 messages were not delivered" in message
    assert f"topic={unique_name}" in message and '"name":"bob"' in message
    assert "Invalid required acks" in message


def test_a_row_the_client_refuses_is_returned_and_the_rest_written(kafka_broker,
                                                                   unique_name) -> None:
    settings = {**kafka_broker.client_settings(), "message.max.bytes": 1000, "log_level": 3}
    writer = KafkaSinkSpec("sink", settings, unique_name).open()
    batch = pa.record_batch({"text": ["small", "x" * 2000, "also small"], "time": [2, 2, 2],
                             "diff": [1, 1, 1]})
    (refused,) = writer.write(batch)
    writer.flush()
    assert refused.source == f"kafka topic={unique_name}" and "too large" in refused.reason
    assert refused.raw.startswith('{"text":"xxx')
    got = consume_all(settings, unique_name, expect=2, idle_s=1.0)
    assert sorted(m.json()["text"] for m in got) == ["also small", "small"]
