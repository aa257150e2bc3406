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

from raystream.actors.protocol import END
from raystream.connectors.batch import KEY, OUT_DIFF, OUT_TIME
from raystream.io._base import SinkDescriptor, register_sink
from raystream.io._files import sort_columns
from raystream.pointer import Pointer
from raystream.table import Table


@dataclass
class Subscription:
    """Driver-side callbacks for one subscribed table (a :class:`DriverSink`).

    The runtime calls :meth:`on_batch` once per complete commit time that has
    rows, in time order, then :meth:`on_frontier`; Pathway's ``on_time_end`` is
    called once for every time delivered below the frontier, in order.
    """

    on_change: Callable | None = None
    on_time_end: Callable | None = None
    on_end: Callable | None = None
    batch_callback: Callable | None = None
    _open_times: list[int] = field(default_factory=list, init=False)

    def on_batch(self, time: int, batch: pa.RecordBatch) -> None:
        """One commit time's rows: ``time``/``diff`` columns and the key in ``_key``."""
        if self.batch_callback is not None:
            visible = batch.drop_columns([OUT_TIME])
            self.batch_callback(time, visible.rename_columns(
                ["id" if n == KEY else n for n in visible.schema.names]))
        if self.on_change is not None:
            names = [n for n in batch.schema.names if n not in (OUT_TIME, OUT_DIFF, KEY)]
            columns = [batch.column(n).to_pylist() for n in names]
            keys = batch.column(KEY).to_pylist()
            diffs = batch.column(OUT_DIFF).to_pylist()
            for i, key in enumerate(keys):
                row = {n: c[i] for n, c in zip(names, columns, strict=True)}
                self.on_change(key=Pointer(key), row=row, time=time, is_addition=diffs[i] > 0)
        if not self._open_times or self._open_times[-1] != time:
            self._open_times.append(time)

    def on_frontier(self, frontier: int) -> None:
        """Every time below ``frontier`` is complete: ``on_time_end`` for each, in order."""
        ended = [t for t in self._open_times if t < frontier]
        self._open_times = [t for t in self._open_times if t >= frontier]
        if self.on_time_end is not None:
            for time in ended:
                self.on_time_end(time)
        if frontier >= END and self.on_end is not None:
            self.on_end()


def subscribe(table: Table, on_change: Callable | None = None, on_end: Callable | None = None,
              on_time_end: Callable | None = None, *, on_batch: Callable | None = None,
              name: str | None = None, sort_by: Any = None) -> None:
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
    """
    subscription = Subscription(on_change, on_time_end, on_end, on_batch)
    register_sink(table, SinkDescriptor("subscribe", name or "subscribe", None,
                                        sort_columns(sort_by), name, subscription,
                                        include_key=True),
                  check_reserved=False)
