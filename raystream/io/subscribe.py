"""``pw.io.subscribe``: call Python functions with a table's changes, in the driver.

Callbacks run in the process that called ``pw.run()`` (they can update its
variables). Rows arrive from the dataflow in whole batches; ``on_batch`` gets
each commit time's changes as one pyarrow RecordBatch, ``on_change`` one call
per changed row, as in Pathway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from raystream.actors.messages import KEY
from raystream.actors.protocol import END
from raystream.io._base import SinkDescriptor, register_sink
from raystream.io._files import sort_columns
from raystream.pointer import Pointer
from raystream.table import Table


@dataclass
class Subscription:
    """Driver-side callbacks for one subscribed table."""

    on_change: Callable | None = None
    on_time_end: Callable | None = None
    on_end: Callable | None = None
    on_batch: Callable | None = None
    _last_time: int | None = field(default=None, init=False)

    def on_batch_arrived(self, time: int, batch: pa.RecordBatch) -> None:
        """One commit time's rows: ``time``/``diff`` columns and the key in ``_key``."""
        if self.on_batch is not None:
            visible = batch.drop_columns(["time"])
            self.on_batch(time, visible.rename_columns(
                ["id" if n == KEY else n for n in visible.schema.names]))
        if self.on_change is not None:
            names = [n for n in batch.schema.names if n not in ("time", "diff", KEY)]
            columns = [batch.column(n).to_pylist() for n in names]
            keys = batch.column(KEY).to_pylist()
            diffs = batch.column("diff").to_pylist()
            for i, key in enumerate(keys):
                row = {n: c[i] for n, c in zip(names, columns, strict=False)}
                self.on_change(key=Pointer(key), row=row, time=time, is_addition=diffs[i] > 0)
        self._last_time = time

    def on_frontier(self, frontier: int) -> None:
        """Every time below ``frontier`` is complete."""
        last = self._last_time
        if last is not None and last < frontier and self.on_time_end is not None:
            self.on_time_end(last)
        self._last_time = None
        if frontier >= END and self.on_end is not None:
            self.on_end()



class _RuntimeAdapter:
    """Adapts a Subscription to the runtime's driver-side sink calls."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription

    def on_batch(self, time: int, batch: pa.RecordBatch) -> None:
        self.subscription.on_batch_arrived(time, batch)

    def on_frontier(self, frontier: int) -> None:
        self.subscription.on_frontier(frontier)


def subscribe(table: Table, on_change: Callable | None = None, on_end: Callable | None = None,
              on_time_end: Callable | None = None, *, on_batch: Callable | None = None,
              name: str | None = None, sort_by: Any = None, **kwargs: Any) -> None:
    """Calls ``on_change(key, row, time, is_addition)`` for every change of ``table``.

    Args:
        table: The table to watch.
        on_change: Per changed row (Pathway's signature).
        on_end: Once, when the stream ends.
        on_time_end: After each commit time's changes.
        on_batch: raystream extension: ``on_batch(time, batch)`` once per commit
            time, with a pyarrow RecordBatch of the changed rows (user columns,
            ``diff`` and ``id``): no Python call per row.
        name: Sink name.
        sort_by: Order rows within a commit time.
        **kwargs: Accepted for compatibility with Pathway; ignored.
    """
    adapter = _RuntimeAdapter(Subscription(on_change, on_time_end, on_end, on_batch))
    register_sink(table, SinkDescriptor("subscribe", name or "subscribe", None,
                                        sort_columns(sort_by), name, adapter, include_key=True),
                  check_reserved=False)
