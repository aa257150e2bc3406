"""Kafka sink: whole batches serialised at once, produced, flushed at every commit time.

Payloads are built column-wise (:mod:`raystream.connectors.serialize`); only
the ``produce`` call is per message. Delivery reports are requested for
failures only; :meth:`KafkaWriter.flush` waits for every message and raises
:class:`KafkaDeliveryError` naming the topic and row of each failed one, so a
failed delivery is never dropped and the commit time is never reported durable.
Every message carries ``pathway_time`` and ``pathway_diff`` headers (as in
Pathway; brokers older than 0.11 ignore headers).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaException
from raystream.connectors.base import RecordError
from raystream.connectors.kafka_client import list_metadata, make_producer
from raystream.connectors.kinesis_sink import pointer_text
from raystream.connectors.serialize import dsv_header, dsv_lines, json_lines

log = logging.getLogger("raystream.kafka")

KEY = "_key"
"""The row-key column the runtime adds for sinks that ask for it (``include_key``)."""
_FLUSH_WAIT_S = 5.0
_PREVIEW = 200


class KafkaDeliveryError(RuntimeError):
    """Messages the broker did not accept; the message names each topic and row."""


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

    def open(self) -> KafkaWriter:
        """Creates the producer and checks that a broker answers."""
        return KafkaWriter(self)


class KafkaWriter:
    """Produces rows; see :class:`KafkaSinkSpec`."""

    def __init__(self, spec: KafkaSinkSpec) -> None:
        self.spec = spec
        self.failed: list[str] = []
        self.producer = make_producer(spec.settings, spec.name, on_delivery=self._on_delivery,
                                      **{"delivery.report.only.error": True})
        list_metadata(self.producer, spec.settings, spec.name, spec.timeout_s)
        self.headed: set[str] = set()
        self.produced = 0

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is None:
            return
        self.failed.append(f"topic={message.topic()} key={_text(message.key())}: "
                           f"{error.str()}; row: {_text(message.value())[:_PREVIEW]}")

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Produces one message per row; rows the client refuses at once are returned."""
        n = batch.num_rows
        if n == 0:
            return []
        topics = self._topics(batch)
        payloads = self._payloads(batch)
        keys = self._keys(batch)
        headers = self._headers(batch)
        errors: list[RecordError] = []
        produce = self.producer.produce
        for i in range(n):
            topic = topics[i]
            if topic is None:
                errors.append(self._rejected("?", keys[i], payloads[i],
                                             "the topic column is null"))
                continue
            if self.spec.format == "dsv" and topic not in self.headed:
                self._produce(topic, self._dsv_header(batch), None, None, errors)
                self.headed.add(topic)
            try:  # fast path; a full queue or a refused row goes through _produce
                produce(topic, value=payloads[i], key=keys[i], headers=headers[i])
            except Exception:  # noqa: BLE001 - _produce retries and classifies it
                self._produce(topic, payloads[i], keys[i], headers[i], errors)
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
            except (KafkaException, TypeError, ValueError) as exc:
                errors.append(self._rejected(topic, key, value, str(exc)))
                return

    def _rejected(self, topic: str, key: Any, value: Any, reason: str) -> RecordError:
        return RecordError(f"kafka topic={topic}", f"key={_text(key)}", reason,
                           _text(value)[:_PREVIEW])

    # -- columns -> per-message lists ------------------------------------------

    def _topics(self, batch: pa.RecordBatch) -> list[str | None]:
        if self.spec.topic_column is None:
            return [self.spec.topic] * batch.num_rows
        return batch.column(self.spec.topic_column).to_pylist()

    def _payload_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        hidden = {KEY, self.spec.topic_column}
        names = [n for n in batch.schema.names if n not in hidden]
        return pa.RecordBatch.from_arrays([batch.column(n) for n in names], names=names)

    def _payloads(self, batch: pa.RecordBatch) -> list[Any]:
        if self.spec.format == "json":
            return json_lines(self._payload_batch(batch), self.spec.json_columns).to_pylist()
        if self.spec.format == "dsv":
            return dsv_lines(self._payload_batch(batch), self.spec.delimiter).to_pylist()
        assert self.spec.value_column is not None
        return batch.column(self.spec.value_column).to_pylist()

    def _dsv_header(self, batch: pa.RecordBatch) -> str:
        return dsv_header(self._payload_batch(batch).schema.names, self.spec.delimiter)

    def _keys(self, batch: pa.RecordBatch) -> list[Any]:
        if self.spec.key_column is not None:
            return batch.column(self.spec.key_column).to_pylist()
        if KEY in batch.schema.names:  # the row key, printed like a pw.Pointer
            return pointer_text(batch.column(KEY)).to_pylist()
        return [None] * batch.num_rows

    def _headers(self, batch: pa.RecordBatch) -> list[list[tuple[str, Any]]]:
        columns = [("pathway_time", batch.column("time")), ("pathway_diff", batch.column("diff"))]
        columns += [(name, batch.column(name)) for name in self.spec.header_columns]
        names = [name for name, _ in columns]
        rows = zip(*(_header_values(column) for _, column in columns), strict=True)
        shared: dict[tuple, list[tuple[str, Any]]] = {}  # rows with equal values share a list
        return [shared.get(row) or shared.setdefault(row, list(zip(names, row, strict=True)))
                for row in rows]

    # -- durability --------------------------------------------------------------

    def flush(self) -> None:
        """Waits until every message is acknowledged.

        Raises:
            KafkaDeliveryError: If any message failed (with its topic and row).
        """
        started = time.monotonic()
        while (left := self.producer.flush(_FLUSH_WAIT_S)) > 0:
            log.warning("%s: %d messages still waiting for the broker after %.0f s",
                        self.spec.name, left, time.monotonic() - started)
        if self.failed:
            failed, self.failed = self.failed, []
            shown = "\n  ".join(failed[:10])
            more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
            raise KafkaDeliveryError(f"{self.spec.name}: {len(failed)} messages were not "
                                     f"delivered:\n  {shown}{more}")

    def close(self) -> None:
        """Flushes (raising on failed deliveries)."""
        self.flush()


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
