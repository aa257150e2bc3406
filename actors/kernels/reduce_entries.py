"""Per-group entries of the multiset and keyed reducers, as Arrow tables sorted by group.

* :class:`MultisetState` (``min``, ``max``, ``count_distinct``, ``sorted_tuple``,
  ``unique``): rows ``(_g, _v, _m)``: group hash, value, multiplicity, sorted
  by group then value (None first); multiplicities of 0 are dropped.
* :class:`KeyedState` (``any``, ``tuple``, ``earliest``, ``latest``, ``argmin``,
  ``argmax``): rows ``(_g, _k, _v, _t, _m)``: group hash, row key, value, the
  time the value was inserted, multiplicity, sorted by group then row key;
  entries whose multiplicity drops to 0 or below are dropped (a retraction of
  an absent key is ignored, as before).

``apply`` merges one time's delta into the entries of the groups it touches
and returns those groups' entries before and after; ``finish_*`` compute the
reducers' values from such entries, for the groups asked for.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.actors.kernels.aggs import AggSpec
from raystream.actors.kernels.columnar import (
    adjacent_equal,
    rows_of_keys,
    scatter,
    segment_ends,
    segment_starts,
    segment_sums,
)

G, V, M, K, T, D = "_g", "_v", "_m", "_k", "_t", "_d"


class UniqueConflict(Exception):
    """``unique`` found several values in a group (the kernel names the group)."""

    def __init__(self, group_hash: int, values: list) -> None:
        super().__init__(group_hash, values)
        self.group_hash = group_hash
        self.values = values


class _Entries:
    """A table of entries sorted by group hash (column ``_g``)."""

    def __init__(self) -> None:
        self.table: pa.Table | None = None

    def split(self, groups: np.ndarray, like: pa.Table) -> tuple[pa.Table, pa.Table | None]:
        """The entries of ``groups`` (sorted, unique), and every other entry."""
        if self.table is None or self.table.num_rows == 0:
            return like.slice(0, 0), None
        keys = _np(self.table.column(G))
        rows = rows_of_keys(keys, groups)
        if len(rows) == 0:
            return self.table.slice(0, 0), self.table
        keep = np.ones(len(keys), bool)
        keep[rows] = False
        return self.table.take(pa.array(rows)), self.table.filter(pa.array(keep))

    def merge(self, rest: pa.Table | None, part: pa.Table, dead: np.ndarray) -> None:
        """Stores ``rest`` plus ``part`` (without ``dead`` groups), sorted by group."""
        if len(dead) and part.num_rows:
            part = part.filter(pa.array(~np.isin(_np(part.column(G)), dead)))
        if rest is None or rest.num_rows == 0:
            self.table = part
            return
        if part.num_rows == 0:
            self.table = rest
            return
        both = pa.concat_tables([rest, part], promote_options="permissive")
        order = np.argsort(_np(both.column(G)), kind="stable")  # two sorted runs: linear
        self.table = both.take(pa.array(order)).combine_chunks()


EXTREMES = frozenset({"min", "max"})


class MultisetState(_Entries):
    """Value -> multiplicity per group for one multiset reducer.

    Args:
        extreme: ``min`` or ``max`` when no retraction can come (an append-only
            input): only each group's smallest or largest value is kept, so the
            state holds one entry a group, not every distinct value seen.
    """

    def __init__(self, extreme: str | None = None) -> None:
        super().__init__()
        self.extreme = extreme

    def apply(self, groups: np.ndarray, dead: np.ndarray,
              delta: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Adds ``delta`` (``_g``, ``_v``, ``_m``) to the entries of ``groups``.

        Returns:
            The entries of ``groups`` before and after (dead groups left out).
        """
        old, rest = self.split(groups, delta)
        new = _net(pa.concat_tables([old, delta], promote_options="permissive"))
        if self.extreme is not None:
            new = _extreme_only(new, self.extreme)
        self.merge(rest, new, dead)
        if len(dead):
            new = new.filter(pa.array(~np.isin(_np(new.column(G)), dead)))
        return old, new


def _extreme_only(net: pa.Table, extreme: str) -> pa.Table:
    """Per group of a :func:`_net` table, its first valid value (``min``) or last (``max``).

    Null values are dropped: :func:`finish_multiset` never reads them for
    ``min`` or ``max``, so a group without values gives null either way.
    """
    net = net.filter(net.column(V).is_valid())
    if net.num_rows == 0:
        return net
    starts = segment_starts(_np(net.column(G)))
    rows = starts if extreme == "min" else segment_ends(starts, net.num_rows)
    return net.take(pa.array(rows))


def _net(table: pa.Table) -> pa.Table:
    """Sums multiplicities per (group, value), sorted by group then value, zeros dropped."""
    if table.num_rows == 0:
        return table.combine_chunks()
    order = pc.sort_indices(table, sort_keys=[(G, "ascending"), (V, "ascending", "at_start")])
    table = table.take(order).combine_chunks()
    starts = segment_starts(_np(table.column(G)), ~adjacent_equal(table.column(V).chunk(0)))
    counts = segment_sums(_np(table.column(M)), starts)
    out = table.take(pa.array(starts))
    out = out.set_column(out.schema.get_field_index(M), M, pa.array(counts, pa.int64()))
    return out.filter(pa.array(counts != 0))


class KeyedState(_Entries):
    """Row key -> (value, insertion time) per group for one keyed reducer."""

    def apply(self, groups: np.ndarray, dead: np.ndarray, delta: pa.Table,
              time: int) -> tuple[pa.Table, pa.Table]:
        """Applies raw rows ``delta`` (``_g``, ``_k``, ``_v``, ``_d``) of ``time``.

        Per (group, row key) the multiplicities add up; if the time inserted the
        key, its value and time replace the old ones (so a retraction and an
        insertion of one key in one time update it, in any order).

        Returns:
            The entries of ``groups`` before and after (dead groups left out).
        """
        like = pa.table({G: delta.column(G), K: delta.column(K), V: delta.column(V),
                         T: pa.array(np.zeros(delta.num_rows, np.int64)),
                         M: delta.column(D)})
        old, rest = self.split(groups, like)
        new = _upsert_keys(old, delta, time)
        self.merge(rest, new, dead)
        if len(dead):
            new = new.filter(pa.array(~np.isin(_np(new.column(G)), dead)))
        return old, new


def _upsert_keys(old: pa.Table, delta: pa.Table, time: int) -> pa.Table:
    n_old = old.num_rows
    dg, dk, dd = (_np(delta.column(c)) for c in (G, K, D))
    order = np.lexsort((dk, dg))
    dg, dk, dd = dg[order], dk[order], dd[order]
    starts = segment_starts(dg, dk[1:] != dk[:-1])
    inserted = np.where(dd > 0, np.arange(len(dd)), -1)
    last_insert = np.maximum.reduceat(inserted, starts) if len(starts) else starts
    value_row = np.where(last_insert >= 0, order[np.maximum(last_insert, 0)], -1)
    groups = np.concatenate([_np(old.column(G)), dg[starts]])
    keys = np.concatenate([_np(old.column(K)), dk[starts]])
    counts = np.concatenate([_np(old.column(M)), segment_sums(dd, starts)])
    source = np.concatenate([np.zeros(n_old, np.int8), np.ones(len(starts), np.int8)])
    merged = np.lexsort((source, keys, groups))
    sg, sk = groups[merged], keys[merged]
    seg = segment_starts(sg, sk[1:] != sk[:-1])
    total = segment_sums(counts[merged], seg)
    first, last = merged[seg], merged[segment_ends(seg, len(merged))]
    from_delta = last >= n_old
    delta_row = np.where(from_delta, value_row[np.maximum(last - n_old, 0)], -1)
    use_delta = from_delta & (delta_row >= 0)
    row = np.where(use_delta, n_old + delta_row, np.where(first < n_old, first, 0))
    keep = total > 0
    values = _concat_values(_combined(old.column(V)), _combined(delta.column(V)))
    times = np.concatenate([_np(old.column(T)), np.full(delta.num_rows, time, np.int64)])
    rows = row[keep]
    return pa.table({G: pa.array(sg[seg][keep], pa.uint64()),
                     K: pa.array(sk[seg][keep], pa.uint64()),
                     V: values.take(pa.array(rows, pa.int64())),
                     T: pa.array(times[rows], pa.int64()), M: pa.array(total[keep], pa.int64())})


def _concat_values(first: pa.Array, second: pa.Array) -> pa.Array:
    """Both arrays, one after the other, in a type that holds both."""
    if len(first) == 0:
        return second
    if len(second) == 0 or first.type == second.type:
        return pa.concat_arrays([first, second]) if len(second) else first
    both = pa.concat_tables([pa.table({V: first}), pa.table({V: second})],
                            promote_options="permissive")
    return both.column(V).combine_chunks()


# -- finishing ---------------------------------------------------------------

def finish_multiset(agg: AggSpec, part: pa.Table, targets: np.ndarray) -> pa.Array:
    """One multiset reducer's value for each group of ``targets`` (sorted hashes)."""
    part = part.filter(pc.greater(part.column(M), 0))
    kind, n = agg.kind, len(targets)
    if kind in ("min", "max", "count_distinct", "exact_sum") or (
            kind == "sorted_tuple" and agg.skip_nones):
        part = part.filter(part.column(V).is_valid())
    groups, values = _np(part.column(G)), _combined(part.column(V))
    starts = segment_starts(groups)
    at = np.searchsorted(targets, groups[starts])
    if kind == "min":
        return _typed(scatter(values.take(pa.array(starts)), at, n), agg.arrow)
    if kind == "max":
        ends = segment_ends(starts, len(groups))
        return _typed(scatter(values.take(pa.array(ends)), at, n), agg.arrow)
    if kind == "count_distinct":
        counts = np.zeros(n, np.int64)
        counts[at] = np.diff(np.append(starts, len(groups)))
        return pa.array(counts)
    if kind == "exact_sum":
        return pa.array(_exact_sums(values, _np(part.column(M)), starts, at, n), pa.float64())
    if kind == "sorted_tuple":
        multiplicity = np.maximum(_np(part.column(M)), 0)
        items = values.take(pa.array(np.repeat(np.arange(len(groups)), multiplicity)))
        sizes = np.zeros(n, np.int64)
        sizes[at] = segment_sums(multiplicity, starts)
        return _lists(sizes, items, agg.arrow)
    lengths = np.diff(np.append(starts, len(groups)))
    if (lengths > 1).any():
        bad = int(np.argmax(lengths > 1))
        start = int(starts[bad])
        raise UniqueConflict(int(groups[start]),
                             values.slice(start, int(min(lengths[bad], 5))).to_pylist())
    return _typed(scatter(values.take(pa.array(starts)), at, n), agg.arrow)


def _exact_sums(values: pa.Array, multiplicity: np.ndarray, starts: np.ndarray,
                at: np.ndarray, n: int) -> np.ndarray:
    """Each group's sum of value x multiplicity, exact then rounded once (strict sum)."""
    sums = np.zeros(n, np.float64)
    floats = values.to_numpy(zero_copy_only=False)
    ends = np.append(starts[1:], len(floats))[:len(starts)]
    for target, start, end in zip(at, starts, ends, strict=True):
        total = sum((Fraction(float(v)) * int(m) for v, m in
                     zip(floats[start:end], multiplicity[start:end], strict=True)), Fraction(0))
        sums[target] = float(total)
    return sums


def finish_keyed(agg: AggSpec, part: pa.Table, targets: np.ndarray) -> pa.Array:
    """One keyed reducer's value for each group of ``targets`` (sorted hashes)."""
    kind, n = agg.kind, len(targets)
    groups, values = _np(part.column(G)), _combined(part.column(V))
    starts = segment_starts(groups)
    at = np.searchsorted(targets, groups[starts])
    if kind == "any":
        return _typed(scatter(values.take(pa.array(starts)), at, n), agg.arrow)
    if kind == "tuple":
        present = np.zeros(n, bool)
        present[at] = True
        if agg.skip_nones:
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            values, groups = values.filter(pa.array(valid)), groups[valid]
        sizes = np.zeros(n, np.int64)
        np.add.at(sizes, np.searchsorted(targets, groups), 1)
        return _lists(sizes, values, agg.arrow, present)
    if kind in ("earliest", "latest"):
        order = np.lexsort((_np(part.column(K)), _np(part.column(T)), groups))
        ends = segment_ends(starts, len(groups))
        pick = order[starts if kind == "earliest" else ends]
        return _typed(scatter(values.take(pa.array(pick)), at, n), agg.arrow)
    valid = part.filter(part.column(V).is_valid())
    direction = "ascending" if kind == "argmin" else "descending"
    order = pc.sort_indices(valid, sort_keys=[(G, "ascending"), (V, direction),
                                              (K, "ascending")])
    ranked = valid.take(order)
    starts = segment_starts(_np(ranked.column(G)))
    at = np.searchsorted(targets, _np(ranked.column(G))[starts])
    return scatter(_combined(ranked.column(K)).take(pa.array(starts)), at, n)


def _lists(sizes: np.ndarray, items: pa.Array, typ: pa.DataType,
           present: np.ndarray | None = None) -> pa.Array:
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]), pa.int32())
    mask = None if present is None else pa.array(~present)
    lists = pa.ListArray.from_arrays(offsets, _combined(items), mask=mask)
    return _typed(lists, typ)


def _typed(array: pa.Array, typ: pa.DataType) -> pa.Array:
    """``array`` cast to the reducer's type (left as is for ``Any`` results)."""
    if array.type == typ or pa.types.is_null(typ):
        return array
    return array.cast(typ)


def _combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


def _np(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return _combined(column).to_numpy(zero_copy_only=False)
