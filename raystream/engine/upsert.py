"""The upsert kernel: a row whose key already exists replaces the old row.

Used after sources with a primary key (or with message keys as row keys).
Within one commit time the last row per key wins; for each key that changed
the old row is retracted (``diff=-1``) and the new one inserted (``diff=+1``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from raystream.actors.messages import DIFF, KEY, Emitted
from raystream.actors.sink import concat_batches


class UpsertKernel:
    """Keeps the latest row per key and emits replacements as changes.

    Args:
        schema: The dataflow schema of incoming batches (``_key``, ``_diff``, columns).
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.columns = [n for n in schema.names if n not in (KEY, DIFF)]
        self.rows: dict[int, tuple] = {}
        self.pending: dict[int, list[pa.RecordBatch]] = {}

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Holds rows until their time is complete."""
        if batch.num_rows:
            self.pending.setdefault(time, []).append(batch)
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Applies every held time below ``frontier`` in order."""
        out = []
        for time in sorted(t for t in self.pending if t < frontier):
            batch = self._apply(concat_batches(self.pending.pop(time)))
            if batch.num_rows:
                out.append((time, batch))
        return out

    def _apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        keys = batch.column(KEY).to_numpy(zero_copy_only=False)
        reversed_first = np.unique(keys[::-1], return_index=True)[1]
        last = np.sort(len(keys) - 1 - reversed_first)
        latest = batch.take(pa.array(last, pa.int64()))
        values = list(zip(*(latest.column(c).to_pylist() for c in self.columns), strict=False))
        out_rows: list[tuple] = []
        out_keys: list[int] = []
        diffs: list[int] = []
        for key, row in zip(latest.column(KEY).to_pylist(), values, strict=False):
            old = self.rows.get(key)
            if old == row:
                continue
            if old is not None:
                out_keys.append(key)
                out_rows.append(old)
                diffs.append(-1)
            out_keys.append(key)
            out_rows.append(row)
            diffs.append(1)
            self.rows[key] = row
        columns = list(zip(*out_rows, strict=False)) if out_rows else [() for _ in self.columns]
        arrays = [pa.array(list(c), self.schema.field(n).type)
                  for c, n in zip(columns, self.columns, strict=False)]
        return pa.RecordBatch.from_arrays(
            [pa.array(out_keys, pa.uint64()), pa.array(diffs, pa.int64()), *arrays],
            schema=self.schema)
