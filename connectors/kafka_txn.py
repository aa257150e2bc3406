"""Transactional Kafka sink: one transaction per checkpoint epoch, with an epoch marker.

The runtime drives a :class:`TransactionalKafkaWriter` through epochs:

1. ``open()``: ``init_transactions`` under the sink's ``transactional.id``. The
   broker fences every older producer with that id (a zombie can no longer
   commit) and aborts the transaction a previous incarnation left open. Then
   the first transaction begins.
2. ``write(batch)`` during epoch ``k``: rows are produced inside the open
   transaction (encoded by :func:`raystream.connectors.kafka_sink.encode_batch`);
   ``read_committed`` consumers do not see them yet.
3. ``prepare()``: flush; a failed delivery raises, naming the topic and rows
   (the epoch must then be aborted, or the run fails).
4. ``commit(k)``, once the rest of checkpoint ``k`` is durable: the marker
   "epoch ``k`` committed" is added to the transaction with
   ``send_offsets_to_transaction`` (see *Epoch marker*), then
   ``commit_transaction`` makes the rows and the marker visible atomically, and
   the next transaction begins.
5. After a crash, a new writer's ``open()`` aborts what was left open, and
   ``committed_epoch()`` says which epoch's transaction is the last one that
   committed: the runtime re-produces (from its write-ahead copy) and commits
   every later checkpointed epoch, so each row lands exactly once.

**Epoch marker.** The offsets of a marker consumer group,
:func:`marker_group` (``raystream.epochs.<transactional.id>``), on partition 0
of the marker topic (default: the sink's topic): the committed *offset* is the
epoch number and the offset *metadata* is ``{"raystream_epoch": k}``. Kafka
does not check committed offsets against the log, so any epoch ``>= 0`` fits;
both are read back and must agree. No consumer ever reads with that group.

**Timeout.** ``transaction.timeout.ms`` defaults to 60 s
(:data:`DEFAULT_TRANSACTION_TIMEOUT_MS`): an epoch's transaction stays open
for one checkpoint interval plus, after a failure, the recovery until a new
writer's ``open()`` aborts it. A broker aborts (and the writer then fails) a
transaction open longer than that; a broker caps it at its
``transaction.max.timeout.ms`` (15 min by default).

**librdkafka workaround.** The producer gets ``metadata.recovery.strategy=none``
unless the user sets it: with the default ``rebootstrap``, a restart of the
only broker made librdkafka 2.16 decommission the broker cached as group
coordinator, and ``send_offsets_to_transaction`` then hung forever, past its
timeout (librdkafka issues #5511 and #5456). The call also runs under a
deadline of its own.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from raystream.connectors.base import EXACTLY_ONCE, Delivery, RecordError
from raystream.connectors.kafka_client import list_metadata, servers
from raystream.connectors.kafka_sink import (
    KafkaDeliveryError,
    KafkaFatalError,
    KafkaSinkSpec,
    KafkaWriter,
)
from raystream.connectors.kafka_txn_support import (
    KafkaFencedError,
    KafkaTransactionError,
    KafkaTransactionsUnsupported,
    error_of,
    is_fenced,
    supports_transactions,
)

log = logging.getLogger("raystream.kafka")

T = TypeVar("T")

DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000
"""Default ``transaction.timeout.ms``: above a checkpoint interval plus a recovery."""
MARKER_KEY = "raystream_epoch"
"""The key of the epoch in the marker's offset metadata (JSON)."""
_PRODUCER_ONLY = ("acks", "request.required.acks", "linger.ms", "queue.buffering.max.ms",
                  "batch.num.messages", "batch.size", "compression.type", "compression.codec",
                  "enable.idempotence", "message.timeout.ms", "delivery.timeout.ms", "retries",
                  "message.send.max.retries", "queue.buffering.max.messages",
                  "queue.buffering.max.kbytes", "transactional.id", "transaction.timeout.ms",
                  "partitioner", "sticky.partitioning.linger.ms")

__all__ = [
    "DEFAULT_TRANSACTION_TIMEOUT_MS", "KafkaFencedError", "KafkaTransactionError",
    "KafkaTransactionsUnsupported", "TransactionalKafkaWriter", "marker_group",
    "supports_transactions",
]


def marker_group(transactional_id: str) -> str:
    """The consumer group whose committed offset records a sink's last committed epoch."""
    return f"raystream.epochs.{transactional_id}"


class TransactionalKafkaWriter:
    """Produces a Kafka sink's rows in one transaction per epoch (see the module doc).

    Args:
        spec: The sink (topic, format, the user's settings).
        transactional_id: The sink's persistent ``transactional.id``.
        transaction_timeout_ms: ``transaction.timeout.ms``; default: the user's
            setting, else :data:`DEFAULT_TRANSACTION_TIMEOUT_MS`.
        marker_topic: The topic whose partition 0 carries the epoch marker;
            default: the sink's topic (required with a topic column).
        api_timeout_s: Timeout of each transactional call.

    Attributes:
        delivery: :data:`EXACTLY_ONCE`, given the runtime's replay of the
            checkpointed epochs after :meth:`committed_epoch`.

    Raises:
        ValueError: Conflicting settings or no marker topic.
    """

    delivery: Delivery = EXACTLY_ONCE

    def __init__(self, spec: KafkaSinkSpec, transactional_id: str, *,
                 transaction_timeout_ms: int | None = None, marker_topic: str | None = None,
                 api_timeout_s: float = 60.0) -> None:
        if not transactional_id:
            raise ValueError(f"{spec.name}: transactional_id must not be empty")
        user_id = spec.settings.get("transactional.id")
        if user_id not in (None, transactional_id):
            raise ValueError(f"{spec.name}: rdkafka_settings has transactional.id={user_id!r} "
                             f"but the sink's id is {transactional_id!r}; leave it out")
        timeout_ms = int(transaction_timeout_ms if transaction_timeout_ms is not None
                         else spec.settings.get("transaction.timeout.ms",
                                                DEFAULT_TRANSACTION_TIMEOUT_MS))
        if timeout_ms <= 0:
            raise ValueError(f"{spec.name}: transaction.timeout.ms must be > 0, got {timeout_ms}")
        self.marker_topic = marker_topic or spec.topic
        if self.marker_topic is None:
            raise ValueError(f"{spec.name}: a sink with a topic column needs a marker_topic "
                             "for its epoch marker")
        self.spec = spec
        self.transactional_id = transactional_id
        self.transaction_timeout_ms = timeout_ms
        self.group = marker_group(transactional_id)
        self.api_timeout_s = api_timeout_s
        self.rows: KafkaWriter | None = None
        self._marker: Consumer | None = None
        self._committed: int | None = None
        self._committing: int | None = None
        self._in_transaction = False
        self._pending = 0
        self._headed_at_begin: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        """Fences older producers with this id, aborts their open transaction, begins one.

        Raises:
            KafkaTransactionsUnsupported: The broker has no transactions.
            KafkaFencedError: A newer producer took the id meanwhile.
            KafkaUnavailableError: No broker answered.
        """
        self.rows = KafkaWriter(self.spec, producer_settings={
            "transactional.id": self.transactional_id,
            "transaction.timeout.ms": self.transaction_timeout_ms,
            "metadata.recovery.strategy": self.spec.settings.get(
                "metadata.recovery.strategy", "none")})
        self._check_marker_topic(self.rows.producer)
        self._call("init_transactions",
                   lambda: self._producer.init_transactions(self.api_timeout_s))
        self._marker = Consumer({**{k: v for k, v in self.spec.settings.items()
                                    if k not in _PRODUCER_ONLY},
                                 "group.id": self.group, "enable.auto.commit": False,
                                 "isolation.level": "read_committed"})
        self._begin()
        log.info("%s: transactional.id %r ready (transaction.timeout.ms=%d, epoch marker: "
                 "group %r on %s[0])", self.spec.name, self.transactional_id,
                 self.transaction_timeout_ms, self.group, self.marker_topic)

    def _check_marker_topic(self, producer: Producer) -> None:
        """The marker topic must exist; if it does not, naming it lets the broker auto-create it.

        Brokers with transactions (Kafka 0.11+) create a topic a metadata request
        names when ``auto.create.topics.enable`` is on (the default), as they do
        for a plain producer's first message.
        """
        metadata = list_metadata(producer, self.spec.settings, self.spec.name,
                                 self.spec.timeout_s)
        deadline = time.monotonic() + min(self.spec.timeout_s, 10.0)
        while not _has_partition_zero(metadata, self.marker_topic) \
                and time.monotonic() < deadline:
            try:
                metadata = producer.list_topics(topic=self.marker_topic,
                                                timeout=self.spec.timeout_s)
            except KafkaException:
                pass
            if not _has_partition_zero(metadata, self.marker_topic):
                time.sleep(0.2)
        if not _has_partition_zero(metadata, self.marker_topic):
            raise ValueError(f"{self.spec.name}: the epoch-marker topic {self.marker_topic!r} "
                             f"does not exist on {servers(self.spec.settings)}; create it "
                             "before the run")

    def close(self) -> None:
        """Aborts an uncommitted transaction (best effort) and releases the clients."""
        if self.rows is not None and self._in_transaction:
            try:
                self._producer.abort_transaction(min(self.api_timeout_s, 10.0))
            except KafkaException as exc:  # the next open() aborts it anyway
                log.info("%s: abort at close failed: %s", self.spec.name, exc)
        self._in_transaction = False
        if self._marker is not None:
            self._marker.close()
            self._marker = None
        self.rows = None

    # -- one epoch ---------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Produces ``batch`` inside the open transaction; returns the rows refused at once.

        Raises:
            KafkaFencedError: Another producer took the transactional id.
            KafkaTransactionError: The producer failed fatally.
        """
        rows = self._open_rows()
        try:
            refused = rows.write(batch)
        except KafkaFatalError as exc:
            raise self._fatal(exc.error, "write") from None
        self._pending += batch.num_rows - len(refused)
        return refused

    def prepare(self) -> None:
        """Flushes: every row of the epoch is acknowledged (not yet visible).

        Raises:
            KafkaDeliveryError: Rows were not delivered (named by topic and row);
                the epoch must be aborted.
            KafkaFencedError: Another producer took the transactional id.
        """
        rows = self._open_rows()
        try:
            rows.flush()
        except KafkaFatalError as exc:
            raise self._fatal(exc.error, "prepare") from None
        except KafkaDeliveryError as exc:
            if exc.fatal is not None:
                raise self._fatal(exc.fatal, "prepare") from None
            raise KafkaDeliveryError(f"{exc} (transactional.id {self.transactional_id!r}, "
                                     f"{self._pending} rows in the open transaction: abort "
                                     "it)") from None

    def commit(self, epoch: int) -> None:
        """Commits the open transaction together with the marker "``epoch`` committed".

        Args:
            epoch: The checkpoint number; ``>= 0`` and above every epoch this
                writer saw committed.

        Raises:
            ValueError: ``epoch`` does not move forward.
            KafkaDeliveryError: A row was not delivered (nothing was committed).
            KafkaFencedError: Another producer took the id (nothing was committed).
            KafkaTransactionError: The commit failed: if ``retriable``, call
                ``commit(epoch)`` again (the outcome is unknown until it returns);
                if ``abortable``, :meth:`abort` and produce the epoch again.
        """
        if epoch < 0 or (self._committed is not None and epoch <= self._committed):
            raise ValueError(f"{self.spec.name}: cannot commit epoch {epoch}: epochs are >= 0 "
                             f"and increase (last committed: {self._committed})")
        if self._committing != epoch:  # else: a retry after commit_transaction failed
            if self._committing is not None:
                raise ValueError(f"{self.spec.name}: epoch {self._committing} is being "
                                 f"committed; retry commit({self._committing}) or abort()")
            self.prepare()
            self._send_marker(epoch)
            self._committing = epoch
        self._call("commit_transaction",
                   lambda: self._producer.commit_transaction(self.api_timeout_s))
        self._in_transaction, self._committing = False, None
        log.debug("%s: epoch %d committed (%d rows)", self.spec.name, epoch, self._pending)
        self._committed = epoch
        self._begin()

    def _send_marker(self, epoch: int) -> None:
        assert self._marker is not None
        marker = [TopicPartition(self.marker_topic, 0, epoch,
                                 metadata=json.dumps({MARKER_KEY: epoch}))]
        group = self._marker.consumer_group_metadata()
        self._call("send_offsets_to_transaction", lambda: _within(
            self.api_timeout_s + 5.0, "send_offsets_to_transaction",
            lambda: self._producer.send_offsets_to_transaction(
                marker, group, self.api_timeout_s)))

    def abort(self) -> None:
        """Aborts the open transaction (its rows are never visible) and begins a new one."""
        rows = self._open_rows()
        self._call("abort_transaction",
                   lambda: self._producer.abort_transaction(self.api_timeout_s))
        self._in_transaction, self._committing = False, None
        rows.failed, rows.fatal = [], None
        rows.headed = set(self._headed_at_begin)  # a header in the aborted rows is sent again
        self._begin()

    def committed_epoch(self) -> int | None:
        """The last epoch whose transaction committed (None: none ever did).

        Call it after :meth:`open` (which aborts a transaction left open, whose
        pending marker would otherwise make the answer wait).

        Raises:
            KafkaTransactionError: The marker is unreadable or inconsistent.
        """
        marker = self._marker
        if marker is None:
            raise RuntimeError(f"{self.spec.name}: committed_epoch() needs open() first")
        found = self._call("read the epoch marker", lambda: self._read_marker(marker))
        self._committed = found
        return found

    def _read_marker(self, consumer: Consumer) -> int | None:
        [tp] = consumer.committed([TopicPartition(self.marker_topic, 0)],
                                  timeout=self.api_timeout_s)
        if tp.error is not None:
            raise KafkaException(tp.error)
        if tp.offset < 0:
            return None
        try:
            noted = json.loads(tp.metadata)[MARKER_KEY] if tp.metadata else tp.offset
        except (ValueError, KeyError, TypeError):
            noted = None
        if noted != tp.offset:
            raise KafkaTransactionError(
                f"{self.spec.name}: the epoch marker of group {self.group!r} on "
                f"{self.marker_topic}[0] is inconsistent: offset {tp.offset}, metadata "
                f"{tp.metadata!r}; was the group used by something else?", abortable=False)
        return int(tp.offset)

    # -- plumbing ----------------------------------------------------------------

    @property
    def _producer(self) -> Producer:
        return self._open_rows().producer

    def _open_rows(self) -> KafkaWriter:
        if self.rows is None:
            raise RuntimeError(f"{self.spec.name}: the transactional writer is not open")
        return self.rows

    def _begin(self) -> None:
        self._call("begin_transaction", self._producer.begin_transaction)
        self._in_transaction = True
        self._pending = 0
        self._headed_at_begin = set(self._open_rows().headed)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except KafkaException as exc:
            error = error_of(exc)
            if error is None:
                raise KafkaTransactionError(f"{self.spec.name}: {what} failed: {exc}",
                                            abortable=False) from None
            raise self._fatal(error, what) from None

    def _fatal(self, error: KafkaError, what: str) -> Exception:
        tid = self.transactional_id
        if is_fenced(error):
            return KafkaFencedError(
                f"{self.spec.name}: {what}: producer fenced: another producer with "
                f"transactional.id {tid!r} started, so this writer can no longer commit "
                f"({error.str()})")
        if error.code() == KafkaError._UNSUPPORTED_FEATURE:
            return KafkaTransactionsUnsupported(
                f"{self.spec.name}: the Kafka brokers at {servers(self.spec.settings)} do not "
                f"support transactions (Kafka >= 0.11 needed): {error.str()}")
        return KafkaTransactionError(
            f"{self.spec.name}: {what} failed for transactional.id {tid!r} "
            f"({self._pending} rows in the open transaction): {error.str()}",
            abortable=error.txn_requires_abort(), retriable=error.retriable())


def _within(timeout_s: float, what: str, fn: Callable[[], None]) -> None:
    """Runs ``fn`` in a thread and raises if it has not returned after ``timeout_s``.

    Guards against a librdkafka call that ignores its own timeout; the stuck
    thread is left behind (the producer is unusable then: open a new writer).
    """
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=run, name=f"kafka-{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise KafkaTransactionError(f"{what} did not return within {timeout_s:g} s (librdkafka "
                                    "issue #5456): open a new writer", abortable=False)
    if outcome[0] is not None:
        raise outcome[0]


def _has_partition_zero(metadata: Any, topic: str) -> bool:
    found = metadata.topics.get(topic)
    return found is not None and found.error is None and 0 in found.partitions


def transactional_writer(spec: KafkaSinkSpec,
                         transactional_id: str) -> TransactionalKafkaWriter | None:
    """The sink's transactional writer, or None if its brokers have no transactions.

    Args:
        spec: The Kafka sink.
        transactional_id: The sink's persistent id (stable across restarts).
    """
    if not supports_transactions(spec.settings, transactional_id):
        return None
    return TransactionalKafkaWriter(spec, transactional_id)
