"""The sink actor: buffers rows per commit time, writes them in time order, flushes, reports."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from raystream.actors.fence import CheckpointMarks, Fence
from raystream.actors.messages import Data, Message
from raystream.actors.metrics import ActorMetrics, MetricTags
from raystream.actors.protocol import END, FrontierTracker
from raystream.actors.sink_output import Output, open_output
from raystream.actors.trace import BatchTrace
from raystream.connectors.base import RecordError, SinkSpec
from raystream.connectors.batch import concat_batches

log = logging.getLogger("raystream.sink")


class SinkActor:
    """Writes one output (wrapped with ``ray.remote`` by the runtime).

    Rows of a time are held until the input frontier passes that time, so each
    time is written whole and in order. After writing every completed time the
    writer is flushed (made durable) and only then is the new frontier reported
    to the coordinator: the coordinator commits source positions on that basis.

    A driver-side sink (``spec is None``) keeps completed times for the driver,
    which drains them, runs the user's callbacks and acknowledges; only the
    acknowledgement counts as durable.

    Args:
        name: Readable actor name.
        sink_id: Id reported to the coordinator.
        spec: The connector's sink spec, or None for a driver-side sink.
        format: Turns ``(time, dataflow batch)`` into the output batch.
        channels: Input channels ``(port, sender)``.
        coordinator: The coordinator actor handle.
        stream_writes: Write rows of the frontier's own time on arrival (off
            when the output is sorted within each time).
        metrics: Tags for this sink's metrics (None: no metrics).
    """

    def __init__(self, name: str, sink_id: str, spec: SinkSpec | None,
                 format: Callable[[int, pa.RecordBatch], pa.RecordBatch],
                 channels: list[tuple[int, str]], coordinator: Any,
                 stream_writes: bool = True, metrics: MetricTags | None = None,
                 state: dict | None = None, staged: dict[str, pa.Table] | None = None,
                 identity: str | None = None) -> None:
        self.name = name
        self.sink_id = sink_id
        self.spec = spec
        self.identity = identity
        self.fence = Fence()
        self.output: Output | None = None
        self.initial_state: dict | None = None
        if not self.fence.restarted:  # a restarted sink opens its output at its reset
            try:
                self.output = self._open(state, staged)
            except Exception as exc:  # e.g. the target is unreachable: fail the pipeline
                coordinator.report_failure.remote(0, name, f"{name}: {type(exc).__name__}: "
                                                           f"{exc}", True)
                raise
            self.initial_state = state if state is not None else self._state()
        self.format = format
        self.tracker = FrontierTracker(channels)
        self.coordinator = coordinator
        self.stream_writes = stream_writes
        self.pending: dict[int, list[pa.RecordBatch]] = {}
        self.completed: list[tuple[int, pa.RecordBatch]] = []
        self.rows_written = 0
        self.errors: list[RecordError] = []
        self.metrics = ActorMetrics(metrics)
        self.trace = BatchTrace("sink", name)
        self.failure: str | None = None
        self.marks = CheckpointMarks()
        self.awaiting: int | None = None
        self.deferred: list[int] = []
        self.reported = 0
        gc.freeze()  # as in ReaderActor.__init__: full collections skip start-up objects

    def _open(self, state: dict | None, staged: dict[str, pa.Table] | None) -> Output | None:
        if self.spec is None:
            return None
        return open_output(self.spec, state, staged, self.identity, self.name)

    def _state(self) -> dict:
        if self.output is None or self.output.epochs:
            return {}
        return self.output.at_cut(0)[0]

    def receive(self, port: int, sender: str, incarnation: int,
                messages: tuple[Message, ...]) -> None:
        """Buffers data; on frontier progress writes, flushes and reports.

        Messages of another incarnation are dropped. A writer error (e.g.
        failed deliveries at flush) is reported to the coordinator, which has
        the driver roll the pipeline back, and re-raised.
        """
        if not self.fence.admits(incarnation):
            return
        if self.failure is not None:
            raise RuntimeError(f"refused: {self.failure}")
        try:
            for message in messages:
                if isinstance(message, Data):
                    self._accept(message)
                    continue
                if message.checkpoint:
                    self.marks.announce(message.frontier)
                frontier = self.tracker.update(port, sender, message.frontier)
                if frontier is not None:
                    self._complete(frontier, self.marks.landed(frontier))
        except Exception as exc:
            self._failed(exc)
            raise

    def _failed(self, exc: Exception) -> None:
        self.failure = f"{self.name}: {type(exc).__name__}: {exc}"
        self.coordinator.report_failure.remote(self.fence.incarnation, self.name,
                                               self.failure, False)

    def _accept(self, message: Data) -> None:
        """Writes rows at once when nothing earlier can still arrive, else buffers them."""
        self.metrics.count(rows_in=message.batch.num_rows, bytes_in=message.batch.nbytes,
                           batches_in=1)
        streamable = (self.stream_writes and self.output is not None and self.awaiting is None
                      and message.time <= self.tracker.frontier and not self.pending)
        if streamable:
            self._write(self.format(message.time, message.batch))
        else:
            self.pending.setdefault(message.time, []).append(message.batch)

    def _complete(self, frontier: int, is_cut: bool) -> None:
        """Every time below ``frontier`` is complete (``is_cut``: a checkpoint's frontier)."""
        if self.output is None:
            self._hand_to_driver(frontier, is_cut)
            return
        if self.awaiting is not None:  # the last epoch is not committed: hold everything
            if is_cut:
                self.deferred.append(frontier)
            return
        self._write_until(frontier)
        if is_cut:
            state, parts = self.output.at_cut(frontier)
            self.coordinator.checkpoint_sink.remote(self.fence.incarnation, frontier,
                                                    self.sink_id, state, parts)
            if self.output.epochs:
                self.awaiting = frontier
        if frontier >= END and self.awaiting is None:
            self.output.close()
            self.metrics.flush()

    def _write_until(self, frontier: int) -> None:
        """Writes every held time below ``frontier`` in order, flushes, reports durability."""
        for time in sorted(t for t in self.pending if t < frontier):
            self._write(self.format(time, concat_batches(self.pending.pop(time))))
        self.output.flush()  # type: ignore[union-attr]
        self.trace.event("flushed", frontier)
        self.reported = frontier
        self.coordinator.sink_flushed.remote(self.fence.incarnation, self.sink_id, frontier)

    def _hand_to_driver(self, frontier: int, is_cut: bool) -> None:
        for time in sorted(t for t in self.pending if t < frontier):
            output = self.format(time, concat_batches(self.pending.pop(time)))
            if output.num_rows:
                self.completed.append((time, output))
                self.metrics.count(rows_out=output.num_rows, batches_out=1)
        self.completed.append((frontier, None))  # type: ignore[arg-type]
        if is_cut:
            self.coordinator.checkpoint_sink.remote(self.fence.incarnation, frontier,
                                                    self.sink_id, {})

    def commit_epoch(self, incarnation: int, frontier: int) -> None:
        """The checkpoint at ``frontier`` was written: commit its transaction, go on."""
        if incarnation != self.fence.incarnation or self.awaiting != frontier:
            return
        try:
            self.output.commit(frontier)  # type: ignore[union-attr]
            self.awaiting = None
            if frontier >= END:
                self.output.close()  # type: ignore[union-attr]
                self.metrics.flush()
                return
            if self.deferred:
                self._complete(self.deferred.pop(0), True)
            elif self.tracker.frontier > self.reported:
                self._complete(self.tracker.frontier, False)
        except Exception as exc:
            self._failed(exc)
            raise

    def _write(self, output: pa.RecordBatch) -> None:
        if output.num_rows == 0:
            return
        rejected = self.output.write(output)  # type: ignore[union-attr]
        self.rows_written += output.num_rows - len(rejected)
        self.metrics.count(rows_out=output.num_rows - len(rejected), bytes_out=output.nbytes,
                           batches_out=1)
        for error in rejected:
            log.warning("%s: row not written: %s", self.name, error.describe())
        self.errors.extend(rejected)

    def drain(self) -> list[tuple[int, pa.RecordBatch | None]]:
        """Driver-side sinks: returns completed times; ``(frontier, None)`` marks progress."""
        completed, self.completed = self.completed, []
        return completed

    def ack(self, frontier: int) -> None:
        """Driver-side sinks: the driver holds every time below ``frontier``."""
        self.coordinator.sink_flushed.remote(self.fence.incarnation, self.sink_id, frontier)

    def reset(self, incarnation: int, frontier: int, state: dict | None,
              staged: dict[str, pa.Table] | None = None) -> None:
        """Rolls back to a cut: the output as it was at ``frontier``, every channel there.

        Args:
            incarnation: The new incarnation.
            frontier: The cut's frontier.
            state: The writer's state at the cut, or None for the state the
                output had when this run started (no cut completed yet).
            staged: The cut's parts of this sink (an epoch's staged rows).
        """
        if self.output is not None:
            self.output.close()
        self.output = self._open(state if state is not None else self.initial_state, staged)
        if self.initial_state is None:
            self.initial_state = state if state is not None else self._state()
        self.awaiting = None
        self.deferred = []
        self.reported = frontier
        self.tracker.reset(frontier)
        self.pending.clear()
        self.completed.clear()
        self.marks.clear()
        self.failure = None
        self.fence.incarnation = incarnation

    def close(self) -> None:
        """Closes the output (the pipeline ended)."""
        if self.output is not None:
            self.output.close()

    def ping(self) -> dict[str, Any]:
        """Boot id and incarnation (the driver notices restarts by the boot id)."""
        return self.fence.ping()

    def add_channel(self, port: int, sender: str, start: int) -> None:
        """Accepts a new upstream channel."""
        self.tracker.add_channel(port, sender, start)

    def stats(self) -> dict[str, Any]:
        """Returns counters for monitoring."""
        return {"name": self.name, "rows_written": self.rows_written,
                "frontier": self.tracker.frontier, "errors": len(self.errors),
                "buffered_times": len(self.pending)}

