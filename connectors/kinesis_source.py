"""Kinesis source: shards listed with pagination, one reader per shard.

A reader polls its shards with GetRecords; each response becomes one
RecordBatch through :func:`raystream.connectors.parse.parse_payloads`. A
throttled shard (or one whose call failed transiently) waits out its own
exponential backoff with jitter while the reader's other shards go on. An
expired iterator is renewed ``AFTER_SEQUENCE_NUMBER`` of the last record
returned. A closed shard is exhausted once GetRecords returns no
``NextShardIterator`` (every record of it was returned). A caught-up shard
waits ``idle_poll_s`` before its next call; :meth:`KinesisReader.idle_until`
tells the reader actor so, and it commits what it has at once rather than
holding it for the rest of the commit interval.

Positions are ``{shard: {"sequence": ..., "end": ...}}``: the sequence number
of the last record returned (None: nothing yet, TRIM_HORIZON) and whether the
closed shard was read to its end. :meth:`commit` writes them to checkpoint
files (see :mod:`kinesis_positions`). A reader opened with positions starts
those shards ``AFTER_SEQUENCE_NUMBER`` of their record (or stays exhausted);
other shards start after their committed record in ``state_dir``, else at
TRIM_HORIZON. Record ids derive from the sequence numbers, so they match.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from raystream.connectors.base import ParsedBatch, ParseSpec, PartitionInfo, Position
from raystream.connectors.kinesis_client import (
    Backoff,
    ConnectionSettings,
    KinesisError,
    error_code,
    is_retryable,
    make_client,
)
from raystream.connectors.kinesis_http import get_records_boto3, get_records_fast
from raystream.connectors.kinesis_positions import (
    CheckpointStore,
    ShardCheckpoint,
    decode_position,
    decode_shard,
    encode_position,
    sequence_ids,
    shard_seed,
)
from raystream.connectors.parse import parse_payloads

log = logging.getLogger("raystream.kinesis")

GET_RECORDS_LIMIT = 10000
_LIST_ATTEMPTS = 8


@dataclass(frozen=True)
class KinesisSourceSpec:
    """A Kinesis stream to read (picklable; opened in each reader actor).

    Attributes:
        name: Source name for errors and logs.
        stream: Stream name.
        parse: How payloads become columns.
        settings: Connection settings captured in the driver.
        state_dir: Directory of the per-shard checkpoint files, or None to
            keep no positions (every run starts at TRIM_HORIZON).
        idle_poll_s: Pause between GetRecords calls on a shard that is caught
            up (AWS allows 5 calls per second per shard).
        list_page_size: ``MaxResults`` of each ListShards page (None: the service default).
        fast_get_records: Decode GetRecords responses in bulk
            (:mod:`kinesis_http`) instead of through botocore's parser.
    """

    name: str
    stream: str
    parse: ParseSpec
    settings: ConnectionSettings
    state_dir: str | None = None
    idle_poll_s: float = 0.2
    list_page_size: int | None = None
    fast_get_records: bool = True

    def list_partitions(self) -> list[PartitionInfo]:
        """Every shard, open or closed, with its parents that are still listed.

        Raises:
            KinesisError: The stream does not exist or the endpoint is unreachable.
        """
        shards = list_shards(make_client(self.settings), self.stream, self.settings,
                             self.list_page_size)
        listed = {s["ShardId"] for s in shards}
        infos = []
        for shard in shards:
            parents = tuple(p for p in (shard.get("ParentShardId"),
                                        shard.get("AdjacentParentShardId")) if p in listed)
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            infos.append(PartitionInfo(shard["ShardId"], parents, closed))
        return infos

    def open(self, partitions: list[str],
             positions: dict[str, Position] | None = None) -> KinesisReader:
        """Opens a reader of the given shards, at ``positions`` where given.

        Shards without a position start after their committed record
        (``state_dir``), else at TRIM_HORIZON.

        Raises:
            ResumeError: A position is malformed.
        """
        return KinesisReader(self, partitions, positions=positions)

    def checkpoints(self) -> CheckpointStore | None:
        """The checkpoint store, or None if positions are not kept."""
        return CheckpointStore(self.state_dir, self.stream) if self.state_dir else None


def list_shards(client: Any, stream: str, settings: ConnectionSettings,
                page_size: int | None = None, sleep: Callable[[float], None] = time.sleep,
                ) -> list[dict[str, Any]]:
    """Lists every shard of ``stream``, following ``NextToken`` pages.

    Throttling (``LimitExceededException``) and connection failures are
    retried with backoff; other failures raise :class:`KinesisError`.
    """
    shards: list[dict[str, Any]] = []
    token: str | None = None
    backoff = Backoff(base_s=0.2, cap_s=5.0)
    while True:
        request: dict[str, Any] = {"NextToken": token} if token else {"StreamName": stream}
        if page_size:
            request["MaxResults"] = page_size
        try:
            response = client.list_shards(**request)
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_retryable(exc) and backoff.attempts < _LIST_ATTEMPTS:
                sleep(backoff.next_delay())
                continue
            raise _describe_failure(exc, stream, settings, "ListShards") from exc
        backoff.reset()
        shards.extend(response.get("Shards", []))
        token = response.get("NextToken")
        if not token:
            return shards


def _describe_failure(exc: Exception, stream: str, settings: ConnectionSettings,
                      call: str) -> KinesisError:
    code = error_code(exc)
    if code == "ResourceNotFoundException":
        return KinesisError(f"Kinesis stream {stream!r} does not exist at "
                            f"{settings.describe()}: create it first")
    if code is None:
        return KinesisError(f"cannot reach Kinesis at {settings.describe()} ({call} on "
                            f"stream {stream!r}): {exc}")
    return KinesisError(f"Kinesis {call} on stream {stream!r} at {settings.describe()} "
                        f"failed: {exc}")


@dataclass
class _Shard:
    """One shard's reading state."""

    id: str
    seed: int
    sequence: str | None = None
    ended: bool = False
    iterator: str | None = None
    next_poll: float = 0.0
    millis_behind: int | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def checkpoint(self) -> ShardCheckpoint:
        return ShardCheckpoint(self.sequence, self.ended)


class KinesisReader:
    """Reads a set of shards (normally one); see :class:`KinesisSourceSpec`.

    Args:
        spec: The source.
        shards: Shard ids to read.
        client: A boto3 Kinesis client (default: one from ``spec.settings``,
            read with :func:`get_records_fast`; an injected client is called
            through boto3, e.g. for botocore's Stubber).
        clock: Monotonic clock (injectable for tests).
        sleep: Sleep function (injectable for tests).
        positions: Checkpointed positions (shard id -> position) to resume.
    """

    def __init__(self, spec: KinesisSourceSpec, shards: list[str], client: Any = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 positions: dict[str, Position] | None = None) -> None:
        self.spec = spec
        self.client = client if client is not None else make_client(spec.settings)
        fast = client is None and spec.fast_get_records
        self.get_records = get_records_fast if fast else get_records_boto3
        self.clock = clock
        self.sleep = sleep
        self.store = spec.checkpoints()
        positions = positions or {}
        self.shards = [self._open_shard(s, positions.get(s)) for s in shards]
        self.committed = {s.id: s.checkpoint() for s in self.shards if s.id not in positions}
        self.paused = False
        self._turn = 0

    def _open_shard(self, shard_id: str, position: Position | None) -> _Shard:
        shard = _Shard(shard_id, shard_seed(self.spec.stream, shard_id))
        if position is not None:
            where = f"{self.spec.name}: kinesis stream={self.spec.stream} shard={shard_id}"
            saved = decode_shard(position, where)
        elif self.store is not None:
            saved = self.store.load(shard_id)
        else:
            return shard
        shard.sequence, shard.ended = saved.sequence, saved.end
        return shard

    # -- reading -------------------------------------------------------------

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        """Returns the records of one GetRecords response, or None if none came in time."""
        deadline = self.clock() + timeout_s
        while True:
            if not self.paused and max_records > 0:
                batch = self._poll_ready(max_records)
                if batch is not None:
                    return batch
            now = self.clock()
            if self.exhausted() or now >= deadline:
                return None
            wake = self.idle_until() if max_records > 0 else None
            self.sleep(max(min(deadline if wake is None else wake, deadline) - now, 0.001))

    def _poll_ready(self, max_records: int) -> ParsedBatch | None:
        """Polls each shard that is due once, round robin; the first records win."""
        count = len(self.shards)
        for step in range(count):
            shard = self.shards[(self._turn + step) % count]
            if shard.ended or shard.next_poll > self.clock():
                continue
            batch = self._fetch(shard, min(max_records, GET_RECORDS_LIMIT))
            if batch is not None:
                self._turn = (self._turn + step + 1) % count
                return batch
        return None

    def _fetch(self, shard: _Shard, limit: int) -> ParsedBatch | None:
        try:
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
                if shard.ended:
                    return None
            response = self.get_records(self.client, shard.iterator, limit)
        except Exception as exc:  # noqa: BLE001 - classified in _failed
            self._failed(shard, exc)
            return None
        shard.backoff.reset()
        shard.iterator = response.next_iterator
        if shard.iterator is None:
            shard.ended = True
        shard.millis_behind = response.millis_behind
        count = len(response.sequences)
        caught_up = count < limit and not response.millis_behind
        shard.next_poll = self.clock() + (self.spec.idle_poll_s if caught_up else 0.0)
        if not count:
            return None
        shard.sequence = response.sequences[-1]
        return self._parse(shard, response.payloads, response.sequences)

    def _iterator(self, shard: _Shard) -> str | None:
        request: dict[str, Any] = {"StreamName": self.spec.stream, "ShardId": shard.id}
        if shard.sequence is None:
            request["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            request["StartingSequenceNumber"] = shard.sequence
        try:
            return self.client.get_shard_iterator(**request)["ShardIterator"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                log.warning("%s: shard %s is gone (expired); treating it as read to its end",
                            self.spec.name, shard.id)
                shard.ended = True
                return None
            raise

    def _failed(self, shard: _Shard, exc: Exception) -> None:
        code = error_code(exc)
        if code == "ExpiredIteratorException":
            shard.iterator = None  # renewed AFTER_SEQUENCE_NUMBER on the next poll
            return
        if is_retryable(exc):
            delay = shard.backoff.next_delay()
            shard.next_poll = self.clock() + delay
            log.info("%s: shard %s: %s; retrying in %.2f s (attempt %d)", self.spec.name,
                     shard.id, code or type(exc).__name__, delay, shard.backoff.attempts)
            return
        if code in ("InvalidArgumentException", "ValidationException") and \
                shard.iterator is None and shard.sequence:
            raise KinesisError(
                f"{self.spec.name}: cannot resume shard {shard.id} of stream "
                f"{self.spec.stream!r} after sequence number {shard.sequence} (saved in "
                f"{self.spec.state_dir or 'the checkpoint'}): {exc}. If the stream was "
                "deleted and created again, remove that directory") from exc
        raise _describe_failure(exc, self.spec.stream, self.spec.settings,
                                f"reading shard {shard.id}") from exc

    def _parse(self, shard: _Shard, payloads: list[bytes], sequences: list[str]) -> ParsedBatch:
        numbers = pa.array(sequences, pa.string())
        result = parse_payloads(
            payloads, self.spec.parse, f"kinesis stream={self.spec.stream} shard={shard.id}",
            lambda i: f"sequence={sequences[i]}")
        ids = sequence_ids(shard.seed, numbers)[result.accepted]
        return ParsedBatch(result.batch, pa.array(ids, pa.uint64()), None,
                           tuple(result.errors), len(payloads))

    # -- positions and control ------------------------------------------------

    def position(self) -> dict[str, Position]:
        """Per shard: ``{"sequence": last returned (or None), "end": read to its end}``."""
        return encode_position({s.id: s.checkpoint() for s in self.shards})

    def metrics(self) -> dict[str, float]:
        """``millis_behind_latest``: the largest MillisBehindLatest of the last GetRecords."""
        behind = [s.millis_behind for s in self.shards if s.millis_behind is not None]
        return {"millis_behind_latest": float(max(behind))} if behind else {}

    def idle_until(self) -> float | None:
        """The earliest next GetRecords call of an open shard (None: paused or all ended).

        A caught-up shard waits ``idle_poll_s`` between calls, so the reader
        knows no record can come before then and may commit at once.
        """
        waits = [s.next_poll for s in self.shards if not s.ended]
        return min(waits) if waits and not self.paused else None

    def exhausted(self) -> bool:
        """True once every shard is closed and was read to its end."""
        return all(s.ended for s in self.shards)

    def pause(self) -> None:
        """Stops calling GetRecords (the backlog is full)."""
        self.paused = True

    def resume(self) -> None:
        """Calls GetRecords again."""
        self.paused = False

    def commit(self, position: dict[str, Position]) -> None:
        """Writes the checkpoint of every shard whose position moved."""
        if self.store is None:
            return
        for shard, checkpoint in decode_position(position).items():
            if self.committed.get(shard) != checkpoint:
                self.store.save(shard, checkpoint)
                self.committed[shard] = checkpoint

    def close(self) -> None:
        """Nothing to release (the boto3 client is shared per process)."""
