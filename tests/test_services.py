"""The test services themselves: each fixture against the real service."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from tests.services import kinesis as kinesis_mod
from tests.services import noida as noida_mod
from tests.services._proc import REPO_ROOT, ServiceNotInstalled, group_alive
from tests.services.kafka import KafkaBroker
from tests.services.kinesis import Kinesalite, MotoServer, wait_stream_active
from tests.services.mock_kafka import MockKafkaCluster
from tests.services.noida import NoidaBroker


def consume(consumer: Consumer, count: int, timeout: float = 60.0) -> list[Message]:
    """Polls until ``count`` messages arrived; fails on errors or timeout."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
            continue
        assert msg.error() is None, msg.error()
        out.append(msg)
    assert len(out) == count, f"got {len(out)} of {count} messages"
    return out


def produce(settings: dict[str, str], topic: str, values: list[bytes], **kw: Any) -> list[Message]:
    """Produces ``values`` (key = value) and returns the delivery reports."""
    reports: list[Message] = []
    producer = Producer(settings)
    for v in values:
        producer.produce(topic, key=v, value=v, on_delivery=lambda e, m: reports.append(m), **kw)
    assert producer.flush(30) == 0
    assert all(m.error() is None for m in reports), [m.error() for m in reports]
    return reports


@pytest.mark.kafka
def test_kafka09_partitions_groups_and_committed_offsets(
    kafka_broker: KafkaBroker, unique_name: str
) -> None:
    kafka_broker.create_topic(unique_name, partitions=3)
    values = [f"m{i}".encode() for i in range(60)]
    reports = produce(kafka_broker.client_settings(), unique_name, values)
    per_part: dict[int, int] = {}
    for m in reports:
        per_part[m.partition()] = per_part.get(m.partition(), 0) + 1
    assert sorted(per_part) == [0, 1, 2]

    group = {
        **kafka_broker.client_settings(),
        "group.id": unique_name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
    }
    first = Consumer(group)
    first.subscribe([unique_name])
    got = consume(first, 60)
    assert sorted(m.value() for m in got) == sorted(values)
    half = [TopicPartition(unique_name, p, n // 2) for p, n in per_part.items()]
    first.commit(offsets=half, asynchronous=False)
    first.close()

    second = Consumer(group)
    committed = second.committed([TopicPartition(unique_name, p) for p in range(3)], timeout=10)
    assert {tp.partition: tp.offset for tp in committed} == {p: n // 2 for p, n in per_part.items()}
    second.subscribe([unique_name])
    rest = consume(second, sum(n - n // 2 for n in per_part.values()))
    for p, n in per_part.items():
        offsets = sorted(m.offset() for m in rest if m.partition() == p)
        assert offsets == list(range(n // 2, n))
    second.close()


@pytest.mark.kafka
def test_kafka09_broker_restart_keeps_data_and_offsets(
    kafka_broker: KafkaBroker, unique_name: str
) -> None:
    kafka_broker.create_topic(unique_name, partitions=1)
    settings = kafka_broker.client_settings()
    producer = Producer(settings)
    for i in range(5):
        producer.produce(unique_name, value=f"before{i}".encode())
    assert producer.flush(30) == 0
    group = Consumer({**settings, "group.id": unique_name, "enable.auto.commit": "false"})
    group.commit(offsets=[TopicPartition(unique_name, 0, 3)], asynchronous=False)
    group.close()
    port = kafka_broker.port

    kafka_broker.restart_broker()

    assert kafka_broker.port == port
    for i in range(5):  # the same producer reconnects on its own
        producer.produce(unique_name, value=f"after{i}".encode())
    assert producer.flush(60) == 0
    consumer = Consumer({**settings, "group.id": unique_name})
    # right after a restart the group coordinator may still be loading the offsets: the
    # answer then carries NOT_COORDINATOR (retriable; raystream's readers retry it too)
    deadline = time.monotonic() + 30
    while True:
        [tp] = consumer.committed([TopicPartition(unique_name, 0)], timeout=30)
        if tp.error is None or tp.error.code() not in (KafkaError.NOT_COORDINATOR,
                                                       KafkaError.COORDINATOR_LOAD_IN_PROGRESS):
            break
        assert time.monotonic() < deadline, f"the coordinator never came back: {tp.error}"
        time.sleep(0.5)
    assert tp.error is None and tp.offset == 3
    consumer.assign([TopicPartition(unique_name, 0, 0)])
    got = [m.value().decode() for m in consume(consumer, 10)]
    assert got == [f"before{i}" for i in range(5)] + [f"after{i}" for i in range(5)]
    consumer.close()


CHILD_PRODUCE = """
import sys, confluent_kafka as ck
p = ck.Producer({"bootstrap.servers": sys.argv[1]})
for i in range(3):
    p.produce(sys.argv[2], key=b"k", value=b"v%d" % i, partition=0,
              headers=[("trace", b"t%d" % i)], timestamp=1_700_000_000_000 + i)
assert p.flush(30) == 0
"""

CHILD_COMMITTED = """
import json, sys, confluent_kafka as ck
c = ck.Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2]})
[tp] = c.committed([ck.TopicPartition(sys.argv[2], 0)], timeout=10)
print(json.dumps(tp.offset))
c.close()
"""


def run_child(code: str, *args: str) -> str:
    """Runs ``code`` in a separate Python process and returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_mock_kafka_headers_timestamps_commits_across_processes(
    mock_kafka: MockKafkaCluster, unique_name: str
) -> None:
    run_child(CHILD_PRODUCE, mock_kafka.bootstrap_servers, unique_name)
    consumer = Consumer(
        {**mock_kafka.client_settings(), "group.id": unique_name, "enable.auto.commit": "false"}
    )
    consumer.assign([TopicPartition(unique_name, 0, 0)])
    got = consume(consumer, 3, timeout=30)
    assert [m.value() for m in got] == [b"v0", b"v1", b"v2"]
    assert [m.headers() for m in got] == [[("trace", b"t%d" % i)] for i in range(3)]
    assert [m.timestamp()[1] for m in got] == [1_700_000_000_000 + i for i in range(3)]
    consumer.commit(message=got[1], asynchronous=False)  # commits offset 2
    consumer.close()
    assert json.loads(run_child(CHILD_COMMITTED, mock_kafka.bootstrap_servers, unique_name)) == 2


@pytest.mark.kinesis
def test_kinesalite_records_and_split_shard(kinesalite: Kinesalite, unique_name: str) -> None:
    kinesalite.create_stream(unique_name, shards=2)
    client = kinesalite.client()
    shards = client.list_shards(StreamName=unique_name)["Shards"]
    assert len(shards) == 2
    low, high = (int(s["HashKeyRange"]["StartingHashKey"]) for s in shards)
    for key in (low, high):
        client.put_record(
            StreamName=unique_name,
            Data=f"at{key}".encode(),
            PartitionKey="p",
            ExplicitHashKey=str(key),
        )
    for shard, key in zip(shards, (low, high), strict=True):
        assert read_shard(client, unique_name, shard["ShardId"]) == [f"at{key}".encode()]

    parent = shards[0]
    end = int(parent["HashKeyRange"]["EndingHashKey"])
    client.split_shard(
        StreamName=unique_name, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(end // 2)
    )
    summary = wait_stream_active(client, unique_name)
    assert summary["OpenShardCount"] == 3
    children = [
        s
        for s in client.list_shards(StreamName=unique_name)["Shards"]
        if s.get("ParentShardId") == parent["ShardId"]
    ]
    assert len(children) == 2
    put = client.put_record(
        StreamName=unique_name, Data=b"new", PartitionKey="p", ExplicitHashKey=str(low)
    )
    assert put["ShardId"] in {c["ShardId"] for c in children}
    assert read_shard(client, unique_name, parent["ShardId"]) == [f"at{low}".encode()]


def read_shard(client: Any, stream: str, shard_id: str) -> list[bytes]:
    """Returns the data of every record in a shard from TRIM_HORIZON."""
    it = client.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [r["Data"] for r in client.get_records(ShardIterator=it)["Records"]]


@pytest.mark.kinesis
def test_moto_update_shard_count(moto_server: MotoServer, unique_name: str) -> None:
    moto_server.create_stream(unique_name, shards=2)
    client = moto_server.client()
    put = client.put_record(StreamName=unique_name, Data=b"x", PartitionKey="p")
    assert read_shard(client, unique_name, put["ShardId"]) == [b"x"]
    client.update_shard_count(
        StreamName=unique_name, TargetShardCount=4, ScalingType="UNIFORM_SCALING"
    )
    assert wait_stream_active(client, unique_name)["OpenShardCount"] == 4
    shards = client.list_shards(StreamName=unique_name)["Shards"]
    assert sum(1 for s in shards if s.get("ParentShardId")) == 4


def test_cli_start_create_stop(tmp_path: Path, unique_name: str) -> None:
    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tests.services", *args, "--state-dir", str(tmp_path)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = cli("start", "kinesalite")
    state = json.loads((tmp_path / "kinesalite.json").read_text())
    assert f"export AWS_ENDPOINT_URL={state['endpoint_url']}" in out
    pid = state["pids"]["server"][0]
    try:
        assert group_alive(pid)
        cli("create-stream", unique_name, "--shards", "2")
        client = Kinesalite.from_state(state).client()
        assert len(client.list_shards(StreamName=unique_name)["Shards"]) == 2
    finally:
        cli("stop", "kinesalite")
    assert not group_alive(pid)
    assert not (tmp_path / "kinesalite.json").exists()


def test_missing_binary_names_install_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(kinesis_mod, "KINESALITE_CLI", tmp_path / "missing" / "cli.js")
    with pytest.raises(ServiceNotInstalled, match="scripts/install.sh"):
        Kinesalite(tmp_path).start()


@pytest.mark.noida
def test_noida_restart_keeps_data_offsets_and_port(
    noida_broker: NoidaBroker, unique_name: str
) -> None:
    noida_broker.create_topic(unique_name, partitions=2)
    settings = noida_broker.client_config()
    reports = produce(settings, unique_name, [b"a", b"b", b"c"], partition=1)
    assert [m.offset() for m in reports] == [0, 1, 2]
    group = Consumer({**settings, "group.id": unique_name, "enable.auto.commit": "false"})
    group.commit(offsets=[TopicPartition(unique_name, 1, 2, metadata="m")], asynchronous=False)
    group.close()
    port, pid = noida_broker.port, noida_broker.pid

    noida_broker.restart()  # kill -9 once the data file holds the writes above

    assert noida_broker.port == port and noida_broker.pid != pid
    assert pid is not None and not group_alive(pid[0])
    consumer = Consumer({**settings, "group.id": unique_name})
    [tp] = consumer.committed([TopicPartition(unique_name, 1)], timeout=10)
    assert (tp.offset, tp.metadata) == (2, "m")
    consumer.assign([TopicPartition(unique_name, 1, 0)])
    assert [m.value() for m in consume(consumer, 3)] == [b"a", b"b", b"c"]
    consumer.close()


def test_noida_starts_and_stops_by_pid(tmp_path: Path) -> None:
    broker = NoidaBroker(tmp_path).start()
    pid = broker.pid
    assert pid is not None and group_alive(pid[0])
    assert broker.client_config() == {"bootstrap.servers": f"127.0.0.1:{broker.port}"}
    broker.stop()
    assert not group_alive(pid[0])


def test_missing_noida_names_install_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(noida_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ServiceNotInstalled, match="scripts/install.sh"):
        NoidaBroker(tmp_path).start()


def test_cli_start_noida_create_topic_stop(tmp_path: Path, unique_name: str) -> None:
    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tests.services", *args, "--state-dir", str(tmp_path)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = cli("start", "noida")
    state = json.loads((tmp_path / "noida.json").read_text())
    assert f"export KAFKA_BOOTSTRAP_SERVERS={state['bootstrap_servers']}" in out
    pid = state["pids"]["server"][0]
    try:
        cli("create-topic", unique_name, "--partitions", "3", "--service", "noida")
        meta = Consumer({"bootstrap.servers": state["bootstrap_servers"], "group.id": "x"})
        assert len(meta.list_topics(unique_name, timeout=10).topics[unique_name].partitions) == 3
        meta.close()
    finally:
        cli("stop", "noida")
    assert not group_alive(pid)
