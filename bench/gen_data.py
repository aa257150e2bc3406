"""Deterministic JSON-lines generator for the file benchmarks.

Each line is ``{"key": K, "value": V}`` with ``K`` uniform in ``0..999`` and ``V``
uniform in ``0..999_999`` (non-negative, so ``value % 3`` means the same in every
engine). The same ``--seed`` and ``--rows`` always give byte-identical files.

Lines are built in bulk with numpy (random numbers) and pyarrow.compute (string
concatenation), one chunk of rows at a time, so 5M rows take about a second.

Usage:
    python bench/gen_data.py --rows 1000000 --out bench/data/rows_1000000.jsonl
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NUM_KEYS = 1000
MAX_VALUE = 1_000_000
CHUNK_ROWS = 1_000_000


def _chunk_bytes(keys: np.ndarray, values: np.ndarray) -> pa.Buffer:
    """Render one chunk of rows as newline-terminated JSON lines.

    Args:
        keys: int64 keys.
        values: int64 values, same length as ``keys``.

    Returns:
        A buffer holding the concatenated lines.
    """
    lines = pc.binary_join_element_wise(
        '{"key": ',
        pa.array(keys).cast(pa.string()),
        ', "value": ',
        pa.array(values).cast(pa.string()),
        "}\n",
        "",  # separator (last argument)
    )
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2][start:end]


def generate(rows: int, out: Path, seed: int = 0) -> None:
    """Write ``rows`` deterministic JSON lines to ``out`` (atomically).

    Args:
        rows: number of lines to write.
        out: destination path; parent directories are created.
        seed: random seed.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    rng = np.random.default_rng(seed)
    with open(tmp, "wb") as f:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            keys = rng.integers(0, NUM_KEYS, size=n, dtype=np.int64)
            values = rng.integers(0, MAX_VALUE, size=n, dtype=np.int64)
            f.write(_chunk_bytes(keys, values))
    os.replace(tmp, out)


def main() -> None:
    """Parse arguments and generate the file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generate(args.rows, args.out, args.seed)


if __name__ == "__main__":
    main()
