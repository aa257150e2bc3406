"""The sink actor: buffers rows per commit time, writes them in time order, flushes, reports."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from raystream.actors.messages import Data, Message
from raystream.actors.metrics import ActorMetrics, MetricTags
from raystream.actors.protocol import END, FrontierTracker
from raystream.connectors.base import RecordError, SinkSpec

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
                 stream_writes: bool = True, metrics: MetricTags | None = None) -> None:
        self.name = name
        self.sink_id = sink_id
        try:
            self.writer = spec.open() if spec is not None else None
        except Exception as exc:  # e.g. the target is unreachable: fail the pipeline
            coordinator.sink_failed.remote(sink_id, f"{name}: {type(exc).__name__}: {exc}")
            raise
        self.format = format
        self.tracker = FrontierTracker(channels)
        self.coordinator = coordinator
        self.stream_writes = stream_writes
        self.pending: dict[int, list[pa.RecordBatch]] = {}
        self.completed: list[tuple[int, pa.RecordBatch]] = []
        self.rows_written = 0
        self.errors: list[RecordError] = []
        self.metrics = ActorMetrics(metrics)
        self.failure: str | None = None
        gc.freeze()  # as in ReaderActor.__init__: full collections skip start-up objects

    def receive(self, port: int, sender: str, messages: tuple[Message, ...]) -> None:
        """Buffers data; on frontier progress writes, flushes and reports.

        A writer error (e.g. failed deliveries at flush) is reported to the
        coordinator, which fails the pipeline, and re-raised.
        """
        if self.failure is not None:
            raise RuntimeError(f"refused: {self.failure}")
        try:
            for message in messages:
                if isinstance(message, Data):
                    self._accept(message)
                    continue
                frontier = self.tracker.update(port, sender, message.frontier)
                if frontier is not None:
                    self._complete(frontier)
        except Exception as exc:
            self.failure = f"{self.name}: {type(exc).__name__}: {exc}"
            self.coordinator.sink_failed.remote(self.sink_id, self.failure)
            raise

    def _accept(self, message: Data) -> None:
        """Writes rows at once when nothing earlier can still arrive, else buffers them."""
        self.metrics.count(rows_in=message.batch.num_rows, bytes_in=message.batch.nbytes,
                           batches_in=1)
        streamable = (self.stream_writes and self.writer is not None
                      and message.time <= self.tracker.frontier and not self.pending)
        if streamable:
            self._write(self.format(message.time, message.batch))
        else:
            self.pending.setdefault(message.time, []).append(message.batch)

    def _complete(self, frontier: int) -> None:
        for time in sorted(t for t in self.pending if t < frontier):
            output = self.format(time, concat_batches(self.pending.pop(time)))
            if output.num_rows == 0:
                continue
            if self.writer is None:
                self.completed.append((time, output))
                self.metrics.count(rows_out=output.num_rows, batches_out=1)
            else:
                self._write(output)
        if self.writer is None:
            self.completed.append((frontier, None))  # type: ignore[arg-type]
            return
        self.writer.flush()
        if frontier >= END:
            self.writer.close()
            self.metrics.flush()
        self.coordinator.sink_flushed.remote(self.sink_id, frontier)

    def _write(self, output: pa.RecordBatch) -> None:
        if output.num_rows == 0:
            return
        rejected = self.writer.write(output)  # type: ignore[union-attr]
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
        """Driver-side sinks: the driver handled every time below ``frontier``."""
        self.coordinator.sink_flushed.remote(self.sink_id, frontier)

    def add_channel(self, port: int, sender: str, start: int) -> None:
        """Accepts a new upstream channel."""
        self.tracker.add_channel(port, sender, start)

    def stats(self) -> dict[str, Any]:
        """Returns counters for monitoring."""
        return {"name": self.name, "rows_written": self.rows_written,
                "frontier": self.tracker.frontier, "errors": len(self.errors),
                "buffered_times": len(self.pending)}


def concat_batches(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """Concatenates batches of one schema into one contiguous batch."""
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches)
    return pa.RecordBatch.from_arrays(
        [table.column(i).combine_chunks() for i in range(table.num_columns)],
        schema=table.schema)
