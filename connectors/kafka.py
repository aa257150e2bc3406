"""Kafka source: one consumer per reader, partitions assigned explicitly, batches parsed at once.

A reader owns a group of partitions. It never joins a consumer group (no
rebalancing: the planner decides who reads what) and never auto-commits: its
offsets are committed under the user's ``group.id`` only when the runtime
calls :meth:`KafkaReader.commit`, after every sink made the data durable. A
reader starts from the group's committed offsets, else from
``start_from_timestamp_ms``, else from ``auto.offset.reset``.

Messages are taken with ``consume(num_messages=...)``; a whole batch becomes
one RecordBatch through :func:`raystream.connectors.parse.parse_payloads`.
Bad messages come back as :class:`RecordError` with ``kafka topic=T
partition=P`` and ``offset=O``. For ``csv`` the first message of partition 0
is the header (sent once), which every reader fetches for itself.

Positions (:mod:`kafka_positions`): ``{"<partition>": {"offset": next offset,
"end": static end, "header": csv header}}``. A reader opened with positions
starts those partitions there (checked against the watermarks: an offset no
longer stored is a ResumeError, never a silent skip), ends a static read at
the recorded ``end``, and takes the CSV header from them.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from raystream.connectors.base import (
    ParsedBatch,
    ParseSpec,
    PartitionInfo,
    Position,
    RecordError,
    is_first_record,
)
from raystream.connectors.kafka_client import (
    high_watermarks,
    make_consumer,
    start_offsets,
    topic_partitions,
    transient_retries,
    watermarks,
)
from raystream.connectors.kafka_positions import (
    CsvHeaderState,
    KafkaPosition,
    check_in_range,
    decode_positions,
    restored_header,
)
from raystream.connectors.kafka_records import Messages, key_column, metadata_column
from raystream.connectors.parse import parse_payloads

log = logging.getLogger("raystream.kafka")

_HEADER_WAIT_WARN_S = 10.0


@dataclass(frozen=True)
class KafkaSourceSpec:
    """A Kafka topic to read.

    Attributes:
        name: Source name for errors and logs.
        topic: The topic.
        settings: The user's rdkafka settings (``bootstrap.servers``, ``group.id``...).
        parse: How message values become columns.
        mode: ``streaming``, or ``static`` (read up to the high watermarks, then end).
        with_metadata: Add a ``_metadata`` JSON column.
        key_column: Add the message key as a ``key`` column (raw/plaintext).
        message_keys: Hand message keys to the runtime (they become row keys).
        start_from_timestamp_ms: Start partitions without a committed offset here.
        timeout_s: Timeout of every metadata request.
    """

    name: str
    topic: str
    settings: dict[str, Any]
    parse: ParseSpec
    mode: str = "streaming"
    with_metadata: bool = False
    key_column: bool = False
    message_keys: bool = False
    start_from_timestamp_ms: int | None = None
    timeout_s: float = 10.0

    def list_partitions(self) -> list[PartitionInfo]:
        """Validates settings and topic on the driver; one PartitionInfo per partition."""
        partitions = topic_partitions(self.settings, self.topic, self.name, self.timeout_s)
        return [PartitionInfo(str(p)) for p in partitions]

    def open(self, partitions: list[str],
             positions: dict[str, Position] | None = None) -> KafkaReader:
        """Opens a consumer on ``partitions``, at ``positions`` where given.

        Partitions without a position start at the group's committed offset,
        else ``start_from_timestamp_ms``, else ``auto.offset.reset``.

        Raises:
            ResumeError: A position is malformed or its offset is no longer stored.
        """
        return KafkaReader(self, [int(p) for p in partitions], positions)


@dataclass
class _CsvHeader:
    """The CSV header: the first message of partition 0, fetched by every reader."""

    names: list[str] | None = None
    offset: int = -1
    consumer: Any = None
    waiting_since: float = field(default_factory=time.monotonic)
    warned: bool = False


class KafkaReader:
    """Reads a group of partitions of one topic; see :class:`KafkaSourceSpec`.

    Args:
        spec: The source.
        partitions: Partition ids to read.
        positions: Checkpointed positions (partition id -> position) to resume.
    """

    def __init__(self, spec: KafkaSourceSpec, partitions: list[int],
                 positions: dict[str, Position] | None = None) -> None:
        from confluent_kafka import TopicPartition

        self.spec = spec
        self.partitions = partitions
        first = {int(p) for p, v in (positions or {}).items() if is_first_record(v)}
        restored = decode_positions({p: v for p, v in (positions or {}).items()
                                     if not is_first_record(v)}, partitions, spec.topic,
                                    spec.name)
        self.consumer = make_consumer(spec.settings, spec.name)
        try:
            self.next, self.ends = self._start(restored, first & set(partitions))
            self.consumer.assign([TopicPartition(spec.topic, p, o) for p, o in self.next.items()])
        except BaseException:
            self.consumer.close()
            raise
        log.info("%s: reading %s partitions %s from offsets %s%s", spec.name, spec.topic,
                 partitions, self.next, " (resumed from a checkpoint)" if restored else "")
        self.committed = {p: o for p, o in self.next.items() if p not in restored}
        self.paused = False
        self.finished: set[int] = set()
        self.held: list[Any] = []
        self.header = _CsvHeader() if spec.parse.format == "csv" else None
        if self.header is not None and (header := restored_header(restored, spec.name)):
            self.header.names, self.header.offset = list(header.names), header.offset
        self._finish_partitions()

    def _start(self, restored: dict[int, KafkaPosition], first: set[int]
               ) -> tuple[dict[int, int], dict[int, int] | None]:
        """The first offset of each partition and, in static mode, where each ends.

        Args:
            restored: Partitions resuming from a checkpointed position.
            first: Partitions that appeared while running: they start at their
                low watermark (``FIRST_RECORD``), whatever ``auto.offset.reset`` says.
        """
        spec = self.spec
        fresh = [p for p in self.partitions if p not in restored and p not in first]
        reset = str(spec.settings.get("auto.offset.reset", "latest"))
        starts = start_offsets(self.consumer, spec.topic, fresh, reset,
                               spec.start_from_timestamp_ms, spec.timeout_s) if fresh else {}
        for partition in sorted(first - set(restored)):
            starts[partition] = watermarks(self.consumer, spec.topic, partition,
                                           spec.timeout_s)[0]
        for partition, position in restored.items():
            low, high = watermarks(self.consumer, spec.topic, partition, spec.timeout_s)
            check_in_range(partition, position, low, high, spec.topic, spec.name)
            starts[partition] = position.offset
        if spec.mode != "static":
            return {p: starts[p] for p in self.partitions}, None
        ends = {p: r.end for p, r in restored.items() if r.end is not None}
        missing = [p for p in self.partitions if p not in ends]
        if missing:
            ends.update(high_watermarks(self.consumer, spec.topic, missing, spec.timeout_s))
        return {p: starts[p] for p in self.partitions}, ends

    # -- reading -------------------------------------------------------------

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        """Returns up to ``max_records`` parsed messages, or None if none arrived in time."""
        if max_records <= 0:
            self._keep_alive(timeout_s)
            return None
        if self.exhausted():
            return None
        if self.header is not None and self.header.names is None:
            if not self._fetch_header(timeout_s):
                return None
            timeout_s = 0.0
        messages, self.held = self.held[:max_records], self.held[max_records:]
        if not messages:
            messages = self.consumer.consume(num_messages=max_records, timeout=timeout_s)
            if not messages:
                self._skip_unreadable_tail()
                return None
        batch = Messages.of(messages, self.spec.name, with_keys=self.spec.key_column
                            or self.spec.message_keys)
        return self._parse(batch) if len(batch) else None

    def _keep_alive(self, timeout_s: float) -> None:
        """Polls while paused: serves callbacks; anything delivered anyway is held, not lost."""
        self.held.extend(self.consumer.consume(num_messages=1000, timeout=timeout_s))

    def _parse(self, messages: Messages) -> ParsedBatch | None:
        keep = self._wanted(messages)
        self._advance(messages)
        kept = messages.take(keep)
        errors, good = kept.null_values(self.spec.topic)
        result = parse_payloads(good.values, self.spec.parse, "", lambda i: str(i),
                                csv_header=self.header.names if self.header else None)
        rows = good.take(result.accepted)
        errors += [_locate(e, good, self.spec.topic) for e in result.errors]
        batch = result.batch
        if self.spec.key_column:
            batch = batch.append_column("key", key_column(rows.keys, self.spec.parse.format))
        if self.spec.with_metadata:
            batch = batch.append_column("_metadata", metadata_column(rows, self.spec.topic))
        ids = (rows.partitions.astype(np.uint64) << np.uint64(48)) | rows.offsets.astype(np.uint64)
        keys = pa.array(rows.keys, pa.binary()) if self.spec.message_keys else None
        return ParsedBatch(batch, pa.array(ids, pa.uint64()), keys, tuple(errors),
                           records=len(messages))

    def _wanted(self, messages: Messages) -> np.ndarray:
        """Drops re-delivered offsets, offsets past a static end, and the CSV header."""
        keep = messages.offsets >= _per_partition(messages.partitions, self.next)
        if self.ends is not None:
            keep &= messages.offsets < _per_partition(messages.partitions, self.ends)
        if self.header is not None:
            keep &= ~((messages.partitions == 0) & (messages.offsets == self.header.offset))
        return keep

    def _advance(self, messages: Messages) -> None:
        for p in np.unique(messages.partitions):
            offsets = messages.offsets[messages.partitions == p]
            last = int(offsets.max()) + 1
            if self.ends is not None:
                last = min(last, self.ends[int(p)])
            self.next[int(p)] = max(self.next[int(p)], last)
        self._finish_partitions()

    def _skip_unreadable_tail(self) -> None:
        """Static mode, nothing delivered: moves past offsets that carry no message.

        A transaction's commit marker takes an offset (often the last one below
        the high watermark) but is never delivered; the consumer's position
        already counts it. Only called when every delivered message was handled.
        """
        if self.ends is None or self.held or self.exhausted():
            return
        for tp in self.consumer.position(self._tps(set(self.partitions) - self.finished)):
            if tp.offset > self.next[tp.partition]:
                self.next[tp.partition] = min(tp.offset, self.ends[tp.partition])
        self._finish_partitions()

    def _finish_partitions(self) -> None:
        """Static mode: pauses partitions read up to their end."""
        if self.ends is None:
            return
        done = {p for p in self.partitions if self.next[p] >= self.ends[p]} - self.finished
        if done:
            self.consumer.pause(self._tps(done))
            self.finished |= done

    def _fetch_header(self, timeout_s: float) -> bool:
        """Reads the CSV header (first message of partition 0) with a short-lived consumer."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        header = self.header
        assert header is not None
        if header.consumer is None:
            header.consumer = make_consumer(self.spec.settings, self.spec.name)
            header.consumer.assign([TopicPartition(self.spec.topic, 0, OFFSET_BEGINNING)])
        found = [m for m in header.consumer.consume(num_messages=1, timeout=timeout_s)
                 if m.error() is None and m.value() is not None]
        if not found:
            self._no_header_yet(header.consumer)
            return False
        header.consumer.close()
        header.consumer = None
        text = found[0].value().decode("utf-8", errors="replace")
        delimiter = self.spec.parse.csv_delimiter
        header.names = [n.strip() for n in next(csv.reader([text], delimiter=delimiter))]
        header.offset = found[0].offset()
        log.info("%s: CSV header %s (partition 0, offset %d)", self.spec.name,
                 header.names, header.offset)
        return True

    def _no_header_yet(self, consumer: Any) -> None:
        """Handles a CSV header that is not there yet.

        Static mode: an empty partition 0 means it never comes (an error).
        Streaming mode: a warning once, after a while.
        """
        from confluent_kafka import TopicPartition

        assert self.header is not None
        if self.ends is not None:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.spec.topic, 0),
                                                       timeout=self.spec.timeout_s)
            if low == high:
                raise ValueError(f"{self.spec.name}: format 'csv' needs a header line as the "
                                 f"first message of partition 0 of {self.spec.topic!r}, "
                                 "which is empty")
        waited = time.monotonic() - self.header.waiting_since
        if waited > _HEADER_WAIT_WARN_S and not self.header.warned:
            log.warning("%s: still waiting for the CSV header: the first message of "
                        "partition 0 of %s (waited %.0f s)", self.spec.name, self.spec.topic,
                        waited)
            self.header.warned = True

    # -- the rest of the contract ---------------------------------------------

    def position(self) -> dict[str, Position]:
        """Per partition: ``{"offset": next}``, plus the static ``end`` and the CSV ``header``."""
        header = None
        if self.header is not None and self.header.names is not None:
            header = CsvHeaderState(tuple(self.header.names), self.header.offset)
        return {str(p): KafkaPosition(o, self.ends[p] if self.ends is not None else None,
                                      header).to_json()
                for p, o in self.next.items()}

    def exhausted(self) -> bool:
        """True in static mode once every partition was read up to its start-time end."""
        return self.ends is not None and len(self.finished) == len(self.partitions)

    def metrics(self) -> dict[str, float]:
        """Lag (``lag_records``) and transient broker retries (``broker_retries``).

        ``lag_records`` is the high watermark minus the position, summed over
        the partitions; ``broker_retries`` counts broker calls retried after a
        transient failure in this process.

        Uses the watermarks cached from fetch responses (no request to the broker).
        """
        lags = self.partition_lags()
        retries = {"broker_retries": float(transient_retries())}
        return {"lag_records": float(sum(lags.values())), **retries} if lags else retries

    def partition_lags(self) -> dict[str, int]:
        """High watermark minus position of each partition whose watermark is known.

        Uses the watermarks cached from fetch responses (no request to the broker).
        """
        from confluent_kafka import TopicPartition

        lags = {}
        for partition, offset in self.next.items():
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.spec.topic, partition), cached=True) or (-1, -1)
            if high >= 0:
                lags[str(partition)] = max(high - offset, 0)
        return lags

    def pause(self) -> None:
        """Stops fetching (the consumer stays connected; keep-alive polls go on)."""
        self.consumer.pause(self._tps(set(self.partitions) - self.finished))
        self.paused = True

    def resume(self) -> None:
        """Fetches again from where the last returned message ended."""
        from confluent_kafka import KafkaException, TopicPartition

        partitions = set(self.partitions) - self.finished
        self.consumer.resume(self._tps(partitions))
        self.paused = False
        # librdkafka does not wake its fetcher on resume: the first messages came ~0.7 s
        # later. A seek to where reading goes on (past any held message) fetches at once.
        after_held = {m.partition(): m.offset() + 1 for m in self.held}
        for p in sorted(partitions):
            offset = max(self.next[p], after_held.get(p, 0))
            try:
                self.consumer.seek(TopicPartition(self.spec.topic, p, offset))
            except KafkaException as exc:  # the fetcher then starts on its own, later
                log.debug("%s: seek after resume failed: %s", self.spec.name, exc)

    def commit(self, position: dict[str, Position]) -> None:
        """Commits the offsets of ``position`` under the group (a failure is retried later)."""
        from confluent_kafka import KafkaException, TopicPartition

        decoded = decode_positions(position, self.partitions, self.spec.topic, self.spec.name)
        offsets = {p: v.offset for p, v in decoded.items() if self.committed.get(p) != v.offset}
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=[TopicPartition(self.spec.topic, p, o)
                                          for p, o in offsets.items()], asynchronous=False)
        except KafkaException as exc:
            log.warning("%s: offset commit failed (retried at the next commit): %s",
                        self.spec.name, exc)
            return
        self.committed.update(offsets)

    def close(self) -> None:
        """Closes the consumer (and a header consumer still waiting)."""
        if self.header is not None and self.header.consumer is not None:
            self.header.consumer.close()
        self.consumer.close()

    def _tps(self, partitions: set[int]) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(self.spec.topic, p) for p in sorted(partitions)]


def _per_partition(partitions: np.ndarray, values: dict[int, int]) -> np.ndarray:
    """``values[p]`` for each message's partition ``p``, without a Python loop per message."""
    out = np.zeros(len(partitions), np.int64)
    for partition in np.unique(partitions):
        out[partitions == partition] = values.get(int(partition), 0)
    return out


def _locate(error: RecordError, messages: Messages, topic: str) -> RecordError:
    """Replaces a batch index (``position``) by the message's partition and offset."""
    i = int(error.position)
    return dataclasses.replace(
        error, source=f"kafka topic={topic} partition={int(messages.partitions[i])}",
        position=f"offset={int(messages.offsets[i])}")
