"""Notices pipeline actors that died (killed, out of memory, crashed) while running."""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import RayActorError


class ActorDied(RuntimeError):
    """An actor of the pipeline is gone; the message names it."""


class Liveness:
    """Pings every actor with Ray's built-in ``__ray_ready__`` every ``interval_s``.

    A busy actor answers later (its ping waits in its queue and is not resent);
    a dead one answers with ``RayActorError``, which :meth:`check` turns into
    :class:`ActorDied`.

    Args:
        actors: Returns the current actor name -> handle (actors can be added
            while running, e.g. readers of new Kinesis shards).
        interval_s: Seconds between two rounds of pings.
    """

    def __init__(self, actors: Callable[[], dict[str, Any]], interval_s: float = 2.0) -> None:
        self.actors = actors
        self.interval_s = interval_s
        self.pending: dict[Any, str] = {}
        self.last = 0.0

    def check(self) -> None:
        """Collects answered pings and sends new ones; raises if an actor died."""
        if self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
            for ref in ready:
                name = self.pending.pop(ref)
                try:
                    ray.get(ref)
                except RayActorError as exc:
                    raise ActorDied(f"actor {name} died: {exc}") from exc
        if _time.monotonic() - self.last < self.interval_s:
            return
        self.last = _time.monotonic()
        waiting = set(self.pending.values())
        for name, handle in self.actors().items():
            if name not in waiting:
                self.pending[handle.__ray_ready__.remote()] = name
