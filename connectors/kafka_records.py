"""Consumed Kafka messages as columns: offsets, keys, values, metadata.

confluent-kafka hands out one ``Message`` object per record; :class:`Messages`
pulls their fields into arrays once per batch so every later step (filtering,
parsing, row ids, metadata) works on whole columns.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from raystream.connectors.base import RecordError
from raystream.connectors.serialize import json_lines

log = logging.getLogger("raystream.kafka")

_MAX_LOGGED = 20
_logged = {"errors": 0}


@dataclass(frozen=True)
class Messages:
    """A batch of consumed messages, column by column.

    Attributes:
        partitions: Partition of each message (int64).
        offsets: Offset of each message (int64).
        values: Message values (None for a message without a value).
        keys: Message keys (None when absent).
        raw: The confluent-kafka messages (timestamps and headers, read lazily).
    """

    partitions: np.ndarray
    offsets: np.ndarray
    values: list[bytes | None]
    keys: list[bytes | None]
    raw: list[Any]

    @classmethod
    def of(cls, messages: list[Any], source: str, with_keys: bool = True) -> Messages:
        """Extracts the fields of ``messages``; error events are logged and left out.

        Args:
            messages: What ``consume()`` returned.
            source: The source name, for logs.
            with_keys: Extract message keys (else ``keys`` is all None).

        Raises:
            confluent_kafka.KafkaException: On a fatal client error.
        """
        if not messages:
            return cls(np.empty(0, np.int64), np.empty(0, np.int64), [], [], [])
        kind = type(messages[0])  # the unbound C methods: ~50 ns a message less than m.f()
        errors = list(map(kind.error, messages))
        good = messages
        if errors.count(None) != len(errors):
            good = [m for m, e in zip(messages, errors, strict=True) if e is None]
            for error in errors:
                if error is not None:
                    _client_error(error, source)
        n = len(good)
        keys = list(map(kind.key, good)) if with_keys else [None] * n
        return cls(np.fromiter(map(kind.partition, good), np.int64, n),
                   np.fromiter(map(kind.offset, good), np.int64, n),
                   list(map(kind.value, good)), keys, good)

    def __len__(self) -> int:
        return len(self.raw)

    def take(self, selection: np.ndarray) -> Messages:
        """The messages at the given indices, or where the boolean mask is True."""
        index = np.flatnonzero(selection) if selection.dtype == np.bool_ else selection
        if len(index) == len(self.raw) and np.array_equal(index, np.arange(len(index))):
            return self  # all of them, in order (the usual case): nothing to copy
        return Messages(self.partitions[index], self.offsets[index],
                        [self.values[i] for i in index], [self.keys[i] for i in index],
                        [self.raw[i] for i in index])

    def null_values(self, topic: str) -> tuple[list[RecordError], Messages]:
        """Splits off messages without a value (tombstones) as errors."""
        missing = np.array([v is None for v in self.values], dtype=np.bool_)
        if not missing.any():
            return [], self
        errors = [RecordError(f"kafka topic={topic} partition={int(self.partitions[i])}",
                              f"offset={int(self.offsets[i])}", "message has no value", "")
                  for i in np.flatnonzero(missing)]
        return errors, self.take(~missing)


def _client_error(error: Any, source: str) -> None:
    from confluent_kafka import KafkaException

    if error.fatal():
        raise KafkaException(error)
    if _logged["errors"] < _MAX_LOGGED:
        _logged["errors"] += 1
        log.warning("%s: Kafka client error (retrying): %s", source, error.str())


def key_column(keys: list[bytes | None], format: str) -> pa.Array:
    """Message keys as a ``key`` column: bytes for ``raw``, UTF-8 text for ``plaintext``."""
    binary = pa.array(keys, pa.binary())
    if format == "raw":
        return binary
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if k is None else k.decode("utf-8", errors="replace")
                         for k in keys], pa.string())


def metadata_column(messages: Messages, topic: str) -> pa.Array:
    """``_metadata`` JSON per message: timestamp_millis, topic, partition, offset, headers.

    Header values are base64 text (``null`` for a header without a value), as in Pathway.
    """
    n = len(messages)
    stamps = [m.timestamp() for m in messages.raw]
    millis = pa.array([ts if kind != 0 else None for kind, ts in stamps], pa.int64())
    headers = [_headers_json(m.headers()) for m in messages.raw]
    batch = pa.record_batch({
        "timestamp_millis": millis,
        "topic": pa.nulls(n, pa.string()).fill_null(topic) if n else pa.array([], pa.string()),
        "partition": pa.array(messages.partitions, pa.int64()),
        "offset": pa.array(messages.offsets, pa.int64()),
        "headers": pa.array(headers, pa.string()),
    })
    return json_lines(batch, json_columns=("headers",))


def _headers_json(headers: list[tuple[str, bytes | None]] | None) -> str:
    if not headers:
        return "[]"
    return json.dumps([[name, None if value is None else base64.b64encode(value).decode()]
                       for name, value in headers])
