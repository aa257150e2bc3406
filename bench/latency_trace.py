"""Where late rows waited: a latency run's late output joined with raystream's batch trace.

``python bench/run_bench.py ... --only latency --engines raystream --trace``
runs raystream with ``RAYSTREAM_TRACE_DIR`` set (see ``actors/trace.py``) and,
after each latency run, prints for the worst minibatches (commit times) how
long their worst row spent in each stage:

- ``to read``: from its injection (``ts``) to the first read of its
  minibatch at or after that instant, in any reader (the source's delivery,
  or a poll's wait);
- ``to close``: on to the close of that minibatch in the last reader to close
  it (the commit interval, or a reader busy past it);
- ``operators``: on to the last operator's frontier passing it (the reduce);
- ``sink``: on to the sink's flush of it;
- ``observed``: on to its arrival at the harness (delivery of the output:
  the Kafka producer and consumer, or the file being re-read).

A stage the trace has no event for is shown as ``-``. The breakdown lands in
the run's ``notes["late_minibatches"]`` too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TRACE_DIR_ENV = "RAYSTREAM_TRACE_DIR"  # as actors/trace.py reads it (the bench imports no engine)
STAGES = ("to read", "to close", "operators", "sink", "observed")


@dataclass
class Events:
    """One actor's events: wall times (s) and commit times (or frontiers), by event name."""

    wall: dict[str, np.ndarray]
    time: dict[str, np.ndarray]

    def of(self, event: str) -> tuple[np.ndarray, np.ndarray]:
        """(wall times, commit times) of ``event`` (empty if it never happened)."""
        if event not in self.wall:
            return np.array([]), np.array([], np.int64)
        return self.wall[event], self.time[event]


Trace = dict[str, list[Events]]


def load_trace(directory: Path) -> Trace:
    """Reads every trace file: per actor kind (``reader``, ``operator``, ``sink``), per actor."""
    trace: Trace = {}
    for path in sorted(directory.glob("*.csv")):
        values: dict[str, list[tuple[float, int]]] = {}
        with open(path, newline="") as file:
            for record in csv.reader(file):
                if len(record) == 4:  # a line cut short by the engine's kill is skipped
                    values.setdefault(record[1], []).append((float(record[0]), int(record[2])))
        arrays = {event: np.array(rows, dtype=np.float64) for event, rows in values.items()}
        trace.setdefault(_kind(path.name), []).append(Events(
            {e: a[:, 0] for e, a in arrays.items()},
            {e: a[:, 1].astype(np.int64) for e, a in arrays.items()}))
    return trace


def _kind(file_name: str) -> str:
    return file_name.split("-", 1)[0]  # BatchTrace names files <kind>-<actor>-<pid>.csv


def late_rows(chunks: list[tuple[float, pa.Table]], since_us: int, over_ms: float) -> pa.Table:
    """The inserted output rows stamped after ``since_us`` that took over ``over_ms``.

    Args:
        chunks: (arrival wall time in s, parsed changelog with ``time``, ``ts``, ``diff``).
        since_us: Rows injected before this (µs) are left out (warm-up).
        over_ms: The latency above which a row is late.
    """
    parts = []
    for arrival, table in chunks:
        keep = pc.and_(pc.greater(table["diff"], 0), pc.greater_equal(table["ts"], since_us))
        rows = table.filter(keep)
        if rows.num_rows == 0:
            continue
        ts = rows["ts"].to_numpy().astype(np.int64)
        latency = arrival * 1e3 - ts / 1e3
        late = latency > over_ms
        if late.any():
            parts.append(pa.table({"time": rows["time"].to_numpy()[late].astype(np.int64),
                                   "ts": ts[late], "arrival": np.full(int(late.sum()), arrival),
                                   "latency_ms": latency[late]}))
    schema = pa.schema([("time", pa.int64()), ("ts", pa.int64()), ("arrival", pa.float64()),
                        ("latency_ms", pa.float64())])
    return pa.concat_tables(parts) if parts else schema.empty_table()


def breakdown(trace: Trace, late: pa.Table, limit: int = 8) -> list[dict[str, Any]]:
    """Per late minibatch (its worst row), the time in each stage, worst first."""
    if late.num_rows == 0:
        return []
    worst = late.sort_by([("latency_ms", "descending")])
    _, first, counts = np.unique(worst["time"].to_numpy(), return_index=True,
                                 return_counts=True)
    order = np.argsort(first)[:limit]  # each time's worst row, worst first
    rows = worst.take(pa.array(first[order]))
    return [_stages(trace, row, int(count))
            for row, count in zip(rows.to_pylist(), counts[order], strict=True)]


def _stages(trace: Trace, row: dict[str, Any], count: int) -> dict[str, Any]:
    time, injected = row["time"], row["ts"] / 1e6
    marks = [injected,
             _first_read(trace, time, injected),
             _last(trace, "reader", "close", time),
             _first_past(trace, "operator", "frontier", time),
             _first_past(trace, "sink", "flushed", time),
             row["arrival"]]
    out: dict[str, Any] = {"time": time, "late_rows": count,
                           "latency_ms": round(row["latency_ms"])}
    previous = marks[0]
    for stage, mark in zip(STAGES, marks[1:], strict=True):
        if mark is None:
            out[stage] = None
            continue
        out[stage] = round((mark - previous) * 1e3)
        previous = mark
    return out


def _first_read(trace: Trace, time: int, injected: float) -> float | None:
    """The first read of minibatch ``time``, in any reader, at or after ``injected``."""
    found = [wall[(times == time) & (wall >= injected)]
             for wall, times in (actor.of("read") for actor in trace.get("reader", []))]
    found = [f for f in found if f.size]
    return float(min(f.min() for f in found)) if found else None


def _last(trace: Trace, kind: str, event: str, time: int) -> float | None:
    """The last ``event`` of ``time`` over every actor of ``kind``."""
    found = [wall[times == time] for wall, times in (a.of(event) for a in trace.get(kind, []))]
    found = [f for f in found if f.size]
    return float(max(f.max() for f in found)) if found else None


def _first_past(trace: Trace, kind: str, event: str, time: int) -> float | None:
    """When the last actor of ``kind`` had its first ``event`` past ``time``."""
    firsts = []
    for wall, frontiers in (a.of(event) for a in trace.get(kind, [])):
        past = wall[frontiers > time]
        if not past.size:
            return None
        firsts.append(float(past.min()))
    return max(firsts) if firsts else None


def render(stages: list[dict[str, Any]]) -> str:
    """The breakdown as a text table."""
    head = ["commit time", "late rows", "worst ms", *STAGES]
    lines = ["  ".join(f"{h:>11}" for h in head)]
    for s in stages:
        cells = [s["time"], s["late_rows"], s["latency_ms"], *(s[k] for k in STAGES)]
        lines.append("  ".join(f"{'-' if c is None else c:>11}" for c in cells))
    return "\n".join(lines)
