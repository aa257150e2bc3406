"""The floor: the file workloads in one plain Python process with pyarrow.

No framework, no streaming, no changelog bookkeeping: read the whole file with
``pyarrow.json`` (multi-threaded), compute with ``pyarrow.compute`` / numpy,
write JSON lines rendered in bulk. This is the lower bound a framework is
compared against. Output has the same format as Pathway's ``pw.io.jsonlines.write``:
compact JSON objects, the result columns in order, then ``"diff":1`` and
``"time":<ms timestamp>``.

Prints one JSON line ``{"engine": "floor", "workload": ..., "rows": ..., "seconds": ...}``
with ``seconds`` measured from the start of reading to the end of writing
(imports excluded).

Usage:
    python bench/floor/files_floor.py --workload groupby --input in.jsonl --output out.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.acero  # noqa: F401 - loaded here so the timed part does not pay for it
import pyarrow.compute as pc
import pyarrow.json as pj

INPUT_SCHEMA = pa.schema([("key", pa.int64()), ("value", pa.int64())])
BLOCK_SIZE = 4 << 20
WRITE_BATCH_ROWS = 256 * 1024
THREADS = os.cpu_count() or 1


def read_input(path: str) -> pa.Table:
    """Read the input JSON lines with a fixed schema.

    Args:
        path: input file.

    Returns:
        A table with int64 columns ``key`` and ``value``.
    """
    return pj.read_json(
        path,
        read_options=pj.ReadOptions(block_size=BLOCK_SIZE),
        parse_options=pj.ParseOptions(explicit_schema=INPUT_SCHEMA),
    )


def compute(table: pa.Table, workload: str) -> pa.Table:
    """Run one workload on the whole input table.

    Args:
        table: the input table.
        workload: ``"filter_select"`` or ``"groupby"``.

    Returns:
        The result columns, in output order.
    """
    value = table["value"]
    # value % 3 != 0 without a modulo kernel; the test is sign-independent.
    kept = table.filter(pc.not_equal(pc.subtract(value, pc.multiply(pc.divide(value, 3), 3)), 0))
    if workload == "filter_select":
        return pa.table({"key": kept["key"], "doubled": pc.multiply(kept["value"], 2)})
    if workload == "groupby":
        agg = kept.group_by("key").aggregate([("value", "sum"), ("value", "count")])
        return pa.table({"key": agg["key"], "total": agg["value_sum"], "n": agg["value_count"]})
    raise ValueError(f"unknown workload {workload!r}")


def _render(batch: pa.RecordBatch, timestamp: int) -> pa.Buffer:
    """Render integer columns as Pathway-style JSON lines with ``diff`` and ``time``.

    Args:
        batch: integer result columns.
        timestamp: value of the ``time`` column.

    Returns:
        A buffer holding the newline-terminated lines.
    """
    parts: list[object] = []
    for i, name in enumerate(batch.schema.names):
        parts.append(("{" if i == 0 else ",") + f'"{name}":')
        parts.append(batch.column(i).cast(pa.string()))
    parts.append(f',"diff":1,"time":{timestamp}}}\n')
    lines = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2][start:end]


def write_jsonlines(table: pa.Table, path: str, timestamp: int) -> None:
    """Write the result as JSON lines, rendering batches on all cores, in order.

    Args:
        table: integer result columns.
        path: output file.
        timestamp: value of the ``time`` column.
    """
    batches = table.to_batches(max_chunksize=WRITE_BATCH_ROWS)
    with ThreadPoolExecutor(THREADS) as pool, open(path, "wb") as f:
        for buf in pool.map(lambda b: _render(b, timestamp), batches):
            f.write(buf)


def main() -> None:
    """Parse arguments, run the workload and report the timing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["filter_select", "groupby"], required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    start = time.perf_counter()
    table = read_input(args.input)
    result = compute(table, args.workload)
    write_jsonlines(result, args.output, timestamp=int(time.time() * 1000) // 2 * 2)
    seconds = time.perf_counter() - start
    record = {"engine": "floor", "workload": args.workload, "rows": table.num_rows}
    print(json.dumps({**record, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
