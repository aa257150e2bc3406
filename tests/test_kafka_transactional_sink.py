"""TransactionalKafkaWriter against noida-db (real transactions), no Ray.

The 0.9 test broker has no transactions and the librdkafka mock cluster's are
not real (aborted records stay visible, no fencing), so every broker test here
runs on noida-db. Unit tests of the writer's arguments need no broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from raystream.connectors.kafka_sink import KafkaSinkSpec
from raystream.connectors.kafka_txn import (
    DEFAULT_TRANSACTION_TIMEOUT_MS,
    KafkaFencedError,
    KafkaTransactionError,
    TransactionalKafkaWriter,
    _within,
    marker_group,
    supports_transactions,
)
from raystream.connectors.kafka_txn_support import probe_transactions

from tests.services._proc import REPO_ROOT


def rows(values: range) -> pa.RecordBatch:
    return pa.record_batch({"v": list(values), "time": [2] * len(values),
                            "diff": [1] * len(values)})


def read_all(settings: dict[str, Any], topic: str, partitions: int,
             isolation: str = "read_committed") -> list[int]:
    """Every ``v`` in the topic up to the end of each partition (as the isolation sees it)."""
    consumer = Consumer({**settings, "group.id": "test-reader", "isolation.level": isolation,
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: list[int] = []
    ended: set[int] = set()
    deadline = time.monotonic() + 30
    while len(ended) < partitions and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error() is not None:
            assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
            ended.add(message.partition())
            continue
        got.append(json.loads(message.value())["v"])
    consumer.close()
    assert len(ended) == partitions, f"only partitions {ended} reached their end"
    return sorted(got)


@pytest.fixture
def topic(noida_broker, unique_name) -> str:
    noida_broker.create_topic(unique_name, partitions=3)
    return unique_name


def writer(broker: Any, topic: str, tid: str, **kw: Any) -> TransactionalKafkaWriter:
    spec = KafkaSinkSpec("sink", {**broker.client_config(), "log_level": 3}, topic)
    w = TransactionalKafkaWriter(spec, tid, **kw)
    w.open()
    return w


# -- no broker -----------------------------------------------------------------------

def test_arguments_are_checked_and_the_timeout_defaults_to_60_s() -> None:
    spec = KafkaSinkSpec("sink", {"bootstrap.servers": "127.0.0.1:1"}, "out")
    assert TransactionalKafkaWriter(spec, "t").transaction_timeout_ms == 60_000
    assert DEFAULT_TRANSACTION_TIMEOUT_MS == 60_000
    assert TransactionalKafkaWriter(spec, "t", transaction_timeout_ms=90_000) \
        .transaction_timeout_ms == 90_000
    user = KafkaSinkSpec("sink", {**spec.settings, "transaction.timeout.ms": "120000"}, "out")
    assert TransactionalKafkaWriter(user, "t").transaction_timeout_ms == 120_000
    other = KafkaSinkSpec("sink", {**spec.settings, "transactional.id": "x"}, "out")
    with pytest.raises(ValueError, match="transactional.id='x'"):
        TransactionalKafkaWriter(other, "t")
    with pytest.raises(ValueError, match="must be > 0"):
        TransactionalKafkaWriter(spec, "t", transaction_timeout_ms=0)
    by_column = KafkaSinkSpec("sink", spec.settings, None, topic_column="where")
    with pytest.raises(ValueError, match="marker_topic"):
        TransactionalKafkaWriter(by_column, "t")
    assert TransactionalKafkaWriter(by_column, "t", marker_topic="m").marker_topic == "m"
    assert marker_group("sink-7") == "raystream.epochs.sink-7"


def test_a_call_that_ignores_its_own_timeout_is_cut_off() -> None:
    never = threading.Event()  # a call that would block forever returns control anyway
    with pytest.raises(KafkaTransactionError, match="did not return within 0.2 s"):
        _within(0.2, "send_offsets_to_transaction", never.wait)
    never.set()
    with pytest.raises(ZeroDivisionError):  # an error of the call itself is raised as it is
        _within(5, "call", lambda: None if 1 / 0 else None)


def test_settings_of_a_pre_011_broker_mean_no_transactions_without_a_request() -> None:
    old = {"bootstrap.servers": "127.0.0.1:1", "api.version.request": "false",
           "broker.version.fallback": "0.9.0.1"}
    assert supports_transactions(old) is False  # no broker at port 1: no request was made


# -- against brokers ----------------------------------------------------------------

@pytest.mark.noida
def test_a_modern_broker_supports_transactions_with_no_settings(noida_broker) -> None:
    assert supports_transactions(noida_broker.client_config()) is True


@pytest.mark.kafka
def test_the_kafka_09_broker_has_no_transactions(kafka_broker) -> None:
    settings = kafka_broker.client_settings()
    assert supports_transactions(settings) is False
    assert probe_transactions(settings) is False  # the broker's own answer, not the settings'


@pytest.mark.noida
def test_committed_epochs_are_visible_and_aborted_ones_never(noida_broker, topic) -> None:
    w = writer(noida_broker, topic, f"{topic}-tid")
    assert w.committed_epoch() is None
    assert w.write(rows(range(0, 10))) == []
    w.prepare()
    w.commit(0)
    w.write(rows(range(100, 110)))
    w.prepare()
    w.abort()
    w.write(rows(range(10, 20)))
    w.commit(1)
    assert w.committed_epoch() == 1
    with pytest.raises(ValueError, match="epoch 1"):
        w.commit(1)  # the marker never moves back
    w.close()
    settings = noida_broker.client_config()
    assert read_all(settings, topic, 3) == list(range(20))
    assert read_all(settings, topic, 3, "read_uncommitted") == sorted(
        [*range(20), *range(100, 110)])  # the aborted rows did reach the broker


@pytest.mark.noida
def test_a_second_writer_with_the_same_id_fences_the_first(noida_broker, topic) -> None:
    tid = f"{topic}-tid"
    first = writer(noida_broker, topic, tid)
    first.write(rows(range(0, 5)))
    first.prepare()
    second = writer(noida_broker, topic, tid)
    with pytest.raises(KafkaFencedError, match=f"fenced: another producer with "
                                               f"transactional.id '{tid}'"):
        first.write(rows(range(5, 10)))
        first.commit(0)
    second.write(rows(range(50, 55)))
    second.commit(0)
    assert second.committed_epoch() == 0
    second.close()
    first.close()
    assert read_all(noida_broker.client_config(), topic, 3) == list(range(50, 55))


CHILD = """
import sys, time
import pyarrow as pa
from raystream.connectors.kafka_sink import KafkaSinkSpec
from raystream.connectors.kafka_txn import TransactionalKafkaWriter

servers, topic, tid = sys.argv[1:4]
def rows(values):
    return pa.record_batch({"v": list(values), "time": [2] * len(values),
                            "diff": [1] * len(values)})
w = TransactionalKafkaWriter(KafkaSinkSpec("child", {"bootstrap.servers": servers}, topic), tid)
w.open()
w.write(rows(range(0, 10)))
w.commit(0)
w.write(rows(range(10, 20)))
w.prepare()
print("prepared", flush=True)
time.sleep(600)
"""


@pytest.mark.noida
def test_kill_9_with_an_open_transaction_then_replay_gives_each_row_once(noida_broker,
                                                                         topic) -> None:
    tid = f"{topic}-tid"
    child = subprocess.Popen([sys.executable, "-c", CHILD, noida_broker.bootstrap_servers, topic,
                              tid], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                             start_new_session=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "prepared"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    settings = noida_broker.client_config()
    assert read_all(settings, topic, 3, "read_uncommitted") == list(range(20))
    w = writer(noida_broker, topic, tid)  # aborts the dead child's open transaction
    assert w.committed_epoch() == 0
    assert read_all(settings, topic, 3) == list(range(10))
    w.write(rows(range(10, 20)))  # the runtime re-produces the staged rows of epoch 1
    w.commit(1)
    w.close()
    assert read_all(settings, topic, 3) == list(range(20))
    again = writer(noida_broker, topic, tid)
    assert again.committed_epoch() == 1
    again.close()


@pytest.mark.noida
def test_a_broker_restart_between_epochs_loses_no_committed_epoch(noida_broker,
                                                                  topic) -> None:
    tid = f"{topic}-tid"
    w = writer(noida_broker, topic, tid)
    w.write(rows(range(0, 10)))
    w.commit(0)
    noida_broker.restart()  # kill -9, after noida-db wrote its data file
    w.write(rows(range(10, 20)))  # the same writer goes on (see metadata.recovery.strategy)
    w.commit(1)
    noida_broker.restart()
    assert read_all(noida_broker.client_config(), topic, 3) == list(range(20))
    w.close()
    fresh = writer(noida_broker, topic, tid)
    assert fresh.committed_epoch() == 1
    fresh.close()


@pytest.mark.noida
def test_a_marker_group_written_by_something_else_is_an_error(noida_broker, topic) -> None:
    tid = f"{topic}-tid"
    other = Consumer({**noida_broker.client_config(), "group.id": marker_group(tid)})
    other.commit(offsets=[TopicPartition(topic, 0, 7, metadata="not ours")], asynchronous=False)
    other.close()
    w = writer(noida_broker, topic, tid)
    with pytest.raises(KafkaTransactionError, match="inconsistent: offset 7"):
        w.committed_epoch()
    w.close()
