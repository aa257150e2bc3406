"""Transactional topics (mock cluster: the 0.9 broker has no transactions): commit markers
take offsets that are never delivered, yet a static read still ends at the high watermark.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

import raystream as pw
from raystream.run import start
from tests.test_kafka_helpers import jsonl_rows, reader_settings

pytestmark = [pytest.mark.ray]


def test_static_read_ends_after_a_transaction_marker(mock_kafka, ray_session, unique_name,
                                                     tmp_path) -> None:
    producer = Producer({**mock_kafka.client_settings(), "transactional.id": unique_name,
                         "log_level": 3})
    producer.init_transactions(10)
    for first in (0, 5):  # two transactions: markers in the middle and at the end
        producer.begin_transaction()
        for i in range(first, first + 5):
            producer.produce(unique_name, f"m{i}", partition=0)
        producer.commit_transaction(10)
    table = pw.io.kafka.read(reader_settings(mock_kafka, f"g-{unique_name}"), unique_name,
                             format="plaintext", mode="static", autocommit_duration_ms=100)
    pw.io.jsonlines.write(table, tmp_path / "out.jsonl")
    pipeline = start()
    try:
        pipeline.wait(timeout=60)  # TimeoutError if a reader never reaches its end
    finally:
        pipeline.shutdown()
    assert sorted(r["data"] for r in jsonl_rows(tmp_path / "out.jsonl")) == [
        f"m{i}" for i in range(10)]
