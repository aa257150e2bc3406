"""Transactions support of the Kafka sink: the probe, the errors, and how librdkafka errors map."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from raystream.connectors.kafka_client import KafkaUnavailableError, list_metadata, servers

log = logging.getLogger("raystream.kafka")

_FENCED_CODES = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                           KafkaError.INVALID_PRODUCER_EPOCH})


class KafkaTransactionsUnsupported(RuntimeError):
    """The brokers (or the client settings) do not support transactions (Kafka < 0.11)."""


class KafkaFencedError(RuntimeError):
    """Another producer with the same ``transactional.id`` started: this one cannot commit.

    The writer is dead for good: a newer incarnation of the sink owns the id.
    """


class KafkaTransactionError(RuntimeError):
    """A transactional call failed.

    Attributes:
        abortable: The transaction can (must) be aborted and the writer used on.
        retriable: The same call may succeed if made again.
    """

    def __init__(self, message: str, *, abortable: bool, retriable: bool = False) -> None:
        super().__init__(message)
        self.abortable = abortable
        self.retriable = retriable


def error_of(exc: KafkaException) -> KafkaError | None:
    """The ``KafkaError`` a confluent-kafka exception carries (None if it has none)."""
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


def is_fenced(error: KafkaError) -> bool:
    """True if ``error`` says a newer producer took the transactional id."""
    return error.code() in _FENCED_CODES


def supports_transactions(settings: dict[str, Any], transactional_id: str | None = None,
                          timeout_s: float = 10.0) -> bool:
    """Says whether the brokers (and these client settings) can run Kafka transactions.

    ``api.version.request=false`` with a ``broker.version.fallback`` below
    0.11 (the settings a Kafka 0.9 broker needs) answers False without a
    request; otherwise :func:`probe_transactions` asks the brokers. A caller
    that gets False falls back to at-least-once and says so in its log.

    Args:
        settings: The user's rdkafka settings.
        transactional_id: The id to probe with (see :func:`probe_transactions`).
        timeout_s: Timeout of the probe's requests.

    Raises:
        KafkaUnavailableError: No broker answered, so there is no answer.
    """
    if not versions_allow_transactions(settings):
        log.info("%s: api.version.request=false with broker.version.fallback=%s: the client "
                 "treats the brokers as older than 0.11, which have no transactions",
                 servers(settings), settings.get("broker.version.fallback", "0.10.0"))
        return False
    return probe_transactions(settings, transactional_id, timeout_s)


def versions_allow_transactions(settings: dict[str, Any]) -> bool:
    """False when the settings pin the brokers' version below 0.11 (no ApiVersion request)."""
    if str(settings.get("api.version.request", "true")).lower() != "false":
        return True
    fallback = str(settings.get("broker.version.fallback", "0.10.0"))
    try:
        version = tuple(int(part) for part in fallback.split(".")[:2])
    except ValueError:
        return False
    return version >= (0, 11)


def probe_transactions(settings: dict[str, Any], transactional_id: str | None = None,
                       timeout_s: float = 10.0) -> bool:
    """Runs ``init_transactions`` once: False if the brokers lack transactions (< 0.11).

    Args:
        settings: The user's rdkafka settings.
        transactional_id: The id to probe with. Pass the sink's own id (probing
            fences a previous incarnation, as ``open()`` does anyway); by
            default a fresh ``raystream-probe-<uuid>`` id, which the broker
            forgets after ``transactional.id.expiration.ms`` (7 days by default).
        timeout_s: Timeout of the metadata request and of ``init_transactions``.

    Raises:
        KafkaUnavailableError: No broker answered, or the probe failed otherwise.
    """
    probe_id = transactional_id or f"raystream-probe-{uuid.uuid4().hex}"
    producer = Producer({**settings, "transactional.id": probe_id,
                         "metadata.recovery.strategy": "none", "log_level": 0})
    list_metadata(producer, settings, "transaction probe", timeout_s)
    try:
        producer.init_transactions(timeout_s)
    except KafkaException as exc:
        error = error_of(exc)
        if error is not None and error.code() == KafkaError._UNSUPPORTED_FEATURE:
            log.info("%s: no transactions: %s", servers(settings), error.str())
            return False
        raise KafkaUnavailableError(f"could not tell whether {servers(settings)} supports "
                                    f"transactions: init_transactions failed: {exc}") from None
    return True
