"""Reducers as Pathway computes them, checked against plain Python over the same rows."""

from __future__ import annotations

import math

import numpy as np

import raystream as pw

ROWS = [(1, "a", 5), (2, "b", 5), (3, "a", 1), (4, "b", 9), (5, "a", None)]
T = pw.debug.table_from_markdown("""
      | g | n
    1 | a | 5
    2 | b | 5
    3 | a | 1
    4 | b | 9
    5 | a |
""")


class Mean(pw.BaseCustomAccumulator):
    def __init__(self, total: int, count: int) -> None:
        self.total, self.count = total, count

    @classmethod
    def from_row(cls, row: list) -> Mean:
        return cls(row[0] or 0, 1)

    def update(self, other: Mean) -> None:
        self.total += other.total
        self.count += other.count

    def compute_result(self) -> float:
        return self.total / self.count


def test_reducers_per_group_match_python() -> None:
    mean = pw.reducers.udf_reducer(Mean)
    res = T.groupby(T.g).reduce(
        T.g, s=pw.reducers.sum(T.n, strict=True), tup=pw.reducers.tuple(T.n, skip_nones=True),
        lo=pw.reducers.argmin(T.n, T.g), hi=pw.reducers.argmax(T.n),
        distinct=pw.reducers.count_distinct(T.g, T.n), m=mean(T.n),
        first=pw.reducers.earliest(T.n), last=pw.reducers.latest(T.n))
    got = {row[0]: row for row in pw.debug.compute_tables(res)[0].values()}
    for group in ("a", "b"):
        rows = [(i, n) for i, g, n in ROWS if g == group]
        present = [n for _, n in rows if n is not None]
        by_key = sorted(rows, key=lambda r: pw.ref_scalar(r[0]))
        _, s, tup, lo, hi, distinct, m, first, last = got[group]
        assert s == sum(present) and sorted(tup) == sorted(present)
        assert lo == group and distinct == len({n for _, n in rows})
        best = max((n, -pw.ref_scalar(i)) for i, n in rows if n is not None)
        assert hi == pw.ref_scalar(next(i for i, n in rows if n == best[0]))
        assert m == sum(present) / len(rows)
        assert first == by_key[0][1] and last == by_key[-1][1]  # one time: ties by key
    assert res.typehints()["tup"] == pw.dtypes.list_dtype(pw.dtypes.INT)


def test_ndarray_and_array_sums() -> None:
    arrays = pw.debug.table_from_pandas(__import__("pandas").DataFrame(
        {"g": [1, 1, 2], "v": [np.array([1, 2]), np.array([3, 4]), np.array([5, 6])]}))
    res = arrays.groupby(arrays.g).reduce(arrays.g, s=pw.reducers.sum(arrays.v))
    col = T.filter(T.n.is_not_none()).reduce(a=pw.reducers.ndarray(T.n))
    got = pw.debug.compute_tables(res, col)
    sums = {row[0]: row[1].tolist() for row in got[0].values()}
    assert sums == {1: [4, 6], 2: [5, 6]}
    (only,) = got[1].values()
    assert sorted(only[0].tolist()) == sorted(n for _, _, n in ROWS if n is not None)



def test_strict_float_sum_is_exact() -> None:
    big = 10.1 ** 21
    values = [-big, -big, 1.0, 1.0, big, big, 0.1, 0.2, 0.3]
    table = pw.debug.table_from_markdown(
        "g | v\n" + "\n".join(f"{i % 2} | {v!r}" for i, v in enumerate(values)))
    res = table.groupby(pw.this.g).reduce(pw.this.g, s=pw.reducers.sum(pw.this.v, strict=True))
    expected = {g: math.fsum(v for i, v in enumerate(values) if i % 2 == g) for g in (0, 1)}
    assert dict(pw.debug.compute_tables(res)[0].values()) == expected
    assert expected == {0: 1.4, 1: 1.2}
