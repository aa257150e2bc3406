"""The coordinator actor: a thin Ray shell around :class:`CommitProtocol`."""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any

from raystream.actors.fence import Fence
from raystream.actors.messages import END, CommitPosition, Durable
from raystream.actors.metrics import ActorMetrics, CommitLatency, MetricTags
from raystream.actors.protocol import Closed, CommitProtocol, Cut


@dataclass(frozen=True)
class CoordinatorConfig:
    """What the coordinator needs to (re)build its protocol.

    Attributes:
        readers: Reader id -> source name.
        sinks: Sink ids.
        backlog_limits: Source name -> ``max_backlog_size``.
        operators: Stateful operator instances (their state is in every cut).
        checkpoint_interval_ms: Least time between two cut starts (None: no cuts).
    """

    readers: dict[str, str]
    sinks: list[str]
    backlog_limits: dict[str, int | None]
    operators: frozenset[str] = frozenset()
    checkpoint_interval_ms: int | None = 0


@dataclass(frozen=True)
class Failure:
    """An actor's error: who, what, and whether a rollback can help."""

    actor: str
    message: str
    fatal: bool


class CoordinatorActor:
    """Hands out commit times, tracks sinks and cuts, tells readers when to commit.

    All rules live in :class:`raystream.actors.protocol.CommitProtocol`; this
    class adds the reader handles it pushes commits to, failures, and
    incarnations: every call from a dataflow actor carries its incarnation,
    and calls of another incarnation get ``None`` (readers then wait for the
    driver's rollback) or are ignored.

    Args:
        config: Readers, sinks, limits, stateful operators, checkpoint interval.
        metrics: Tags for the commit metrics (None: no metrics).
    """

    def __init__(self, config: CoordinatorConfig, metrics: MetricTags | None = None) -> None:
        self.config = config
        self.fence = Fence()
        self.handles: dict[str, Any] = {}
        self.sink_handles: dict[str, Any] = {}
        self.latency = CommitLatency()
        self.metrics = ActorMetrics(metrics, flush_interval_s=0.0)
        self._rebuild(config.readers, start=0, clock_floor=0)

    def _rebuild(self, readers: dict[str, str], start: int, clock_floor: int) -> None:
        config = self.config
        self.protocol = CommitProtocol(
            readers, list(config.sinks), config.backlog_limits,
            operators=set(config.operators), checkpoint_interval_ms=config.checkpoint_interval_ms,
            start=start)
        self.protocol.clock.last = max(self.protocol.clock.last, clock_floor)
        self.exhausted: set[str] = set()
        self.failures: list[Failure] = []
        self.committed_frontier = start

    def attach(self, handles: dict[str, Any], sinks: dict[str, Any] | None = None) -> None:
        """Receives the reader (and sink) actor handles, created after the coordinator."""
        self.handles.update(handles)
        self.sink_handles.update(sinks or {})

    def reset(self, incarnation: int, readers: dict[str, str], start: int, clock_floor: int,
              handles: dict[str, Any], sinks: dict[str, Any] | None = None) -> None:
        """Rolls back to a cut: a new protocol whose frontiers start at ``start``.

        Args:
            incarnation: The new incarnation.
            readers: Every reader now registered (reader id -> source name).
            start: The cut's frontier (0 when no cut completed yet).
            clock_floor: Every time handed out from now on is above this.
            handles: Reader id -> handle (a restarted coordinator lost them).
            sinks: Sink id -> handle (transactional sinks commit at completed cuts).
        """
        self._rebuild(readers, start, clock_floor)
        self.handles = dict(handles)
        self.sink_handles = dict(sinks or {})
        self.fence.incarnation = incarnation

    def ping(self) -> dict[str, Any]:
        """Boot id and incarnation (the driver notices restarts by the boot id)."""
        return self.fence.ping()

    def add_reader(self, reader: str, source: str, handle: Any) -> int:
        """Registers a reader started while running; returns its channel start bound."""
        bound = self.protocol.add_reader(reader, source)
        self.handles[reader] = handle
        return bound + 1

    # -- readers -------------------------------------------------------------

    def lease(self, incarnation: int, reader: str, position: Any) -> Closed | None:
        """See :meth:`CommitProtocol.lease` (None: stale incarnation)."""
        if incarnation != self.fence.incarnation:
            return None
        return self.protocol.lease(reader, position)

    def close_minibatch(self, incarnation: int, reader: str, time: int, rows: int,
                        position: Any, finished: bool, in_flight: int,
                        hungry: bool) -> tuple[Closed, int | None] | None:
        """Closes a minibatch and rebalances the backlog in one call.

        Returns:
            ``(closed, allowance)``; ``closed.next_time`` is ``END`` when
            finished. None when the incarnation is stale.
        """
        if incarnation != self.fence.incarnation:
            return None
        closed = self.protocol.close(reader, time, rows, position, finished)
        self.latency.close(time)
        allowance = None if finished else self.protocol.rebalance(reader, in_flight, hungry)
        return closed, allowance

    def rebalance(self, incarnation: int, reader: str, in_flight: int,
                  hungry: bool) -> tuple[int | None] | None:
        """See :meth:`CommitProtocol.rebalance`; ``(allowance,)``, or None when stale."""
        if incarnation != self.fence.incarnation:
            return None
        return (self.protocol.rebalance(reader, in_flight, hungry),)

    def reader_exhausted(self, incarnation: int, reader: str) -> None:
        """A dynamic reader read its partition to the end and waits to be released."""
        if incarnation == self.fence.incarnation:
            self.exhausted.add(reader)

    def exhausted_readers(self) -> list[str]:
        """Dynamic readers waiting to be released."""
        return sorted(self.exhausted)

    # -- sinks, operators and cuts ----------------------------------------------

    def sink_flushed(self, incarnation: int, sink: str, frontier: int) -> None:
        """Records a sink's durable frontier; tells readers when it advanced."""
        if incarnation != self.fence.incarnation:
            return
        durable = self.protocol.sink_flushed(sink, frontier)
        if durable is None:
            return
        for handle in self.handles.values():
            handle.commit.remote(Durable(incarnation, durable))
        if durable >= END and not self.protocol.checkpointing:
            self._commit_positions(self.protocol.cuts.final_positions, final=True)
        self._durable(durable)

    def _durable(self, frontier: int) -> None:
        """Records the commit latency of every time that just became durable."""
        latencies = self.latency.durable(frontier, _time.time() * 1000)
        if latencies:
            self.metrics.observe("commit_latency_ms", latencies)
            self.metrics.count(commits=len(latencies))
            self.metrics.gauge(last_commit_time_ms=self.latency.last_durable_time)

    def checkpoint_part(self, incarnation: int, frontier: int, operator: str,
                        parts: dict[str, list[Any]]) -> None:
        """A stateful operator's state at cut ``frontier`` (object refs in lists)."""
        if incarnation == self.fence.incarnation:
            self.protocol.cuts.add_part(frontier, operator, parts)

    def checkpoint_sink(self, incarnation: int, frontier: int, sink: str, state: dict,
                        parts: dict[str, list[Any]] | None = None) -> None:
        """A sink's state at cut ``frontier``."""
        if incarnation == self.fence.incarnation:
            self.protocol.cuts.add_sink(frontier, sink, state, parts)

    def take_ready_cuts(self) -> list[Cut]:
        """Complete cuts for the driver to write, oldest first."""
        return self.protocol.take_ready_cuts()

    def cut_committed(self, incarnation: int, frontier: int, positions: dict[str, Any]) -> None:
        """The driver wrote cut ``frontier``'s manifest: commit its positions to the sources.

        Args:
            incarnation: The incarnation the cut belongs to.
            frontier: The cut's frontier.
            positions: Reader id -> position of the cut.
        """
        if incarnation != self.fence.incarnation:
            return
        self.committed_frontier = max(self.committed_frontier, frontier)
        for sink in self.sink_handles.values():
            sink.commit_epoch.remote(incarnation, frontier)
        self._commit_positions(positions, final=frontier >= END)

    def _commit_positions(self, positions: dict[str, Any], final: bool) -> None:
        for reader, handle in self.handles.items():
            handle.commit.remote(CommitPosition(self.fence.incarnation, positions.get(reader),
                                                final))

    # -- failures and status -------------------------------------------------

    def report_failure(self, incarnation: int, actor: str, message: str,
                       fatal: bool = False) -> None:
        """An operator or sink raised (see :meth:`failure`).

        Args:
            incarnation: The failing actor's incarnation (stale reports are ignored).
            actor: The failing actor's name.
            message: What failed, naming the actor.
            fatal: A rollback cannot help (the same input fails again).
        """
        if incarnation in (self.fence.incarnation, 0):
            text = message if actor in message else f"{actor}: {message}"
            self.failures.append(Failure(actor, text, fatal))

    def failure(self) -> Failure | None:
        """The first actor failure since the last rollback, or None."""
        return self.failures[0] if self.failures else None

    def status(self) -> dict[str, Any]:
        """See :meth:`CommitProtocol.status`; adds the last durable commit time and latency."""
        return dict(self.protocol.status(), last_commit_time=self.latency.last_durable_time,
                    commit_latency_ms=self.latency.last_latency_ms,
                    incarnation=self.fence.incarnation,
                    committed_frontier=self.committed_frontier)

    def is_done(self) -> bool:
        """True when the stream ended everywhere and the final cut was committed.

        That is: every reader finished, every sink is durable to the end and,
        with checkpoints, the final cut was committed. Never True after an actor failed.
        """
        complete = not self.protocol.checkpointing or self.committed_frontier >= END
        return self.protocol.done and complete and not self.failures
