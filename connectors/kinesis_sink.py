"""Kinesis sink: rows to PutRecords calls within the service limits.

Each row becomes one record: a JSON object (the row's columns plus ``time``
and ``diff``), or one column's text (``plaintext``) or bytes (``raw``). Its
partition key is a column's value as text, or the row key. Payloads, keys and
their sizes are computed for the whole batch with pyarrow; rows that Kinesis
would refuse (a record over 1 MiB, a partition key over 256 bytes or empty, a
missing payload, an unknown stream) are returned as errors naming the row,
and the other rows are written.

Records are buffered per stream and sent in PutRecords calls of at most 500
records and 5 MiB; :meth:`KinesisWriter.flush` sends the rest and returns
once Kinesis acknowledged every record (that is when they are durable).
Entries that fail inside a call (throttling, internal failure) and throttled
calls are retried with exponential backoff and jitter until
``retry_timeout_s`` passes, then the writer raises.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raystream.connectors.base import RecordError
from raystream.connectors.kinesis_client import (
    Backoff,
    ConnectionSettings,
    KinesisError,
    error_code,
    is_retryable,
    make_client,
)
from raystream.connectors.serialize import json_lines

log = logging.getLogger("raystream.kinesis")

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_KEY_BYTES = 256
_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype="S1")


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
    """

    name: str
    settings: ConnectionSettings
    format: str
    columns: tuple[str, ...]
    stream: str | None = None
    stream_column: str | None = None
    data_column: str | None = None
    partition_key_column: str | None = None
    key_column: str = "_key"
    json_columns: tuple[str, ...] = ()
    retry_timeout_s: float = 300.0

    def open(self) -> KinesisWriter:
        """Opens the writer (checking that a fixed stream exists)."""
        return KinesisWriter(self)


@dataclass
class _Pending:
    """Records waiting for a PutRecords call to one stream."""

    data: list[bytes] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    bytes: int = 0


class KinesisWriter:
    """Writes batches to Kinesis; see the module docstring.

    Args:
        spec: The sink.
        client: A boto3 Kinesis client (default: one from ``spec.settings``).
        sleep: Sleep function between retries (injectable for tests).
    """

    def __init__(self, spec: KinesisSinkSpec, client: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec
        self.client = client if client is not None else make_client(spec.settings)
        self.sleep = sleep
        self.pending: dict[str, _Pending] = {}
        self.streams: dict[str, bool] = {}
        self.records_sent = 0
        self.retries = 0
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
        sizes = pc.add(pc.binary_length(payloads), pc.binary_length(keys.cast(pa.binary())))
        sizes_np = sizes.to_numpy(zero_copy_only=False)
        if self.spec.stream is not None:
            self._enqueue(self.spec.stream, payloads, keys, sizes_np)
            return errors
        encoded = pc.dictionary_encode(streams)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        for i, stream in enumerate(encoded.dictionary.to_pylist()):
            rows = pa.array(np.flatnonzero(codes == i))
            self._enqueue(stream, payloads.take(rows), keys.take(rows), sizes_np[rows])
        return errors

    def _payloads(self, batch: pa.RecordBatch) -> pa.Array:
        spec = self.spec
        if spec.format == "json":
            names = [*spec.columns, "time", "diff"]
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
        return RecordError(source=f"kinesis stream={stream}", position=_row_name(batch, i, self.spec),
                           reason=reason, raw=_preview(keys[i].as_py()))

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

    def _enqueue(self, stream: str, payloads: pa.Array, keys: pa.Array,
                 sizes: np.ndarray) -> None:
        pending = self.pending.setdefault(stream, _Pending())
        pending.data.extend(payloads.to_pylist())
        pending.keys.extend(keys.to_pylist())
        pending.sizes.extend(sizes.tolist())
        pending.bytes += int(sizes.sum())
        while len(pending.data) >= MAX_RECORDS_PER_CALL or pending.bytes >= MAX_BYTES_PER_CALL:
            self._send_chunk(stream, pending)

    def _send_chunk(self, stream: str, pending: _Pending) -> None:
        """Sends the oldest records of ``pending`` that fit one call."""
        head = np.cumsum(pending.sizes[:MAX_RECORDS_PER_CALL])
        count = max(int(np.searchsorted(head, MAX_BYTES_PER_CALL, side="right")), 1)
        data, keys = pending.data[:count], pending.keys[:count]
        pending.bytes -= int(head[count - 1])
        del pending.data[:count], pending.keys[:count], pending.sizes[:count]
        self._put(stream, [{"Data": d, "PartitionKey": k} for d, k in zip(data, keys)])

    def _put(self, stream: str, entries: list[dict[str, Any]]) -> None:
        """One PutRecords call, retrying throttled calls and failed entries."""
        backoff = Backoff(base_s=0.1, cap_s=5.0)
        deadline = time.monotonic() + self.spec.retry_timeout_s
        while entries:
            try:
                response = self.client.put_records(StreamName=stream, Records=entries)
            except Exception as exc:
                if not is_retryable(exc) or time.monotonic() >= deadline:
                    raise KinesisError(f"{self.spec.name}: PutRecords to stream {stream!r} at "
                                       f"{self.spec.settings.describe()} failed: {exc}") from exc
                self._wait(backoff, stream, error_code(exc) or type(exc).__name__, len(entries))
                continue
            failed = response.get("FailedRecordCount", 0)
            self.records_sent += len(entries) - failed
            if not failed:
                return
            results = response["Records"]
            codes = Counter(r["ErrorCode"] for r in results if "ErrorCode" in r)
            entries = [e for e, r in zip(entries, results) if "ErrorCode" in r]
            if time.monotonic() >= deadline:
                raise KinesisError(f"{self.spec.name}: {len(entries)} records for stream "
                                   f"{stream!r} still failing after "
                                   f"{self.spec.retry_timeout_s:.0f} s: {dict(codes)}")
            self._wait(backoff, stream, ", ".join(codes), len(entries))

    def _wait(self, backoff: Backoff, stream: str, why: str, count: int) -> None:
        delay = backoff.next_delay()
        self.retries += 1
        log.info("%s: %d records for %s: %s; retrying in %.2f s", self.spec.name, count,
                 stream, why, delay)
        self.sleep(delay)

    def flush(self) -> None:
        """Sends every queued record; returns once Kinesis acknowledged them all."""
        for stream, pending in self.pending.items():
            while pending.data:
                self._send_chunk(stream, pending)

    def close(self) -> None:
        """Flushes."""
        self.flush()


def pointer_text(keys: pa.Array) -> pa.Array:
    """Row keys (uint64) as Pathway-style pointer text, ``^`` plus 13 base-32 digits."""
    values = keys.to_numpy(zero_copy_only=False).astype(np.uint64)
    shifts = np.arange(0, 65, 5, dtype=np.uint64)[:13]
    digits = _ALPHABET[((values[:, None] >> shifts) & np.uint64(31)).astype(np.intp)]
    text = np.char.add(b"^", digits.view("S13").ravel())
    return pa.array(text, pa.binary()).cast(pa.string())


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
    if "time" in batch.schema.names:
        parts.append(f"time={batch.column('time')[i].as_py()}")
    return " ".join(parts)


def _preview(key: str | None) -> str:
    if key is None:
        return ""
    return f"partition key {key[:60]!r}" + ("..." if len(key) > 60 else "")
