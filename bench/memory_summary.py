"""Prints the per-role memory of ``bench/profile_case.py --mode memory`` summaries.

For each ``summary.json``: PSS (anon / file / shmem) per role at the moment the
pipeline's summed PSS peaked, each process's own peak, and the sum over time.

Usage:
    python bench/memory_summary.py bench/results/profile/<case>-memory-0/summary.json [...]
"""

from __future__ import annotations

import collections
import json
import sys

PARTS = ("Pss", "Pss_Anon", "Pss_File", "Pss_Shmem")


def show(path: str) -> None:
    """Prints one summary."""
    s = json.load(open(path))  # noqa: SIM115 - a short script
    print(f"\n{s['case']} peak pipeline {s['peak_pipeline_mb']:.0f} MB  rows/s "
          f"{s['rows_per_s']:.0f} load {s['load_before'][0]:.1f}")
    roles: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for m in s["at_peak"].values():
        role = m["role"] + ("" if m["pipeline"] else " (system)")
        roles[role]["n"] += 1
        for k in PARTS:
            roles[role][k] += m.get(k, 0)
    print(f"  {'role at the peak':34s} {'n':>3s} {'PSS MB':>8s} {'anon':>7s} {'file':>7s} "
          f"{'shmem':>7s} {'per proc':>8s}")
    total: collections.Counter = collections.Counter()
    for role, c in sorted(roles.items(), key=lambda kv: -kv[1]["Pss"]):
        print(f"  {role:34s} {c['n']:3d} " + " ".join(f"{c[k] / 1024:7.0f}" for k in PARTS)
              + f" {c['Pss'] / 1024 / c['n']:8.0f}")
        total.update(c)
    print(f"  {'all':34s} {total['n']:3d} " + " ".join(f"{total[k] / 1024:7.0f}" for k in PARTS))
    peaks: dict[str, list[float]] = collections.defaultdict(list)
    for m in s["per_process_peak"].values():
        peaks[m["role"]].append(m.get("Pss", 0) / 1024)
    print("  own peak PSS MB: " + "; ".join(
        f"{r}: {', '.join(f'{v:.0f}' for v in sorted(vs))}" for r, vs in peaks.items()))
    series = s["series"]
    if series:
        t0, step = series[0][0], max(1, len(series) // 25)
        print("  pipeline PSS over time (s:MB): " + " ".join(
            f"{t - t0:.0f}:{p / 1024:.0f}" for t, p, _ in series[::step]))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        show(arg)
