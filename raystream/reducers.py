"""``pw.reducers``: aggregations usable inside ``reduce()``.

Each reducer is an expression node; the planner extracts it from the
``reduce`` arguments and hands the reduce kernel a plain :class:`AggSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from typing_extensions import override

from raystream import dtypes as dt
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, api_error
from raystream.expressions import ColumnExpression, Resolver, wrap


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


class ReducerExpression(ColumnExpression):
    """``pw.reducers.<kind>(expr)`` inside a ``reduce``."""

    def __init__(self, kind: str, arg: Any = None, skip_nones: bool = False) -> None:
        self.kind = kind
        self.arg = None if arg is None else wrap(arg)
        self.skip_nones = skip_nones

    @override
    def children(self) -> list[ColumnExpression]:
        return [] if self.arg is None else [self.arg]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        arg = None if self.arg is None else self.arg.resolve(resolver)
        resolved = ReducerExpression(self.kind, arg, self.skip_nones)
        resolved.dtype = _result_type(self.kind, None if arg is None else arg.dtype)
        return resolved


def _result_type(kind: str, arg: DType | None) -> DType:
    if kind in ("count", "count_distinct"):
        return dt.INT
    assert arg is not None
    if kind == "sum":
        if not dt.is_numeric(arg) and arg.name != "Duration" and not arg.is_any:
            raise api_error(ApiTypeError, f"pw.reducers.sum needs numbers, got {arg}")
        return arg
    if kind == "avg":
        if not dt.is_numeric(arg) and not arg.is_any:
            raise api_error(ApiTypeError, f"pw.reducers.avg needs numbers, got {arg}")
        return dt.FLOAT
    if kind in ("tuple", "sorted_tuple"):
        return DType(pa.list_(pa.field("item", arg.arrow, nullable=True)), name=f"tuple[{arg}]")
    if kind in ("argmin", "argmax"):
        return dt.POINTER
    return arg


def sum(expr: Any) -> ReducerExpression:  # noqa: A001 - Pathway's name
    """Sum of the values."""
    return ReducerExpression("sum", expr)


def count(*args: Any) -> ReducerExpression:
    """Number of rows in the group."""
    return ReducerExpression("count")


def min(expr: Any) -> ReducerExpression:  # noqa: A001
    """Smallest value."""
    return ReducerExpression("min", expr)


def max(expr: Any) -> ReducerExpression:  # noqa: A001
    """Largest value."""
    return ReducerExpression("max", expr)


def avg(expr: Any) -> ReducerExpression:
    """Arithmetic mean (float)."""
    return ReducerExpression("avg", expr)


def any(expr: Any) -> ReducerExpression:  # noqa: A001
    """Some value of the group (deterministic: the one of the smallest row key)."""
    return ReducerExpression("any", expr)


def unique(expr: Any) -> ReducerExpression:
    """The group's single value (an error if the group has several)."""
    return ReducerExpression("unique", expr)


def earliest(expr: Any) -> ReducerExpression:
    """Value of the row that arrived first (earliest commit time)."""
    return ReducerExpression("earliest", expr)


def latest(expr: Any) -> ReducerExpression:
    """Value of the row that arrived last (latest commit time)."""
    return ReducerExpression("latest", expr)


def tuple(expr: Any, *, skip_nones: bool = False) -> ReducerExpression:  # noqa: A001
    """All values of the group, ordered by row key."""
    return ReducerExpression("tuple", expr, skip_nones)


def sorted_tuple(expr: Any, *, skip_nones: bool = False) -> ReducerExpression:
    """All values of the group, sorted."""
    return ReducerExpression("sorted_tuple", expr, skip_nones)


def count_distinct(expr: Any) -> ReducerExpression:
    """Number of distinct values."""
    return ReducerExpression("count_distinct", expr)


def argmin(expr: Any) -> ReducerExpression:
    """Row key of the smallest value."""
    return ReducerExpression("argmin", expr)


def argmax(expr: Any) -> ReducerExpression:
    """Row key of the largest value."""
    return ReducerExpression("argmax", expr)


def find_reducers(expr: ColumnExpression) -> list[ReducerExpression]:
    """Returns the reducer calls inside an expression, outermost first."""
    if isinstance(expr, ReducerExpression):
        return [expr]
    found: list[ReducerExpression] = []
    for child in expr.children():
        found.extend(find_reducers(child))
    return found
