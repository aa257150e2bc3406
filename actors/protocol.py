"""The commit and checkpoint protocol: times, frontiers, durability, cuts (no Ray).

Vocabulary
----------
*Commit time*: an even integer (milliseconds since the epoch, strictly
increasing) that the coordinator hands out. Every row in the dataflow belongs
to exactly one commit time; a *minibatch* is what one reader read under one
time. *Frontier* ``F`` of a channel: a promise that no row with time ``< F``
will be sent on it any more. ``END`` is the frontier of a finished channel.
*Incarnation*: the number of rollbacks so far; every message and call carries
it, and an actor drops whatever carries an incarnation other than its own.

Commits, step by step
---------------------
1. **Lease.** A reader leases a time ``t`` from the coordinator
   (:meth:`CommitProtocol.lease`), giving its start position (and gets the
   barriers of cuts reserved before it, see 8). The
   coordinator's clock guarantees every later lease is ``> t``. The reader
   sends its rows downstream as ``Data(t, batch)`` messages.
2. **Close.** At most ``autocommit_duration_ms`` after opening ``t`` (sooner if
   the backlog is full or the source ended), the reader records its source
   position ``P_t`` (just after the last record of ``t``) and calls
   :meth:`CommitProtocol.close` with ``t``, the row count and ``P_t``. It
   receives its next lease ``t2`` and the checkpoint *barriers* it crossed
   (below), sends ``Progress(D, checkpoint=True)`` for each, then
   ``Progress(t2)``. A reader that read nothing still closes on time, so
   frontiers keep moving.
3. **Operators.** An operator's input frontier is the minimum over its input
   channels. When it advances past ``t``, a stateful operator applies the
   buffered rows of every time ``< F`` in time order, emits its changes for
   those times, and only then forwards ``Progress(F)``. Stateless operators
   forward data at once. Channels are FIFO (one Ray caller to one actor).
4. **Sinks: flush, then report.** When a sink's frontier passes ``t``, it
   writes every buffered time ``< F`` in time order, makes it durable
   (fsync, producer flush, PutRecords acknowledged), and only then reports
   ``F`` with :meth:`CommitProtocol.sink_flushed`.
5. **Durable frontier.** ``D`` (durable) is the minimum over all sinks. Rows of
   times ``< D`` no longer count against the backlog; readers learn ``D``
   with a ``Durable`` message.
6. **Backlog.** A reader's rows of times ``>= D`` are *in flight*. Per
   source, the sum of the readers' *allowances* never exceeds
   ``max_backlog_size``; a reader reads at most ``allowance - in_flight`` rows
   per poll, so in-flight rows never exceed the limit. A reader at its
   allowance closes its minibatch early, pauses its partitions (still polling)
   and asks :meth:`CommitProtocol.rebalance` for more once rows drain.

Checkpoints (exactly-once), step by step
----------------------------------------
A checkpoint is a consistent cut at a frontier ``C`` (bookkeeping in
:mod:`raystream.actors.cuts`): each reader's position after its last time
``< C``, each stateful operator's state after exactly the times ``< C``, and
each sink's state after writing and flushing exactly the times ``< C``.

7. **Reserve.** At a close, if the previous cut is done, ``snapshot_interval``
   passed and rows were read since, the coordinator reserves ``C`` from the
   clock: no reader ever leases ``C``, every time leased before is ``< C`` and
   every later one ``> C``. ``END`` is a cut too: the final one, reserved when
   every reader finished.
8. **Barriers.** Every reader holds one time ``t < C`` when ``C`` is reserved;
   when it closes ``t`` its position ``P_t`` becomes its part of the cut and
   ``C`` is a barrier of that close: it sends ``Progress(C, checkpoint=True)``
   before ``Progress(t2)``. Readers not yet leased give their start position
   with their first lease and send ``C`` as a barrier before their first
   frontier; finished readers' final positions count for every later cut.
   Because every channel visits ``C`` before any frontier above it, every
   operator's and sink's input frontier lands exactly on ``C``.
9. **Snapshot without stopping.** An operator whose frontier lands on ``C``
   applies the times ``< C`` (as always), takes its kernel's state
   (:meth:`Kernel.snapshot`: Arrow tables tagged with key groups), hands it
   over (serialised to Arrow IPC and put in Ray's object store) with
   ``checkpoint_part``, forwards ``Progress(C, checkpoint=True)`` and goes on
   with later times. A sink whose frontier lands on ``C`` has flushed every
   time ``< C`` and nothing else (``C`` is no data time), and reports its
   writer's state (a file's length) with ``checkpoint_sink``.
10. **Manifest.** When a cut has every part, the driver takes it
    (:meth:`CommitProtocol.take_ready_cuts`), writes the parts and then one
    manifest to the checkpoint storage (:mod:`raystream.actors.checkpoint`);
    the checkpoint is complete once the manifest exists. Then the coordinator
    tells readers to commit the cut's positions to their sources (Kafka
    offsets, Kinesis checkpoint files) and transactional sinks to commit the
    cut's transaction. Source positions are committed at completed cuts only,
    so a source's committed position always belongs to a complete checkpoint
    (or to the run's start).
11. **Rollback.** When an actor dies (or a sink fails), the driver restores the
    last complete checkpoint ``C`` in the running actors, in an order that lets
    no new message reach an actor that was not reset: incarnation + 1; sinks
    restore their state (files are cut back to their length, open
    transactions aborted); operators rebuild their kernels from the state of
    their key groups (``C`` taken with N instances restores into M); the
    coordinator restarts its clock above every time handed out before; last,
    readers reopen their sources at the cut's positions. Every frontier
    restarts at ``C``. Rows of times ``>= C`` written before the failure are
    gone from exact sinks, and the replay writes them again under new times:
    nothing is lost and nothing is written twice. A new process restoring a
    persisted checkpoint follows the same steps before its readers start.

Order of one commit time, in one line: *sinks write -> sinks flush -> sinks
report -> durable frontier advances*; of one checkpoint: *parts -> manifest ->
source positions committed / transactions committed*.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raystream.actors.backlog import BacklogLedger
from raystream.actors.cuts import Cut, CutTracker
from raystream.actors.frontier import FrontierTracker
from raystream.actors.messages import END

__all__ = ["END", "BacklogLedger", "Closed", "CommitClock", "CommitProtocol", "Cut",
           "FrontierTracker"]


@dataclass
class _ReaderState:
    source: str
    open_time: int | None = None
    finished: bool = False


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


@dataclass(frozen=True)
class Closed:
    """The answer to a close: the reader's next time and the cut barriers it crossed.

    Attributes:
        next_time: The next time the reader may use, or ``END`` if it finished.
        barriers: Cut frontiers between the closed time and ``next_time``:
            send ``Progress(C, checkpoint=True)`` for each, in order, first.
    """

    next_time: int
    barriers: tuple[int, ...] = ()


class CommitProtocol:
    """The coordinator's state machine: leases, closes, sink frontiers, cuts.

    Args:
        readers: Reader id -> source name.
        sinks: Sink ids; the durable frontier is their minimum.
        backlog_limits: Source name -> ``max_backlog_size`` (None: unlimited).
        clock: Time source (injectable for tests).
        operators: Stateful operator instances (their state is part of every cut).
        checkpoint_interval_ms: Least time between two cut starts; None: no cuts.
        start: Frontier the run starts from (a restored cut's, else 0); every
            sink's frontier starts there.
        now_ms: Wall clock for the checkpoint interval (injectable for tests).
    """

    def __init__(self, readers: dict[str, str], sinks: list[str],
                 backlog_limits: dict[str, int | None] | None = None,
                 clock: CommitClock | None = None, operators: set[str] | None = None,
                 checkpoint_interval_ms: int | None = 0, start: int = 0,
                 now_ms: Callable[[], float] | None = None) -> None:
        self.clock = clock or CommitClock()
        self.clock.last = max(self.clock.last, start)
        self.readers: dict[str, _ReaderState] = {}
        self.sink_frontier: dict[str, int] = {s: start for s in sinks}
        self.backlog = BacklogLedger(backlog_limits or {})
        self.cuts = CutTracker(operators or set(), set(sinks), checkpoint_interval_ms or 0)
        self.checkpointing = checkpoint_interval_ms is not None
        self.now_ms = now_ms or (lambda: _time.time() * 1000)
        self.rows_closed = 0
        self.times_closed = 0
        for reader, source in readers.items():
            self.add_reader(reader, source)

    # -- readers -------------------------------------------------------------

    def add_reader(self, reader: str, source: str) -> int:
        """Registers a reader (also while running); returns its lower time bound.

        Every time the reader leases later is greater than the returned value,
        so receivers can start its channel at ``returned + 1`` without ever
        moving a frontier backwards. Cuts already reserved do not wait for it.
        """
        if reader in self.readers:
            raise ValueError(f"reader {reader!r} registered twice")
        self.readers[reader] = _ReaderState(source=source)
        self.backlog.add_reader(reader, source)
        return self.clock.last

    def lease(self, reader: str, position: Any = None) -> Closed:
        """Opens the reader's first minibatch.

        Args:
            reader: The reader.
            position: Its source position before reading anything (its part of
                cuts reserved before this lease).

        Returns:
            Its time, and the barriers of cuts reserved before it (to send first).
        """
        state = self._reader(reader)
        if state.open_time is not None:
            raise ValueError(f"reader {reader!r} already holds time {state.open_time}")
        state.open_time = self.clock.next()
        barriers = self.cuts.leased(reader, state.open_time, position)
        return Closed(state.open_time, tuple(barriers))

    def close(self, reader: str, time: int, rows: int, position: Any,
              finished: bool = False) -> Closed:
        """Closes the reader's open time and opens the next one.

        Args:
            reader: The reader.
            time: The time it closes (must be the one it holds).
            rows: Rows it read under ``time``.
            position: Its source position after the last record of ``time``.
            finished: True if the reader will send nothing more.
        """
        state = self._reader(reader)
        if state.open_time != time:
            raise ValueError(f"reader {reader!r} closes {time} but holds {state.open_time}")
        self.rows_closed += rows
        self.times_closed += 1
        self.cuts.note_rows(rows)
        if self.checkpointing and self.cuts.due(self.now_ms()):
            self.cuts.start(self.clock.next(), self.clock.last, set(self.readers), self.now_ms())
        if finished:
            state.open_time = None
            state.finished = True
            self.backlog.release(reader)
            barriers = self.cuts.finished(reader, time, position)
            if self.checkpointing and all(s.finished for s in self.readers.values()):
                self.cuts.start(END, self.clock.last, set(self.readers), self.now_ms())
            return Closed(END, tuple(barriers))
        state.open_time = self.clock.next()
        return Closed(state.open_time, tuple(self.cuts.crossed(reader, time, state.open_time,
                                                               position)))

    def rebalance(self, reader: str, in_flight: int, hungry: bool) -> int | None:
        """See :meth:`BacklogLedger.rebalance`."""
        self._reader(reader)
        return self.backlog.rebalance(reader, in_flight, hungry)

    # -- sinks and cuts --------------------------------------------------------

    def sink_flushed(self, sink: str, frontier: int) -> int | None:
        """Records that ``sink`` made every time ``< frontier`` durable.

        Returns:
            The new durable frontier if it advanced, else None.
        """
        if sink not in self.sink_frontier:
            raise ValueError(f"unknown sink {sink!r}")
        if frontier < self.sink_frontier[sink]:
            raise ValueError(f"sink {sink!r} frontier went back: {frontier}")
        before = self.durable_frontier
        self.sink_frontier[sink] = frontier
        after = self.durable_frontier
        return after if after > before else None

    @property
    def durable_frontier(self) -> int:
        """Every row of a time below this is durable in every sink."""
        return min(self.sink_frontier.values(), default=END)

    def take_ready_cuts(self) -> list[Cut]:
        """Cuts with every part, oldest first (the driver writes them)."""
        return self.cuts.take_ready()

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
            "backlog_granted": dict(self.backlog.granted),
            "done": self.done,
            **self.cuts.status(),
        }

    def _reader(self, reader: str) -> _ReaderState:
        try:
            return self.readers[reader]
        except KeyError:
            raise ValueError(f"unknown reader {reader!r}") from None
