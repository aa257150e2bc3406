"""The contract between raystream's actors and plain source/sink clients.

Everything in ``connectors`` is plain Python: no Ray, no raystream API. An
actor owns one client object and drives it:

* A :class:`SourceSpec` is a small picklable description of a source (a topic,
  a stream, a set of files). The driver calls :meth:`SourceSpec.list_partitions`
  to plan one reader per partition group, and each reader actor calls
  :meth:`SourceSpec.open` to get a :class:`PartitionReader`.
* A :class:`PartitionReader` returns whole :class:`ParsedBatch` objects: many
  records parsed at once into one ``pyarrow.RecordBatch``, never a call per
  record. It reports a JSON-serialisable *position* per partition after each
  batch, and commits a position only when told to (after the sinks made it
  durable).
* A :class:`SinkSpec` opens a :class:`SinkWriter`, which writes whole batches
  and makes them durable on :meth:`SinkWriter.flush`.

Bad records are data, not exceptions: a reader returns them in
``ParsedBatch.errors`` with the source and position they came from.

Checkpoints and recovery (the resume contract):

1. ``PartitionReader.position()`` maps each of the reader's partition ids to a
   :data:`Position`: a JSON value (dicts with string keys, lists, ints,
   strings, bools, None) that goes into a checkpoint manifest as it is.
2. ``SourceSpec.open(partitions, positions)`` opens a reader, maybe in another
   process and with the partitions grouped differently, whose partitions in
   ``positions`` resume *exactly*: the next record is the one after the last
   record returned before ``position()``, records get the same record ids
   and the same parse state (e.g. a CSV header), and a partition read to its
   end stays exhausted. Partitions missing from ``positions`` start where a
   fresh reader starts. Entries for partitions not opened are ignored, so
   the positions of every reader of a source can be passed merged.
3. ``SinkWriter.state()``, called right after ``flush()`` returned, describes
   what is durable now (a small JSON dict); ``SinkSpec.open(state)`` resumes
   the output in exactly that state. ``SinkWriter.delivery`` says whether
   the output is then rolled back to the state (:data:`EXACTLY_ONCE`) or
   keeps what was written after it, so rows may be written again
   (:data:`AT_LEAST_ONCE`).

A position or state that cannot be resumed (a file gone or shorter, an
offset no longer in the topic, a malformed value) raises :class:`ResumeError`
naming what and where; a connector never silently starts over.

The formats (each connector's module says more):

* Kafka, per partition: ``{"offset": next}``, plus ``"end"`` (static mode: the
  offset the read stops at) and ``"header": {"names": [...], "offset": o}``
  (csv, once read) -- :mod:`kafka_positions`.
* Kinesis, per shard: ``{"sequence": last returned or None, "end": bool}``.
* Files, partition ``"0"``: ``{"files": [{"path", "offset", "lines",
  "header", "done"}, ...]}`` in reading order -- :mod:`files`.
* Memory, partition ``"0"``: ``{"offset": rows returned}``.
* Sink states: files ``{"length": bytes}`` (CSV adds ``"header_written"``),
  exactly-once; Kafka ``{"messages": n, "dsv_headers": [topics]}`` and
  Kinesis ``{"records": n}``, at-least-once; null ``{}``, exactly-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import pyarrow as pa

Position = Any

#: A position asking for the partition's first stored record: given to
#: partitions that appeared while the pipeline ran (see :class:`SourceSpec`).
FIRST_RECORD: Position = {"first_record": True}


def is_first_record(position: Position) -> bool:
    """True if ``position`` is :data:`FIRST_RECORD`."""
    return isinstance(position, dict) and position.get("first_record") is True
"""One partition's resume position: a JSON value (dicts with string keys, lists, ints,
strings, bools, None), e.g. ``{"offset": 17}`` for a Kafka partition."""

Delivery = Literal["exactly-once", "at-least-once"]
EXACTLY_ONCE: Delivery = "exactly-once"
"""Reopened with a state, the output is rolled back to it: nothing written later stays."""
AT_LEAST_ONCE: Delivery = "at-least-once"
"""Reopened with a state, what was written after it stays: rows may be written twice."""


class ResumeError(RuntimeError):
    """A checkpointed position or sink state cannot be resumed (the message says where)."""


def position_field(value: Any, key: str, kind: type | tuple[type, ...], where: str,
                   default: Any = ...) -> Any:
    """Reads ``value[key]`` of a checkpointed position or state, checking its type.

    Args:
        value: The position (or sink state); must be a dict.
        key: The field.
        kind: Accepted type(s); ``bool`` never passes for ``int``.
        where: What the value belongs to, for the error (``"kafka topic=t partition=2"``).
        default: Returned when the field is absent (default: the field is required).

    Raises:
        ResumeError: ``value`` is not a dict, or the field is missing or of another type.
    """
    if not isinstance(value, dict):
        raise ResumeError(f"{where}: malformed checkpoint entry {value!r}: expected a JSON "
                          "object")
    if key not in value:
        if default is ...:
            raise ResumeError(f"{where}: malformed checkpoint entry {value!r}: no {key!r}")
        return default
    field_value = value[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(field_value, kinds) or (isinstance(field_value, bool)
                                             and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ResumeError(f"{where}: malformed checkpoint entry {value!r}: {key!r} must be "
                          f"{names}")
    return field_value


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
        diffs: Each row's change (+1 insertion, -1 retraction), if not all +1
            (in-memory streams).
        time: The commit time the rows belong to, if the source fixes it
            (in-memory streams run in the driver).
    """

    batch: pa.RecordBatch
    record_ids: pa.Array
    message_keys: pa.Array | None = None
    errors: tuple[RecordError, ...] = ()
    records: int = 0
    diffs: pa.Array | None = None
    time: int | None = None


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

    def position(self) -> dict[str, Position]:
        """Returns each partition's resume position just after the last record returned.

        Keys are the reader's partition ids (all of them, read from or not);
        each value alone lets :meth:`SourceSpec.open` resume that partition
        exactly (see the module docstring), in any grouping.
        """
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

    def commit(self, position: dict[str, Position]) -> None:
        """Records ``position`` (as :meth:`position` returned it) as durably processed.

        E.g. a Kafka group commit or a Kinesis checkpoint file: where a reader
        opened without ``positions`` starts.
        """
        ...

    def close(self) -> None:
        """Releases the client."""
        ...


def reader_metrics(reader: PartitionReader) -> dict[str, float]:
    """Optional gauges a reader may expose with a ``metrics()`` method.

    Known keys: ``lag_records`` (Kafka: high watermark minus position, summed
    over the reader's partitions) and ``millis_behind_latest`` (Kinesis:
    ``MillisBehindLatest`` of the last GetRecords) and ``broker_retries``
    (broker calls retried after a transient failure, a running total).
    Readers without the method report nothing.
    """
    method = getattr(reader, "metrics", None)
    return dict(method()) if callable(method) else {}


def reader_idle_until(reader: PartitionReader) -> float | None:
    """When the reader can next return records, if it has ``idle_until()``.

    The optional method returns a ``time.monotonic()`` time before which
    :meth:`PartitionReader.read_batch` will return nothing (Kinesis: the next
    GetRecords call each shard is allowed), or None if records may come at
    any time. Readers without it report None.
    """
    method = getattr(reader, "idle_until", None)
    return method() if callable(method) else None


def reader_partition_lags(reader: PartitionReader) -> dict[str, float]:
    """Records behind the end, per partition id, if the reader has ``partition_lags()``.

    The optional method returns each of the reader's partitions with a known
    lag (Kafka: high watermark minus position); readers without it report nothing.
    """
    method = getattr(reader, "partition_lags", None)
    return {str(k): float(v) for k, v in method().items()} if callable(method) else {}


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

    For a *growing* source (``SourceDescriptor.grows``; Kafka in streaming
    mode) partitions only appear, never end: the driver lists them every few
    seconds too, and gives the partitions that appeared one new reader, opened
    with :data:`FIRST_RECORD` as their positions, so that nothing written to
    them before they were seen is skipped.
    """

    name: str

    def list_partitions(self) -> list[PartitionInfo]:
        """Lists the source's partitions (driver side; raise a clear error if unreachable)."""
        ...

    def open(self, partitions: list[str],
             positions: dict[str, Position] | None = None) -> PartitionReader:
        """Opens a reader of the given partition ids.

        Args:
            partitions: Partition ids (from :meth:`list_partitions`).
            positions: Partition id -> what ``PartitionReader.position()[id]``
                returned, maybe in another process and from a reader of other
                partitions. Those partitions resume exactly there; the others
                (or all, if None) start where a fresh reader starts (Kafka:
                the group's committed offsets, ``start_from_timestamp_ms``,
                ``auto.offset.reset``; Kinesis: the ``state_dir`` checkpoint,
                else TRIM_HORIZON; files and memory: the beginning). Entries
                for other partitions are ignored. :data:`FIRST_RECORD` asks
                for the partition's first record still stored.

        Raises:
            ResumeError: A position cannot be resumed (malformed, or its data
                is gone); the message names the partition.
        """
        ...


class SinkWriter(Protocol):
    """Writes output batches; durable only after :meth:`flush`.

    Attributes:
        delivery: :data:`EXACTLY_ONCE` if a writer reopened with a
            :meth:`state` rolls the output back to it (files), or
            :data:`AT_LEAST_ONCE` if rows written after that state stay, so
            a recovery may write them again (Kafka without transactions,
            Kinesis).
    """

    delivery: Delivery

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Writes rows (user columns plus ``time`` and ``diff``); returns rejected rows."""
        ...

    def flush(self) -> None:
        """Blocks until everything written so far is durable."""
        ...

    def state(self) -> dict[str, Any]:
        """What is durable now, as a small JSON dict (files: ``{"length": bytes}``).

        Called right after :meth:`flush` returned; it describes the output as
        of the last flush, never rows written since.
        """
        ...

    def close(self) -> None:
        """Flushes and releases the client."""
        ...


class SinkSpec(Protocol):
    """A picklable sink description; opened inside a sink actor."""

    name: str

    def open(self, state: dict[str, Any] | None = None) -> SinkWriter:
        """Opens the writer.

        Args:
            state: None for a fresh output (files are created or truncated);
                else what :meth:`SinkWriter.state` returned, maybe in another
                process: the output resumes in exactly that state (files are
                cut back to the recorded length and appended to).

        Raises:
            ResumeError: The output cannot be resumed in ``state`` (e.g. the
                file is missing or shorter than recorded); names the output.
        """
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
