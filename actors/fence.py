"""What every dataflow actor shares for recovery: its incarnation and checkpoint marks.

An actor accepts messages of its own incarnation only (see
:mod:`raystream.actors.protocol`, rollback). An actor that Ray restarted after
its process died starts *fenced* (incarnation -1): it drops everything until
the driver's rollback resets it.
"""

from __future__ import annotations

import os
import uuid
import warnings
from typing import Any

from raystream.actors.messages import END

FENCED = -1
"""The incarnation of a restarted actor waiting for its reset."""


def was_restarted() -> bool:
    """True inside an actor that Ray restarted after its process died."""
    try:
        import ray

        context = ray.get_runtime_context()
        if context.get_actor_id() is None:
            return False
        with warnings.catch_warnings():  # Ray 2.60 warns about its own use of actor_id
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(context.was_current_actor_reconstructed)
    except Exception:  # noqa: BLE001 - outside an actor (plain-class tests): never restarted
        return False


class Fence:
    """The incarnation an actor accepts, and its boot id (new after every restart).

    Args:
        incarnation: The incarnation at creation.
    """

    def __init__(self, incarnation: int = 0) -> None:
        self.restarted = was_restarted()
        self.incarnation = FENCED if self.restarted else incarnation
        self.boot = uuid.uuid4().hex
        self.dropped = 0

    def admits(self, incarnation: int) -> bool:
        """True if a message of ``incarnation`` is for this actor's current life."""
        if incarnation == self.incarnation:
            return True
        self.dropped += 1
        return False

    def ping(self) -> dict[str, Any]:
        """What the driver's liveness check compares: boot id and incarnation."""
        return {"boot": self.boot, "incarnation": self.incarnation, "dropped": self.dropped,
                "pid": os.getpid()}


class CheckpointMarks:
    """Cut frontiers announced by upstream channels (``Progress(C, checkpoint=True)``)."""

    def __init__(self) -> None:
        self.marked: set[int] = set()

    def announce(self, frontier: int) -> None:
        """An upstream channel marked ``frontier`` as a cut."""
        self.marked.add(frontier)

    def landed(self, frontier: int) -> bool:
        """The input frontier advanced to ``frontier``: True if it is a cut (``END`` always)."""
        is_cut = frontier in self.marked or frontier >= END
        self.marked = {d for d in self.marked if d > frontier}
        return is_cut

    def clear(self) -> None:
        """Forgets every mark (a rollback)."""
        self.marked.clear()
