"""What one actor hop costs: CPU of sender and receiver per batch, by batch size (issue 13).

Two actors, as raystream's outbox talks to an operator: the sender calls
``receive.remote(port, sender, (Data(time, batch),))`` with at most 4 calls in
flight; the receiver touches the batch (``num_rows``) and returns. Batches
have raystream's dataflow shape: ``_key`` (uint64), ``_diff`` (int64) and two
int64 columns. CPU seconds come from ``/proc/<pid>/stat`` of both workers, the
raylet and the GCS, so they hold on a busy machine better than wall time.

Usage:
    python bench/hop_cost.py [--rows 1024,8192,65536,262144] [--total 2000000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_proc import cmdline, cpu_seconds  # noqa: E402
from proc_sampler import process_tree  # noqa: E402


@ray.remote(num_cpus=0)
class Receiver:
    """Counts rows of the batches it gets."""

    def __init__(self) -> None:
        self.rows = 0

    def pid(self) -> int:  # noqa: D102
        return os.getpid()

    def receive(self, port: int, sender: str, messages: tuple) -> None:  # noqa: D102
        for message in messages:
            self.rows += message.batch.num_rows


@ray.remote(num_cpus=0)
class Sender:
    """Sends ``count`` batches of ``rows`` rows to a receiver with a window of 4."""

    def pid(self) -> int:  # noqa: D102
        return os.getpid()

    def send(self, target: object, rows: int, count: int) -> float:  # noqa: D102
        from raystream.actors.messages import Data

        rng = np.random.default_rng(0)
        batch = pa.RecordBatch.from_arrays(
            [pa.array(rng.integers(0, 2**63, rows, dtype=np.uint64)),
             pa.array(np.ones(rows, np.int64)),
             pa.array(rng.integers(0, 1000, rows, dtype=np.int64)),
             pa.array(rng.integers(0, 10**6, rows, dtype=np.int64))],
            names=["_key", "_diff", "key", "value"])
        in_flight: deque = deque()
        start = time.perf_counter()
        for i in range(count):
            while len(in_flight) >= 4:
                ray.get(in_flight.popleft())
            in_flight.append(target.receive.remote(0, "0.0", (Data(i, batch),)))
        ray.get(list(in_flight))
        return time.perf_counter() - start


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def main() -> None:
    """Prints CPU per batch and per million rows for each batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1024,8192,65536,262144")
    parser.add_argument("--total", type=int, default=2_000_000)
    args = parser.parse_args()
    ray.init(logging_level=logging.WARNING, configure_logging=False)
    receiver, sender = Receiver.remote(), Sender.remote()
    pids = {"sender": ray.get(sender.pid.remote()), "receiver": ray.get(receiver.pid.remote())}
    for pid in process_tree(os.getpid()):
        name = cmdline(pid).split(b"\0")[0].decode(errors="replace").rsplit("/", 1)[-1]
        if name in ("raylet", "gcs_server"):
            pids[name] = pid
    print(f"load {os.getloadavg()[0]:.2f}")
    print(f"{'rows/batch':>10s} {'batches':>8s} {'wall s':>7s} {'rows/s':>11s} "
          + " ".join(f"{k + ' ms/b':>14s}" for k in pids) + "   CPU s per 1M rows (all)")
    for rows in (int(r) for r in args.rows.split(",")):
        count = max(args.total // rows, 300)
        ray.get(sender.send.remote(receiver, rows, 4))  # warm-up
        before = _cpu(pids)
        wall = ray.get(sender.send.remote(receiver, rows, count))
        after = _cpu(pids)
        spent = {k: after[k] - before[k] for k in pids}
        per_batch = " ".join(f"{1000 * v / count:14.3f}" for v in spent.values())
        per_million = sum(spent.values()) / (rows * count) * 1e6
        print(f"{rows:10d} {count:8d} {wall:7.2f} {rows * count / wall:11,.0f} {per_batch}"
              f"   {per_million:.3f}", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
