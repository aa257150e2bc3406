"""Vectorised, process-independent 64-bit hashing of rows.

Used for hash routing between actors and for row keys (primary keys, group
keys). Deterministic across processes and restarts: integers go through
splitmix64, everything else through pandas' keyed SipHash of the values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NULL_HASH = np.uint64(0x6A09E667F3BCC908)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """Mixes uint64 values into well-spread hashes (vectorised splitmix64)."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64, copy=True) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_array(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Hashes each value of one column to a uint64; nulls hash to a fixed value."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    typ = column.type
    if pa.types.is_integer(typ) or pa.types.is_boolean(typ) or pa.types.is_timestamp(typ) \
            or pa.types.is_duration(typ):
        ints = pc.cast(column, pa.int64()) if not pa.types.is_integer(typ) else column
        values = ints.fill_null(0).to_numpy(zero_copy_only=False).astype(np.uint64)
        hashed = splitmix64(values)
    elif pa.types.is_floating(typ):
        values = column.fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        hashed = splitmix64(values.view(np.uint64))
    else:
        import pandas as pd  # noqa: PLC0415 - slow import, only for non-numeric keys

        objects = column.to_pandas().to_numpy(dtype=object)
        if pa.types.is_list(typ) or pa.types.is_struct(typ):
            objects = np.array([repr(v) for v in objects], dtype=object)
        hashed = pd.util.hash_array(objects, categorize=False).astype(np.uint64)
    if column.null_count:
        nulls = column.is_null().to_numpy(zero_copy_only=False)
        hashed = np.where(nulls, _NULL_HASH, hashed)
    return hashed


def hash_columns(batch: pa.RecordBatch | pa.Table, columns: Sequence[str],
                 seed: int = 0) -> np.ndarray:
    """Combines the hashes of several columns into one uint64 per row.

    Args:
        batch: Rows to hash.
        columns: Column names, in order (order matters).
        seed: Distinguishes hash families (routing vs. keys of different tables).
    """
    acc = np.full(batch.num_rows, np.uint64(seed), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:
            acc = splitmix64(acc * np.uint64(31) ^ hash_array(batch.column(name)))
    return acc


def partition_of(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """Maps row hashes to partition numbers ``0 .. partitions-1``."""
    return ((hashes >> np.uint64(33)) % np.uint64(partitions)).astype(np.int64)
