"""The to-stream kernel: a table's changes become an append-only stream of upserts.

For ``Table.to_stream()``. Hash-routed by row key; per commit time and key,
an insertion (a new or replaced row) becomes an upsert row (``is_upsert``
true) and a deletion with no insertion a deletion row (``is_upsert`` false,
with the deleted values). Every output row is an insertion (``diff=+1``) under
the row's own key: ``stream_to_table`` turns the stream back into the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.base import Emitted, HeldTimes, KernelState
from raystream.connectors.batch import DIFF, KEY

IS_UPSERT = "is_upsert"


@dataclass(frozen=True)
class ToStreamSpec:
    """Turns changes into upsert and deletion rows (no state between times)."""

    def build(self, instance: int) -> ToStreamKernel:
        """Builds the kernel."""
        return ToStreamKernel()


class ToStreamKernel:
    """Holds a time's changes, then emits one stream row per changed key."""

    def __init__(self) -> None:
        self.held = HeldTimes()

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Holds rows until their time is complete."""
        self.held.hold(time, batch)
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Emits the stream rows of every held time below ``frontier``, in order."""
        return [(time, _stream_rows(rows)) for time, rows in self.held.complete(frontier)]

    def snapshot(self) -> KernelState:
        """No state outlives a time."""
        return {}

    def restore(self, state: KernelState) -> None:
        """Nothing to restore."""
        self.held.clear()


def _stream_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Per key, its last insertion (an upsert), or else its deletion."""
    keys = batch.column(KEY).to_numpy(zero_copy_only=False)
    diffs = batch.column(DIFF).to_numpy(zero_copy_only=False)
    order = np.lexsort((np.arange(len(keys)), diffs, keys))  # per key: deletions first
    last = order[np.append(keys[order][1:] != keys[order][:-1], True)]
    rows = batch.take(pa.array(last, pa.int64()))
    upsert = pa.array(diffs[last] > 0)
    rows = rows.set_column(1, DIFF, pa.array(np.ones(len(last), np.int64)))
    return rows.append_column(IS_UPSERT, upsert)
