"""Summaries (medians per case) and the printed tables.

Ratios are raystream / baseline: for throughput above 1 means raystream is
faster; for latency and memory below 1 means raystream is lower.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cases import Case
from runner import Result, median

FIGURES = ("startup_s", "window_s", "rows_per_s", "whole_s", "cpu_s", "p50_ms", "p99_ms",
           "max_ms", "peak_pipeline_mb", "peak_all_mb")


def summarise(case: Case, results: list[Result]) -> dict[str, Any]:
    """The case, its medians, and how many runs succeeded."""
    ok = [r for r in results if r.status == "ok"]
    summary: dict[str, Any] = {
        "key": case.key, "group": case.group, "source": case.source,
        "workload": case.workload, "rows": case.rows, "engine": case.engine,
        "kind": case.kind, "partitions": case.partitions, "readers": case.readers,
        "label": case.label, "runs": len(results), "ok_runs": len(ok),
        "problems": sorted({f"{r.status}: {r.problem}"[:300] for r in results
                            if r.status != "ok"}),
        "loadavg_1m": [r.loadavg[0] for r in results],
    }
    summary.update({f: median(results, f) for f in FIGURES})
    return summary


def _find(summaries: list[dict], **match: Any) -> dict | None:
    return next((s for s in summaries if all(s[k] == v for k, v in match.items())), None)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def _f(value: float | None, spec: str, width: int) -> str:
    return format(value, spec).rjust(width) if value is not None else "-".rjust(width)


def _table(title: str, header: list[tuple[str, int]], rows: Iterable[list[str]]) -> list[str]:
    lines = [f"\n{title}", " ".join(h.rjust(w) if i else h.ljust(w)
                                     for i, (h, w) in enumerate(header))]
    for row in rows:
        lines.append(" ".join(v.rjust(w) if i else v.ljust(w)
                              for i, (v, (_, w)) in enumerate(zip(row, header, strict=True))))
    return lines


def throughput_lines(summaries: list[dict]) -> list[str]:
    """The main throughput/memory table."""
    header = [("workload / engine", 30), ("start s", 7), ("window s", 8), ("rows/s", 10),
              ("whole s", 7), ("cpu s", 6), ("MB pipe", 7), ("MB all", 7), ("rs/pw", 6),
              ("rs/fl", 6), ("ok", 4)]
    rows: list[list[str]] = []
    blocks = sorted({(s["source"], s["workload"], s["rows"]) for s in summaries
                     if s["group"] == "main" and s["kind"] == "throughput"},
                    key=lambda b: (("files", "kafka", "kinesis").index(b[0]), b[1], b[2]))
    for source, workload, size in blocks:
        rows.append([f"{source} {workload} {size:,}", *[""] * (len(header) - 1)])
        same = dict(group="main", source=source, workload=workload, rows=size, kind="throughput")
        base = {e: _find(summaries, engine=e, **same) for e in ("pathway", "floor")}
        for engine in ("raystream", "pathway", "floor"):
            s = _find(summaries, engine=engine, **same)
            if s is None:
                continue
            rs = engine == "raystream"
            rows.append([
                f"  {engine}", _f(s["startup_s"], ".2f", 7), _f(s["window_s"], ".2f", 8),
                _f(s["rows_per_s"], ",.0f", 10), _f(s["whole_s"], ".2f", 7),
                _f(s["cpu_s"], ".1f", 6), _f(s["peak_pipeline_mb"], ".0f", 7),
                _f(s["peak_all_mb"], ".0f", 7),
                _ratio(s["rows_per_s"], (base["pathway"] or {}).get("rows_per_s")) if rs else "",
                _ratio(s["rows_per_s"], (base["floor"] or {}).get("rows_per_s")) if rs else "",
                f"{s['ok_runs']}/{s['runs']}"])
    return _table("Throughput (bulk input handed over at once; medians)", header, rows)


def latency_lines(summaries: list[dict], commit_ms: int) -> list[str]:
    """The latency table."""
    header = [("workload / engine", 30), ("rows/s", 7), ("p50 ms", 7), ("p99 ms", 7),
              ("max ms", 7), (f"p99<={commit_ms + 100}", 9), ("p99 rs/pw", 9),
              ("p99 rs/fl", 9), ("ok", 4)]
    rows: list[list[str]] = []
    blocks = sorted({(s["source"], s["workload"]) for s in summaries if s["kind"] == "latency"},
                    key=lambda b: (("files", "kafka", "kinesis").index(b[0]), b[1]))
    for source, workload in blocks:
        rows.append([f"{source} {workload}", *[""] * (len(header) - 1)])
        same = dict(source=source, workload=workload, kind="latency")
        base = {e: _find(summaries, engine=e, **same) for e in ("pathway", "floor")}
        for engine in ("raystream", "pathway", "floor"):
            s = _find(summaries, engine=engine, **same)
            if s is None:
                continue
            rs = engine == "raystream"
            target = "-" if s["p99_ms"] is None else \
                ("yes" if s["p99_ms"] <= commit_ms + 100 else "no")
            rows.append([
                f"  {engine}", f"{s['rows']:,}", _f(s["p50_ms"], ".0f", 7),
                _f(s["p99_ms"], ".0f", 7), _f(s["max_ms"], ".0f", 7), target if rs else "",
                _ratio(s["p99_ms"], (base["pathway"] or {}).get("p99_ms")) if rs else "",
                _ratio(s["p99_ms"], (base["floor"] or {}).get("p99_ms")) if rs else "",
                f"{s['ok_runs']}/{s['runs']}"])
    return _table(f"Latency (fixed input rate; injection to sink; autocommit {commit_ms} ms; "
                  "medians of runs)", header, rows)


def variant_lines(summaries: list[dict], group: str, title: str) -> list[str]:
    """The scaling, memory or knobs table (raystream variants).

    ``vs first`` is the throughput ratio to the first variant of the same
    workload and size (1 reader; no limit; defaults).
    """
    header = [("variant", 58), ("rows", 10), ("start s", 7), ("window s", 8), ("rows/s", 10),
              ("cpu s", 6), ("MB pipe", 7), ("MB all", 7), ("vs first", 8), ("ok", 4)]
    rows, first = [], {}
    for s in (s for s in summaries if s["group"] == group):
        base = first.setdefault((s["source"], s["workload"], s["rows"]), s)
        rows.append([f"  {s['source']} {s['workload']}: {s['label']}"[:58], f"{s['rows']:,}",
                     _f(s["startup_s"], ".2f", 7), _f(s["window_s"], ".2f", 8),
                     _f(s["rows_per_s"], ",.0f", 10), _f(s["cpu_s"], ".1f", 6),
                     _f(s["peak_pipeline_mb"], ".0f", 7), _f(s["peak_all_mb"], ".0f", 7),
                     _ratio(s["rows_per_s"], base["rows_per_s"]), f"{s['ok_runs']}/{s['runs']}"])
    return _table(title, header, rows) if rows else []


def problem_lines(summaries: list[dict]) -> list[str]:
    """Every failed run's reason."""
    lines = [f"  {s['key']}: {p}" for s in summaries for p in s["problems"]]
    return ["\nProblems:", *lines] if lines else []


def render(summaries: list[dict], commit_ms: int) -> str:
    """Every table as text."""
    lines = throughput_lines(summaries) + latency_lines(summaries, commit_ms)
    lines += variant_lines(summaries, "scaling",
                           "Scaling: Kafka groupby, 8 partitions, raystream parallel_readers")
    lines += variant_lines(summaries, "memory",
                           "Memory: Kafka groupby, raystream, input size vs max_backlog_size")
    lines += variant_lines(summaries, "knobs", "raystream options (same run; vs its defaults)")
    return "\n".join(lines + problem_lines(summaries))
