"""Reading transactional topics: commit markers take offsets that are never delivered, yet a
static read still ends at the high watermark; aborted records are never read.

The 0.9 broker has no transactions. The librdkafka mock cluster shows aborted records to
``read_committed`` consumers, so aborted transactions are only produced on noida-db.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from raystream.connectors.base import ParseSpec
from raystream.connectors.kafka import KafkaSourceSpec

import raystream as pw
from raystream.run import start
from tests.test_kafka_helpers import jsonl_rows, reader_settings


def produce_transactions(settings: dict[str, Any], topic: str, tid: str, partitions: int,
                         aborted: bool) -> None:
    """Commits ``m0..m4`` and ``m5..m9`` (optionally with an aborted ``x0..x4`` between)."""
    producer = Producer({**settings, "transactional.id": tid, "log_level": 3})
    producer.init_transactions(10)
    batches = [("m", 0, True), *([("x", 0, False)] if aborted else []), ("m", 5, True)]
    for prefix, first, commit in batches:  # markers in the middle and at the end
        producer.begin_transaction()
        for i in range(first, first + 5):
            producer.produce(topic, f"{prefix}{i}", partition=i % partitions)
        if commit:
            producer.commit_transaction(10)
        else:
            producer.flush(10)
            producer.abort_transaction(10)


@pytest.mark.ray
@pytest.mark.parametrize("service", ["mock_kafka", "noida_broker"])
def test_static_read_ends_after_a_transaction_marker(service, request, ray_session,
                                                     unique_name, tmp_path) -> None:
    broker = request.getfixturevalue(service)
    aborted = service == "noida_broker"
    if aborted:
        broker.create_topic(unique_name, partitions=1)
    produce_transactions(broker.client_settings(), unique_name, unique_name, 1, aborted)
    table = pw.io.kafka.read(reader_settings(broker, f"g-{unique_name}"), unique_name,
                             format="plaintext", mode="static", autocommit_duration_ms=100)
    pw.io.jsonlines.write(table, tmp_path / "out.jsonl")
    pipeline = start()
    try:
        pipeline.wait(timeout=60)  # TimeoutError if a reader never reaches its end
    finally:
        pipeline.shutdown()
    assert sorted(r["data"] for r in jsonl_rows(tmp_path / "out.jsonl")) == [
        f"m{i}" for i in range(10)]


@pytest.mark.noida
def test_the_reader_sees_committed_rows_only_and_ends(noida_broker, unique_name) -> None:
    noida_broker.create_topic(unique_name, partitions=2)
    produce_transactions(noida_broker.client_config(), unique_name, unique_name, 2, True)
    spec = KafkaSourceSpec(
        "src", unique_name, reader_settings(noida_broker, f"g-{unique_name}"),
        ParseSpec("plaintext", pa.schema([("data", pa.string())])), mode="static")
    assert [p.id for p in spec.list_partitions()] == ["0", "1"]
    reader = spec.open(["0", "1"])
    got: list[str] = []
    deadline = time.monotonic() + 30
    while not reader.exhausted() and time.monotonic() < deadline:
        parsed = reader.read_batch(100, 0.5)
        if parsed is not None:
            assert not parsed.errors
            got += parsed.batch.column("data").to_pylist()
    assert reader.exhausted(), f"the read did not end; positions {reader.position()}"
    reader.close()
    assert sorted(got) == [f"m{i}" for i in range(10)]
    # Partition 0: m0 m2 m4 +commit, x0 x2 x4 +abort, m6 m8 +commit; partition 1: m1 m3 +commit,
    # x1 x3 +abort, m5 m7 m9 +commit. The read ends past the last marker of each.
    assert {p: at["offset"] for p, at in reader.position().items()} == {"0": 11, "1": 10}
