"""The outbox (no Ray): coalescing per target, routing, frontiers and the in-flight window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from raystream.actors.messages import Data, Progress
from raystream.actors.outbox import Outbox, Route
from raystream.actors.routing import Routing
from raystream.connectors.batch import insertions


class FakeHandle:
    """Stands for an actor handle: ``receive.remote`` records the call and returns a ref."""

    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log
        self.receive = self

    def remote(self, port: int, sender: str, incarnation: int,
               messages: tuple) -> tuple[str, int]:
        self.log.append((self.name, port, sender, messages))
        return (self.name, len(self.log))


def _rows(n: int) -> pa.RecordBatch:
    keys = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return insertions(keys, pa.record_batch({"v": list(range(n))}))


def test_messages_for_one_target_are_coalesced_into_one_call_in_order() -> None:
    log: list = []
    outbox = Outbox("0.1", 1, [Route((FakeHandle("a", log),), 0, Routing.GATHER)],
                    wait=lambda ref: None)
    outbox.data(10, _rows(3))
    outbox.progress(12)
    outbox.data(12, _rows(2))
    outbox.flush()
    assert len(log) == 1
    name, port, sender, messages = log[0]
    assert (name, port, sender) == ("a", 0, "0.1")
    assert [type(m) for m in messages] == [Data, Progress, Data]
    assert [m.time for m in messages if isinstance(m, Data)] == [10, 12]
    assert outbox.rows_out == 5 and outbox.batches_out == 2


def test_hash_route_splits_rows_and_sends_progress_to_every_target() -> None:
    log: list = []
    handles = tuple(FakeHandle(n, log) for n in "abc")
    outbox = Outbox("0.0", 0, [Route(handles, 2, Routing.HASH)], wait=lambda ref: None)
    outbox.data(10, _rows(300))
    outbox.progress(12)
    outbox.flush()
    assert sorted(call[0] for call in log) == ["a", "b", "c"]
    rows = sum(m.batch.num_rows for call in log for m in call[3] if isinstance(m, Data))
    assert rows == 300
    assert all(isinstance(call[3][-1], Progress) for call in log)


def test_forward_route_sends_to_the_partner_only() -> None:
    log: list = []
    handles = tuple(FakeHandle(n, log) for n in "abc")
    outbox = Outbox("0.2", 2, [Route(handles, 0, Routing.FORWARD)], wait=lambda ref: None)
    outbox.data(10, _rows(5))
    outbox.progress(12)
    outbox.flush()
    assert [call[0] for call in log] == ["c"]


def test_a_full_window_waits_for_the_oldest_call() -> None:
    log: list = []
    waited: list[Any] = []
    outbox = Outbox("0.0", 0, [Route((FakeHandle("a", log),), 0, Routing.GATHER)], window=2,
                    wait=waited.append)
    for t in range(4):
        outbox.progress(10 + 2 * t)
        outbox.flush()
    assert len(log) == 4
    assert waited == [("a", 1), ("a", 2)]  # calls 3 and 4 each waited for the oldest
    outbox.drain()
    assert waited == [("a", 1), ("a", 2), ("a", 3), ("a", 4)]
