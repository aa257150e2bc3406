"""Kafka -> groupby -> Kafka exactly once, on a broker with real transactions (noida-db).

A restart after the driver's whole session is SIGKILLed continues from the last checkpoint:
read_committed consumers of the output see every change exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.driver_process import DriverProcess
from tests.recovery_helpers import (
    expected_totals,
    fold,
    negative_folds,
    repeated_changes,
    wait_until,
)
from tests.test_kafka_helpers import consume_all, produce

pytestmark = [pytest.mark.kafka, pytest.mark.ray]

GROUPS = 30
COLUMNS = ["k", "s", "n"]


def _events(start: int, count: int) -> list[str]:
    return [json.dumps({"k": i % GROUPS, "v": i % 5}) for i in range(start, start + count)]


def expected(total: int) -> Counter:
    return expected_totals(total, GROUPS, 5)


def output_rows(settings: dict, topic: str) -> list[dict]:
    """The output as a read_committed consumer sees it (librdkafka's default isolation)."""
    return [m.json() for m in consume_all(settings, topic, idle_s=1.0, timeout_s=30)]


def _manifests(storage: Path) -> int:
    return len(list(storage.glob("*/manifests/*.json")))


def test_a_crashed_kafka_groupby_restarts_exactly_once(noida_broker, unique_name,
                                                       tmp_path) -> None:
    source, target = f"{unique_name}-in", f"{unique_name}-out"
    noida_broker.create_topic(source, partitions=4)
    noida_broker.create_topic(target, partitions=2)
    settings = noida_broker.client_config()
    storage = tmp_path / "pstorage"
    args = [settings["bootstrap.servers"], source, target, str(storage)]
    produce(settings, source, _events(0, 4000))
    first = DriverProcess("tests.pipelines.kafka_groupby", args, tmp_path / "first.log")
    try:
        wait_until(lambda: first.running() and _manifests(storage) >= 1
                   and output_rows(settings, target), 240,
                   lambda: f"the first run's committed output ({first.output()[-3000:]})")
        produce(settings, source, _events(4000, 3000))
        wait_until(lambda: first.running() and _manifests(storage) >= 2, 120,
                   lambda: f"a second checkpoint ({first.output()[-3000:]})")
    finally:
        first.crash()
    produce(settings, source, _events(7000, 2000))
    second = DriverProcess("tests.pipelines.kafka_groupby", args, tmp_path / "second.log")
    try:
        wait_until(lambda: second.running() and
                   fold(output_rows(settings, target), COLUMNS) == expected(9000), 240,
                   lambda: f"the exact output after the restart ({second.output()[-3000:]})")
        assert "restored checkpoint" in second.output()
    finally:
        code = second.stop()
    rows = output_rows(settings, target)
    assert code == 0, second.output()[-3000:]
    assert fold(rows, COLUMNS) == expected(9000)
    assert repeated_changes(rows, COLUMNS) == []
    assert negative_folds(rows, COLUMNS) == []
