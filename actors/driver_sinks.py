"""Driver-side sinks (``pw.io.subscribe``, ``pw.debug`` captures): drained, staged, delivered.

The sink actor of a driver-side output keeps each complete commit time's rows
until the driver drains them. The driver stages them and calls the user's
callbacks only once a checkpoint covering those times is complete, so a
rollback never calls a callback twice for the same change: staged times at or
above the restored cut are dropped, and the replay delivers them again under
new times. A time becomes durable (the actor's ``ack``) only once its callbacks
returned: ``max_backlog_size`` then holds the readers back while a callback is
slow, and the rows staged here never exceed the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import ray
from raystream.actors.messages import END
from raystream.actors.plan import DriverSink, SinkStage


@dataclass
class _Staged:
    stage: SinkStage
    handle: Any
    callbacks: DriverSink
    batches: list[tuple[int, pa.RecordBatch]] = field(default_factory=list)
    drained_to: int = 0
    delivered_to: int = 0


class DriverSinks:
    """The driver-side sinks of one pipeline."""

    def __init__(self) -> None:
        self.sinks: list[_Staged] = []
        self.committed = 0

    def add(self, stage: SinkStage, handle: Any) -> None:
        """Registers a driver-side sink actor."""
        assert stage.callbacks is not None
        self.sinks.append(_Staged(stage, handle, stage.callbacks))

    def drain(self) -> None:
        """Moves every complete time from the sink actors into the driver."""
        live = [s for s in self.sinks if s.drained_to < END]
        if not live:
            return
        answers = ray.get([s.handle.drain.remote() for s in live])
        for staged, completed in zip(live, answers, strict=True):
            frontier = None
            for time, batch in completed:
                if batch is None:
                    frontier = time
                else:
                    staged.batches.append((time, batch))
            if frontier is not None and frontier > staged.drained_to:
                staged.drained_to = frontier
        self._call_back()

    def deliver(self, frontier: int) -> None:
        """A checkpoint at ``frontier`` completed: staged times below it may be called back."""
        self.committed = max(self.committed, frontier)
        self._call_back()

    def _call_back(self) -> None:
        """Calls back every time below both the committed checkpoint and what was drained."""
        for staged in self.sinks:
            reached = min(self.committed, staged.drained_to)
            if reached <= staged.delivered_to:
                continue
            due = [(t, b) for t, b in staged.batches if t < reached]
            staged.batches = [(t, b) for t, b in staged.batches if t >= reached]
            for time, batch in due:
                staged.callbacks.on_batch(time, batch)
            staged.delivered_to = reached
            staged.callbacks.on_frontier(reached)
            staged.handle.ack.remote(reached)

    def rollback(self, frontier: int) -> None:
        """Drops staged times at or above a restored cut (they will be replayed)."""
        self.committed = frontier
        for staged in self.sinks:
            staged.batches = [(t, b) for t, b in staged.batches if t < frontier]
            staged.drained_to = min(staged.drained_to, frontier)

    @property
    def finished(self) -> bool:
        """True once every driver-side sink delivered up to the end."""
        return all(s.delivered_to >= END for s in self.sinks)
