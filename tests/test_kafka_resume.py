"""A streaming run stopped mid-stream and restarted under the same group.id loses nothing
and duplicates nothing: offsets are committed only after the Kafka sink flushed.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

import raystream as pw
from raystream.graph import G
from raystream.run import start
from tests.test_kafka_helpers import (
    consume_all,
    fold,
    message_count,
    produce,
    stop_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.ray]

TOTAL = 6000


class Event(pw.Schema):
    n: int


def define(kafka_broker, topic: str, group: str, mode: str) -> None:
    settings = {**kafka_broker.client_settings(), "group.id": group,
                "auto.offset.reset": "earliest"}
    events = pw.io.kafka.read(settings, topic, format="json", schema=Event, mode=mode,
                              autocommit_duration_ms=200)
    pw.io.kafka.write(events.select(events.n, double=events.n * 2),
                      kafka_broker.client_settings(), f"{topic}-out")


def committed(kafka_broker, topic: str, group: str) -> int:
    consumer = Consumer({**kafka_broker.client_settings(), "group.id": group, "log_level": 3})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    finally:
        consumer.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def test_stop_and_restart(kafka_broker, ray_session, unique_name) -> None:
    topic, group = unique_name, f"g-{unique_name}"
    kafka_broker.create_topic(topic, partitions=2)
    settings = kafka_broker.client_settings()

    def producing() -> None:
        for start_id in range(0, TOTAL, 100):
            produce(settings, topic, [json.dumps({"n": i})
                                      for i in range(start_id, start_id + 100)])
            time.sleep(0.1)

    define(kafka_broker, topic, group, "streaming")
    first = start()
    producer = threading.Thread(target=producing)
    try:
        wait_for(lambda: first.status()["times_closed"] > 0, 60, "the readers to run")
        producer.start()
        wait_for(lambda: message_count(settings, f"{topic}-out") >= 500, 60,
                 "the first run's output")
    finally:
        stop_pipeline(first)
        producer.join()
    first_out = consume_all(settings, f"{topic}-out", idle_s=1.0)
    read_first = committed(kafka_broker, topic, group)
    assert 500 <= len(first_out) < TOTAL, "stop the first run mid-stream"
    assert read_first == len(first_out), "the clean stop commits exactly what was written"

    G.clear()
    define(kafka_broker, topic, group, "static")
    pw.run()
    out = consume_all(settings, f"{topic}-out", expect=TOTAL, idle_s=1.0)
    assert len(out) == TOTAL
    assert fold(out, ["n", "double"]) == {(i, 2 * i): 1 for i in range(TOTAL)}
    assert committed(kafka_broker, topic, group) == TOTAL
