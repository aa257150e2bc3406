"""Scaled ingestion on a 4-node local Ray cluster: 64 Kafka partitions and 16 Kinesis shards.

Four ``ray start`` processes (a head and three workers, one CPU each) share one
module-scoped cluster. Each test runs a streaming groupby driver joined to it
(``tests.pipelines.*_groupby_files``) and checks the placement of the readers
(every node reads, evenly), the exact folded output, the source changing while
running (the topic grows from 64 to 72 partitions; shards are split and merged)
and, for Kafka, a worker node SIGKILLed mid-run (its process group: raylet,
workers, all) with an exact result and no row repeated.

Marked ``scale``: ``pytest -m scale`` runs only these (about 4-6 minutes here).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator

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
from tests.services.kinesis import wait_stream_active
from tests.services.ray_cluster import LocalRayCluster
from tests.test_kafka_helpers import produce
from tests.test_kinesis_helpers import put_records

pytestmark = [pytest.mark.scale, pytest.mark.ray]

GROUPS = 50
COLUMNS = ["k", "s", "n"]


@pytest.fixture(scope="module")
def four_nodes() -> Iterator[LocalRayCluster]:
    """A head and three worker nodes, one CPU each."""
    cluster = LocalRayCluster(workers=3, cpus_per_node=1, timeout=240)
    try:
        cluster.start()
    except TimeoutError as first:  # a node exiting at start-up on a loaded machine: retry once
        print(f"four_nodes: first start failed, starting again: {first}", file=sys.stderr)
        cluster = LocalRayCluster(workers=3, cpus_per_node=1, timeout=240).start()
    yield cluster
    cluster.stop()


def _events(start: int, count: int) -> list[str]:
    return [json.dumps({"k": i % GROUPS, "v": i % 7}) for i in range(start, start + count)]


def _expected(total: int) -> Counter:
    return expected_totals(total, GROUPS, 7)


def _readers_per_node(cluster: LocalRayCluster, marker: str) -> Counter:
    """Alive reader actors of the driver's pipeline, counted by node."""
    return Counter(a["node_id"] for a in cluster.actors("")
                   if marker in (a.get("name") or "") and a.get("state") == "ALIVE")


def _check_even(per_node: Counter, nodes: int, readers: int) -> None:
    assert len(per_node) == nodes, f"every node reads: {dict(per_node)}"
    assert sum(per_node.values()) == readers, dict(per_node)
    assert max(per_node.values()) - min(per_node.values()) <= 1, f"evenly: {dict(per_node)}"


def _finish(driver: DriverProcess, out) -> list[dict]:
    code = driver.stop()
    assert code == 0, driver.output()[-3000:]
    rows = changelog(out)
    assert repeated_changes(rows, COLUMNS) == []
    assert negative_folds(rows, COLUMNS) == []
    return rows


@pytest.mark.kinesis
def test_16_shards_over_4_nodes_split_and_merged_while_running(
        four_nodes, kinesalite, unique_name, tmp_path) -> None:
    stream, out = unique_name, tmp_path / "out.jsonl"
    client = kinesalite.client()
    kinesalite.create_stream(stream, shards=16)
    keys = [f"pk-{i}" for i in range(400)]

    def put(start: int, count: int) -> None:
        put_records(client, stream, _events(start, count),
                    [keys[i % len(keys)] for i in range(start, start + count)])

    put(0, 16_000)
    driver = DriverProcess("tests.pipelines.kinesis_groupby_files", [stream, str(out)],
                           tmp_path / "driver.log", env=four_nodes.env(**kinesalite.env()))
    try:
        wait_until(lambda: driver.running() and fold(changelog(out), COLUMNS) ==
                   _expected(16_000), 240,
                   lambda: f"the exact output of 16 shards ({driver.output()[-3000:]})")
        _check_even(_readers_per_node(four_nodes, ":reader"), 4, 16)  # one per shard

        shards = client.list_shards(StreamName=stream)["Shards"]
        first = shards[0]["HashKeyRange"]
        middle = (int(first["StartingHashKey"]) + int(first["EndingHashKey"])) // 2
        client.split_shard(StreamName=stream, ShardToSplit=shards[0]["ShardId"],
                           NewStartingHashKey=str(middle))
        wait_stream_active(client, stream)
        client.merge_shards(StreamName=stream, ShardToMerge=shards[14]["ShardId"],
                            AdjacentShardToMerge=shards[15]["ShardId"])
        wait_stream_active(client, stream)
        put(16_000, 4_000)
        wait_until(lambda: fold(changelog(out), COLUMNS) == _expected(20_000), 180,
                   lambda: f"the output after the resharding ({driver.output()[-3000:]})")
        open_shards = [s for s in client.list_shards(StreamName=stream)["Shards"]
                       if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        assert len(open_shards) == 16  # 16 + 2 children - 1 parent, then 2 merged into 1
        rows = _finish(driver, out)
    finally:
        if driver.alive():
            driver.crash()
    assert fold(rows, COLUMNS) == _expected(20_000)


@pytest.mark.kafka
def test_64_partitions_over_4_nodes_grow_and_survive_a_node_loss(
        four_nodes, kafka_broker, unique_name, tmp_path) -> None:
    topic, out = unique_name, tmp_path / "out.jsonl"
    kafka_broker.create_topic(topic, partitions=64)
    settings = kafka_broker.client_settings()
    produce(settings, topic, _events(0, 64_000), partition=[i % 64 for i in range(64_000)])
    started = time.monotonic()
    driver = DriverProcess("tests.pipelines.kafka_groupby_files",
                           [kafka_broker.bootstrap_servers, topic, f"g-{topic}", str(out)],
                           tmp_path / "driver.log", env=four_nodes.env())
    try:
        wait_until(lambda: driver.running() and changelog(out), 120,
                   lambda: f"the first output ({driver.output()[-3000:]})")
        print(f"64 partitions, 4 nodes: first output {time.monotonic() - started:.1f} s "
              "after the driver started")
        # default layout: min(64, 4 CPUs) = 4 readers of 16 partitions, 1 per node
        _check_even(_readers_per_node(four_nodes, ":reader"), 4, 4)
        wait_until(lambda: fold(changelog(out), COLUMNS) == _expected(64_000), 180,
                   lambda: f"the exact output of 64 partitions ({driver.output()[-3000:]})")

        kafka_broker.add_partitions(topic, 72)
        produce(settings, topic, _events(64_000, 8_000),
                partition=[64 + i % 8 for i in range(8_000)])
        wait_until(lambda: fold(changelog(out), COLUMNS) == _expected(72_000), 120,
                   lambda: f"the output of the 8 new partitions ({driver.output()[-3000:]})")
        assert "partitions 64, 65, 66, 67, 68, 69, 70, 71 of" in driver.output()

        four_nodes.kill_node("worker2")  # the node dies: raylet, workers, all
        produce(settings, topic, _events(72_000, 8_000), partition=[i % 72 for i in range(8_000)])
        wait_until(lambda: driver.running() and fold(changelog(out), COLUMNS) ==
                   _expected(80_000), 300,
                   lambda: f"the exact output after the node loss ({driver.output()[-4000:]})")
        wait_until(lambda: "recovered in" in driver.output(), 60,
                   lambda: f"the recovery's log line ({driver.output()[-3000:]})")
        assert len(_readers_per_node(four_nodes, ":reader")) == 3, "the survivors read"
        rows = _finish(driver, out)
    finally:
        if driver.alive():
            driver.crash()
    assert fold(rows, COLUMNS) == _expected(80_000)
