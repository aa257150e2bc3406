"""Thin helpers over confluent-kafka shared by the Kafka source and sink.

Everything that talks to a broker takes a timeout, so an unreachable broker or
a missing topic gives a clear error instead of a hang. The start-offset rule
is a pure function (:func:`choose_start_offset`) so it can be tested without
a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

log = logging.getLogger("raystream.kafka")

EARLIEST = ("smallest", "earliest", "beginning")
LATEST = ("largest", "latest", "end")

_READER_OVERRIDES: dict[str, Any] = {
    "enable.auto.commit": False,  # offsets are committed only once the sinks are durable
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
}


class KafkaSettingsError(ValueError):
    """The rdkafka settings are invalid (unknown property, bad value, missing key)."""


class KafkaUnavailableError(ConnectionError):
    """No broker answered within the timeout."""


class KafkaTopicError(LookupError):
    """The topic does not exist (or cannot be described)."""


def servers(settings: dict[str, Any]) -> str:
    """The ``bootstrap.servers`` of the settings, for messages."""
    return str(settings.get("bootstrap.servers", "?"))


def consumer_config(settings: dict[str, Any]) -> dict[str, Any]:
    """The user's settings with the reader's fixed overrides (no auto commit)."""
    if str(settings.get("enable.auto.commit", "false")).lower() == "true":
        log.info("enable.auto.commit is ignored: raystream commits offsets itself, "
                 "after the outputs are durable")
    return {**settings, **_READER_OVERRIDES}


def make_consumer(settings: dict[str, Any], what: str, quiet: bool = False) -> Consumer:
    """Creates a consumer, turning configuration errors into :class:`KafkaSettingsError`.

    Args:
        settings: The user's rdkafka settings.
        what: The source name, for messages.
        quiet: Silence librdkafka's own log lines (used by short-lived probes,
            which report errors themselves).
    """
    config = consumer_config(settings)
    if quiet:
        config["log_level"] = 0
    if not config.get("group.id"):
        raise KafkaSettingsError(f"{what}: rdkafka_settings needs a 'group.id': offsets are "
                                 "committed under it and a restarted pipeline resumes from them")
    try:
        return Consumer(config)
    except (KafkaException, ValueError, TypeError) as exc:
        raise KafkaSettingsError(f"{what}: invalid rdkafka_settings: {_reason(exc)}") from None


def make_producer(settings: dict[str, Any], what: str, **extra: Any) -> Producer:
    """Creates a producer, turning configuration errors into :class:`KafkaSettingsError`."""
    try:
        return Producer({**settings, **extra})
    except (KafkaException, ValueError, TypeError) as exc:
        raise KafkaSettingsError(f"{what}: invalid rdkafka_settings: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].str()
    return str(exc)


def list_metadata(client: Consumer | Producer, settings: dict[str, Any], what: str,
                  timeout_s: float) -> Any:
    """Fetches cluster metadata (every topic: naming one would auto-create it on old brokers).

    Raises:
        KafkaUnavailableError: If no broker answered within ``timeout_s``.
    """
    try:
        return client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"{what}: no Kafka broker answered at bootstrap.servers={servers(settings)!r} "
            f"within {timeout_s:g} s ({_reason(exc)}); check the address, the network "
            "and the security settings") from None


def topic_partitions(settings: dict[str, Any], topic: str, what: str,
                     timeout_s: float) -> list[int]:
    """Validates the settings and returns the partition ids of ``topic`` (driver side).

    Raises:
        KafkaSettingsError: Invalid settings.
        KafkaUnavailableError: No broker answered in time.
        KafkaTopicError: The topic does not exist.
    """
    consumer = make_consumer(settings, what, quiet=True)
    try:
        metadata = list_metadata(consumer, settings, what, timeout_s)
    finally:
        consumer.close()
    described = metadata.topics.get(topic)
    if described is None or (described.error is not None and not described.partitions):
        known = sorted(t for t in metadata.topics if not t.startswith("__"))
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        reason = f" ({described.error.str()})" if described is not None else ""
        raise KafkaTopicError(f"{what}: topic {topic!r} does not exist on "
                              f"{servers(settings)}{reason}; existing topics: {shown or 'none'}")
    return sorted(described.partitions)


def choose_start_offset(committed: int, by_time: int | None, low: int, high: int,
                        reset: str) -> int:
    """Picks where a partition starts: the group's commit, else the time, else the reset policy.

    Args:
        committed: The offset committed under the group (negative: none).
        by_time: With ``start_from_timestamp_ms``: the first offset at or after
            that time, or ``-1`` when every message is older (start at the end).
        low: The partition's low watermark (first available offset).
        high: Its high watermark (the offset the next message will get).
        reset: ``auto.offset.reset`` (``earliest``/``smallest``/``beginning``,
            ``latest``/``largest``/``end``, or ``error``).

    Returns:
        The first offset to read.

    Raises:
        KafkaSettingsError: ``reset`` is ``error`` (or unknown) and no offset applies.
    """
    if committed >= 0 and low <= committed <= high:
        return committed
    if by_time is not None:
        return high if by_time < 0 else min(max(by_time, low), high)
    policy = reset.lower()
    if policy in EARLIEST:
        return low
    if policy in LATEST:
        return high
    where = "is out of range" if committed >= 0 else "is missing"
    raise KafkaSettingsError(f"the committed offset {where} and auto.offset.reset={reset!r} "
                             "does not say where to start")


def start_offsets(consumer: Consumer, topic: str, partitions: list[int], reset: str,
                  start_from_ms: int | None, timeout_s: float) -> dict[int, int]:
    """Resolves the first offset to read for each partition (see :func:`choose_start_offset`)."""
    tps = [TopicPartition(topic, p) for p in partitions]
    committed = {tp.partition: tp.offset for tp in _call(
        "read the committed offsets", lambda: consumer.committed(tps, timeout=timeout_s))}
    by_time: dict[int, int] = {}
    if start_from_ms is not None:
        asked = [TopicPartition(topic, p, start_from_ms) for p in partitions]
        found = _call("look up offsets by time (start_from_timestamp_ms needs Kafka >= 0.10.1)",
                      lambda: consumer.offsets_for_times(asked, timeout=timeout_s))
        by_time = {tp.partition: tp.offset for tp in found}
    offsets = {}
    for p in partitions:
        low, high = _call("read the watermarks", lambda p=p: consumer.get_watermark_offsets(
            TopicPartition(topic, p), timeout=timeout_s))
        offsets[p] = choose_start_offset(committed.get(p, -1001), by_time.get(p)
                                         if start_from_ms is not None else None, low, high, reset)
    return offsets


def watermarks(consumer: Consumer, topic: str, partition: int,
               timeout_s: float) -> tuple[int, int]:
    """The partition's low and high watermarks, now."""
    return _call("read the watermarks", lambda: consumer.get_watermark_offsets(
        TopicPartition(topic, partition), timeout=timeout_s))


def high_watermarks(consumer: Consumer, topic: str, partitions: list[int],
                    timeout_s: float) -> dict[int, int]:
    """The offset after the last message of each partition, now."""
    return {p: _call("read the watermarks", lambda p=p: consumer.get_watermark_offsets(
        TopicPartition(topic, p), timeout=timeout_s))[1] for p in partitions}


#: How long a broker call is retried while its failure looks transient.
RETRY_BUDGET_S = 30.0
_RETRY_FIRST_S, _RETRY_MAX_S = 0.25, 4.0
_TRANSIENT = frozenset({
    KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError.REQUEST_TIMED_OUT, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NETWORK_EXCEPTION,
})


class _Transient(Exception):
    """A broker call failed in a way that a retry may fix."""


_retries = 0


def transient_retries() -> int:
    """Broker calls retried after a transient failure in this process so far."""
    return _retries


def _call(what: str, fn: Callable[..., Any], budget_s: float | None = None,
          sleep: Callable[[float], None] = time.sleep) -> Any:
    """Runs one broker call; retries transient failures with backoff for ``budget_s``.

    A timeout, a lost connection or a moving partition leader is retried
    (doubling waits from 0.25 s up to 4 s), each retry logged and counted
    (:func:`transient_retries`, the reader's ``broker_retries`` metric). Other
    errors, and a transient one that lasts past the budget, raise at once.

    Raises:
        KafkaUnavailableError: The call failed for good; the message says what and why.
    """
    global _retries
    budget = RETRY_BUDGET_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    wait = _RETRY_FIRST_S
    while True:
        try:
            return _call_once(what, fn)
        except _Transient as exc:
            if time.monotonic() + wait > deadline:
                raise KafkaUnavailableError(
                    f"could not {what}: {exc} (retried for {budget:.0f} s)") from None
            _retries += 1
            log.warning("could not %s: %s; retrying in %.2f s", what, exc, wait)
            sleep(wait)
            wait = min(wait * 2, _RETRY_MAX_S)


def _call_once(what: str, fn: Callable[..., Any]) -> Any:
    try:
        result = fn()
    except KafkaException as exc:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if error is not None and _is_transient(error):
            raise _Transient(_reason(exc)) from None
        raise KafkaUnavailableError(f"could not {what}: {_reason(exc)}") from None
    if result is None:
        raise _Transient("no answer in time")
    if isinstance(result, list):
        for tp in result:
            if tp.error is None:
                continue
            if _is_transient(tp.error):
                raise _Transient(f"partition {tp.partition}: {tp.error.str()}")
            raise KafkaUnavailableError(f"could not {what}: partition {tp.partition}: "
                                        f"{tp.error.str()}")
    return result


def _is_transient(error: KafkaError) -> bool:
    return error.code() in _TRANSIENT or bool(error.retriable())
