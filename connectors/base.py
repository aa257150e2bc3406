"""The contract between raystream's actors and plain source/sink clients.

Everything in ``connectors`` is plain Python: no Ray, no raystream API. An
actor owns one client object and drives it:

* A :class:`SourceSpec` is a small picklable description of a source (a topic,
  a stream, a set of files). The driver calls :meth:`SourceSpec.list_partitions`
  to plan one reader per partition group, and each reader actor calls
  :meth:`SourceSpec.open` to get a :class:`PartitionReader`.
* A :class:`PartitionReader` returns whole :class:`ParsedBatch` objects: many
  records parsed at once into one ``pyarrow.RecordBatch``, never a call per
  record. It reports a JSON-serialisable *position* after each batch, and
  commits a position only when told to (after the sinks made it durable).
* A :class:`SinkSpec` opens a :class:`SinkWriter`, which writes whole batches
  and makes them durable on :meth:`SinkWriter.flush`.

Bad records are data, not exceptions: a reader returns them in
``ParsedBatch.errors`` with the source and position they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

Position = Any
"""A JSON-serialisable resume position (offsets, sequence numbers, line numbers)."""


@dataclass(frozen=True)
class RecordError:
    """One input record that could not be turned into a row.

    Attributes:
        source: Where the record came from, e.g. ``"kafka topic=t partition=2"``
            or ``"file /data/in.jsonl"``.
        position: Its position inside that source, e.g. ``"offset=17"``,
            ``"line=12"`` or ``"sequence=4962..."``.
        reason: Why it was rejected, in words a user understands.
        raw: The record's payload (possibly truncated), for the error log.
    """

    source: str
    position: str
    reason: str
    raw: str = ""

    def describe(self) -> str:
        """Returns a one-line description for logs and exceptions."""
        return f"{self.source} {self.position}: {self.reason}"


@dataclass(frozen=True)
class ParsedBatch:
    """Records parsed at once into one RecordBatch.

    Attributes:
        batch: The parsed rows, with the columns of the parse schema (plus
            ``_metadata`` when metadata was requested).
        record_ids: A uint64 per row, unique and stable within the source
            (for example partition and offset mixed together), used to derive
            row keys that survive a restart.
        message_keys: The records' own keys (Kafka message keys) as a binary
            array aligned with ``batch``, or ``None`` if the source has none.
        errors: Records that failed to parse; they are not in ``batch``.
        records: How many input records this batch consumed, good or bad.
    """

    batch: pa.RecordBatch
    record_ids: pa.Array
    message_keys: pa.Array | None = None
    errors: tuple[RecordError, ...] = ()
    records: int = 0


@runtime_checkable
class PartitionReader(Protocol):
    """Reads one partition (or a group of partitions) of a source."""

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        """Returns up to ``max_records`` records, or ``None`` if none arrived in time.

        Must not block longer than about ``timeout_s``; must keep the client
        alive (for Kafka: keep polling so the consumer stays in its group).
        ``max_records == 0`` is a keep-alive poll while paused: serve the
        client's callbacks and heartbeats, return no records.
        """
        ...

    def position(self) -> Position:
        """Returns the resume position just after the last record returned."""
        ...

    def exhausted(self) -> bool:
        """Returns True when nothing more will ever come from these partitions.

        Static reads: everything up to the end was returned. Dynamic sources
        (Kinesis): the shard is closed (resharded) and was read to its end.
        """
        ...

    def pause(self) -> None:
        """Stops fetching new data while staying connected (backlog full)."""
        ...

    def resume(self) -> None:
        """Undoes :meth:`pause`."""
        ...

    def commit(self, position: Position) -> None:
        """Records ``position`` as durably processed (Kafka commit, checkpoint file)."""
        ...

    def close(self) -> None:
        """Releases the client."""
        ...


def reader_metrics(reader: PartitionReader) -> dict[str, float]:
    """Optional gauges a reader may expose with a ``metrics()`` method.

    Known keys: ``lag_records`` (Kafka: high watermark minus position, summed
    over the reader's partitions) and ``millis_behind_latest`` (Kinesis:
    ``MillisBehindLatest`` of the last GetRecords). Readers without the method
    report nothing.
    """
    method = getattr(reader, "metrics", None)
    return dict(method()) if callable(method) else {}


@dataclass(frozen=True)
class PartitionInfo:
    """A partition (Kafka partition, Kinesis shard, file) as the planner sees it.

    Attributes:
        id: Stable identifier, e.g. ``"3"`` or ``"shardId-000000000001"``.
        parents: Partitions that must be read to their end before this one
            (Kinesis resharding); empty for Kafka and files.
        closed: True if no new records can arrive (a closed Kinesis shard).
    """

    id: str
    parents: tuple[str, ...] = ()
    closed: bool = False


class SourceSpec(Protocol):
    """A picklable source description; opened inside a reader actor.

    For a *dynamic* source (``SourceDescriptor.dynamic``; Kinesis) the driver
    calls :meth:`list_partitions` again every few seconds while running. A
    partition whose ``parents`` are listed gets its reader only after the
    parents' readers are exhausted (read to their end); a parent's reader ends
    only after its children have readers. Each dynamic partition has its own
    reader.
    """

    name: str

    def list_partitions(self) -> list[PartitionInfo]:
        """Lists the source's partitions (driver side; raise a clear error if unreachable)."""
        ...

    def open(self, partitions: list[str]) -> PartitionReader:
        """Opens a reader for the given partition ids at their resume positions."""
        ...


class SinkWriter(Protocol):
    """Writes output batches; durable only after :meth:`flush`."""

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Writes rows (user columns plus ``time`` and ``diff``); returns rejected rows."""
        ...

    def flush(self) -> None:
        """Blocks until everything written so far is durable."""
        ...

    def close(self) -> None:
        """Flushes and releases the client."""
        ...


class SinkSpec(Protocol):
    """A picklable sink description; opened inside a sink actor."""

    name: str

    def open(self) -> SinkWriter:
        """Opens the writer."""
        ...


@dataclass(frozen=True)
class ParseSpec:
    """How to turn payloads into columns; shared by files, Kafka and Kinesis.

    Attributes:
        format: ``raw``, ``plaintext``, ``json`` or ``csv``.
        schema: Columns to produce (for raw/plaintext: a single ``data`` column).
        defaults: Column -> value used when a JSON field or CSV cell is absent.
        json_field_paths: Column -> JSON Pointer (RFC 6901) into the record.
        csv_delimiter: Field separator for ``csv``.
        json_columns: Columns of type ``pw.Json`` (kept as JSON text).
    """

    format: str
    schema: pa.Schema
    defaults: dict[str, Any] = field(default_factory=dict)
    json_field_paths: dict[str, str] = field(default_factory=dict)
    csv_delimiter: str = ","
    json_columns: tuple[str, ...] = ()
