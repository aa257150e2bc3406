"""``t.groupby(...).reduce(...)``: split into pre-map, reduce and post-map nodes.

``t.groupby(t.k).reduce(t.k, avg=pw.reducers.sum(t.v * 2) / pw.reducers.count())``
becomes: a map computing ``k`` and ``_a0 = v * 2``; a reduce over group ``k``
producing ``_r0 = sum(_a0)`` and ``_r1 = count()``; a map computing the final
``k`` and ``avg = _r0 / _r1``.
"""

from __future__ import annotations

from typing import Any

from raystream.errors import ApiValueError, api_error
from raystream.expressions import (
    ColumnExpression,
    ColumnReference,
    InputColumn,
    ThisReference,
    wrap,
)
from raystream.graph import ColumnInfo, MapNode, ReduceNode
from raystream.reducers import AggSpec, ReducerExpression, find_reducers
from raystream.table import Table, check_column_name


class GroupedTable:
    """A table grouped by columns, waiting for ``reduce``."""

    def __init__(self, table: Table, groups: list[Any]) -> None:
        self._table = table
        self._groups: list[str] = []
        for group in groups:
            if not isinstance(group, (ColumnReference, ThisReference, str)):
                raise api_error(ApiValueError, "groupby takes column references "
                                               "(compute expressions with select first)")
            ref = table[group] if isinstance(group, str) else group
            self._groups.append(table._resolve(ref).name)  # type: ignore[attr-defined]

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """One row per group with the given columns (group columns and reducers)."""
        outputs: dict[str, ColumnExpression] = {}
        for arg in args:
            if not isinstance(arg, (ColumnReference, ThisReference)):
                raise api_error(ApiValueError, "positional arguments of reduce must be "
                                               "grouping columns; name other expressions")
            outputs[arg.name] = arg
        for name, value in kwargs.items():
            check_column_name(name)
            outputs[name] = wrap(value)
        return _Planner(self._table, self._groups).build(outputs)


class _Planner:
    def __init__(self, table: Table, groups: list[str]) -> None:
        self.table = table
        self.groups = groups
        self.pre: list[tuple[str, ColumnExpression]] = [
            (g, InputColumn(g, table._columns[g].dtype)) for g in groups]
        self.aggs: list[AggSpec] = []
        self.agg_dtypes: dict[str, Any] = {}

    def build(self, outputs: dict[str, ColumnExpression]) -> Table:
        finals = {name: self._final(expr) for name, expr in outputs.items()}
        table = self.table
        pre_columns = {n: ColumnInfo(e.dtype) for n, e in self.pre}
        pre = MapNode([table._node], pre_columns, outputs=self.pre)
        reduce_columns = {g: ColumnInfo(table._columns[g].dtype) for g in self.groups}
        reduce_columns.update({a.out: ColumnInfo(self.agg_dtypes[a.out]) for a in self.aggs})
        reduce = ReduceNode([pre], reduce_columns, group_columns=list(self.groups),
                            aggs=list(self.aggs))
        post_outputs = [(n, e) for n, e in finals.items()]
        post_columns = {n: ColumnInfo(e.dtype) for n, e in post_outputs}
        return Table(MapNode([reduce], post_columns, outputs=post_outputs))

    def _final(self, expr: ColumnExpression) -> ColumnExpression:
        """Resolves an output expression over the reduce's output columns."""
        for reducer in find_reducers(expr):
            self._add_aggregate(reducer)
        return self._rewrite(expr)

    def _add_aggregate(self, reducer: ReducerExpression) -> None:
        resolved = reducer.resolve(self.table._bind)
        index = len(self.aggs)
        column = None
        if resolved.arg is not None:  # type: ignore[attr-defined]
            column = f"_a{index}"
            self.pre.append((column, resolved.arg))  # type: ignore[attr-defined]
        out = f"_r{index}"
        self.aggs.append(AggSpec(out, reducer.kind, column, resolved.dtype.arrow,
                                 reducer.skip_nones))
        self.agg_dtypes[out] = resolved.dtype
        reducer._agg_out = out  # type: ignore[attr-defined]

    def _rewrite(self, expr: ColumnExpression) -> ColumnExpression:
        def bind(ref: ColumnExpression) -> ColumnExpression:
            bound = self.table._bind(ref)
            if bound.name not in self.groups:  # type: ignore[attr-defined]
                raise api_error(ApiValueError, f"column {bound.name!r} is neither a grouping "  # type: ignore[attr-defined]
                                               "column nor inside a reducer")
            return bound
        return _substitute(expr, self.agg_dtypes).resolve(bind)


def _substitute(expr: ColumnExpression, agg_dtypes: dict) -> ColumnExpression:
    """Replaces each reducer call by a reference to its aggregate column."""
    if isinstance(expr, ReducerExpression):
        out = expr._agg_out  # type: ignore[attr-defined]
        return InputColumn(out, agg_dtypes[out])
    children = expr.children()
    if not children:
        return expr
    import copy
    clone = copy.copy(expr)
    if hasattr(clone, "args") and isinstance(clone.args, list):
        clone.args = [_substitute(a, agg_dtypes) for a in clone.args]
    if hasattr(clone, "kwargs"):
        clone.kwargs = {k: _substitute(v, agg_dtypes) for k, v in clone.kwargs.items()}
    return clone
