"""More partitions than readers: five partitions, two reader actors, every message once;
static mode ends at the high watermarks taken at start and commits them.
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, TopicPartition

import raystream as pw
from raystream.run import start
from tests.helpers import fold_rows
from tests.test_kafka_helpers import (
    jsonl_rows,
    produce,
    reader_settings,
    reader_stats,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.ray]

PARTITIONS = 5


class Event(pw.Schema):
    n: int
    partition: int


def test_five_partitions_two_readers(kafka_broker, ray_session, unique_name, tmp_path) -> None:
    kafka_broker.create_topic(unique_name, partitions=PARTITIONS)
    settings = kafka_broker.client_settings()
    values = [json.dumps({"n": i, "partition": i % PARTITIONS}) for i in range(5000)]
    produce(settings, unique_name, values, partition=[i % PARTITIONS for i in range(5000)])
    group = f"g-{unique_name}"
    events = pw.io.kafka.read(reader_settings(kafka_broker, group), unique_name,
                              format="json", schema=Event, mode="static", parallel_readers=2,
                              autocommit_duration_ms=200, max_batch_rows=700)
    pw.io.jsonlines.write(events, tmp_path / "out.jsonl")
    pipeline = start()
    try:
        pipeline.wait(timeout=120)
        stats = reader_stats(pipeline)
    finally:
        pipeline.shutdown()

    assert fold_rows(jsonl_rows(tmp_path / "out.jsonl"), ["n", "partition"]) == {
        (i, i % PARTITIONS): 1 for i in range(5000)}
    owned = sorted(s["name"].rsplit(":", 1)[1] for s in stats)
    assert owned == ["0+2+4", "1+3"]
    assert sorted(s["records"] for s in stats) == [2000, 3000]
    consumer = Consumer({**settings, "group.id": group, "log_level": 3})
    try:
        done = consumer.committed([TopicPartition(unique_name, p) for p in range(PARTITIONS)],
                                  timeout=10)
    finally:
        consumer.close()
    assert [tp.offset for tp in done] == [1000] * PARTITIONS


def test_static_mode_stops_at_the_watermarks_of_the_start(kafka_broker, ray_session,
                                                          unique_name, tmp_path) -> None:
    """Messages produced while a static run reads are left for the next run.

    A backlog of 10 makes the run take several commits, so the extra messages
    arrive while it is reading (after its reader took the watermarks).
    """
    kafka_broker.create_topic(unique_name, partitions=1)
    settings = kafka_broker.client_settings()
    produce(settings, unique_name, [json.dumps({"n": i, "partition": 0}) for i in range(100)])
    events = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), unique_name,
                              format="json", schema=Event, mode="static", max_backlog_size=10,
                              autocommit_duration_ms=100)
    pw.io.jsonlines.write(events, tmp_path / "out.jsonl")
    pipeline = start()
    try:
        wait_for(lambda: reader_stats(pipeline)[0]["records"] > 0, 60, "the reader to read")
        produce(settings, unique_name, [json.dumps({"n": i, "partition": 0})
                                        for i in range(100, 200)])
        assert reader_stats(pipeline)[0]["records"] < 100, "the run ended too soon"
        pipeline.wait(timeout=120)
    finally:
        pipeline.shutdown()
    got = sorted(r["n"] for r in jsonl_rows(tmp_path / "out.jsonl"))
    assert got == list(range(100))
