"""Sending batches downstream: routing, coalescing and backpressure.

An :class:`Outbox` belongs to one actor. Messages for the same target are
coalesced and sent as one ``receive`` call per :meth:`Outbox.flush`. At most
``window`` calls per target are in flight; beyond that the sender waits for the
oldest, so a slow consumer slows its producers instead of piling up tasks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray
from ray.exceptions import RayError
from raystream.actors.messages import Data, Message, Progress
from raystream.actors.routing import Routing, forward_partner, split_by_target


@dataclass(frozen=True)
class Route:
    """Where one output goes.

    Attributes:
        targets: Actor handles of the downstream stage's instances.
        port: The input port on the targets.
        mode: How rows pick a target (see :class:`Routing`).
        hash_columns: Columns that pick a ``HASH`` target (default: the row key).
    """

    targets: tuple[Any, ...]
    port: int
    mode: Routing
    hash_columns: tuple[str, ...] = ()


class Outbox:
    """Buffers messages per target and sends them with bounded in-flight calls.

    Args:
        sender: This actor's channel id (stage and instance).
        instance: This actor's instance number within its stage.
        routes: The outputs.
        window: Maximum in-flight ``receive`` calls per target.
        wait: Blocks until one sent call was processed (``ray.get``; injectable
            so the outbox is tested without Ray).
    """

    def __init__(self, sender: str, instance: int, routes: list[Route], window: int = 4,
                 wait: Callable[[Any], Any] = ray.get) -> None:
        self.sender = sender
        self.instance = instance
        self.routes = routes
        self.window = window
        self.wait = wait
        self.incarnation = 0
        self.failed_calls = 0
        self._pending: dict[tuple[int, int], list[Message]] = {}
        self._in_flight: dict[tuple[int, int], deque] = {}
        self.rows_out = 0
        self.batches_out = 0
        self.bytes_out = 0
        _warm_up_pyarrow()

    def data(self, time: int, batch: pa.RecordBatch) -> None:
        """Queues rows of ``time`` for every route."""
        if batch.num_rows == 0:
            return
        self.rows_out += batch.num_rows
        self.batches_out += 1
        self.bytes_out += batch.nbytes
        for r, route in enumerate(self.routes):
            for target, part in self._split(route, batch):
                self._pending.setdefault((r, target), []).append(Data(time, part))

    def progress(self, frontier: int, checkpoint: bool = False) -> None:
        """Queues a frontier (``checkpoint``: a cut frontier) for every target of every route."""
        message = Progress(frontier, checkpoint)
        for r, route in enumerate(self.routes):
            for target in self._all_targets(route):
                self._pending.setdefault((r, target), []).append(message)

    def flush(self) -> None:
        """Sends everything queued, waiting where a target has too many calls in flight."""
        pending, self._pending = self._pending, {}
        for (r, target), messages in pending.items():
            route = self.routes[r]
            queue = self._in_flight.setdefault((r, target), deque())
            while len(queue) >= self.window:
                self._wait(queue.popleft())
            handle = route.targets[target]
            queue.append(handle.receive.remote(route.port, self.sender, self.incarnation,
                                               tuple(messages)))

    def drain(self) -> None:
        """Flushes and waits until every call sent so far has been processed."""
        self.flush()
        for queue in self._in_flight.values():
            while queue:
                self._wait(queue.popleft())

    def reset(self, incarnation: int) -> None:
        """Forgets every queued and in-flight call: a rollback to a cut is under way."""
        self._pending.clear()
        self._in_flight.clear()
        self.incarnation = incarnation

    def _wait(self, ref: Any) -> None:
        """Waits for one call; a receiver that died or failed is the driver's business.

        The driver notices dead actors and rolls the dataflow back, so a lost
        call is never lost data: the sender goes on instead of dying too.
        """
        try:
            self.wait(ref)
        except RayError:
            self.failed_calls += 1

    def _all_targets(self, route: Route) -> range | list[int]:
        if route.mode is Routing.FORWARD:
            return [forward_partner(self.instance, len(route.targets))]
        return range(len(route.targets))

    def _split(self, route: Route, batch: pa.RecordBatch) -> list[tuple[int, pa.RecordBatch]]:
        return split_by_target(batch, route.mode, len(route.targets), self.instance,
                               route.hash_columns)


def _warm_up_pyarrow() -> None:
    """Imports what pyarrow would import on an actor's first batch.

    pyarrow imports pandas, dataset and acero lazily, on the first ``pa.array``,
    ``pa.scalar`` or ``group_by``: ~0.45 s of CPU that landed on the first batch
    of every reader and operator. Outboxes exist only in actors, so this moves
    the cost to actor start-up without charging the driver for it (the driver
    of a file pipeline never needs pandas: 0.25 s of its import time).
    """
    import pyarrow.acero  # noqa: F401, PLC0415
