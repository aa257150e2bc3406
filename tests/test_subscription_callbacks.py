"""pw.io.subscribe's driver-side callbacks, driven as the runtime drives them (no Ray)."""

from __future__ import annotations

import pyarrow as pa
from raystream.actors.protocol import END
from raystream.connectors.batch import KEY, OUT_DIFF, OUT_TIME

from raystream.io.subscribe import Subscription


def _output(time: int, values: list[int]) -> pa.RecordBatch:
    n = len(values)
    return pa.record_batch({"v": values, OUT_DIFF: [1] * n, OUT_TIME: [time] * n,
                            KEY: pa.array(range(n), pa.uint64())})


def test_on_time_end_is_called_once_per_time_in_order_when_one_drain_sees_several() -> None:
    calls: list[tuple] = []
    subscription = Subscription(
        on_change=lambda key, row, time, is_addition: calls.append(("change", time, row["v"])),
        on_time_end=lambda time: calls.append(("time_end", time)),
        on_end=lambda: calls.append(("end",)))
    subscription.on_batch(10, _output(10, [1]))
    subscription.on_batch(12, _output(12, [2, 3]))
    subscription.on_frontier(14)
    assert calls == [("change", 10, 1), ("change", 12, 2), ("change", 12, 3),
                     ("time_end", 10), ("time_end", 12)]
    calls.clear()
    subscription.on_frontier(16)  # nothing new: no time ends twice
    assert calls == []
    subscription.on_batch(16, _output(16, [4]))
    subscription.on_frontier(END)
    assert calls == [("change", 16, 4), ("time_end", 16), ("end",)]


def test_on_batch_callback_gets_ids_and_diff_without_time() -> None:
    seen: list[tuple[int, list[str], list]] = []
    subscription = Subscription(batch_callback=lambda time, batch: seen.append(
        (time, batch.schema.names, batch.column("id").to_pylist())))
    subscription.on_batch(20, _output(20, [7, 8]))
    assert seen == [(20, ["v", "diff", "id"], [0, 1])]
