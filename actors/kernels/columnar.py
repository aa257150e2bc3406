"""Vectorised helpers shared by the stateful kernels: segments, equality, changelogs.

State kept sorted by a uint64 key (a group hash, a row key) is processed in
*segments*: runs of equal keys. Nothing here loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def segment_starts(sorted_keys: np.ndarray, *more_breaks: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal keys begins (0 included unless empty).

    Args:
        sorted_keys: Keys sorted so that equal keys are adjacent.
        more_breaks: Boolean arrays of length ``n - 1``: ``True`` at ``i`` also
            starts a run at ``i + 1`` (for runs keyed by several columns).
    """
    n = len(sorted_keys)
    if n == 0:
        return np.empty(0, np.int64)
    breaks = sorted_keys[1:] != sorted_keys[:-1]
    for extra in more_breaks:
        breaks |= extra
    return np.concatenate([[0], np.flatnonzero(breaks) + 1]).astype(np.int64)


def segment_ends(starts: np.ndarray, n: int) -> np.ndarray:
    """The last index of each run, given the run starts of ``n`` rows."""
    if len(starts) == 0:
        return starts
    return np.append(starts[1:], n) - 1


def segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The sum of each run, adding in index order (exact for integers)."""
    if len(starts) == 0:
        return np.zeros(0, values.dtype)
    return np.add.reduceat(values, starts)


def rows_in_ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The concatenation of ``range(lo[j], hi[j])`` for every ``j``."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(lo - offsets, lengths)


def rows_of_keys(sorted_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``sorted_keys`` whose key is in ``wanted`` (sorted, unique)."""
    lo = np.searchsorted(sorted_keys, wanted, side="left")
    hi = np.searchsorted(sorted_keys, wanted, side="right")
    return rows_in_ranges(lo, hi)


def locate(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in unique ``sorted_keys`` and whether each is there."""
    pos = np.searchsorted(sorted_keys, keys)
    if len(sorted_keys) == 0:
        return pos, np.zeros(len(keys), bool)
    found = sorted_keys[np.minimum(pos, len(sorted_keys) - 1)] == keys
    return pos, found & (pos < len(sorted_keys))


def equal_values(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Row-wise equality of two aligned arrays; two nulls are equal.

    Lists compare by length and items (recursively); other types with Arrow's
    ``equal``.
    """
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if isinstance(b, pa.ChunkedArray):
        b = b.combine_chunks()
    both_null = (a.is_null().to_numpy(zero_copy_only=False)
                 & b.is_null().to_numpy(zero_copy_only=False))
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):
        return _equal_lists(a, b) | both_null
    if pa.types.is_null(a.type) or pa.types.is_null(b.type):
        return both_null
    try:
        eq = pc.equal(a, b).fill_null(False).to_numpy(zero_copy_only=False)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # structs, maps...: row by row
        eq = np.array([x == y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)],
                      dtype=bool)
    return eq | both_null


def _equal_lists(a: pa.Array, b: pa.Array) -> np.ndarray:
    la = pc.fill_null(pc.list_value_length(a), -1).to_numpy(zero_copy_only=False)
    lb = pc.fill_null(pc.list_value_length(b), -1).to_numpy(zero_copy_only=False)
    same = la == lb
    if not same.any():
        return same
    rows = np.flatnonzero(same)
    a2, b2 = a.take(pa.array(rows)), b.take(pa.array(rows))
    items = equal_values(pc.list_flatten(a2), pc.list_flatten(b2))
    lengths = np.maximum(la[rows], 0)
    mismatches = np.concatenate([[0], np.cumsum(~items)])
    ends = np.cumsum(lengths)
    same[rows] = (mismatches[ends] - mismatches[ends - lengths]) == 0
    return same


def adjacent_equal(values: pa.Array) -> np.ndarray:
    """``out[i]``: row ``i + 1`` equals row ``i`` (length ``n - 1``)."""
    if len(values) < 2:
        return np.zeros(0, bool)
    return equal_values(values.slice(1), values.slice(0, len(values) - 1))


def scatter(values: pa.Array, positions: np.ndarray, size: int) -> pa.Array:
    """An array of ``size`` nulls with ``values[j]`` at ``positions[j]``."""
    index = np.full(size, -1, np.int64)
    index[positions] = np.arange(len(positions))
    return values.take(pa.array(index, mask=index < 0))


def interleave(retract: np.ndarray, insert: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Changelog order over ``n`` entities: each one's retraction, then its insertion.

    Args:
        retract: Entities whose old row is retracted.
        insert: Entities whose new row is inserted.

    Returns:
        ``(rows, diffs)``: indices into ``concat(old rows, new rows)`` (old row of
        entity ``j`` at ``j``, new row at ``n + j``) and the diff of each.
    """
    n = len(retract)
    j = np.arange(n, dtype=np.int64)
    both = np.stack([np.where(retract, j, -1), np.where(insert, n + j, -1)], axis=1).ravel()
    rows = both[both >= 0]
    return rows, np.where(rows < n, -1, 1).astype(np.int64)


def concat_arrays(arrays: Sequence[pa.Array], typ: pa.DataType) -> pa.Array:
    """Concatenates arrays after casting each to ``typ``."""
    return pa.concat_arrays([a if a.type == typ else a.cast(typ) for a in arrays])
