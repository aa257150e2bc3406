"""The small frozen messages actors send each other.

Dataflow messages travel between stages (one ``receive`` call carries several,
in order); control messages reach a reader's loop through its control queue.
The batch format itself is defined in :mod:`raystream.connectors.batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

END = 2**62
"""The frontier of a channel that will send nothing more (also the final cut's frontier)."""

# -- dataflow -------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """Rows of one commit time; ``batch`` is a dataflow batch (``_key``, ``_diff``, columns)."""

    time: int
    batch: pa.RecordBatch


@dataclass(frozen=True)
class Progress:
    """The sender will send nothing with a time below ``frontier`` any more.

    ``checkpoint`` marks a cut frontier: receivers snapshot when their input
    frontier lands on it (see :mod:`raystream.actors.protocol`).
    """

    frontier: int
    checkpoint: bool = False


Message = Data | Progress

# -- reader control --------------------------------------------------------------


@dataclass(frozen=True)
class CommitPosition:
    """A cut completed: commit ``position`` to the source (Kafka offsets, Kinesis files).

    ``final`` marks the last commit of the stream (the ``END`` cut): the reader
    may return from ``run`` after it. ``position`` may be None (nothing to commit).
    """

    incarnation: int
    position: Any
    final: bool = False


@dataclass(frozen=True)
class Durable:
    """Every sink made every time below ``frontier`` durable (frees backlog)."""

    incarnation: int
    frontier: int


@dataclass(frozen=True)
class StopReading:
    """Finish the current minibatch, end the stream, and return from ``run``."""


@dataclass(frozen=True)
class ReleaseReader:
    """Dynamic readers: the partition's children have readers; this one may end."""


@dataclass(frozen=True)
class Rewind:
    """Roll back to a cut: reopen the source at ``positions`` under ``incarnation``.

    ``positions`` maps partition id -> position (None, or a partition missing:
    open it as at the run's start).
    """

    incarnation: int
    positions: dict[str, Any] | None = None


Control = CommitPosition | Durable | StopReading | ReleaseReader | Rewind
