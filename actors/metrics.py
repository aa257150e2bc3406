"""Pipeline metrics through ``ray.util.metrics``, for the Ray dashboard and Prometheus.

Every actor owns one :class:`ActorMetrics`. Values are tagged with the
pipeline, the actor's name, its role and its partition (Kafka partitions,
Kinesis shard, operator instance). Ray exports them on each node's metrics
port with a ``ray_`` prefix (counters also get ``_total``), for example
``ray_raystream_rows_in_total{pipeline="p",actor="p:reader0:kafka:t:0",...}``.

Counters are summed locally and handed to Ray at most every
``flush_interval_s`` (Ray itself exports about every 10 s), so a batch costs a
dict update, not a metrics call.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("raystream.metrics")

PREFIX = "raystream_"
TAG_KEYS = ("pipeline", "actor", "role", "partition")

COUNTERS = {
    "rows_in": "Rows received (readers: parsed from the source; sinks: rows to write).",
    "rows_out": "Rows sent on (readers, operators: downstream; sinks: rows written).",
    "bytes_in": "Arrow bytes received (readers: parsed from the source).",
    "bytes_out": "Arrow bytes sent downstream or written.",
    "batches_in": "Record batches received.",
    "batches_out": "Record batches sent downstream or written.",
    "parse_errors": "Input records that did not match the schema.",
    "commits": "Source positions committed (readers) or commit times made durable.",
    "broker_retries": "Source broker calls retried after a transient failure (readers).",
    "recoveries": "Rollbacks to a checkpoint after an actor died or failed (driver).",
    "checkpoints": "Checkpoints written (driver).",
}
GAUGES = {
    "consumer_lag_records": "Kafka: records between the reader's position and the end.",
    "partition_lag_records": "Kafka: records between the position and the end of one "
                             "partition (tag partition: the partition id).",
    "millis_behind_latest": "Kinesis: MillisBehindLatest of the last GetRecords.",
    "backlog_rows": "Rows read under commit times the sinks have not made durable yet.",
    "last_commit_time_ms": "The latest commit time written by every sink (ms since the epoch).",
    "last_recovery_ms": "How long the last rollback took, from failure noticed to readers "
                        "restarted (driver).",
}
HISTOGRAMS = {
    "commit_latency_ms": "Time from a commit time being opened to being written by all sinks.",
}
LATENCY_BOUNDARIES_MS = [50.0, 100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0,
                         10000.0, 30000.0, 60000.0]
_LAG_GAUGES = {"lag_records": "consumer_lag_records",
               "millis_behind_latest": "millis_behind_latest"}

_metrics: dict[str, Any] = {}


def _metric(name: str) -> Any:
    """The process-wide Ray metric object called ``raystream_<name>`` (created once)."""
    metric = _metrics.get(name)
    if metric is None:
        from ray.util import metrics

        full = PREFIX + name
        if name in COUNTERS:
            metric = metrics.Counter(full, COUNTERS[name], tag_keys=TAG_KEYS)
        elif name in GAUGES:
            metric = metrics.Gauge(full, GAUGES[name], tag_keys=TAG_KEYS)
        else:
            metric = metrics.Histogram(full, HISTOGRAMS[name], LATENCY_BOUNDARIES_MS,
                                       tag_keys=TAG_KEYS)
        _metrics[name] = metric
    return metric


@dataclass(frozen=True)
class MetricTags:
    """Who reports: the tags on every value of one actor.

    Attributes:
        pipeline: Pipeline name.
        actor: The actor's name (as in the dashboard's actor list).
        role: ``reader``, ``operator``, ``sink`` or ``coordinator``.
        partition: Partitions/shards of a reader, instance of an operator.
        enabled: False turns every call into a no-op.
    """

    pipeline: str
    actor: str
    role: str
    partition: str = ""
    enabled: bool = True

    def as_dict(self) -> dict[str, str]:
        """The Ray tags."""
        return {"pipeline": self.pipeline, "actor": self.actor, "role": self.role,
                "partition": self.partition}


class ActorMetrics:
    """One actor's counters, gauges and histograms.

    Args:
        tags: The actor's tags (None or ``enabled=False``: record nothing).
        flush_interval_s: Least time between two hand-overs of counters to Ray.
    """

    def __init__(self, tags: MetricTags | None, flush_interval_s: float = 1.0) -> None:
        self.enabled = tags is not None and tags.enabled
        self.tags = tags.as_dict() if tags is not None else {}
        self.flush_interval_s = flush_interval_s
        self.pending: dict[str, float] = {}
        self.seen_totals: dict[str, float] = {}
        self.last_flush = _time.monotonic()

    def count(self, **deltas: float) -> None:
        """Adds to counters, e.g. ``count(rows_in=10, batches_in=1)``."""
        if not self.enabled:
            return
        for name, value in deltas.items():
            if value:
                self.pending[name] = self.pending.get(name, 0) + value
        self.maybe_flush()

    def totals(self, **totals: float) -> None:
        """Counts the growth of cumulative counters kept elsewhere (e.g. an outbox's)."""
        if not self.enabled:
            return
        deltas = {}
        for name, total in totals.items():
            deltas[name] = total - self.seen_totals.get(name, 0)
            self.seen_totals[name] = total
        self.count(**deltas)

    def gauge(self, **values: float | None) -> None:
        """Sets gauges; None values are skipped."""
        if not self.enabled:
            return
        for name, value in values.items():
            if value is not None:
                self._call(name, "set", float(value))

    def partition_gauges(self, name: str, values: dict[str, float]) -> None:
        """Sets gauge ``name`` once per partition, tagged with that partition's id."""
        if not self.enabled:
            return
        for partition, value in values.items():
            if self.enabled:
                self._call(name, "set", float(value), {**self.tags, "partition": partition})

    def source_gauges(self, reader_metrics: dict[str, float]) -> None:
        """Sets the lag gauges from ``connectors.base.reader_metrics()``."""
        self.gauge(**{_LAG_GAUGES[k]: v for k, v in reader_metrics.items() if k in _LAG_GAUGES})

    def observe(self, name: str, values: Iterable[float]) -> None:
        """Records histogram observations."""
        if not self.enabled:
            return
        for value in values:
            self._call(name, "observe", float(value))

    def maybe_flush(self) -> None:
        """Hands counters to Ray if ``flush_interval_s`` passed since the last time."""
        if _time.monotonic() - self.last_flush >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """Hands every pending counter increment to Ray now."""
        self.last_flush = _time.monotonic()
        pending, self.pending = self.pending, {}
        for name, value in pending.items():
            if value > 0:  # Counter.inc(0) raises
                self._call(name, "inc", value)

    def _call(self, name: str, method: str, value: float,
              tags: dict[str, str] | None = None) -> None:
        try:
            getattr(_metric(name), method)(value, tags=self.tags if tags is None else tags)
        except Exception as exc:  # noqa: BLE001 - metrics must never stop the data
            log.warning("metrics disabled for %s: %s", self.tags.get("actor"), exc)
            self.enabled = False


class CommitLatency:
    """Turns closed commit times and durable frontiers into latencies (pure).

    A commit time is a lease time in milliseconds since the epoch, so the time
    from its opening to its durability in every sink is simply
    ``now - time`` once the durable frontier passes it.
    """

    def __init__(self) -> None:
        self.closed: list[int] = []
        self.last_durable_time: int | None = None
        self.last_latency_ms: float | None = None

    def close(self, time: int) -> None:
        """A reader closed ``time``."""
        self.closed.append(time)

    def durable(self, frontier: int, now_ms: float) -> list[float]:
        """Every time below ``frontier`` is durable; returns their latencies."""
        done = [t for t in self.closed if t < frontier]
        if not done:
            return []
        self.closed = [t for t in self.closed if t >= frontier]
        latencies = [max(now_ms - t, 0.0) for t in done]
        newest = max(done)
        self.last_durable_time = max(newest, self.last_durable_time or 0)
        self.last_latency_ms = max(now_ms - newest, 0.0)
        return latencies
