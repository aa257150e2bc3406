"""max_backlog_size: a reader at its limit pauses its partitions, keeps polling, and
resumes where it stopped: nothing is re-read and nothing is skipped.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import ray
from raystream.connectors.kafka import KafkaSourceSpec

import raystream as pw
from raystream.io._base import parse_spec
from raystream.run import start
from tests.test_kafka_helpers import produce, reader_settings, reader_stats

pytestmark = [pytest.mark.kafka]


def test_paused_reader_polls_without_reading_and_resumes_in_place(kafka_broker,
                                                                   unique_name) -> None:
    """The client contract: keep-alive polls while paused return nothing and move nothing."""
    kafka_broker.create_topic(unique_name, partitions=2)
    settings = kafka_broker.client_settings()
    produce(settings, unique_name, [f"m{i}" for i in range(400)],
            partition=[i % 2 for i in range(400)])
    # A tight poll interval: a consumer that stopped polling would be in trouble after 1 s.
    config = reader_settings(kafka_broker, f"g-{unique_name}", **{
        "session.timeout.ms": 1000, "max.poll.interval.ms": 1000, "log_level": 3})
    spec = KafkaSourceSpec("t", unique_name, config, parse_spec(None, "plaintext"),
                           key_column=True)
    reader = spec.open(["0", "1"])
    try:
        seen: list[str] = []
        while len(seen) < 150:
            batch = reader.read_batch(150 - len(seen), 1.0)
            seen += batch.batch.column("data").to_pylist() if batch else []
        before = reader.position()
        # the lag gauge reads the cached marks, which librdkafka's fetcher refreshes on
        # its own: they may trail the produced offsets for a moment
        deadline = time.monotonic() + 10
        while reader.metrics()["lag_records"] != 250.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reader.metrics()["lag_records"] == 250.0
        lags = reader.partition_lags()
        assert set(lags) == {"0", "1"} and sum(lags.values()) == 250
        reader.pause()
        produce(settings, unique_name, [f"m{i}" for i in range(400, 600)],
                partition=[i % 2 for i in range(400, 600)])
        paused_until = time.monotonic() + 3.0  # three poll intervals
        while time.monotonic() < paused_until:
            assert reader.read_batch(0, 0.05) is None
        assert reader.position() == before
        assert not reader.held, "librdkafka kept delivering paused partitions"
        reader.resume()
        deadline = time.monotonic() + 30
        while len(seen) < 600 and time.monotonic() < deadline:
            batch = reader.read_batch(1000, 0.5)
            seen += batch.batch.column("data").to_pylist() if batch else []
        assert reader.read_batch(1000, 1.0) is None
        assert reader.metrics()["lag_records"] == 0.0
        assert reader.partition_lags() == {"0": 0, "1": 0}
    finally:
        reader.close()
    assert sorted(seen) == sorted(f"m{i}" for i in range(600))
    assert reader.position() == {"0": {"offset": 300}, "1": {"offset": 300}}


@pytest.mark.ray
@pytest.mark.parametrize("partitions", [2, 64])
def test_backlog_limit_pauses_the_reader(kafka_broker, ray_session, unique_name,
                                         partitions: int) -> None:
    """A slow output holds the durable frontier back; the readers stop at the limit.

    With 64 partitions the limit is shared by every reader of the topic (4 here).
    """
    kafka_broker.create_topic(unique_name, partitions=partitions)
    total, limit = 3000, 300
    produce(kafka_broker.client_settings(), unique_name, [json.dumps({"n": i})
                                                          for i in range(total)])

    class Event(pw.Schema):
        n: int

    events = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), unique_name,
                              format="json", schema=Event, mode="static",
                              max_backlog_size=limit, autocommit_duration_ms=100)
    received: list[int] = []

    def slow(time_: int, batch) -> None:
        received.extend(batch.column("n").to_pylist())
        time.sleep(0.2)

    pw.io.subscribe(events, on_batch=slow)
    pipeline = start()
    samples: list[list[dict]] = []
    granted: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(reader_stats(pipeline))
            status = ray.get(pipeline.coordinator.status.remote())
            granted.append(sum(status["backlog_granted"].values()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        pipeline.wait(timeout=120)
    finally:
        done.set()
        sampler.join()
        pipeline.shutdown()
    assert sorted(received) == list(range(total))
    # Readers are sampled one after another, so a sum of their in-flight rows could
    # mix moments; the invariant is checked where it holds atomically instead: each
    # reader stays within its allowance, and the allowances, granted by the
    # coordinator alone, never add up to more than the limit.
    assert all(s["in_flight"] <= s["allowance"] for sample in samples for s in sample
               if s["allowance"] is not None)
    assert granted and max(granted) <= limit
    assert max(s["in_flight"] for sample in samples for s in sample) > 0
    assert any(s["paused"] for sample in samples for s in sample), "never paused"
    assert sum(s["records"] for s in samples[-1]) == total  # no message read twice
