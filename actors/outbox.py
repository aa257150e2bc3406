"""Sending batches downstream: routing, coalescing and backpressure.

An :class:`Outbox` belongs to one actor. Messages for the same target are
coalesced and sent as one ``receive`` call per :meth:`Outbox.flush`. At most
``window`` calls per target are in flight; beyond that the sender waits for the
oldest, so a slow consumer slows its producers instead of piling up tasks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

# pyarrow imports pandas, dataset and acero lazily, on an actor's first pa.array,
# pa.scalar or group_by: ~0.45 s of CPU that landed on the first batch of every reader
# and operator. Importing them here moves that cost to actor start-up.
import pyarrow.acero  # noqa: F401
import ray
from raystream.actors.hashing import hash_columns, partition_of
from raystream.actors.messages import KEY, Data, Message, Progress

FORWARD = "forward"
HASH = "hash"
GATHER = "gather"
BROADCAST = "broadcast"


@dataclass(frozen=True)
class Route:
    """Where one output goes.

    Attributes:
        targets: Actor handles of the downstream stage's instances.
        port: The input port on the targets.
        mode: ``forward`` (instance i to instance i), ``hash`` (by
            ``hash_columns``, default the row key), ``gather`` (to the single
            target) or ``broadcast`` (to all).
        hash_columns: Columns that pick a ``hash`` target.
    """

    targets: tuple[Any, ...]
    port: int
    mode: str
    hash_columns: tuple[str, ...] = ()


class Outbox:
    """Buffers messages per target and sends them with bounded in-flight calls.

    Args:
        sender: This actor's channel id (stage and instance).
        instance: This actor's instance number within its stage.
        routes: The outputs.
        window: Maximum in-flight ``receive`` calls per target.
    """

    def __init__(self, sender: str, instance: int, routes: list[Route], window: int = 4) -> None:
        self.sender = sender
        self.instance = instance
        self.routes = routes
        self.window = window
        self._pending: dict[tuple[int, int], list[Message]] = {}
        self._in_flight: dict[tuple[int, int], deque] = {}
        self.rows_out = 0
        self.batches_out = 0
        self.bytes_out = 0

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

    def progress(self, frontier: int) -> None:
        """Queues a frontier for every target of every route."""
        for r, route in enumerate(self.routes):
            for target in self._all_targets(route):
                self._pending.setdefault((r, target), []).append(Progress(frontier))

    def flush(self) -> None:
        """Sends everything queued, waiting where a target has too many calls in flight."""
        pending, self._pending = self._pending, {}
        for (r, target), messages in pending.items():
            route = self.routes[r]
            queue = self._in_flight.setdefault((r, target), deque())
            while len(queue) >= self.window:
                ray.get(queue.popleft())
            handle = route.targets[target]
            queue.append(handle.receive.remote(route.port, self.sender, tuple(messages)))

    def drain(self) -> None:
        """Flushes and waits until every call sent so far has been processed."""
        self.flush()
        for queue in self._in_flight.values():
            while queue:
                ray.get(queue.popleft())

    def _all_targets(self, route: Route) -> range | list[int]:
        if route.mode == FORWARD:
            return [self.instance]
        return range(len(route.targets))

    def _split(self, route: Route, batch: pa.RecordBatch) -> list[tuple[int, pa.RecordBatch]]:
        n = len(route.targets)
        if route.mode == FORWARD:
            return [(self.instance, batch)]
        if route.mode == GATHER or n == 1:
            return [(0, batch)]
        if route.mode == BROADCAST:
            return [(t, batch) for t in range(n)]
        columns = route.hash_columns or (KEY,)
        parts = partition_of(hash_columns(batch, columns, seed=7), n)
        order = np.argsort(parts, kind="stable")
        counts = np.bincount(parts, minlength=n)
        sorted_batch = batch.take(pa.array(order))
        out, start = [], 0
        for target, count in enumerate(counts):
            if count:
                out.append((target, sorted_batch.slice(start, int(count))))
            start += int(count)
        return out
