"""What the 0.9 broker cannot show, on librdkafka's mock cluster (modern protocol): headers
in and out, message timestamps, with_metadata, and start_from_timestamp_ms.

The mock cluster answers ``offsets_for_times`` with -1 (no message at or after the time)
for every partition, so the real-endpoint case tested here is a time after every message:
the read starts at the end and sees only new messages. The offset choice itself is
unit-tested at the client boundary (:func:`choose_start_offset`, :func:`start_offsets`).
"""

from __future__ import annotations

import base64
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from raystream.connectors.kafka_client import (
    KafkaSettingsError,
    choose_start_offset,
    start_offsets,
)

import raystream as pw
from raystream import dtypes as dt
from raystream.run import start
from tests.test_kafka_helpers import (
    consume_all,
    jsonl_rows,
    produce,
    reader_settings,
    reader_stats,
    stop_pipeline,
    wait_for,
)

HEADERS = [("trace", b"abc"), ("empty", b""), ("absent", None)]


def test_metadata_headers_and_timestamps(mock_kafka, ray_session, unique_name,
                                         tmp_path) -> None:
    settings = mock_kafka.client_settings()
    stamps = [1_700_000_000_000 + i for i in range(8)]
    where = produce(settings, unique_name, [f"v{i}".encode() for i in range(8)],
                    keys=[f"k{i}".encode() for i in range(8)], headers=[HEADERS] * 8,
                    timestamps=stamps)
    table = pw.io.kafka.read(reader_settings(mock_kafka, f"g-{unique_name}"), unique_name,
                             format="plaintext", with_metadata=True, mode="static")
    assert table.typehints()["_metadata"] == dt.JSON
    pw.io.jsonlines.write(table, tmp_path / "in.jsonl")
    pw.io.kafka.write(table.select(table.data, table.key), settings, f"{unique_name}-out",
                      format="plaintext", value=table.data, headers=[table.key])
    pw.run()

    rows = jsonl_rows(tmp_path / "in.jsonl")
    assert len(rows) == 8
    for row in rows:
        i = int(row["data"][1:])
        meta = row["_metadata"]
        assert meta == {"timestamp_millis": stamps[i], "topic": unique_name,
                        "partition": where[i][0], "offset": where[i][1],
                        "headers": [["trace", base64.b64encode(b"abc").decode()],
                                    ["empty", ""], ["absent", None]]}
        assert row["key"] == f"k{i}"
    out = consume_all(settings, f"{unique_name}-out", expect=8, idle_s=1.0)
    assert sorted(m.value for m in out) == [f"v{i}".encode() for i in range(8)]
    for message in out:
        headers = dict(message.headers)
        assert list(headers) == ["pathway_time", "pathway_diff", "key"]
        assert headers["key"] == b"k" + message.value[1:] and headers["pathway_diff"] == b"1"
        assert int(headers["pathway_time"]) > 1_700_000_000_000


def test_start_after_every_message_reads_only_new_ones(mock_kafka, ray_session, unique_name,
                                                       tmp_path) -> None:
    settings = mock_kafka.client_settings()
    produce(settings, unique_name, [f"old{i}" for i in range(10)])
    later = int(time.time() * 1000) + 3_600_000
    table = pw.io.kafka.read(reader_settings(mock_kafka, f"g-{unique_name}"), unique_name,
                             format="plaintext", start_from_timestamp_ms=later,
                             autocommit_duration_ms=100)
    pw.io.jsonlines.write(table, tmp_path / "out.jsonl")
    pipeline = start()
    try:
        # Every reader must have opened (taken its start offsets) before new messages come.
        wait_for(lambda: all(s["opens"] > 0 for s in reader_stats(pipeline)), 60,
                 "every reader to run")
        produce(settings, unique_name, [f"new{i}" for i in range(5)])
        wait_for(lambda: len(jsonl_rows(tmp_path / "out.jsonl")) >= 5, 60, "the new messages")
        time.sleep(0.5)
    finally:
        stop_pipeline(pipeline)
    assert sorted(r["data"] for r in jsonl_rows(tmp_path / "out.jsonl")) == [
        f"new{i}" for i in range(5)]


@pytest.mark.parametrize(("committed", "by_time", "reset", "expected"), [
    (42, None, "earliest", 42),        # the group's commit wins
    (42, 7, "earliest", 42),           # ... also over start_from_timestamp_ms
    (-1001, 70, "latest", 70),         # no commit: the first offset at or after the time
    (-1001, -1, "earliest", 100),      # every message is older: start at the end
    (-1001, 3, "earliest", 10),        # that offset was deleted: the first one left
    (-1001, None, "earliest", 10),     # auto.offset.reset
    (-1001, None, "smallest", 10),
    (-1001, None, "latest", 100),
    (-1001, None, "end", 100),
    (5, None, "earliest", 10),         # committed offset deleted by retention: reset
    (500, None, "latest", 100),        # committed past the end (topic recreated): reset
])
def test_choose_start_offset(committed, by_time, reset, expected) -> None:
    assert choose_start_offset(committed, by_time, low=10, high=100, reset=reset) == expected


def test_choose_start_offset_with_reset_error() -> None:
    with pytest.raises(KafkaSettingsError, match="auto.offset.reset='error'"):
        choose_start_offset(-1001, None, low=0, high=5, reset="error")


def test_start_offsets_at_the_client_boundary(mock_kafka, unique_name) -> None:
    """What the mock answers, turned into start offsets: commit, time (-1: end), reset."""
    settings = mock_kafka.client_settings()
    where = produce(settings, unique_name, [b"x"] * 40)
    ends = {p: 0 for p in range(4)}
    for partition, offset in where:
        ends[partition] = max(ends[partition], offset + 1)
    group = f"g-{unique_name}"
    consumer = Consumer({**settings, "group.id": group, "log_level": 3})
    try:
        consumer.commit(offsets=[TopicPartition(unique_name, 1, 2)], asynchronous=False)
        now = int(time.time() * 1000)
        assert start_offsets(consumer, unique_name, [0, 1, 2, 3], "earliest", None, 10) == {
            0: 0, 1: 2, 2: 0, 3: 0}
        assert start_offsets(consumer, unique_name, [0, 1, 2, 3], "earliest", now, 10) == {
            0: ends[0], 1: 2, 2: ends[2], 3: ends[3]}
        assert start_offsets(consumer, unique_name, [0, 2], "latest", None, 10) == {
            0: ends[0], 2: ends[2]}
    finally:
        consumer.close()
