"""The operator actor: hosts one kernel, tracks its input frontier, forwards output."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from raystream.actors.messages import Data, Kernel, Message
from raystream.actors.metrics import ActorMetrics, MetricTags
from raystream.actors.outbox import Outbox, Route
from raystream.actors.protocol import END, FrontierTracker


class OperatorActor:
    """Runs a kernel on incoming batches (wrapped with ``ray.remote`` by the runtime).

    Args:
        name: Readable actor name.
        sender: This instance's channel id.
        instance: Instance number within the stage.
        kernel: Builds the kernel for this instance.
        channels: Input channels ``(port, sender)``.
        routes: Output routes.
        metrics: Tags for this operator's metrics (None: no metrics).
    """

    def __init__(self, name: str, sender: str, instance: int,
                 kernel: Callable[[int], Kernel], channels: list[tuple[int, str]],
                 routes: list[Route], metrics: MetricTags | None = None,
                 coordinator: Any = None) -> None:
        self.name = name
        self.coordinator = coordinator
        self.failure: str | None = None
        self.kernel = kernel(instance)
        self.tracker = FrontierTracker(channels)
        self.outbox = Outbox(sender, instance, routes)
        self.rows_in = 0
        self.batches_in = 0
        self.metrics = ActorMetrics(metrics)
        gc.freeze()  # as in ReaderActor.__init__: full collections skip start-up objects

    def receive(self, port: int, sender: str, messages: tuple[Message, ...]) -> None:
        """Processes messages from one upstream channel, in order.

        If the kernel raises, the operator reports the error to the coordinator
        (which fails the pipeline) and refuses every later message, so no
        frontier passes a time whose rows were lost.
        """
        if self.failure is not None:
            raise RuntimeError(f"refused: {self.failure}")
        try:
            self._receive(port, sender, messages)
        except Exception as exc:
            self.failure = f"{self.name}: {type(exc).__name__}: {exc}"
            if self.coordinator is not None:
                self.coordinator.actor_failed.remote(self.failure)
            raise

    def _receive(self, port: int, sender: str, messages: tuple[Message, ...]) -> None:
        for message in messages:
            if isinstance(message, Data):
                self.rows_in += message.batch.num_rows
                self.batches_in += 1
                self.metrics.count(rows_in=message.batch.num_rows,
                                   bytes_in=message.batch.nbytes, batches_in=1)
                for time, batch in self.kernel.on_data(port, message.time, message.batch):
                    self.outbox.data(time, batch)
            else:
                frontier = self.tracker.update(port, sender, message.frontier)
                if frontier is not None:
                    for time, batch in self.kernel.on_frontier(frontier):
                        self.outbox.data(time, batch)
                    self.outbox.progress(frontier)
        self.outbox.flush()
        self._report()

    def _report(self) -> None:
        outbox = self.outbox
        self.metrics.totals(rows_out=outbox.rows_out, bytes_out=outbox.bytes_out,
                            batches_out=outbox.batches_out)
        if self.tracker.frontier >= END:
            self.metrics.flush()

    def add_channel(self, port: int, sender: str, start: int) -> None:
        """Accepts a new upstream channel (a reader started while running)."""
        self.tracker.add_channel(port, sender, start)

    def stats(self) -> dict[str, Any]:
        """Returns counters for monitoring."""
        return {"name": self.name, "rows_in": self.rows_in, "batches_in": self.batches_in,
                "rows_out": self.outbox.rows_out, "frontier": self.tracker.frontier}
