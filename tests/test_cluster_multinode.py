"""Two Ray nodes on this machine: a Kafka pipeline submitted as a job spreads its readers.

The cluster (fixture ``ray_cluster``) is a head node with ``{"head_node": 1}``
and a worker with ``{"worker_node": 1}``. The job is
``examples/cluster/kafka_totals.py`` over a 4-partition topic: one reader per
partition, the filter and the reduce's combiner fused into each reader, a
keyed reduce and a JSON-lines sink. The test checks with Ray's state API that
the readers run on both nodes and no filter actor exists, then stops the job with
``ray job stop`` and checks the result and the committed offsets.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.helpers import fold_jsonl
from tests.services._proc import wait_until
from tests.services.kafka import COMPAT, KafkaBroker
from tests.services.ray_cluster import LocalRayCluster
from tests.test_metrics import samples

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "cluster" / "kafka_totals.py"
PARTITIONS = 4


def produce(broker: KafkaBroker, topic: str, data: list[tuple[int, int]]) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, **COMPAT,
                         "log_level": 3, "linger.ms": 20})
    for i, (key, value) in enumerate(data):
        producer.produce(topic, json.dumps({"key": key, "value": value}).encode(),
                         partition=i % PARTITIONS)
    assert producer.flush(30) == 0


def committed_and_end(broker: KafkaBroker, topic: str, group: str) -> tuple[list, list]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, **COMPAT,
                         "log_level": 3, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = [tp.offset for tp in consumer.committed(parts, timeout=20)]
        ends = [consumer.get_watermark_offsets(tp, timeout=20)[1] for tp in parts]
        return committed, ends
    finally:
        consumer.close()


def reference(data: list[tuple[int, int]]) -> dict[tuple, int]:
    result: dict[int, list[int]] = {}
    for key, value in data:
        if value % 3 != 0:
            total = result.setdefault(key, [0, 0])
            total[0] += value
            total[1] += 1
    return {(k, t, n): 1 for k, (t, n) in result.items()}


def state(output: Path) -> dict[tuple, int]:
    return dict(fold_jsonl(output, ["key", "total", "n"])) if output.exists() else {}


def lag_partitions(cluster: LocalRayCluster, name: str,
                   metric: str = "ray_raystream_consumer_lag_records") -> set[str]:
    """Partitions whose reader's lag gauge reached a node's Prometheus endpoint."""
    found = samples(cluster.metrics_text(), metric, name)
    return {partition for labels, value in found if value >= 0
            for partition in labels["partition"].split("+")}  # a reader's label: "0+2"


def node_kinds(cluster: LocalRayCluster) -> dict[str, str]:
    """node id -> "head" or "worker" (from the custom resources)."""
    return {n["node_id"]: "head" if "head_node" in n["resources_total"] else "worker"
            for n in cluster.alive_nodes()}


def placement(cluster: LocalRayCluster, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """Partition -> node of its alive reader, and instance -> node of filter actors."""
    readers, filters = {}, {}
    for actor in cluster.actors(f"{name}:"):
        if actor["state"] != "ALIVE":
            continue
        reader = re.fullmatch(rf"{name}:reader\d+:kafka:.*:(\d+(?:\+\d+)*)", actor["name"])
        chain = re.fullmatch(rf"{name}:op1:filter[^:]*:(\d+)", actor["name"])
        if reader:  # a reader of partitions 0 and 2 is named ...:0+2
            readers.update(dict.fromkeys(reader.group(1).split("+"), actor["node_id"]))
        elif chain:
            filters[chain.group(1)] = actor["node_id"]
    return readers, filters


def test_kafka_job_spreads_readers_over_two_nodes_and_stops_cleanly(
        ray_cluster: LocalRayCluster, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    name = f"multinode-{uuid.uuid4().hex[:8]}"
    topic, group, output = f"{name}-events", f"{name}-group", tmp_path / "totals.jsonl"
    kafka_broker.create_topic(topic, partitions=PARTITIONS)
    rng = random.Random(5)
    first = [(rng.randrange(30), rng.randrange(1000)) for _ in range(4000)]
    second = [(rng.randrange(30), rng.randrange(1000)) for _ in range(2000)]
    produce(kafka_broker, topic, first)
    workdir = tmp_path / "job"
    workdir.mkdir()
    shutil.copy(EXAMPLE, workdir / EXAMPLE.name)
    env = json.dumps({"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": "120"}})
    settings = [f"--setting={k}={v}" for k, v in {**COMPAT, "log_level": 3}.items()]
    submitted = ray_cluster.ray_cli(
        "job", "submit", "--no-wait", f"--submission-id={name}", f"--working-dir={workdir}",
        f"--runtime-env-json={env}", "--", "python", EXAMPLE.name,
        f"--bootstrap={kafka_broker.bootstrap_servers}", f"--topic={topic}", f"--group={group}",
        f"--output={output}", f"--name={name}", "--setting=auto.offset.reset=earliest",
        "--status-interval=1", *settings)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    try:
        ray_cluster.wait_job(name, lambda: state(output) == reference(first), 300,
                             "totals of the first batch")
        readers, filters = placement(ray_cluster, name)
        kinds = node_kinds(ray_cluster)
        assert sorted(readers) == ["0", "1", "2", "3"], readers
        assert {kinds[node] for node in readers.values()} == {"head", "worker"}, \
            "readers are spread over both nodes"
        assert filters == {}, "the filter runs inside each reader (fused with the combiner)"
        every = {str(i) for i in range(PARTITIONS)}
        ray_cluster.wait_job(name, lambda: lag_partitions(ray_cluster, name) == every, 90,
                             "Kafka lag gauges of both readers (2 partitions each)")
        ray_cluster.wait_job(
            name, lambda: lag_partitions(ray_cluster, name,
                                         "ray_raystream_partition_lag_records") == every, 90,
            "per-partition Kafka lag gauges of all 4 partitions")
        produce(kafka_broker, topic, second)
        ray_cluster.wait_job(name, lambda: state(output) == reference(first + second), 120,
                             "all totals")
    finally:
        stopped = ray_cluster.ray_cli("job", "stop", name, timeout=240)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert ray_cluster.job_status(name) == "STOPPED"
    logs = ray_cluster.job_logs(name)
    assert f"pipeline {name} stopped cleanly" in logs
    assert re.search(rf"^\[{name}\] in [\d,]+ rows .*\| lag [\d,]+ \|", logs, re.M), \
        "the status line shows the consumer lag"
    committed, ends = committed_and_end(kafka_broker, topic, group)
    assert committed == ends == [1500] * PARTITIONS, "every offset is committed at the stop"
    wait_until(lambda: not [a for a in ray_cluster.actors(f"{name}:") if a["state"] != "DEAD"],
               60, "every actor is dead")

