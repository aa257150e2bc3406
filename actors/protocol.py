"""The commit protocol: commit times, frontiers, durability and backlog, with no Ray.

Vocabulary
----------
*Commit time*: an even integer (milliseconds since the epoch, strictly
increasing) that the coordinator hands out. Every row in the dataflow belongs
to exactly one commit time; a *minibatch* is what one reader read under one
time. *Frontier* ``F`` of a channel: a promise that no row with time ``< F``
will be sent on it any more. ``END`` is the frontier of a finished channel.

The protocol, step by step
--------------------------
1. **Lease.** A reader leases a time ``t`` from the coordinator
   (:meth:`CommitProtocol.lease`). The coordinator's clock guarantees every
   later lease is ``> t``. The reader sends its rows downstream as
   ``Data(t, batch)`` messages.
2. **Close.** At most ``autocommit_duration_ms`` after opening ``t`` (sooner if
   the backlog is full or the source ended), the reader records its source
   position ``P_t`` (just after the last record of ``t``) and calls
   :meth:`CommitProtocol.close` with ``t``, the row count and ``P_t``. It
   receives its next lease ``t2`` and sends ``Progress(t2)`` downstream. A
   reader that read nothing still closes on time, so frontiers keep moving.
3. **Operators.** An operator's input frontier is the minimum over its input
   channels. When it advances past ``t``, a stateful operator applies the
   buffered rows of every time ``< F`` in time order, emits its changes for
   those times, and only then forwards ``Progress(F)``. Stateless operators
   forward data at once. Channels are FIFO (one Ray caller to one actor).
4. **Sinks: flush, then report.** When a sink's frontier passes ``t``, it
   writes every buffered time ``< F`` in time order, makes it durable
   (fsync, producer flush, PutRecords acknowledged), and only then reports
   ``F`` with :meth:`CommitProtocol.sink_flushed`.
5. **Commit positions.** The *durable frontier* ``D`` is the minimum over all
   sinks. For each reader the coordinator picks the latest closed time
   ``t < D`` and tells the reader to commit ``P_t`` (Kafka offset commit,
   Kinesis checkpoint file). A position is therefore never committed before
   every row it covers is durable in every sink: a restart re-reads from a
   committed position and loses nothing (at-least-once across a crash).
6. **Backlog.** A reader's rows of times ``>= D`` are *in flight*. Per
   source, the sum of the readers' *allowances* never exceeds
   ``max_backlog_size``; a reader reads at most ``allowance - in_flight`` rows
   per poll, so in-flight rows never exceed the limit. A reader at its
   allowance closes its minibatch early, pauses its partitions (still polling)
   and asks :meth:`CommitProtocol.rebalance` for more once rows drain.

Order of flushes and commits, in one line: *sinks write -> sinks flush ->
sinks report -> durable frontier advances -> readers commit positions*.

Towards exactly-once checkpoints
--------------------------------
``D`` is a consistent cut: every operator has applied exactly the rows of
times ``< D`` once its frontier passed ``D``. A checkpoint at ``D`` is the
committed positions plus each stateful operator's state as of ``D`` (which
it can snapshot when its frontier crosses ``D``, before applying later
times). Recovery restores the states, seeks the readers to the positions,
and has sinks drop rows of times ``< D`` that they already wrote (sinks record
``D`` with their flush), which turns at-least-once into exactly-once.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

END = 2**62
"""The frontier of a channel that will send nothing more."""


@dataclass(frozen=True)
class Commit:
    """An instruction to a reader: commit ``position``, which covers times ``< durable``.

    ``position`` is None when there is nothing new to commit (sent once to every
    reader when the durable frontier reaches ``END``).
    """

    reader: str
    position: Any
    durable: int


@dataclass
class _ReaderState:
    source: str
    open_time: int | None = None
    finished: bool = False
    closed: list[tuple[int, Any]] = field(default_factory=list)
    committed_time: int = -1
    allowance: int = 0


class CommitClock:
    """Hands out strictly increasing even times, close to wall-clock milliseconds."""

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        self._now_ms = now_ms or (lambda: int(_time.time() * 1000))
        self.last = 0

    def next(self) -> int:
        """Returns a new time, greater than every time returned before."""
        now = self._now_ms()
        candidate = now - (now % 2)
        self.last = max(self.last + 2, candidate)
        return self.last


class BacklogLedger:
    """Splits each source's ``max_backlog_size`` into per-reader allowances.

    Invariant: for every source, the sum of its readers' allowances is at
    most the limit. An allowance changes only inside the reader's own call,
    so the reader always knows its exact allowance. A hungry reader (one that
    is blocked, or read something lately) gets its in-flight rows plus a fair
    chunk (``limit // readers``), capped by what the other readers leave free;
    an idle reader shrinks to its in-flight rows, leaving room to the others.
    """

    def __init__(self, limits: dict[str, int | None]) -> None:
        self.limits = dict(limits)
        self.readers_of: dict[str, list[str]] = {}
        self.source_of: dict[str, str] = {}
        self.allowance: dict[str, int] = {}

    def add_reader(self, reader: str, source: str) -> None:
        """Registers a reader with a zero allowance."""
        self.readers_of.setdefault(source, []).append(reader)
        self.source_of[reader] = source
        self.allowance[reader] = 0

    def limit_of(self, reader: str) -> int | None:
        """Returns the backlog limit of the reader's source (None: unlimited)."""
        return self.limits.get(self.source_of[reader])

    def rebalance(self, reader: str, in_flight: int, hungry: bool) -> int | None:
        """Returns the reader's new allowance (None when its source is unlimited).

        Args:
            reader: The calling reader.
            in_flight: Its rows read at times not yet durable (at most its allowance).
            hungry: True if it is blocked or has been reading.
        """
        limit = self.limit_of(reader)
        if limit is None:
            return None
        peers = self.readers_of[self.source_of[reader]]
        free = limit - sum(self.allowance[r] for r in peers if r != reader)
        chunk = max(limit // len(peers), 1) if hungry else 0
        new = max(min(in_flight + chunk, free), 0)
        self.allowance[reader] = new
        return new

    def release(self, reader: str) -> None:
        """Returns a finished reader's allowance to its source's pool."""
        self.allowance[reader] = 0


class CommitProtocol:
    """The coordinator's state machine: leases, closes, sink frontiers, commits.

    Args:
        readers: Reader id -> source name.
        sinks: Sink ids; the durable frontier is their minimum.
        backlog_limits: Source name -> ``max_backlog_size`` (None: unlimited).
        clock: Time source (injectable for tests).
    """

    def __init__(self, readers: dict[str, str], sinks: list[str],
                 backlog_limits: dict[str, int | None] | None = None,
                 clock: CommitClock | None = None) -> None:
        self.clock = clock or CommitClock()
        self.readers: dict[str, _ReaderState] = {}
        self.sink_frontier: dict[str, int] = {s: 0 for s in sinks}
        self.backlog = BacklogLedger(backlog_limits or {})
        self.rows_closed = 0
        self.times_closed = 0
        for reader, source in readers.items():
            self.add_reader(reader, source)

    # -- readers -------------------------------------------------------------

    def add_reader(self, reader: str, source: str) -> int:
        """Registers a reader (also while running); returns its lower time bound.

        Every time the reader leases later is greater than the returned value,
        so receivers can start its channel at ``returned + 1`` without ever
        moving a frontier backwards.
        """
        if reader in self.readers:
            raise ValueError(f"reader {reader!r} registered twice")
        self.readers[reader] = _ReaderState(source=source)
        self.backlog.add_reader(reader, source)
        return self.clock.last

    def lease(self, reader: str) -> int:
        """Opens the reader's first minibatch and returns its time."""
        state = self._reader(reader)
        if state.open_time is not None:
            raise ValueError(f"reader {reader!r} already holds time {state.open_time}")
        state.open_time = self.clock.next()
        return state.open_time

    def close(self, reader: str, time: int, rows: int, position: Any,
              finished: bool = False) -> int:
        """Closes the reader's open time and opens the next one.

        Args:
            reader: The reader.
            time: The time it closes (must be the one it holds).
            rows: Rows it read under ``time``.
            position: Its source position after the last record of ``time``.
            finished: True if the reader will send nothing more.

        Returns:
            The next time the reader may use, or ``END`` if it finished.
        """
        state = self._reader(reader)
        if state.open_time != time:
            raise ValueError(f"reader {reader!r} closes {time} but holds {state.open_time}")
        state.closed.append((time, position))
        self.rows_closed += rows
        self.times_closed += 1
        if finished:
            state.open_time = None
            state.finished = True
            self.backlog.release(reader)
            return END
        state.open_time = self.clock.next()
        return state.open_time

    def rebalance(self, reader: str, in_flight: int, hungry: bool) -> int | None:
        """See :meth:`BacklogLedger.rebalance`."""
        self._reader(reader)
        return self.backlog.rebalance(reader, in_flight, hungry)

    # -- sinks ---------------------------------------------------------------

    def add_sink(self, sink: str) -> None:
        """Registers a sink before any data reaches it."""
        self.sink_frontier.setdefault(sink, 0)

    def sink_flushed(self, sink: str, frontier: int) -> list[Commit]:
        """Records that ``sink`` made every time ``< frontier`` durable.

        Returns:
            The position commits that became safe, at most one per reader.
        """
        if sink not in self.sink_frontier:
            raise ValueError(f"unknown sink {sink!r}")
        if frontier < self.sink_frontier[sink]:
            raise ValueError(f"sink {sink!r} frontier went back: {frontier}")
        self.sink_frontier[sink] = frontier
        return self._due_commits()

    @property
    def durable_frontier(self) -> int:
        """Every row of a time below this is durable in every sink."""
        return min(self.sink_frontier.values(), default=END)

    def _due_commits(self) -> list[Commit]:
        durable = self.durable_frontier
        commits = []
        for reader, state in self.readers.items():
            due = [(t, p) for t, p in state.closed if t < durable]
            if not due:
                if durable >= END:  # tell every reader the stream is over
                    commits.append(Commit(reader=reader, position=None, durable=durable))
                continue
            time, position = due[-1]
            state.closed = [(t, p) for t, p in state.closed if t >= durable]
            state.committed_time = time
            commits.append(Commit(reader=reader, position=position, durable=durable))
        return commits

    # -- status --------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True when every reader finished and every sink is durable to ``END``."""
        return all(s.finished for s in self.readers.values()) and self.durable_frontier >= END

    def status(self) -> dict[str, Any]:
        """Returns a summary for the console and for tests."""
        open_times = [s.open_time for s in self.readers.values() if s.open_time is not None]
        return {
            "clock": self.clock.last,
            "durable_frontier": self.durable_frontier,
            "oldest_open_time": min(open_times, default=None),
            "times_closed": self.times_closed,
            "rows_closed": self.rows_closed,
            "readers_finished": sum(s.finished for s in self.readers.values()),
            "readers": len(self.readers),
            "done": self.done,
        }

    def _reader(self, reader: str) -> _ReaderState:
        try:
            return self.readers[reader]
        except KeyError:
            raise ValueError(f"unknown reader {reader!r}") from None


class FrontierTracker:
    """An operator's input frontier: the minimum over its input channels.

    A channel is ``(port, sender)``. Channels can be added while running
    (a new Kinesis shard reader); the coordinator's :meth:`CommitProtocol.add_reader`
    bound guarantees that the new channel's start never lies below the
    current frontier, which this class checks.
    """

    def __init__(self, channels: list[tuple[int, str]], start: int = 0) -> None:
        self.channels: dict[tuple[int, str], int] = {c: start for c in channels}
        self.frontier = start if channels else END

    def add_channel(self, port: int, sender: str, start: int) -> None:
        """Adds a channel whose first message will have time ``>= start``."""
        if (port, sender) in self.channels:
            return
        if self.channels and start < self.frontier:
            raise ValueError(f"channel {sender!r} starts at {start}, "
                             f"below frontier {self.frontier}")
        self.channels[(port, sender)] = start
        self.frontier = min(self.channels.values())

    def update(self, port: int, sender: str, frontier: int) -> int | None:
        """Records a channel's new frontier; returns the new minimum if it advanced."""
        key = (port, sender)
        if key not in self.channels:
            raise ValueError(f"progress from unknown channel {key}")
        if frontier < self.channels[key]:
            raise ValueError(f"channel {key} frontier went back: {frontier} < {self.channels[key]}")
        self.channels[key] = frontier
        new = min(self.channels.values())
        if new > self.frontier:
            self.frontier = new
            return new
        return None
