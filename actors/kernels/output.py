"""Formatting dataflow batches for output: user columns plus ``time`` and ``diff``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.batch import DIFF, KEY, OUT_DIFF, OUT_TIME


@dataclass(frozen=True)
class OutputFormat:
    """Builds the rows a sink writes.

    Attributes:
        columns: User columns to write, in order.
        sort_by: Columns to sort each commit time's rows by.
        include_key: Also keep the row key (as ``_key``) for driver-side sinks.
        time_diff_order: Names of the time and diff columns, in output order.
    """

    columns: tuple[str, ...]
    sort_by: tuple[str, ...] = ()
    include_key: bool = False
    time_diff_order: tuple[str, str] = (OUT_DIFF, OUT_TIME)

    @property
    def streamable(self) -> bool:
        """Rows may be written as they arrive (no sorting within a time)."""
        return not self.sort_by

    def __call__(self, time: int, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Formats one commit time's rows for the sink."""
        if self.sort_by and batch.num_rows > 1:
            order = pc.sort_indices(batch, sort_keys=[(c, "ascending") for c in self.sort_by])
            batch = batch.take(order)
        n = batch.num_rows
        extra = {OUT_TIME: pa.array(np.full(n, time, np.int64)), OUT_DIFF: batch.column(DIFF)}
        names = list(self.columns) + list(self.time_diff_order)
        arrays = [batch.column(c) for c in self.columns]
        arrays += [extra[name] for name in self.time_diff_order]
        if self.include_key:
            names.append(KEY)
            arrays.append(batch.column(KEY))
        return pa.RecordBatch.from_arrays(arrays, names=names)
