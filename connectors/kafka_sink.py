"""Kafka sink: whole batches serialised at once, produced, flushed at every commit time.

Payloads are built column-wise (:mod:`raystream.connectors.serialize`); only
the ``produce`` call is per message. Delivery reports are requested for
failures only; :meth:`KafkaWriter.flush` waits for every message and raises
:class:`KafkaDeliveryError` naming the topic and row of each failed one, so a
failed delivery is never dropped and the commit time is never reported durable.
Every message carries ``pathway_time`` and ``pathway_diff`` headers (as in
Pathway; brokers older than 0.11 ignore headers).

Delivery is at-least-once: without transactions a produced message cannot be
taken back, so after a recovery to a checkpoint the rows written since that
checkpoint are produced again (consumers see them twice; their
``pathway_time`` headers tell the copies apart). The writer's state,
``{"messages": acknowledged so far, "dsv_headers": [topics]}``, carries the
count and the topics whose ``dsv`` header line was already sent, so a resumed
writer does not send the header again. Exactly-once output, with one Kafka
transaction per checkpoint, is :mod:`raystream.connectors.kafka_txn`.

The per-row encoding (topic, payload, key and headers of each row, computed
column-wise) is :func:`encode_batch`; :class:`KafkaWriter` produces what it
returns, and the transactional writer (:mod:`raystream.connectors.kafka_txn`)
produces through a :class:`KafkaWriter` inside its transactions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, KafkaException
from raystream.connectors.base import AT_LEAST_ONCE, Delivery, RecordError, position_field
from raystream.connectors.batch import KEY, OUT_DIFF, OUT_TIME, pointer_text
from raystream.connectors.kafka_client import list_metadata, make_producer
from raystream.connectors.serialize import dsv_header, dsv_lines, json_lines

log = logging.getLogger("raystream.kafka")

_FLUSH_WAIT_S = 5.0
_PREVIEW = 200


class KafkaDeliveryError(RuntimeError):
    """Messages the broker did not accept; the message names each topic and row.

    Attributes:
        fatal: The first fatal client error among the failures (for example a
            transactional producer fenced by a newer one), else None.
    """

    def __init__(self, message: str, fatal: Any = None) -> None:
        super().__init__(message)
        self.fatal = fatal


class KafkaFatalError(RuntimeError):
    """The producer hit a fatal error (fenced, ...): it cannot produce any more.

    Attributes:
        error: The confluent-kafka ``KafkaError``.
    """

    def __init__(self, message: str, error: Any) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class EncodedRows:
    """One batch encoded as Kafka messages: equal-length lists, one entry per row.

    Attributes:
        topics: Each row's topic (None: the topic column is null).
        payloads: Message values.
        keys: Message keys.
        headers: Message headers (rows with equal values share one list).
        dsv_header: The ``dsv`` header line for these columns (None for other formats).
    """

    topics: list[str | None]
    payloads: list[Any]
    keys: list[Any]
    headers: list[list[tuple[str, Any]]]
    dsv_header: str | None = None


@dataclass(frozen=True)
class KafkaSinkSpec:
    """Where and how a table's changes are produced.

    Attributes:
        name: Sink name for errors and logs.
        settings: The user's rdkafka settings.
        topic: The topic, or None when ``topic_column`` gives one per row.
        format: ``json``, ``dsv``, ``plaintext`` or ``raw``.
        topic_column: Column holding each row's topic (not in the payload).
        key_column: Column used as the message key (default: the row key).
        value_column: Payload column for ``plaintext``/``raw``.
        header_columns: Columns sent as headers named after them.
        delimiter: ``dsv`` field separator.
        json_columns: ``pw.Json`` columns (already JSON text).
        timeout_s: Timeout of the connection check at open.
    """

    name: str
    settings: dict[str, Any]
    topic: str | None
    format: str = "json"
    topic_column: str | None = None
    key_column: str | None = None
    value_column: str | None = None
    header_columns: tuple[str, ...] = ()
    delimiter: str = ","
    json_columns: tuple[str, ...] = ()
    timeout_s: float = 10.0

    def open(self, state: dict[str, Any] | None = None) -> KafkaWriter:
        """Creates the producer and checks that a broker answers.

        Args:
            state: A :meth:`KafkaWriter.state` to resume (at-least-once: what
                was produced after it stays in the topics).

        Raises:
            ResumeError: ``state`` is malformed.
        """
        return KafkaWriter(self, state)


def encode_batch(spec: KafkaSinkSpec, batch: pa.RecordBatch) -> EncodedRows:
    """Encodes every row of ``batch`` column-wise (payload, key, headers, topic)."""
    payload_columns = _payload_batch(spec, batch)
    return EncodedRows(
        topics=_topics(spec, batch), payloads=_payloads(spec, batch, payload_columns),
        keys=_keys(spec, batch), headers=_headers(spec, batch),
        dsv_header=dsv_header(payload_columns.schema.names, spec.delimiter)
        if spec.format == "dsv" else None)


class KafkaWriter:
    """Produces rows; see :class:`KafkaSinkSpec`.

    Args:
        spec: The sink.
        state: A :meth:`state` to resume, or None.
        producer_settings: Extra producer settings on top of the user's
            (the transactional writer passes ``transactional.id`` and friends).
    """

    delivery: Delivery = AT_LEAST_ONCE

    def __init__(self, spec: KafkaSinkSpec, state: dict[str, Any] | None = None,
                 producer_settings: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.failed: list[str] = []
        self.fatal: Any = None
        self.headed: set[str] = set()
        self.produced = 0
        if state is not None:
            where = f"{spec.name}: kafka sink state"
            self.produced = position_field(state, "messages", int, where)
            self.headed = {str(t) for t in position_field(state, "dsv_headers", list, where)}
        self.durable = (self.produced, sorted(self.headed))
        self.producer = make_producer(spec.settings, spec.name, on_delivery=self._on_delivery,
                                      **{"delivery.report.only.error": True,
                                         **(producer_settings or {})})
        list_metadata(self.producer, spec.settings, spec.name, spec.timeout_s)

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is None:
            return
        if error.fatal() and self.fatal is None:
            self.fatal = error
        self.failed.append(f"topic={message.topic()} key={_text(message.key())}: "
                           f"{error.str()}; row: {_text(message.value())[:_PREVIEW]}")

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Produces one message per row; rows the client refuses at once are returned.

        Raises:
            KafkaFatalError: The producer cannot produce any more (e.g. fenced).
        """
        n = batch.num_rows
        if n == 0:
            return []
        rows = encode_batch(self.spec, batch)
        errors: list[RecordError] = []
        produce = self.producer.produce
        for i in range(n):
            topic = rows.topics[i]
            if topic is None:
                errors.append(self._rejected("?", rows.keys[i], rows.payloads[i],
                                             "the topic column is null"))
                continue
            if rows.dsv_header is not None and topic not in self.headed:
                self._produce(topic, rows.dsv_header, None, None, errors)
                self.headed.add(topic)
            try:  # fast path; a full queue or a refused row goes through _produce
                produce(topic, value=rows.payloads[i], key=rows.keys[i], headers=rows.headers[i])
            except Exception:  # noqa: BLE001 - _produce retries and classifies it
                self._produce(topic, rows.payloads[i], rows.keys[i], rows.headers[i], errors)
        self.producer.poll(0)
        self.produced += n - len(errors)
        return errors

    def _produce(self, topic: str, value: Any, key: Any, headers: Any,
                 errors: list[RecordError]) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:  # local queue full: serve deliveries, then retry
                self.producer.poll(0.05)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.fatal():
                    raise KafkaFatalError(f"{self.spec.name}: producing to {topic} failed: "
                                          f"{error.str()}", error) from None
                errors.append(self._rejected(topic, key, value, str(exc)))
                return
            except (TypeError, ValueError) as exc:
                errors.append(self._rejected(topic, key, value, str(exc)))
                return

    def _rejected(self, topic: str, key: Any, value: Any, reason: str) -> RecordError:
        return RecordError(f"kafka topic={topic}", f"key={_text(key)}", reason,
                           _text(value)[:_PREVIEW])

    # -- durability --------------------------------------------------------------

    def flush(self) -> None:
        """Waits until every message is acknowledged.

        Raises:
            KafkaDeliveryError: If any message failed (with its topic and row).
        """
        started = time.monotonic()
        while (left := self._flush_once()) > 0:
            log.warning("%s: %d messages still waiting for the broker after %.0f s",
                        self.spec.name, left, time.monotonic() - started)
        if self.failed:
            failed, self.failed = self.failed, []
            fatal, self.fatal = self.fatal, None
            shown = "\n  ".join(failed[:10])
            more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
            raise KafkaDeliveryError(f"{self.spec.name}: {len(failed)} messages were not "
                                     f"delivered:\n  {shown}{more}", fatal)
        self.durable = (self.produced, sorted(self.headed))

    def state(self) -> dict[str, Any]:
        """``{"messages": n, "dsv_headers": [topic, ...]}`` as of the last :meth:`flush`."""
        messages, headed = self.durable
        return {"messages": messages, "dsv_headers": headed}

    def _flush_once(self) -> int:
        """One bounded ``flush``; a fatal client error (e.g. fenced) raises KafkaFatalError."""
        try:
            return int(self.producer.flush(_FLUSH_WAIT_S))
        except (KafkaException, SystemError) as exc:
            # After a fatal error, flush raises it, and a delivery callback served in the same
            # call then fails with a SystemError whose cause is that KafkaException.
            cause = exc if isinstance(exc, KafkaException) else exc.__cause__
            error = cause.args[0] if isinstance(cause, KafkaException) and cause.args else None
            if isinstance(error, KafkaError) and error.fatal():
                raise KafkaFatalError(f"{self.spec.name}: flush failed: {error.str()}",
                                      error) from None
            raise

    def close(self) -> None:
        """Flushes (raising on failed deliveries)."""
        self.flush()


# -- columns -> per-message lists ------------------------------------------------

def _topics(spec: KafkaSinkSpec, batch: pa.RecordBatch) -> list[str | None]:
    if spec.topic_column is None:
        return [spec.topic] * batch.num_rows
    return batch.column(spec.topic_column).to_pylist()


def _payload_batch(spec: KafkaSinkSpec, batch: pa.RecordBatch) -> pa.RecordBatch:
    hidden = {KEY, spec.topic_column}
    names = [n for n in batch.schema.names if n not in hidden]
    return pa.RecordBatch.from_arrays([batch.column(n) for n in names], names=names)


def _payloads(spec: KafkaSinkSpec, batch: pa.RecordBatch,
              payload_columns: pa.RecordBatch) -> list[Any]:
    # As bytes: librdkafka sends bytes as they are, where a str is decoded from
    # Arrow and encoded again by the client (~100 ns a message each way).
    if spec.format == "json":
        return json_lines(payload_columns, spec.json_columns).cast(pa.binary()).to_pylist()
    if spec.format == "dsv":
        return dsv_lines(payload_columns, spec.delimiter).cast(pa.binary()).to_pylist()
    assert spec.value_column is not None
    return batch.column(spec.value_column).to_pylist()


def _keys(spec: KafkaSinkSpec, batch: pa.RecordBatch) -> list[Any]:
    if spec.key_column is not None:
        return batch.column(spec.key_column).to_pylist()
    if KEY in batch.schema.names:  # the row key, printed like a pw.Pointer
        return pointer_text(batch.column(KEY)).cast(pa.binary()).to_pylist()
    return [None] * batch.num_rows


def _headers(spec: KafkaSinkSpec, batch: pa.RecordBatch) -> list[list[tuple[str, Any]]]:
    """Each row's header list; rows with equal header values share one list.

    Every header column is dictionary-encoded, the rows' combined codes are
    made unique with numpy, and each distinct combination is rendered once:
    with only ``pathway_time`` and ``pathway_diff`` a batch has a handful.
    """
    columns = [("pathway_time", batch.column(OUT_TIME)), ("pathway_diff", batch.column(OUT_DIFF))]
    columns += [(name, batch.column(name)) for name in spec.header_columns]
    names = [name for name, _ in columns]
    values, indices = [], []
    for _, column in columns:
        encoded = pc.dictionary_encode(column, null_encoding="encode")
        values.append(_header_values(encoded.dictionary))
        indices.append(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))
    distinct, inverse = _distinct_rows(indices, [len(v) for v in values])
    lists = [list(zip(names, (v[i] for v, i in zip(values, row, strict=True)), strict=True))
             for row in distinct]
    return [lists[i] for i in inverse.tolist()]


def _distinct_rows(indices: list[np.ndarray], sizes: list[int]) -> tuple[list[list[int]], Any]:
    """The distinct rows of equal-length index columns, and each row's number among them.

    Column ``k`` holds values in ``0..sizes[k]-1``. With few combinations the
    rows are numbered through a table indexed by their mixed-radix code (no
    sort); else by ``np.unique``.
    """
    combinations = 1
    for size in sizes:
        combinations *= max(size, 1)
    if combinations > 1 << 20:
        distinct, inverse = np.unique(np.stack(indices, axis=1), axis=0, return_inverse=True)
        return distinct.tolist(), inverse.reshape(-1)
    code = np.zeros(len(indices[0]), np.int64)
    for column, size in zip(indices, sizes, strict=True):
        code = code * size + column
    present = np.flatnonzero(np.bincount(code, minlength=combinations))
    number = np.empty(combinations, np.int64)
    number[present] = np.arange(len(present))
    rows = np.stack(np.unravel_index(present, sizes), axis=1).tolist()
    return rows, number[code]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")


def _header_values(column: pa.Array) -> list[Any]:
    """Header values: bytes as they are, anything else as its UTF-8 text."""
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return column.to_pylist()
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        text = pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
    return [None if v is None else v.encode("utf-8") for v in text.to_pylist()]
