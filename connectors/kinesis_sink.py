"""Kinesis sink: rows to PutRecords calls within the service limits.

Each row becomes one record: a JSON object (the row's columns plus ``time``
and ``diff``), or one column's text (``plaintext``) or bytes (``raw``). Its
partition key is a column's value as text, or the row key. Payloads, keys and
their sizes are computed for the whole batch with pyarrow; rows that Kinesis
would refuse (a record over 1 MiB, a partition key over 256 bytes or empty, a
missing payload, an unknown stream) are returned as errors naming the row,
and the other rows are written.

Sending (calls of at most 500 records and 5 MiB, several in flight, each
partition key in order, retries with backoff) is :mod:`kinesis_lanes`'s job;
:meth:`KinesisWriter.flush` returns once Kinesis acknowledged every record
(that is when they are durable).

Delivery is at-least-once: a record cannot be taken back, so after a
recovery to a checkpoint the rows written since are put again (the ``json``
format carries ``time`` and ``diff`` in every record, which tell the copies
apart). The writer's state is ``{"records": acknowledged so far}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.base import AT_LEAST_ONCE, Delivery, RecordError, position_field
from raystream.connectors.batch import KEY, OUT_DIFF, OUT_TIME, pointer_text
from raystream.connectors.kinesis_client import (
    ConnectionSettings,
    KinesisError,
    error_code,
    make_client,
)
from raystream.connectors.kinesis_http import put_records_boto3, put_records_fast
from raystream.connectors.kinesis_lanes import (
    RecordSender,
    key_lanes,
)
from raystream.connectors.serialize import json_lines

log = logging.getLogger("raystream.kinesis")

MAX_RECORD_BYTES = 1024 * 1024
MAX_KEY_BYTES = 256


@dataclass(frozen=True)
class KinesisSinkSpec:
    """Where and how to write (picklable; opened in the sink actor).

    Attributes:
        name: Sink name for errors and logs.
        settings: Connection settings captured in the driver.
        format: ``json``, ``plaintext`` or ``raw``.
        columns: User columns (the JSON object's fields, in order).
        stream: The stream of every row, or None when ``stream_column`` names it.
        stream_column: Column holding each row's stream name.
        data_column: Payload column for ``plaintext``/``raw``.
        partition_key_column: Column whose text is the partition key, or None
            for the row key (``key_column``).
        key_column: Name of the row-key column in the batches.
        json_columns: ``pw.Json`` columns (already JSON text).
        retry_timeout_s: How long failed records are retried before giving up.
        max_in_flight: PutRecords calls in flight at once (lanes by partition key).
        fast_put_records: Encode PutRecords bodies in bulk (:mod:`kinesis_http`)
            instead of through botocore's serialiser.
    """

    name: str
    settings: ConnectionSettings
    format: str
    columns: tuple[str, ...]
    stream: str | None = None
    stream_column: str | None = None
    data_column: str | None = None
    partition_key_column: str | None = None
    key_column: str = KEY
    json_columns: tuple[str, ...] = ()
    retry_timeout_s: float = 300.0
    max_in_flight: int = 4
    fast_put_records: bool = True

    def open(self, state: dict[str, Any] | None = None) -> KinesisWriter:
        """Opens the writer (checking that a fixed stream exists).

        Args:
            state: A :meth:`KinesisWriter.state` to resume (at-least-once:
                records put after it stay in the stream).

        Raises:
            ResumeError: ``state`` is malformed.
        """
        return KinesisWriter(self, state=state)


class KinesisWriter:
    """Writes batches to Kinesis; see the module docstring.

    Args:
        spec: The sink.
        client: A boto3 Kinesis client (default: one from ``spec.settings``,
            written with :func:`put_records_fast`; an injected client is
            called through boto3, e.g. for botocore's Stubber).
        sleep: Sleep function between retries (injectable for tests).
        state: A :meth:`state` to resume, or None.
    """

    delivery: Delivery = AT_LEAST_ONCE

    def __init__(self, spec: KinesisSinkSpec, client: Any = None,
                 sleep: Callable[[float], None] = time.sleep,
                 state: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.resumed = 0 if state is None else \
            position_field(state, "records", int, f"{spec.name}: kinesis sink state")
        self.durable = self.resumed
        self.client = client if client is not None else \
            make_client(spec.settings, pool_size=max(10, spec.max_in_flight))
        put = put_records_fast if client is None and spec.fast_put_records \
            else put_records_boto3
        self.sender = RecordSender(self.client, put, spec.name, spec.max_in_flight,
                                   spec.retry_timeout_s, sleep)
        self.streams: dict[str, bool] = {}
        if spec.stream is not None and not self._stream_exists(spec.stream):
            raise KinesisError(f"{spec.name}: Kinesis stream {spec.stream!r} does not exist "
                               f"at {spec.settings.describe()}: create it first")

    # -- rows to records -----------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Queues the rows as records (sending full calls); returns the refused rows."""
        if batch.num_rows == 0:
            return []
        payloads = self._payloads(batch)
        keys = self._partition_keys(batch)
        streams = batch.column(self.spec.stream_column) if self.spec.stream_column \
            else pa.nulls(batch.num_rows, pa.string()).fill_null(self.spec.stream)
        errors, good = self._check(batch, payloads, keys, streams)
        if not good.all():
            keep = pa.array(good)
            payloads, keys, streams = payloads.filter(keep), keys.filter(keep), streams.filter(keep)
            if len(payloads) == 0:
                return errors
        sizes = pc.add(pc.binary_length(payloads), pc.binary_length(keys.cast(pa.binary())))
        lanes = key_lanes(keys, self.sender.lanes)
        if self.spec.stream is not None:
            names, groups = [self.spec.stream], lanes
        else:
            encoded = pc.dictionary_encode(streams)
            names = encoded.dictionary.to_pylist()
            groups = encoded.indices.to_numpy(zero_copy_only=False) * self.sender.lanes + lanes
        self._enqueue(names, groups, payloads, keys, sizes.to_numpy(zero_copy_only=False))
        return errors

    def _enqueue(self, names: list[str], groups: np.ndarray, payloads: pa.Array,
                 keys: pa.Array, sizes: np.ndarray) -> None:
        """Hands the rows to the sender, grouped by (stream, lane), in row order."""
        order = np.argsort(groups, kind="stable")
        ordered = groups[order]
        bounds = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(order)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            rows = order[lo:hi]
            group = int(ordered[lo])
            taken = pa.array(rows)
            self.sender.add(names[group // self.sender.lanes], group % self.sender.lanes,
                            payloads.take(taken).to_pylist(), keys.take(taken).to_pylist(),
                            sizes[rows])

    def _payloads(self, batch: pa.RecordBatch) -> pa.Array:
        spec = self.spec
        if spec.format == "json":
            names = [*spec.columns, OUT_DIFF, OUT_TIME]
            text = json_lines(batch.select(names), spec.json_columns)
            return text.cast(pa.binary())
        column = batch.column(spec.data_column)
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            return column.cast(pa.binary())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return column.cast(pa.binary())
        if spec.format == "plaintext":  # an untyped (pw.apply) column: its text
            return as_text(column).cast(pa.binary())
        raise KinesisError(f"{spec.name}: format 'raw' needs bytes in column "
                           f"{spec.data_column!r}, got {column.type}")

    def _partition_keys(self, batch: pa.RecordBatch) -> pa.Array:
        if self.spec.partition_key_column is None:
            return pointer_text(batch.column(self.spec.key_column))
        return as_text(batch.column(self.spec.partition_key_column))

    def _check(self, batch: pa.RecordBatch, payloads: pa.Array, keys: pa.Array,
               streams: pa.Array) -> tuple[list[RecordError], np.ndarray]:
        """Finds the rows Kinesis would refuse; returns their errors and a keep mask."""
        key_bytes = pc.binary_length(keys.cast(pa.binary())).fill_null(0)
        total = pc.add(pc.binary_length(payloads).fill_null(0), key_bytes)
        bad = pc.or_(pc.or_(payloads.is_null(), keys.is_null()), streams.is_null())
        bad = pc.or_(bad, pc.or_(pc.equal(key_bytes, 0), pc.greater(key_bytes, MAX_KEY_BYTES)))
        bad = pc.or_(bad, pc.greater(total, MAX_RECORD_BYTES))
        if self.spec.stream_column:
            bad = pc.or_(bad, pa.array(self._unknown_streams(streams)))
        mask = bad.to_numpy(zero_copy_only=False)
        if not mask.any():
            return [], np.ones(batch.num_rows, dtype=bool)
        errors = [self._row_error(batch, int(i), payloads, keys, streams, key_bytes, total)
                  for i in np.flatnonzero(mask)]
        return errors, ~mask

    def _unknown_streams(self, streams: pa.Array) -> np.ndarray:
        names = pc.unique(streams.drop_null()).to_pylist()
        unknown = [n for n in names if not self._stream_exists(n)]
        if not unknown:
            return np.zeros(len(streams), dtype=bool)
        return pc.is_in(streams, pa.array(unknown, pa.string())).fill_null(False) \
            .to_numpy(zero_copy_only=False)

    def _row_error(self, batch: pa.RecordBatch, i: int, payloads: pa.Array, keys: pa.Array,
                   streams: pa.Array, key_bytes: pa.Array, total: pa.Array) -> RecordError:
        stream = streams[i].as_py()
        key_len, size = key_bytes[i].as_py(), total[i].as_py()
        if stream is None:
            reason = f"column {self.spec.stream_column!r} (the stream name) is null"
        elif self.spec.stream_column and not self.streams.get(stream, True):
            reason = f"Kinesis stream {stream!r} does not exist"
        elif payloads[i].as_py() is None:
            reason = f"the payload column {self.spec.data_column!r} is null"
        elif keys[i].as_py() is None or key_len == 0:
            reason = "the partition key is empty or null; Kinesis needs 1 to 256 bytes"
        elif key_len > MAX_KEY_BYTES:
            reason = (f"the partition key is {key_len} bytes; Kinesis accepts at most "
                      f"{MAX_KEY_BYTES}")
        else:
            reason = (f"the record is {size} bytes (payload and partition key); Kinesis "
                      f"accepts at most {MAX_RECORD_BYTES} (1 MiB)")
        return RecordError(source=f"kinesis stream={stream}",
                           position=_row_name(batch, i, self.spec), reason=reason,
                           raw=_preview(keys[i].as_py()))

    def _stream_exists(self, stream: str) -> bool:
        known = self.streams.get(stream)
        if known is None:
            try:
                self.client.describe_stream_summary(StreamName=stream)
                known = True
            except Exception as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise KinesisError(f"{self.spec.name}: cannot check Kinesis stream "
                                       f"{stream!r} at {self.spec.settings.describe()}: "
                                       f"{exc}") from exc
                known = False
            self.streams[stream] = known
        return known

    # -- sending -------------------------------------------------------------

    @property
    def records_sent(self) -> int:
        """Records Kinesis acknowledged by this writer (not counting a resumed state)."""
        return self.sender.records_sent

    @property
    def retries(self) -> int:
        """Retries (throttled calls and calls with failed entries) so far."""
        return self.sender.retries

    def flush(self) -> None:
        """Sends every queued record; returns once Kinesis acknowledged them all."""
        self.sender.flush()
        self.durable = self.resumed + self.sender.records_sent

    def state(self) -> dict[str, Any]:
        """``{"records": n}``: records acknowledged as of the last :meth:`flush`."""
        return {"records": self.durable}

    def close(self) -> None:
        """Flushes and stops the sending threads."""
        self.sender.close()


def as_text(column: pa.Array) -> pa.Array:
    """Any column's values as strings (a cast where Arrow has one, else ``str()``)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.string())
    return pa.array([None if v is None else v.decode("utf-8", "replace")
                     if isinstance(v, bytes) else str(v) for v in column.to_pylist()],
                    pa.string())


def _row_name(batch: pa.RecordBatch, i: int, spec: KinesisSinkSpec) -> str:
    parts = []
    if spec.key_column in batch.schema.names:
        parts.append(f"row {pointer_text(batch.column(spec.key_column).slice(i, 1))[0]}")
    else:
        parts.append(f"row {i}")
    if OUT_TIME in batch.schema.names:
        parts.append(f"time={batch.column('time')[i].as_py()}")
    return " ".join(parts)


def _preview(key: str | None) -> str:
    if key is None:
        return ""
    return f"partition key {key[:60]!r}" + ("..." if len(key) > 60 else "")
