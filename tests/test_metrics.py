"""Pipeline metrics: unit rules, and Ray's Prometheus export for a running pipeline."""

from __future__ import annotations

import re
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from ray import cloudpickle
from raystream.actors.metrics import ActorMetrics, CommitLatency, MetricTags
from raystream.connectors.base import ParsedBatch, PartitionInfo, RecordError

import raystream as pw
from raystream import dtypes as dt
from raystream.io._base import SourceDescriptor, source_options, source_table
from raystream.run import start

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test source runs in actors

LAG = 4242
BEHIND_MS = 777
ROWS_PER_BATCH = 500


# -- unit ------------------------------------------------------------------------

def test_commit_latency_is_now_minus_time_for_every_newly_durable_time() -> None:
    latency = CommitLatency()
    for t in (1000, 1500, 2000):
        latency.close(t)
    assert latency.durable(1600, now_ms=2100.0) == [1100.0, 600.0]
    assert (latency.last_durable_time, latency.last_latency_ms) == (1500, 600.0)
    assert latency.durable(1600, now_ms=9999.0) == []
    assert latency.durable(2**62, now_ms=2500.0) == [500.0]
    assert latency.last_durable_time == 2000


def test_disabled_metrics_record_nothing_and_zero_counts_are_skipped() -> None:
    off = ActorMetrics(MetricTags("p", "a", "reader", enabled=False))
    off.count(rows_in=5)
    assert off.pending == {}
    on = ActorMetrics(MetricTags("p", "a", "reader"), flush_interval_s=3600)
    on.count(rows_in=5, parse_errors=0)
    on.totals(rows_out=7)
    on.totals(rows_out=10)
    assert on.pending == {"rows_in": 5, "rows_out": 10}


# -- a source that reports lag ----------------------------------------------------

@dataclass(frozen=True)
class TickerSpec:
    """Endless rows ``{"v": i}``, one bad record per batch, constant lag gauges."""

    name: str = "ticker"

    def list_partitions(self) -> list[PartitionInfo]:
        return [PartitionInfo("0")]

    def open(self, partitions: list[str],
             positions: dict[str, Any] | None = None) -> TickerReader:
        return TickerReader(int((positions or {}).get("0", 0)))


class TickerReader:
    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        time.sleep(min(timeout_s, 0.05))
        if max_records < ROWS_PER_BATCH:
            return None
        values = np.arange(self.offset, self.offset + ROWS_PER_BATCH, dtype=np.int64)
        self.offset += ROWS_PER_BATCH + 1
        error = RecordError("ticker", f"offset={self.offset - 1}", "bad on purpose", "x")
        return ParsedBatch(pa.record_batch({"v": values}), pa.array(values.astype(np.uint64)),
                           errors=(error,), records=ROWS_PER_BATCH + 1)

    def position(self) -> dict[str, Any]:
        return {"0": self.offset}

    def exhausted(self) -> bool:
        return False

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def commit(self, position: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def metrics(self) -> dict[str, float]:
        return {"lag_records": LAG, "millis_behind_latest": BEHIND_MS}


def ticker_table() -> pw.Table:
    options = source_options("ticker", autocommit_duration_ms=300)
    descriptor = SourceDescriptor("ticker", "test", TickerSpec(), options, ("v",))
    return source_table(descriptor, {"v": dt.INT})


# -- the export endpoint ----------------------------------------------------------

def samples(text: str, metric: str, pipeline: str) -> list[tuple[dict[str, str], float]]:
    """``(labels, value)`` of every sample of ``metric`` tagged with ``pipeline``."""
    found = []
    for match in re.finditer(rf"^{metric}\{{(.*?)\}} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("pipeline") == pipeline:
            found.append((labels, float(match.group(2))))
    return found


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


EXPECTED = [
    "ray_raystream_rows_in_total", "ray_raystream_rows_out_total", "ray_raystream_bytes_in_total",
    "ray_raystream_bytes_out_total", "ray_raystream_batches_in_total",
    "ray_raystream_batches_out_total", "ray_raystream_parse_errors_total",
    "ray_raystream_consumer_lag_records", "ray_raystream_millis_behind_latest",
    "ray_raystream_backlog_rows", "ray_raystream_commit_latency_ms_count",
    "ray_raystream_last_commit_time_ms",
]


@pytest.mark.usefixtures("ray_session")
def test_running_pipeline_exports_tagged_metrics_with_sensible_values() -> None:
    import ray

    port = ray.nodes()[0]["MetricsExportPort"]
    name = f"metrics-{int(time.time())}"
    t = ticker_table()
    pw.io.null.write(t.filter(t.v % 2 == 0))
    pipeline = start(name=name)
    try:
        text = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            text = scrape(port)
            if all(samples(text, m, name) for m in EXPECTED):
                break
            time.sleep(2)
        missing = [m for m in EXPECTED if not samples(text, m, name)]
        assert not missing, f"not exported: {missing}"
        check_values(text, name)
    finally:
        pipeline.stop()
        pipeline.wait(timeout=60)
        pipeline.shutdown()


def value(text: str, metric: str, pipeline: str, **labels: str) -> float:
    values = [v for lab, v in samples(text, metric, pipeline)
              if all(lab.get(k) == want for k, want in labels.items())]
    assert values, f"{metric} {labels}"
    return sum(values)


def check_values(text: str, name: str) -> None:
    reader = {"role": "reader", "partition": "0"}
    rows_in = value(text, "ray_raystream_rows_in_total", name, **reader)
    assert rows_in >= ROWS_PER_BATCH and rows_in % ROWS_PER_BATCH == 0
    errors = value(text, "ray_raystream_parse_errors_total", name, **reader)
    assert errors == rows_in / ROWS_PER_BATCH, "one bad record per batch"
    assert value(text, "ray_raystream_batches_in_total", name, **reader) == errors
    assert value(text, "ray_raystream_bytes_in_total", name, **reader) >= rows_in * 8
    assert value(text, "ray_raystream_consumer_lag_records", name, **reader) == LAG
    assert value(text, "ray_raystream_millis_behind_latest", name, **reader) == BEHIND_MS
    assert value(text, "ray_raystream_backlog_rows", name, **reader) >= 0
    assert value(text, "ray_raystream_rows_out_total", name, **reader) > 0
    written = value(text, "ray_raystream_rows_out_total", name, role="sink")
    assert 0 < written <= rows_in / 2, "the filter halves the rows"
    operator_in = value(text, "ray_raystream_rows_in_total", name, role="operator")
    assert operator_in >= written
    commits = value(text, "ray_raystream_commit_latency_ms_count", name, role="coordinator")
    within_a_minute = value(text, "ray_raystream_commit_latency_ms_bucket", name,
                            role="coordinator", le="60000.0")
    assert commits > 0 and within_a_minute == commits
    last = value(text, "ray_raystream_last_commit_time_ms", name, role="coordinator")
    assert abs(time.time() * 1000 - last) < 120_000
    actors = {lab["actor"] for lab, _ in samples(text, "ray_raystream_rows_in_total", name)}
    assert any(a.startswith(f"{name}:reader") for a in actors), actors
