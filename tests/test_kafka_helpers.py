"""Shared helpers of the ``test_kafka_*`` files (no tests here).

Kept in a ``test_kafka_`` file so the Kafka tests depend on nothing but their
own files, ``tests/helpers.py`` and the service fixtures. Every helper talks to
a real broker (the 0.9 test broker or the librdkafka mock cluster).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from tests.helpers import fold_rows


@dataclass(frozen=True)
class Received:
    """One consumed message, detached from confluent-kafka."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp: int | None

    def json(self) -> dict:
        """The value parsed as JSON."""
        return json.loads(self.value or b"null")


def reader_settings(service: Any, group: str, **extra: Any) -> dict[str, Any]:
    """Settings for ``pw.io.kafka.read`` against a test service (compat flags included)."""
    return {**service.client_settings(), "group.id": group, "auto.offset.reset": "earliest",
            **extra}


def produce(settings: dict[str, Any], topic: str, values: Iterable[bytes | str | None], *,
            keys: Sequence[bytes | str | None] | None = None,
            partition: int | Sequence[int] | None = None,
            headers: Sequence[list[tuple[str, bytes | None]]] | None = None,
            timestamps: Sequence[int] | None = None) -> list[tuple]:
    """Produces messages and waits for every delivery; returns ``(partition, offset)`` of
    each message, in the order given.

    ``partition`` is one partition for all messages or one per message.
    """
    producer = Producer({**_client(settings), "linger.ms": 20})
    reports: dict[int, tuple[Any, Any]] = {}
    for i, value in enumerate(values):
        extra: dict[str, Any] = {}
        if keys is not None:
            extra["key"] = keys[i]
        if partition is not None:
            extra["partition"] = partition if isinstance(partition, int) else partition[i]
        if headers is not None:
            extra["headers"] = headers[i]
        if timestamps is not None:
            extra["timestamp"] = timestamps[i]
        producer.produce(topic, value=value,
                         on_delivery=lambda e, m, i=i: reports.__setitem__(i, (e, m)), **extra)
        if i % 10_000 == 9_999:
            producer.poll(0)
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    errors = [e for e, _ in reports.values() if e is not None]
    assert not errors, errors[:3]
    return [(reports[i][1].partition(), reports[i][1].offset()) for i in range(len(reports))]


def _client(settings: dict[str, Any]) -> dict[str, Any]:
    """Test-client settings: no consumer-only keys, no CONFWARN notices (log_level 3)."""
    return {**{k: v for k, v in settings.items() if k not in ("group.id", "auto.offset.reset")},
            "log_level": 3}


def consume_all(settings: dict[str, Any], topic: str, *, expect: int | None = None,
                idle_s: float = 2.0, timeout_s: float = 60.0) -> list[Received]:
    """Reads ``topic`` from the beginning until ``expect`` messages (then ``idle_s`` more
    seconds to catch extras), or until nothing arrived for ``idle_s`` when ``expect`` is None.
    """
    consumer = Consumer({**_client(settings), "group.id": f"check-{time.monotonic_ns()}",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out: list[Received] = []
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while time.monotonic() < deadline:
            got = [m for m in consumer.consume(10_000, 0.2) if m.error() is None]
            out += [_received(m) for m in got]
            now = time.monotonic()
            if got:
                last = now
            enough = expect is None or len(out) >= expect
            if enough and now - last >= idle_s:
                break
        return out
    finally:
        consumer.close()


def _received(m: Any) -> Received:
    kind, stamp = m.timestamp()
    return Received(m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or []),
                    stamp if kind else None)


def fold(messages: Iterable[Received], columns: list[str]) -> Counter:
    """Folds JSON changelog messages (``diff`` field) into a multiset of column tuples."""
    return fold_rows([m.json() for m in messages], columns)


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str,
             every_s: float = 0.2) -> Any:
    """Polls ``predicate`` until it returns something truthy; fails with ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def stop_pipeline(pipeline: Any, timeout_s: float = 60.0) -> None:
    """Stops a started pipeline cleanly (last commit included) and kills its actors."""
    try:
        pipeline.stop()
        pipeline.wait(timeout=timeout_s)
    finally:
        pipeline.shutdown()


def reader_stats(pipeline: Any) -> list[dict[str, Any]]:
    """The ``stats()`` of every reader actor of a started pipeline."""
    import ray

    return ray.get([h.stats.remote() for h in pipeline.deployed.readers.values()])


def jsonl_rows(path: Any) -> list[dict[str, Any]]:
    """Complete lines of a JSON-lines output file (empty if it does not exist yet)."""
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line]


def message_count(settings: dict[str, Any], topic: str, timeout: float = 30.0) -> int:
    """Messages in ``topic`` (sum of its high watermarks; 0 if it does not exist yet).

    Retries while a partition has no leader (right after a broker restart, until
    the controller has elected one again), for at most ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    consumer = Consumer({**_client(settings), "group.id": "count", "log_level": 0})
    try:
        while True:
            try:
                return _high_watermarks(consumer, topic)
            except KafkaException as exc:
                error = exc.args[0]
                passing = error.retriable() or error.code() in _NO_LEADER
                if not passing or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


_NO_LEADER = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)


def _high_watermarks(consumer: Consumer, topic: str) -> int:
    meta = consumer.list_topics(timeout=10).topics.get(topic)
    if meta is None:
        return 0
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in meta.partitions)
