"""The driver's console status line: rows and rows/s in and out, lag, backlog, last commit.

:class:`StatusLine` is ticked by ``Pipeline.wait``'s loop. Every
``interval_s`` it asks the readers, sinks and coordinator for their counters
without blocking (it collects the answers on a later tick) and prints one line
(here wrapped):

    [rs-1a2b3c] in 812,000 rows (51,200/s) | out 9,000 rows (1,050/s) | lag 3,400
    | backlog 8,000 rows | last commit 12:04:05.120 (0.9 s ago)
"""

from __future__ import annotations

import sys
import time as _time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any

from raystream.actors.protocol import END


@dataclass(frozen=True)
class Sample:
    """What the actors reported at one moment.

    Attributes:
        at: ``time.monotonic()`` of the sample.
        rows_in: Rows read by every reader so far.
        rows_out: Rows written by every sink so far.
        lag_records: Summed Kafka lag, or None if no reader reports it.
        millis_behind: Largest Kinesis ``MillisBehindLatest``, or None.
        backlog: Rows read but not durable yet, over all readers.
        last_commit: Latest commit time durable in every sink (ms), or None.
        recoveries: Rollbacks so far; last_recovery_s: how long the last took.
        broker_retries: Source broker calls retried after a transient failure.
        worst_lag: The partition furthest behind (its name, its lag), if known.
    """

    at: float
    rows_in: int
    rows_out: int
    lag_records: float | None = None
    millis_behind: float | None = None
    backlog: int = 0
    last_commit: int | None = None
    recoveries: int = 0
    last_recovery_s: float | None = None
    broker_retries: int = 0
    worst_lag: tuple[str, float] | None = None


def make_sample(at: float, readers: list[dict[str, Any]], sinks: list[dict[str, Any]],
                coordinator: dict[str, Any]) -> Sample:
    """Combines the actors' ``stats()`` and the coordinator's ``status()`` into a sample."""
    lags = [r["lag_records"] for r in readers if r.get("lag_records") is not None]
    behind = [r["millis_behind_latest"] for r in readers
              if r.get("millis_behind_latest") is not None]
    return Sample(
        at=at, rows_in=sum(r.get("rows", 0) for r in readers),
        rows_out=sum(s.get("rows_written", 0) for s in sinks),
        lag_records=sum(lags) if lags else None, millis_behind=max(behind) if behind else None,
        backlog=sum(r.get("in_flight", 0) for r in readers),
        last_commit=coordinator.get("last_commit_time"),
        broker_retries=sum(r.get("broker_retries", 0) for r in readers),
        worst_lag=max((tuple(r["worst_lag"]) for r in readers if r.get("worst_lag")),
                      key=lambda named: named[1], default=None))


def format_status(name: str, before: Sample | None, now: Sample,
                  wall_ms: float | None = None) -> str:
    """One status line comparing two samples (rates need ``before``)."""
    seconds = max(now.at - before.at, 1e-9) if before else None
    rate_in = (now.rows_in - before.rows_in) / seconds if before and seconds else None
    rate_out = (now.rows_out - before.rows_out) / seconds if before and seconds else None
    parts = [f"[{name}] in {_rate(rate_in, now.rows_in)}", f"out {_rate(rate_out, now.rows_out)}"]
    if now.lag_records is not None:
        worst = f" (worst {now.worst_lag[0]}: {now.worst_lag[1]:,.0f})" \
            if now.worst_lag and now.worst_lag[1] else ""
        parts.append(f"lag {now.lag_records:,.0f}{worst}")
    if now.millis_behind is not None:
        parts.append(f"behind {now.millis_behind / 1000:,.1f} s")
    parts.append(f"backlog {now.backlog:,} rows")
    if now.broker_retries:
        parts.append(f"broker retries {now.broker_retries:,}")
    parts.append(f"last commit {_commit(now.last_commit, wall_ms)}")
    if now.recoveries:
        parts.append(f"recoveries {now.recoveries} (last took {now.last_recovery_s or 0:.1f} s)")
    return " | ".join(parts)


def _rate(rate: float | None, total: int) -> str:
    if rate is None:
        return f"{total:,} rows"
    return f"{total:,} rows ({rate:,.0f}/s)"


def _commit(last: int | None, wall_ms: float | None) -> str:
    if last is None or last >= END:
        return "-"
    wall_ms = _time.time() * 1000 if wall_ms is None else wall_ms
    clock = datetime.fromtimestamp(last / 1000).strftime("%H:%M:%S.%f")[:-3]
    return f"{clock} ({max(wall_ms - last, 0) / 1000:.1f} s ago)"


class StatusLine:
    """Prints the status of a running pipeline every ``interval_s``.

    Args:
        name: Pipeline name (line prefix).
        readers: Reader actor handles (a live dict: dynamic readers join it).
        sinks: Sink actor handles.
        coordinator: The coordinator handle.
        interval_s: Seconds between two lines.
        out: Where to print (default stderr).
        supervisor: Counts rollbacks (``recoveries``, ``last_recovery_s``), or None.
    """

    def __init__(self, name: str, readers: dict[str, Any], sinks: list[Any], coordinator: Any,
                 interval_s: float = 10.0, out: IO[str] | None = None,
                 supervisor: Any = None) -> None:
        self.supervisor = supervisor
        self.name = name
        self.readers = readers
        self.sinks = sinks
        self.coordinator = coordinator
        self.interval_s = interval_s
        self.out = out or sys.stderr
        self.next_at = _time.monotonic() + interval_s
        self.asked: tuple[float, list[Any], list[Any], Any] | None = None
        self.last: Sample | None = None

    def tick(self) -> None:
        """Prints a line if a requested sample arrived; asks for one when due."""
        import ray

        if self.asked is not None:
            at, readers, sinks, coordinator = self.asked
            refs = readers + sinks + [coordinator]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            if len(ready) == len(refs):
                self.asked = None
                try:
                    sample = make_sample(at, ray.get(readers), ray.get(sinks),
                                         ray.get(coordinator))
                except ray.exceptions.RayError:
                    return  # an actor failed or ended: Pipeline.wait reports it
                if self.supervisor is not None:
                    sample = replace(sample, recoveries=self.supervisor.recoveries,
                                     last_recovery_s=self.supervisor.last_recovery_s)
                self._print(sample)
        if self.asked is None and _time.monotonic() >= self.next_at:
            self.next_at = _time.monotonic() + self.interval_s
            self.asked = (_time.monotonic(), [h.stats.remote() for h in self.readers.values()],
                          [h.stats.remote() for h in self.sinks], self.coordinator.status.remote())

    def _print(self, sample: Sample) -> None:
        print(format_status(self.name, self.last, sample), file=self.out, flush=True)
        self.last = sample
