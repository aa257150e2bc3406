"""Snapshot cost of a reduce's state: time to snapshot and restore, Arrow IPC size.

Builds a ``sum`` + ``count`` reduce over ``--groups`` groups (one int64 group
column), then times :meth:`ReduceKernel.snapshot`, writing the tables as an
Arrow IPC stream (zstd), reading them back and :meth:`ReduceKernel.restore`.

Usage:
    python bench/reduce_snapshot.py --groups 1000000
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.reduce import AggSpec, ReduceKernel
from raystream.connectors.batch import DIFF, KEY

AGGS = [AggSpec("total", "sum", "v", pa.int64()), AggSpec("n", "count", None, pa.int64())]


def filled_kernel(groups: int, rows_per_batch: int = 1 << 20) -> ReduceKernel:
    """A kernel whose state holds ``groups`` groups (two rows each)."""
    kernel = ReduceKernel(["g"], AGGS, [pa.int64()])
    rng = np.random.default_rng(0)
    keys = np.arange(2 * groups, dtype=np.uint64)
    group = np.concatenate([np.arange(groups), rng.permutation(groups)]).astype(np.int64)
    values = rng.integers(0, 1_000_000, 2 * groups)
    for time_, start in enumerate(range(0, 2 * groups, rows_per_batch)):
        end = start + rows_per_batch
        kernel.on_data(0, time_, pa.record_batch({
            KEY: pa.array(keys[start:end]), DIFF: pa.array(np.ones(len(keys[start:end]),
                                                                   np.int64)),
            "g": pa.array(group[start:end]), "v": pa.array(values[start:end])}))
        kernel.on_frontier(time_ + 1)
    return kernel


def ipc_bytes(state: dict[str, pa.Table]) -> dict[str, bytes]:
    """Each table as an Arrow IPC stream, zstd-compressed."""
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    out = {}
    for name, table in state.items():
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        out[name] = sink.getvalue()
    return out


def main() -> None:
    """Prints snapshot, serialise, read and restore times and the stream size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kernel = filled_kernel(args.groups)
    assert len(kernel.groups) == args.groups
    timings: dict[str, list[float]] = {"snapshot": [], "ipc write": [], "ipc read": [],
                                       "restore": []}
    for _ in range(args.repeat):
        start = time.perf_counter()
        state = kernel.snapshot()
        timings["snapshot"].append(time.perf_counter() - start)
        start = time.perf_counter()
        blobs = ipc_bytes(state)
        timings["ipc write"].append(time.perf_counter() - start)
        start = time.perf_counter()
        tables = {n: pa.ipc.open_stream(b).read_all() for n, b in blobs.items()}
        timings["ipc read"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ReduceKernel(["g"], AGGS, [pa.int64()]).restore(tables)
        timings["restore"].append(time.perf_counter() - start)
    raw = sum(t.nbytes for t in state.values())
    size = sum(len(b) for b in blobs.values())
    print(f"groups: {args.groups:,}; state tables: "
          + ", ".join(f"{n} {t.num_rows:,} rows x {t.num_columns} columns"
                      for n, t in state.items()))
    for name, values in timings.items():
        print(f"{name}: median {1000 * float(np.median(values)):.1f} ms "
              f"(min {1000 * min(values):.1f}, {args.repeat} runs)")
    print(f"in memory {raw / 1e6:.1f} MB; Arrow IPC stream (zstd) {size / 1e6:.1f} MB "
          f"({size / args.groups:.1f} bytes per group)")


if __name__ == "__main__":
    main()
