"""The sink actor as a plain class (no Ray): buffering per time, order, flush, report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.output import OutputFormat
from raystream.actors.messages import Data, Progress
from raystream.actors.protocol import END
from raystream.actors.sink import SinkActor
from raystream.connectors.batch import insertions


@dataclass
class _Remote:
    calls: list[tuple]
    name: str

    def remote(self, *args: Any) -> None:
        self.calls.append((self.name, *args))


class FakeCoordinator:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.sink_flushed = _Remote(self.calls, "sink_flushed")
        self.report_failure = _Remote(self.calls, "report_failure")
        self.checkpoint_sink = _Remote(self.calls, "checkpoint_sink")


@dataclass
class RecordingWriter:
    events: list[Any] = field(default_factory=list)

    def write(self, batch: pa.RecordBatch) -> list:
        self.events.append(("write", batch.column("v").to_pylist(),
                            batch.column("time").to_pylist()))
        return []

    def flush(self) -> None:
        self.events.append(("flush",))

    def close(self) -> None:
        self.events.append(("close",))


@dataclass
class RecordingSpec:
    writer: RecordingWriter
    name: str = "recording"

    def open(self) -> RecordingWriter:
        return self.writer


def _rows(*values: int) -> pa.RecordBatch:
    return insertions(np.arange(len(values), dtype=np.uint64), pa.record_batch({"v": list(values)}))


def _sink(stream_writes: bool = True) -> tuple[SinkActor, RecordingWriter, FakeCoordinator]:
    writer, coordinator = RecordingWriter(), FakeCoordinator()
    sink = SinkActor("sink", "9.0", RecordingSpec(writer), OutputFormat(("v",)),
                     [(0, "1.0"), (0, "1.1")], coordinator, stream_writes=stream_writes)
    return sink, writer, coordinator


def test_times_are_held_until_every_channel_passes_them_then_written_in_order() -> None:
    sink, writer, coordinator = _sink(stream_writes=False)
    sink.receive(0, "1.0", 0, (Data(12, _rows(3)), Data(10, _rows(1))))
    sink.receive(0, "1.1", 0, (Data(10, _rows(2)),))
    sink.receive(0, "1.0", 0, (Progress(14),))
    assert writer.events == []  # channel 1.1 is still at 0
    sink.receive(0, "1.1", 0, (Progress(11),))
    assert writer.events == [("write", [1, 2], [10, 10]), ("flush",)]
    assert coordinator.calls == [("sink_flushed", 0, "9.0", 11)]
    sink.receive(0, "1.1", 0, (Progress(END),))
    assert writer.events[2:] == [("write", [3], [12]), ("flush",)]
    sink.receive(0, "1.0", 0, (Progress(END),))
    assert writer.events[4:] == [("flush",), ("close",)]
    assert coordinator.calls[-2:] == [("sink_flushed", 0, "9.0", END),
                                      ("checkpoint_sink", 0, END, "9.0", {}, {})]  # END is a cut


def test_rows_of_the_frontier_time_are_streamed_when_nothing_earlier_is_pending() -> None:
    sink, writer, _ = _sink()
    sink.receive(0, "1.0", 0, (Progress(20),))
    sink.receive(0, "1.1", 0, (Progress(20), Data(20, _rows(5))))
    # the frontier reached 20 (a flush of nothing), then 20's rows are written on arrival
    assert writer.events == [("flush",), ("write", [5], [20])]
    sink.receive(0, "1.0", 0, (Data(22, _rows(6)),))
    assert writer.events[-1] == ("write", [5], [20])  # 22 is above the frontier: held


def test_a_writer_error_is_reported_and_later_messages_are_refused() -> None:
    sink, writer, coordinator = _sink(stream_writes=False)

    def broken(batch: pa.RecordBatch) -> list:
        raise OSError("disk full")

    writer.write = broken  # type: ignore[method-assign]
    sink.receive(0, "1.0", 0, (Data(10, _rows(1)), Progress(12)))
    try:
        sink.receive(0, "1.1", 0, (Progress(12),))
    except OSError:
        pass
    assert coordinator.calls[-1][0] == "report_failure"
    assert "disk full" in coordinator.calls[-1][3]
    assert coordinator.calls[-1][4] is False  # a writer error: a rollback may help
    try:
        sink.receive(0, "1.1", 0, (Progress(14),))
        raise AssertionError("a failed sink must refuse messages")
    except RuntimeError as exc:
        assert "refused" in str(exc)
