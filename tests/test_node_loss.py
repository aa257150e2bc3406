"""A node of a two-node Ray cluster dies mid-run: its actors are recreated on the surviving
node, the dataflow rolls back to the last checkpoint, and the output stays exact."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.driver_process import DriverProcess
from tests.recovery_helpers import (
    changelog,
    expected_totals,
    fold,
    negative_folds,
    repeated_changes,
    wait_until,
)
from tests.services.ray_cluster import LocalRayCluster
from tests.test_kafka_helpers import produce

pytestmark = [pytest.mark.kafka, pytest.mark.ray]

GROUPS = 20
COLUMNS = ["k", "s", "n"]


def _events(start: int, count: int) -> list[str]:
    return [json.dumps({"k": i % GROUPS, "v": i % 4}) for i in range(start, start + count)]


def expected(total: int) -> Counter:
    return expected_totals(total, GROUPS, 4)


def test_a_dead_node_is_recovered_on_the_survivor_with_exact_output(kafka_broker, unique_name,
                                                                    tmp_path) -> None:
    topic = unique_name
    kafka_broker.create_topic(topic, partitions=4)
    settings = kafka_broker.client_settings()
    produce(settings, topic, _events(0, 3000))
    out = tmp_path / "out.jsonl"
    cluster = LocalRayCluster(workers=1).start()
    driver = None
    try:
        worker_node = next(n["node_id"] for n in cluster.alive_nodes()
                           if "worker_node" in n["resources_total"])
        driver = DriverProcess("tests.pipelines.kafka_groupby_files",
                               [kafka_broker.bootstrap_servers, topic, f"g-{topic}", str(out)],
                               tmp_path / "driver.log", env=cluster.env())
        wait_until(lambda: driver.running() and len(changelog(out)) >= GROUPS, 240,
                   lambda: f"the first output ({driver.output()[-3000:]})")
        on_worker = [a for a in cluster.actors("") if a.get("node_id") == worker_node
                     and a.get("state") == "ALIVE"]
        assert on_worker, "placement spreads readers over both nodes"
        produce(settings, topic, _events(3000, 2000))
        cluster.kill_node("worker0")  # the node dies: raylet, workers, all
        produce(settings, topic, _events(5000, 1000))
        wait_until(lambda: driver.running() and fold(changelog(out), COLUMNS) == expected(6000),
                   300, lambda: f"the exact output after the node loss "
                                f"({driver.output()[-4000:]})")
        wait_until(lambda: "recovered in" in driver.output(), 60,
                   lambda: f"the recovery's log line ({driver.output()[-3000:]})")
        code = driver.stop()
        assert code == 0, driver.output()[-3000:]
    finally:
        if driver is not None and driver.alive():
            driver.crash()
        cluster.stop()
    rows = changelog(out)
    assert fold(rows, COLUMNS) == expected(6000)
    assert repeated_changes(rows, COLUMNS) == []
    assert negative_folds(rows, COLUMNS) == []
