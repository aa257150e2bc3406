"""The operator actor: hosts one kernel, tracks its input frontier, forwards output."""

from __future__ import annotations

import gc
import logging
from typing import Any

import ray
from raystream.actors.checkpoint import table_to_ipc
from raystream.actors.fence import CheckpointMarks, Fence
from raystream.actors.kernels.base import KernelSpec, KernelState
from raystream.actors.messages import END, Data, Message
from raystream.actors.metrics import ActorMetrics, MetricTags
from raystream.actors.outbox import Outbox, Route
from raystream.actors.protocol import FrontierTracker
from raystream.actors.reader import error_batch
from raystream.actors.trace import BatchTrace

log = logging.getLogger("raystream.operator")
_MAX_LOGGED_ERRORS = 20


class OperatorActor:
    """Runs a kernel on incoming batches (wrapped with ``ray.remote`` by the runtime).

    Args:
        name: Readable actor name.
        sender: This instance's channel id.
        instance: Instance number within the stage.
        kernel: The stage's compiled kernel; this actor builds its own instance.
        channels: Input channels ``(port, sender)``.
        routes: Output routes.
        metrics: Tags for this operator's metrics (None: no metrics).
        coordinator: The coordinator (failures, checkpoint parts).
        stateful: The kernel holds state: its snapshot is part of every cut.
        error_routes: Routes of the error output (rows the kernel failed on go to the
            error log, for kernels offering ``take_errors``).
    """

    def __init__(self, name: str, sender: str, instance: int,
                 kernel: KernelSpec, channels: list[tuple[int, str]],
                 routes: list[Route], metrics: MetricTags | None = None,
                 coordinator: Any = None, stateful: bool = False,
                 error_routes: list[Route] | None = None) -> None:
        self.name = name
        self.sender = sender
        self.instance = instance
        self.spec = kernel
        self.coordinator = coordinator
        self.stateful = stateful
        self.failure: str | None = None
        self.kernel = kernel.build(instance)
        self.tracker = FrontierTracker(channels)
        self.outbox = Outbox(sender, instance, routes)
        self.error_outbox = Outbox(sender, instance, error_routes or [])
        self.errors_logged = 0
        self.fence = Fence()
        self.marks = CheckpointMarks()
        self.rows_in = 0
        self.batches_in = 0
        self.snapshots = 0
        self.metrics = ActorMetrics(metrics)
        self.trace = BatchTrace("operator", name)
        gc.freeze()  # as in ReaderActor.__init__: full collections skip start-up objects

    def receive(self, port: int, sender: str, incarnation: int,
                messages: tuple[Message, ...]) -> None:
        """Processes messages from one upstream channel, in order.

        Messages of another incarnation are dropped (a rollback is under way or
        done). If the kernel raises, the operator reports the error to the
        coordinator and refuses every later message until it is reset, so no
        frontier passes a time whose rows were lost.
        """
        if not self.fence.admits(incarnation):
            return
        if self.failure is not None:
            raise RuntimeError(f"refused: {self.failure}")
        try:
            self._receive(port, sender, messages)
        except Exception as exc:
            notes = "".join(f"\n  {note}" for note in getattr(exc, "__notes__", []))
            self.failure = f"{self.name}: {type(exc).__name__}: {exc}{notes}"
            if self.coordinator is not None:
                self.coordinator.report_failure.remote(self.fence.incarnation, self.name,
                                                       self.failure, True)
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
                self._errors()
                continue
            if message.checkpoint:
                self.marks.announce(message.frontier)
            frontier = self.tracker.update(port, sender, message.frontier)
            if frontier is not None:
                for time, batch in self.kernel.on_frontier(frontier):
                    self.outbox.data(time, batch)
                is_cut = self.marks.landed(frontier)
                if is_cut and self.stateful:
                    self._hand_over(frontier, self.kernel.snapshot())
                self._errors()
                self.outbox.progress(frontier, is_cut)
                self.trace.event("frontier", frontier)
                self.error_outbox.progress(frontier, is_cut)
        self.outbox.flush()
        self.error_outbox.flush()
        self._report()

    def _hand_over(self, frontier: int, state: KernelState) -> None:
        """Gives the kernel's state as of cut ``frontier`` to the coordinator (as IPC refs)."""
        parts = {name: [ray.put(table_to_ipc(table))] for name, table in state.items()}
        self.snapshots += 1
        self.coordinator.checkpoint_part.remote(self.fence.incarnation, frontier, self.sender,
                                                parts)

    def _errors(self) -> None:
        """Sends rows the kernel failed on to the error log (kernels may offer ``take_errors``)."""
        take = getattr(self.kernel, "take_errors", None)
        if take is None:
            return
        for time, errors in take():
            for error in errors[: max(_MAX_LOGGED_ERRORS - self.errors_logged, 0)]:
                log.warning("row dropped: %s", error.describe())
            self.errors_logged += len(errors)
            self.error_outbox.data(time, error_batch(errors))

    def _report(self) -> None:
        outbox = self.outbox
        self.metrics.totals(rows_out=outbox.rows_out, bytes_out=outbox.bytes_out,
                            batches_out=outbox.batches_out)
        if self.tracker.frontier >= END:
            self.metrics.flush()

    def reset(self, incarnation: int, frontier: int, state: KernelState | None) -> None:
        """Rolls back to a cut: a new kernel with ``state``, every channel at ``frontier``.

        Args:
            incarnation: The new incarnation.
            frontier: The cut's frontier.
            state: This instance's state at the cut (its key groups), or None.
        """
        self.kernel = self.spec.build(self.instance)
        if state:
            self.kernel.restore(state)
        self.tracker.reset(frontier)
        self.outbox.reset(incarnation)
        self.error_outbox.reset(incarnation)
        self.marks.clear()
        self.failure = None
        self.fence.incarnation = incarnation

    def ping(self) -> dict[str, Any]:
        """Boot id and incarnation (the driver notices restarts by the boot id)."""
        return self.fence.ping()

    def add_channel(self, port: int, sender: str, start: int) -> None:
        """Accepts a new upstream channel (a reader started while running)."""
        self.tracker.add_channel(port, sender, start)

    def stats(self) -> dict[str, Any]:
        """Returns counters for monitoring."""
        return {"name": self.name, "rows_in": self.rows_in, "batches_in": self.batches_in,
                "rows_out": self.outbox.rows_out, "frontier": self.tracker.frontier,
                "snapshots": self.snapshots, "dropped": self.fence.dropped}
