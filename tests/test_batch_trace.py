"""The batch trace: actors' per-batch events, and the bench's breakdown of late rows by stage.

``BatchTrace`` is off without ``RAYSTREAM_TRACE_DIR`` and writes one CSV line
per event when on. ``bench/latency_trace.py`` joins a latency run's late
output rows with those files; here both sides are written by hand, so every
stage's share is known.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from raystream.actors.trace import TRACE_DIR_ENV, BatchTrace

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _latency_trace():
    spec = importlib.util.spec_from_file_location("latency_trace", BENCH / "latency_trace.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["latency_trace"] = module
    spec.loader.exec_module(module)
    return module


def test_off_without_the_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(TRACE_DIR_ENV, raising=False)
    trace = BatchTrace("reader", "job:reader0:kafka:0")
    assert trace.file is None
    trace.event("read", 2, 10)  # a no-op
    trace.close()
    assert list(tmp_path.iterdir()) == []


def test_events_go_to_one_file_per_actor(monkeypatch, tmp_path):
    monkeypatch.setenv(TRACE_DIR_ENV, str(tmp_path / "trace"))
    trace = BatchTrace("reader", "job:reader0:kafka:0+1")
    trace.event("read", 1796590538720, 4096)
    trace.event("close", 1796590538720, 4096)
    trace.close()
    (path,) = (tmp_path / "trace").iterdir()
    assert path.name.startswith("reader-job_reader0_kafka_0_1-")  # <kind>-<actor>-<pid>.csv
    lines = [line.split(",") for line in path.read_text().splitlines()]
    assert [(e, int(t), int(r)) for _, e, t, r in lines] == [
        ("read", 1796590538720, 4096), ("close", 1796590538720, 4096)]
    assert all(float(wall) > 1.7e9 for wall, *_ in lines)


def test_the_bench_reads_the_same_variable():
    assert _latency_trace().TRACE_DIR_ENV == TRACE_DIR_ENV


def _write(directory: Path, name: str, events: list[tuple[float, str, int]]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text("".join(f"{w},{e},{t},1\n" for w, e, t in events))


def test_a_late_row_is_broken_down_by_stage(tmp_path):
    lt = _latency_trace()
    t = 5000  # the minibatch's commit time
    _write(tmp_path, "reader-r0-1.csv", [(10.00, "read", t), (10.05, "read", t),
                                         (10.20, "close", t), (10.21, "read", t + 200)])
    _write(tmp_path, "reader-r1-2.csv", [(10.30, "close", t)])  # the last reader to close
    _write(tmp_path, "operator-a-3.csv", [(10.10, "frontier", t), (10.34, "frontier", t + 2)])
    _write(tmp_path, "operator-b-4.csv", [(10.40, "frontier", t + 2)])  # the later operator
    (tmp_path / "sink-s-5.csv").write_text("10.45,flushed,5002,0\n10.4")  # the kill cut a line
    output = pa.table({"time": [t, t, t], "ts": [10_040_000, 10_001_000, 10_001_000],
                       "diff": [1, 1, -1]})
    late = lt.late_rows([(10.5, output)], since_us=0, over_ms=300.0)
    assert late.num_rows == 2  # inserted rows over 300 ms; the retraction is left out
    (stages,) = lt.breakdown(lt.load_trace(tmp_path), late)
    assert stages["late_rows"] == 2 and stages["latency_ms"] == 499
    assert {k: stages[k] for k in lt.STAGES} == {
        "to read": 49,     # injected at 10.001, first read of t after it at 10.05
        "to close": 250,   # the last close of t, at 10.30
        "operators": 100,  # the later operator passed t at 10.40
        "sink": 50,        # flushed past t at 10.45
        "observed": 50,    # arrived at 10.50
    }
    assert "499" in lt.render([stages])


def test_a_stage_without_events_is_unknown(tmp_path):
    lt = _latency_trace()
    _write(tmp_path, "reader-r0-1.csv", [(1.0, "read", 7), (1.2, "close", 7)])
    late = lt.late_rows([(2.0, pa.table({"time": [7], "ts": [900_000], "diff": [1]}))], 0, 300.0)
    (stages,) = lt.breakdown(lt.load_trace(tmp_path), late)
    assert stages["to read"] == 100 and stages["to close"] == 200
    assert stages["operators"] is None and stages["sink"] is None
    assert stages["observed"] == 800  # measured from the last known stage
    assert lt.breakdown(lt.load_trace(tmp_path), late.slice(0, 0)) == []


@pytest.mark.parametrize("missing", ["reader", "sink"])
def test_no_trace_files_of_a_kind(tmp_path, missing):
    lt = _latency_trace()
    kinds = {"reader": [(1.0, "read", 7), (1.2, "close", 7)], "sink": [(1.5, "flushed", 9)]}
    for kind, events in kinds.items():
        if kind != missing:
            _write(tmp_path, f"{kind}-x-1.csv", events)
    late = lt.late_rows([(2.0, pa.table({"time": [7], "ts": [900_000], "diff": [1]}))], 0, 300.0)
    (stages,) = lt.breakdown(lt.load_trace(tmp_path), late)
    assert (stages["sink"] is None) == (missing == "sink")
    assert (stages["to read"] is None) == (missing == "reader")
