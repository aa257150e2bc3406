"""Runs bench/startup_phases.py against a private running Ray cluster (``RAY_ADDRESS``).

The cluster is one head node started by ``tests/services/ray_cluster.py``
(``ray start --head --block`` in its own session, its own temp dir and ports,
token auth disabled) and stopped by its process group afterwards.

Usage:
    python bench/startup_cluster.py --runs 3 [--probe] [--cpus 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services.ray_cluster import LocalRayCluster  # noqa: E402


def main() -> None:
    """Starts the cluster, runs the phase timer against it, stops the cluster."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--json", default=str(ROOT / "bench/results/startup-cluster.json"))
    args = parser.parse_args()
    started = time.time()
    cluster = LocalRayCluster(workers=0, cpus_per_node=args.cpus).start()
    print(f"cluster up in {time.time() - started:.1f} s at {cluster.gcs_address}", flush=True)
    try:
        time.sleep(5)  # let the head's prestarted workers come up, as on a cluster in use
        argv = [sys.executable, str(ROOT / "bench/startup_phases.py"), "--runs", str(args.runs),
                "--json", args.json] + (["--probe"] if args.probe else [])
        subprocess.run(argv, env=cluster.env(**{k: v for k, v in os.environ.items()
                                                if k.startswith("PY_SPY")}), check=False)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
