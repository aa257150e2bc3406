"""The groups of a reduce and their linear aggregates, as numpy arrays sorted by group hash.

A group is identified by its 64-bit hash (:func:`~partial.group_hashes`).
Per group the state holds its key group (``kg``, for snapshots), its row
count and the running sums of the ``sum``/``avg`` aggregates. Group *values*
are not state: a group's output rows are only emitted when it changes, and
then the time's input rows carry its values.

Applying one commit time's :class:`LinearDelta` touches only the groups it
names: positions by binary search, sums by vectorised adds; arrays are only
rebuilt (O(groups)) when groups are born or die.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from raystream.actors.kernels.columnar import locate


@dataclass
class LinearDelta:
    """One time's changes to the linear state, per group.

    Attributes:
        hashes: The groups touched, sorted, unique.
        count: Change of each group's row count.
        sums: Per ``sum``/``avg`` aggregate, change of each group's sum.
        nonnull: Per ``avg`` aggregate, change of each group's non-None count.
    """

    hashes: np.ndarray
    count: np.ndarray
    sums: dict[int, np.ndarray]
    nonnull: dict[int, np.ndarray]


@dataclass
class LinearValues:
    """Linear aggregates of some groups (before or after a time)."""

    count: np.ndarray
    sums: dict[int, np.ndarray]
    nonnull: dict[int, np.ndarray]


@dataclass
class GroupChange:
    """What applying a delta did, aligned with ``LinearDelta.hashes``.

    Attributes:
        existed: The group had rows before the time.
        alive: The group has rows after the time (a count above 0).
        old: Linear values of the groups that existed (``hashes[existed]``).
        new: Linear values of the groups alive after (``hashes[alive]``).
    """

    existed: np.ndarray
    alive: np.ndarray
    old: LinearValues
    new: LinearValues


class GroupIndex:
    """Every group with rows, sorted by hash, with its count and sums."""

    def __init__(self) -> None:
        self.hashes = np.empty(0, np.uint64)
        self.kg = np.empty(0, np.uint16)
        self.count = np.empty(0, np.int64)
        self.sums: dict[int, np.ndarray] = {}
        self.nonnull: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.hashes)

    def apply(self, delta: LinearDelta,
              key_groups: Callable[[np.ndarray], np.ndarray]) -> GroupChange:
        """Adds one time's delta; forgets groups whose count drops to 0 or below.

        Args:
            delta: The time's changes.
            key_groups: Gives the key groups of the delta's groups selected by
                a boolean mask (called for the groups born in this time).
        """
        pos, existed = locate(self.hashes, delta.hashes)
        at = pos[existed]
        old = LinearValues(self.count[at], {i: s[at] for i, s in self.sums.items()},
                           {i: n[at] for i, n in self.nonnull.items()})
        count = delta.count.copy()
        count[existed] += old.count
        sums = {i: _added(d, self.sums.get(i), at, existed) for i, d in delta.sums.items()}
        nonnull = {i: _added(d, self.nonnull.get(i), at, existed)
                   for i, d in delta.nonnull.items()}
        alive = count > 0
        self._write(pos, existed & alive, alive, count, sums, nonnull)
        self._delete(pos[existed & ~alive])
        born = ~existed & alive
        if born.any():
            self._insert(delta.hashes[born], key_groups(born), count[born],
                         {i: s[born] for i, s in sums.items()},
                         {i: n[born] for i, n in nonnull.items()})
        new = LinearValues(count[alive], {i: s[alive] for i, s in sums.items()},
                           {i: n[alive] for i, n in nonnull.items()})
        return GroupChange(existed, alive, old, new)

    def _write(self, pos: np.ndarray, kept: np.ndarray, alive: np.ndarray, count: np.ndarray,
               sums: dict[int, np.ndarray], nonnull: dict[int, np.ndarray]) -> None:
        at = pos[kept]
        self.count[at] = count[kept]
        for i, values in sums.items():
            self.sums[i] = _widened(self.sums.get(i), values.dtype, len(self))
            self.sums[i][at] = values[kept]
        for i, values in nonnull.items():
            self.nonnull[i] = _widened(self.nonnull.get(i), values.dtype, len(self))
            self.nonnull[i][at] = values[kept]

    def _delete(self, positions: np.ndarray) -> None:
        if not len(positions):
            return
        keep = np.ones(len(self), bool)
        keep[positions] = False
        self.hashes, self.kg, self.count = self.hashes[keep], self.kg[keep], self.count[keep]
        self.sums = {i: s[keep] for i, s in self.sums.items()}
        self.nonnull = {i: n[keep] for i, n in self.nonnull.items()}

    def _insert(self, hashes: np.ndarray, kg: np.ndarray, count: np.ndarray,
                sums: dict[int, np.ndarray], nonnull: dict[int, np.ndarray]) -> None:
        size = len(self)
        at = np.searchsorted(self.hashes, hashes)
        self.sums = {i: np.insert(_widened(self.sums.get(i), s.dtype, size), at, s)
                     for i, s in sums.items()}
        self.nonnull = {i: np.insert(_widened(self.nonnull.get(i), n.dtype, size), at, n)
                        for i, n in nonnull.items()}
        self.hashes = np.insert(self.hashes, at, hashes)
        self.kg = np.insert(self.kg, at, kg.astype(np.uint16))
        self.count = np.insert(self.count, at, count)

    def replace(self, hashes: np.ndarray, kg: np.ndarray, count: np.ndarray,
                sums: dict[int, np.ndarray], nonnull: dict[int, np.ndarray]) -> None:
        """Sets the whole state (restoring a snapshot); ``hashes`` must be sorted."""
        self.hashes, self.kg, self.count = hashes, kg, count
        self.sums, self.nonnull = sums, nonnull


def _added(delta: np.ndarray, state: np.ndarray | None, at: np.ndarray,
           existed: np.ndarray) -> np.ndarray:
    """``delta`` plus the state's values where the group existed (types promoted)."""
    if state is None:
        return delta.copy()
    out = delta.astype(np.result_type(delta.dtype, state.dtype), copy=True)
    out[existed] += state[at]
    return out


def _widened(state: np.ndarray | None, dtype: np.dtype, size: int) -> np.ndarray:
    """The state array (zeros if missing) in a type that holds ``dtype`` too."""
    if state is None:
        return np.zeros(size, dtype)
    wide = np.result_type(state.dtype, dtype)
    return state if state.dtype == wide else state.astype(wide)
