"""The broker restarts mid-stream: readers, the sink and the commits ride it out, and the
output holds exactly the input (each input message once).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

import raystream as pw
from raystream.run import start
from tests.test_kafka_helpers import (
    consume_all,
    fold,
    message_count,
    produce,
    reader_settings,
    reader_stats,
    stop_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.ray]

TOTAL = 4000


class Event(pw.Schema):
    n: int


def test_broker_restart_mid_stream(kafka_broker, ray_session, unique_name) -> None:
    topic, out_topic = unique_name, f"{unique_name}-out"
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.create_topic(out_topic, partitions=1)
    settings = kafka_broker.client_settings()
    events = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), topic,
                              format="json", schema=Event, autocommit_duration_ms=200)
    pw.io.kafka.write(events.select(events.n, square=events.n * events.n), settings, out_topic)

    def producing() -> None:
        for first in range(0, TOTAL, 100):
            produce(settings, topic, [json.dumps({"n": i}) for i in range(first, first + 100)])
            time.sleep(0.1)

    pipeline = start()
    producer = threading.Thread(target=producing)
    try:
        wait_for(lambda: pipeline.status()["times_closed"] > 0, 60, "the readers to run")
        producer.start()
        wait_for(lambda: message_count(settings, out_topic) >= 1000, 60, "output before restart")
        kafka_broker.restart_broker()
        restarted_at = message_count(settings, out_topic)
        producer.join()
        wait_for(lambda: message_count(settings, out_topic) >= TOTAL, 120, "every message")
        stats = reader_stats(pipeline)
    finally:
        stop_pipeline(pipeline)
        producer.join()
    assert restarted_at < TOTAL, "the restart happened after the stream"
    sent = Counter(m.json()["n"] for m in consume_all(settings, topic, expect=TOTAL))
    assert set(sent) == set(range(TOTAL))
    out = consume_all(settings, out_topic, expect=sum(sent.values()))
    assert fold(out, ["n", "square"]) == {(n, n * n): count for n, count in sent.items()}
    assert sum(s["records"] for s in stats) == sum(sent.values())
