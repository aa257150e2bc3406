"""What a reduce computes: one :class:`AggSpec` per reducer, and the reducer families.

Reducers fall into three families by the state they need:

* linear (``count``, ``sum``, ``avg``): running sums, updated by adding;
* multiset (``min``, ``max``, ``count_distinct``, ``sorted_tuple``, ``unique``,
  ``exact_sum``: a strict float sum): value -> multiplicity per group;
* keyed (``any``, ``tuple``, ``earliest``, ``latest``, ``argmin``, ``argmax``):
  row key -> (value, insertion time) per group.

Linear and multiset reducers are *combinable*: a batch can be pre-aggregated
into partial rows (see :mod:`raystream.actors.kernels.partial`) before it is
shuffled. Keyed reducers need the row keys, so they travel as raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

LINEAR = frozenset({"sum", "count", "avg"})
MULTISET = frozenset({"min", "max", "count_distinct", "sorted_tuple", "unique", "exact_sum"})
KEYED = frozenset({"any", "tuple", "earliest", "latest", "argmin", "argmax"})


@dataclass(frozen=True)
class AggSpec:
    """One aggregation for the reduce kernel.

    Attributes:
        out: Output column name.
        kind: Reducer name (``sum``, ``count``, ``min``...).
        column: Input column it aggregates (None for ``count``).
        arrow: Arrow type of the result.
        skip_nones: For ``tuple``-like reducers: leave None values out.
    """

    out: str
    kind: str
    column: str | None
    arrow: pa.DataType
    skip_nones: bool = False


class ReduceError(ValueError):
    """A reducer could not produce a value (e.g. ``unique`` over different values)."""


def combinable(aggs: Sequence[AggSpec]) -> bool:
    """True if every aggregate can be pre-aggregated per batch (no keyed reducer)."""
    return all(agg.kind in LINEAR or agg.kind in MULTISET for agg in aggs)


def sum_dtype(value_type: pa.DataType | None) -> np.dtype:
    """The numpy type of running sums over values of ``value_type``.

    Integers, booleans, durations and timestamps sum exactly in int64 (wrapping
    on overflow, as Arrow's ``sum`` does); floats in float64; a column of only
    None values (type null) sums to 0.

    Raises:
        TypeError: For a type without a numpy sum (decimals, strings...).
    """
    if value_type is None or pa.types.is_null(value_type):
        return np.dtype(np.int64)
    if pa.types.is_floating(value_type):
        return np.dtype(np.float64)
    if (pa.types.is_integer(value_type) or pa.types.is_boolean(value_type)
            or pa.types.is_duration(value_type) or pa.types.is_timestamp(value_type)):
        return np.dtype(np.int64)
    raise TypeError(f"pw.reducers.sum/avg cannot sum values of type {value_type}")


def sum_column(values: pa.Array | pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    """The values of a column as numbers to sum (None counts as 0)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    typ = values.type
    if pa.types.is_null(typ):
        return np.zeros(len(values), dtype)
    if pa.types.is_duration(typ) or pa.types.is_timestamp(typ) or pa.types.is_boolean(typ):
        values = values.cast(pa.int64())
    filled = values.fill_null(0) if values.null_count else values
    return filled.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
