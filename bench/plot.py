"""Draws benchmark results as one PNG: throughput, latency, memory, scaling, end to end.

Takes one or more ``bench/run_bench.py`` result files (their summaries are
merged, so throughput, latency and memory may come from separate runs; the
title shows the first file's settings) and, with ``--e2e``, a
``bench/end_to_end.py`` result file for a fifth panel.

Needs matplotlib, which ``bench/run_all.sh`` installs into the benchmark venv
(``bench/.venv-pathway``) only; raystream itself does not depend on it.

Usage:
    bench/.venv-pathway/bin/python bench/plot.py bench/results/bench.json bench/results/bench.png
    bench/.venv-pathway/bin/python bench/plot.py a.json b.json out.png \
        --e2e bench/results/end_to_end.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ENGINES = ("raystream", "pathway", "floor")
COLORS = {"raystream": "#1f77b4", "pathway": "#ff7f0e", "floor": "#7f7f7f"}


def _label(s: dict[str, Any], size: bool = True) -> str:
    short = {"filter_select": "filter", "groupby": "groupby", "global_sum": "sum",
             "filter_groupby": "filt+grp"}[s["workload"]]
    rows = s["rows"]
    text = f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"
    return f"{s['source']}\n{short}" + (f" {text}" if size else "")


def _bars(ax: Any, summaries: list[dict], kind: str, value: str, title: str,
          ylabel: str, size: bool = True) -> None:
    """Grouped bars: one group per workload, one bar per engine."""
    rows = [s for s in summaries if s["group"] == "main" and s["kind"] == kind]
    groups = sorted({(s["source"], s["workload"], s["rows"]) for s in rows},
                    key=lambda g: (("files", "kafka", "kinesis").index(g[0]), g[1], g[2]))
    width = 0.27
    for i, engine in enumerate(ENGINES):
        xs, ys = [], []
        for j, group in enumerate(groups):
            s = next((r for r in rows if (r["source"], r["workload"], r["rows"]) == group
                      and r["engine"] == engine), None)
            if s is not None and s.get(value) is not None:
                xs.append(j + (i - 1) * width)
                ys.append(s[value])
        if xs:  # an engine without figures gets no legend entry
            ax.bar(xs, ys, width, label=engine, color=COLORS[engine])
    labels = [_label({"source": g[0], "workload": g[1], "rows": g[2]}, size) for g in groups]
    ax.set_xticks(range(len(groups)), labels, fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def _latency(ax: Any, summaries: list[dict], commit_ms: int) -> None:
    _bars(ax, summaries, "latency", "p99_ms", "End-to-end latency p99 (dots: p50)", "ms",
          size=False)
    rows = [s for s in summaries if s["group"] == "main" and s["kind"] == "latency"]
    groups = sorted({(s["source"], s["workload"]) for s in rows},
                    key=lambda g: (("files", "kafka", "kinesis").index(g[0]), g[1]))
    for i, engine in enumerate(ENGINES):
        for j, group in enumerate(groups):
            s = next((r for r in rows if (r["source"], r["workload"]) == group
                      and r["engine"] == engine), None)
            if s is not None and s.get("p50_ms") is not None:
                ax.plot(j + (i - 1) * 0.27, s["p50_ms"], "k.", markersize=5)
    ax.axhline(commit_ms + 100, color="red", linewidth=0.8, linestyle="--")
    ax.text(-0.4, commit_ms + 110, f"target: commit {commit_ms} ms + 100 ms", fontsize=7,
            color="red")
    ax.set_yscale("log")


def _scaling(ax: Any, summaries: list[dict]) -> None:
    rows = sorted((s for s in summaries if s["group"] == "scaling"), key=lambda s: s["readers"])
    if rows:
        ax.plot([s["readers"] for s in rows], [s["rows_per_s"] or 0 for s in rows], "o-",
                color=COLORS["raystream"], label="rows/s")
        ax.set_xticks([s["readers"] for s in rows])
    ax.set_title("Scaling: Kafka groupby, 8 partitions", fontsize=10)
    ax.set_xlabel("raystream parallel_readers")
    ax.set_ylabel("rows/s")
    ax.set_ylim(bottom=0)
    memory = [s for s in summaries if s["group"] == "memory"]
    if memory:
        text = "\n".join(f"{s['label']}: {s['rows']:,} rows -> peak {s['peak_pipeline_mb']:.0f} MB"
                         for s in memory if s.get("peak_pipeline_mb"))
        ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=7)


def _end_to_end(ax: Any, e2e: dict[str, Any]) -> None:
    """Seconds from launch to exit (files) or to the last output (Kafka), per engine."""
    cases = list(e2e["summary"])
    width = 0.27
    for i, engine in enumerate(ENGINES):
        xs = [j + (i - 1) * width for j, c in enumerate(cases) if engine in e2e["summary"][c]]
        ys = [e2e["summary"][c][engine]["seconds"] for c in cases if engine in e2e["summary"][c]]
        ax.bar(xs, ys, width, label=engine, color=COLORS[engine])
    sizes = {"files": e2e["rows"], "kafka": e2e["messages"]}
    labels = [f"{c.replace('_', chr(10), 1)}\n{sizes[c.split('_')[0]] // 1_000_000}M"
              for c in cases]
    ax.set_xticks(range(len(cases)), labels, fontsize=7)
    ax.set_title("End to end: script launch to exit / last output (lower is better)",
                 fontsize=10)
    ax.set_ylabel("s")
    ax.legend(fontsize=7)


def main(sources: list[Path], target: Path, e2e: Path | None = None) -> None:
    """Reads the results and writes the PNG."""
    loaded = [json.loads(source.read_text()) for source in sources]
    summaries = [s for data in loaded for s in data["summary"]]
    meta = loaded[0]["meta"]
    rows = 3 if e2e is not None else 2
    fig, axes = plt.subplots(rows, 2, figsize=(14, 4.5 * rows))
    _bars(axes[0][0], summaries, "throughput", "rows_per_s",
          "Throughput (bulk input, first input to last output; log scale)", "rows/s")
    axes[0][0].set_yscale("log")
    _latency(axes[0][1], summaries, meta["commit_ms"])
    _bars(axes[1][0], summaries, "throughput", "peak_pipeline_mb",
          "Peak memory, PSS of the engine's processes (raystream: driver + actors)", "MB")
    _scaling(axes[1][1], summaries)
    if e2e is not None:
        _end_to_end(axes[2][0], json.loads(e2e.read_text()))
        axes[2][1].axis("off")
    load = meta.get("loadavg_start", [0])[0]
    fig.suptitle(f"raystream vs Pathway {meta.get('pathway')} vs floor; {meta['cpus']} CPUs; "
                 f"medians of {meta['runs']} runs; load at start {load:.2f}", fontsize=11)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="result files, then the PNG")
    parser.add_argument("--e2e", type=Path, default=None)
    args = parser.parse_args()
    main(args.paths[:-1], args.paths[-1], args.e2e)
