"""What a reader actor needs besides its loop: config, minibatch, backlog, bad records."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from raystream.actors.metrics import MetricTags
from raystream.connectors.base import RecordError
from raystream.connectors.batch import insertions
from raystream.connectors.hashing import hash_columns

ERROR_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.string()),
                          ("reason", pa.string()), ("raw", pa.string())])


class BadInputError(RuntimeError):
    """Raised with ``terminate_on_error``: names the source and position of the record."""


@dataclass
class ReaderConfig:
    """What a reader needs besides its source.

    Attributes:
        reader_id: This reader's channel id.
        name: Readable actor name.
        partitions: Partition ids this reader owns.
        autocommit_ms: Maximum minibatch duration.
        max_batch_rows: Largest batch per poll.
        backlog_limited: True if the source has a ``max_backlog_size``.
        terminate_on_error: Raise on the first bad record.
        dynamic: The partition belongs to a dynamic source: when it is read to
            its end, wait to be released (children started) before ending.
        instance: This reader's index in its stage (its ``forward`` partner).
        metrics: Tags for this reader's metrics (None: no metrics).
        source: The source stage's name (``kafka:events``), for the status line.
    """

    reader_id: str
    name: str
    partitions: list[str]
    autocommit_ms: int
    max_batch_rows: int
    backlog_limited: bool
    terminate_on_error: bool
    dynamic: bool = False
    instance: int = 0
    metrics: MetricTags | None = None
    source: str = ""


@dataclass
class Minibatch:
    """The reader's open time: when it opened and the rows read under it."""

    time: int
    opened: float
    rows: int = 0

    def due(self, now: float, autocommit_s: float, idle_until: float | None = None) -> bool:
        """True when the minibatch should close now.

        It closes once it has been open ``autocommit_s``, or earlier when it
        holds rows and the source said it will return nothing before then
        (``idle_until``, e.g. Kinesis's next allowed GetRecords): waiting
        would only add latency, never rows.

        Args:
            now: The monotonic time.
            autocommit_s: The longest a minibatch stays open.
            idle_until: The monotonic time before which the source returns
                no records (None: unknown, it may return some at any time).
        """
        close_at = self.opened + autocommit_s
        if now >= close_at:
            return True
        return self.rows > 0 and idle_until is not None and idle_until >= close_at


@dataclass
class Backlog:
    """Rows read under times that the sinks have not made durable yet."""

    allowance: int | None = None
    rows_by_time: dict[int, int] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        """Rows read under times not durable yet."""
        return sum(self.rows_by_time.values())

    def room(self) -> int | None:
        """Rows the reader may still read (None: no limit)."""
        if self.allowance is None:
            return None
        return max(self.allowance - self.in_flight, 0)

    def add(self, time: int, rows: int) -> None:
        """Counts rows read under ``time``."""
        self.rows_by_time[time] = self.rows_by_time.get(time, 0) + rows

    def durable(self, frontier: int) -> None:
        """Forgets the rows of times below ``frontier`` (durable in every sink)."""
        for t in [t for t in self.rows_by_time if t < frontier]:
            del self.rows_by_time[t]


def error_batch(errors: tuple[RecordError, ...] | list[RecordError]) -> pa.RecordBatch:
    """Builds error-log rows (with keys derived from source and position)."""
    table = pa.record_batch({
        "source": [e.source for e in errors], "position": [e.position for e in errors],
        "reason": [e.reason for e in errors], "raw": [e.raw for e in errors],
    }, schema=ERROR_SCHEMA)
    return insertions(hash_columns(table, ["source", "position"], seed=11), table)
