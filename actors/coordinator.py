"""The coordinator actor: a thin Ray shell around :class:`CommitProtocol`."""

from __future__ import annotations

import time as _time
from typing import Any

from raystream.actors.metrics import ActorMetrics, CommitLatency, MetricTags
from raystream.actors.protocol import END, CommitProtocol


class CoordinatorActor:
    """Hands out commit times, tracks sink durability, tells readers when to commit.

    All rules live in :class:`raystream.actors.protocol.CommitProtocol`; this
    class only adds the reader handles it pushes commits to.

    Args:
        readers: Reader id -> source name.
        sinks: Sink ids.
        backlog_limits: Source name -> ``max_backlog_size``.
        metrics: Tags for the commit metrics (None: no metrics).
    """

    def __init__(self, readers: dict[str, str], sinks: list[str],
                 backlog_limits: dict[str, int | None],
                 metrics: MetricTags | None = None) -> None:
        self.protocol = CommitProtocol(readers, sinks, backlog_limits)
        self.handles: dict[str, Any] = {}
        self.exhausted: set[str] = set()
        self.failures: list[str] = []
        self.latency = CommitLatency()
        self.metrics = ActorMetrics(metrics, flush_interval_s=0.0)

    def attach(self, handles: dict[str, Any]) -> None:
        """Receives the reader actor handles (created after the coordinator)."""
        self.handles.update(handles)

    def add_reader(self, reader: str, source: str, handle: Any) -> int:
        """Registers a reader started while running; returns its channel start bound."""
        bound = self.protocol.add_reader(reader, source)
        self.handles[reader] = handle
        return bound + 1

    def lease(self, reader: str) -> int:
        """See :meth:`CommitProtocol.lease`."""
        return self.protocol.lease(reader)

    def close_minibatch(self, reader: str, time: int, rows: int, position: Any,
                        finished: bool, in_flight: int, hungry: bool) -> tuple[int, int | None]:
        """Closes a minibatch and rebalances the backlog in one call.

        Returns:
            ``(next_time, allowance)``; ``next_time`` is ``END`` when finished.
        """
        next_time = self.protocol.close(reader, time, rows, position, finished)
        self.latency.close(time)
        allowance = None if finished else self.protocol.rebalance(reader, in_flight, hungry)
        return next_time, allowance

    def rebalance(self, reader: str, in_flight: int, hungry: bool) -> int | None:
        """See :meth:`CommitProtocol.rebalance`."""
        return self.protocol.rebalance(reader, in_flight, hungry)

    def sink_flushed(self, sink: str, frontier: int) -> None:
        """Records a sink's durable frontier and pushes the commits that became safe."""
        for commit in self.protocol.sink_flushed(sink, frontier):
            handle = self.handles.get(commit.reader)
            if handle is not None:
                handle.commit.remote(commit.position, commit.durable)
        self._durable(self.protocol.durable_frontier)

    def _durable(self, frontier: int) -> None:
        """Records the commit latency of every time that just became durable."""
        latencies = self.latency.durable(frontier, _time.time() * 1000)
        if latencies:
            self.metrics.observe("commit_latency_ms", latencies)
            self.metrics.count(commits=len(latencies))
            self.metrics.gauge(last_commit_time_ms=self.latency.last_durable_time)

    def sink_failed(self, sink: str, message: str) -> None:
        """A sink's writer raised: the pipeline must fail (see :meth:`failure`)."""
        self.failures.append(message)

    def actor_failed(self, message: str) -> None:
        """An operator or sink raised: the pipeline must fail (see :meth:`failure`)."""
        self.failures.append(message)

    def failure(self) -> str | None:
        """The first actor failure, or None."""
        return self.failures[0] if self.failures else None

    def reader_exhausted(self, reader: str) -> None:
        """A dynamic reader read its partition to the end and waits to be released."""
        self.exhausted.add(reader)

    def exhausted_readers(self) -> list[str]:
        """Dynamic readers waiting to be released."""
        return sorted(self.exhausted)

    def status(self) -> dict[str, Any]:
        """See :meth:`CommitProtocol.status`; adds the last durable commit time and latency."""
        return dict(self.protocol.status(), last_commit_time=self.latency.last_durable_time,
                    commit_latency_ms=self.latency.last_latency_ms)

    def is_done(self) -> bool:
        """True when every reader finished and every sink is durable to the end.

        Never True after an actor failed: a failed run must not look complete.
        """
        return self.protocol.done and not self.failures

    def end(self) -> int:
        """The END frontier (for drivers that do not import the protocol)."""
        return END
