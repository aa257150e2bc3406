"""The small frozen messages actors send each other, and the kernel contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

KEY = "_key"
"""Row key column (uint64) carried by every batch inside the dataflow."""
DIFF = "_diff"
"""Change column (int64: +1 insertion, -1 retraction) carried by every batch."""

Emitted = list[tuple[int, pa.RecordBatch]]
"""What a kernel returns: ``(time, batch)`` pairs in time order."""


@dataclass(frozen=True)
class Data:
    """Rows of one commit time; ``batch`` has ``_key``, ``_diff`` and the columns."""

    time: int
    batch: pa.RecordBatch


@dataclass(frozen=True)
class Progress:
    """The sender will send nothing with a time below ``frontier`` any more."""

    frontier: int


Message = Data | Progress


class Kernel(Protocol):
    """The computation an operator actor hosts (built by raystream, run here).

    Stateless kernels answer ``on_data`` at once and return nothing from
    ``on_frontier``. Stateful kernels buffer rows per time and emit a time's
    changes from ``on_frontier`` once the frontier has passed it.
    """

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Consumes rows of ``time`` arriving on input ``port``."""
        ...

    def on_frontier(self, frontier: int) -> Emitted:
        """Emits the changes of every buffered time below ``frontier``."""
        ...
