"""Snapshots of the reduce kernel's state as Arrow tables, and restoring them.

Tables (each with ``_kg``, the key group of the row's group, computed from the
group columns exactly as hash routing computes it; 0 for a global reduce):

* ``groups``: one row per group: ``_g`` (group hash), ``_count``, and per
  linear aggregate ``i`` its running sum ``_s<i>`` (and ``_n<i>``, the
  non-None count, for ``avg``);
* ``multiset<i>``: per multiset aggregate, one row per (group, value):
  ``_g``, ``_v``, ``_m`` (multiplicity);
* ``keyed<i>``: per keyed aggregate, one row per (group, row key): ``_g``,
  ``_k``, ``_v``, ``_t`` (insertion time), ``_m``.

A snapshot copies the numpy arrays (the kernel updates them in place) and
wraps them in tables: no per-row Python. Restoring concatenates what it is
given (possibly the tables of several old instances) and sorts by group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.actors.kernels.base import KernelState
from raystream.actors.kernels.partial import nonnull_name, sum_name
from raystream.actors.kernels.reduce_entries import G, K, M, V
from raystream.actors.routing import KEY_GROUP

if TYPE_CHECKING:
    from raystream.actors.kernels.reduce import ReduceKernel

GROUPS = "groups"
COUNT = "_count"


class StateError(ValueError):
    """A snapshot does not fit the kernel restoring it (names the table and column)."""


def snapshot_reduce(kernel: ReduceKernel) -> KernelState:
    """The kernel's applied state as tables (pending times are not included)."""
    groups = kernel.groups
    columns: dict[str, pa.Array] = {
        KEY_GROUP: pa.array(groups.kg.copy(), pa.uint16()),
        G: pa.array(groups.hashes.copy(), pa.uint64()),
        COUNT: pa.array(groups.count.copy(), pa.int64())}
    for i in kernel.layout.summed:
        columns[sum_name(i)] = pa.array(_or_zeros(groups.sums.get(i), len(groups)).copy())
    for i in kernel.layout.averaged:
        columns[nonnull_name(i)] = pa.array(_or_zeros(groups.nonnull.get(i), len(groups)).copy())
    out = {GROUPS: pa.table(columns)}
    for name, entries in _entry_states(kernel):
        table = entries.table
        if table is None:
            continue
        at = np.searchsorted(groups.hashes, _np(table.column(G)))
        kg = groups.kg[np.minimum(at, max(len(groups) - 1, 0))] if len(groups) else \
            np.zeros(table.num_rows, np.uint16)
        out[name] = table.add_column(0, KEY_GROUP, pa.array(kg, pa.uint16()))
    return out


def restore_reduce(kernel: ReduceKernel, state: KernelState) -> None:
    """Rebuilds the kernel's state from :func:`snapshot_reduce` tables.

    Raises:
        StateError: A table lacks a column the kernel needs, or holds a group twice.
    """
    table = state.get(GROUPS)
    groups = kernel.groups
    if table is None:
        groups.replace(np.empty(0, np.uint64), np.empty(0, np.uint16), np.empty(0, np.int64),
                       {}, {})
    else:
        _require(table, GROUPS, [KEY_GROUP, G, COUNT]
                 + [sum_name(i) for i in kernel.layout.summed]
                 + [nonnull_name(i) for i in kernel.layout.averaged])
        hashes = _np(table.column(G)).astype(np.uint64)
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        if len(hashes) > 1 and (hashes[1:] == hashes[:-1]).any():
            raise StateError(f"state table {GROUPS!r} holds a group twice")
        groups.replace(hashes, _np(table.column(KEY_GROUP)).astype(np.uint16)[order],
                       _np(table.column(COUNT)).astype(np.int64)[order],
                       {i: _np(table.column(sum_name(i)))[order] for i in kernel.layout.summed},
                       {i: _np(table.column(nonnull_name(i))).astype(np.int64)[order]
                        for i in kernel.layout.averaged})
    for name, entries in _entry_states(kernel):
        part = state.get(name)
        if part is None:
            entries.table = None
            continue
        keyed = name.startswith("keyed")
        _require(part, name, [G, K, V, "_t", M] if keyed else [G, V, M])
        part = part.drop_columns([KEY_GROUP]) if KEY_GROUP in part.column_names else part
        second = (K, "ascending") if keyed else (V, "ascending", "at_start")
        order = pc.sort_indices(part, sort_keys=[(G, "ascending"), second])
        entries.table = part.take(order).combine_chunks()


def _entry_states(kernel: ReduceKernel) -> list:
    return [(f"multiset{i}", s) for i, s in kernel.multisets.items()] + \
        [(f"keyed{i}", s) for i, s in kernel.keyed.items()]


def _require(table: pa.Table, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise StateError(f"state table {name!r} lacks columns {missing} "
                         f"(has {table.column_names})")


def _or_zeros(values: np.ndarray | None, n: int) -> np.ndarray:
    return values if values is not None else np.zeros(n, np.int64)


def _np(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.to_numpy(zero_copy_only=False)
