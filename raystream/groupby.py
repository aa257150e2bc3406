"""``t.groupby(...).reduce(...)``: split into pre-map, reduce and post-map nodes.

``t.groupby(t.k).reduce(t.k, avg=pw.reducers.sum(t.v * 2) / pw.reducers.count())``
becomes: a map computing ``k`` and ``_a0 = v * 2``; a reduce over group ``k``
producing ``_r0 = sum(_a0)`` and ``_r1 = count()``; a map computing the final
``k`` and ``avg = _r0 / _r1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raystream import dtypes as dt
from raystream.actors.kernels.reduce import AggSpec
from raystream.errors import ApiTypeError, ApiValueError, api_error, user_location
from raystream.expressions import (
    ColumnExpression,
    ColumnReference,
    IdReference,
    InputColumn,
    ThisReference,
    ThisStar,
    wrap,
)
from raystream.graph import ColumnInfo, MapNode, ReduceNode, RekeyNode
from raystream.names import check_column_name
from raystream.reducers import ReducerExpression, find_reducers

if TYPE_CHECKING:
    from raystream.table import Table


class GroupedTable:
    """A table grouped by columns, waiting for ``reduce``."""

    def __init__(self, table: Table, groups: list[Any], id_column: Any = None) -> None:
        self._groups: list[str] = []
        self._id: str | None = None
        extra: dict[str, Any] = {}
        groups = [g for group in groups for g in
                  ([table[n] for n in group.names(table.column_names())]
                   if isinstance(group, ThisStar) else [group])]
        if id_column is not None and not isinstance(id_column, (ColumnReference, IdReference,
                                                                ThisReference)):
            raise api_error(ApiValueError, "groupby(id=...) takes a column reference")
        if id_column is not None and not groups:
            groups = [id_column]
        for group in groups:
            if not isinstance(group, str) and not isinstance(group, IdReference):
                found = table._resolve(group).dtype if isinstance(
                    group, (ColumnReference, ThisReference)) else None
                if found is not None and dt.is_future(found):
                    raise api_error(ApiTypeError, f"Using column of type "
                                                  f"{dt.pathway_repr(found)} is not allowed "
                                                  "here. Consider applying `await_futures()` "
                                                  "to the table first.")
        for group in groups:
            if isinstance(group, IdReference):
                extra["_gid"] = group
            elif not isinstance(group, (ColumnReference, ThisReference, str)):
                raise api_error(ApiValueError, "groupby takes column references "
                                               "(compute expressions with select first)")
        if id_column is not None and not isinstance(id_column, IdReference):
            if not any(_same(g, id_column) for g in groups):
                raise api_error(ApiValueError, "groupby(id=...) must be one of the grouping "
                                               "columns")
        if extra or _foreign(table, groups):
            table = table._map({**extra, **{f"_g{i}": g for i, g in enumerate(groups)
                                            if not isinstance(g, (IdReference, str))
                                            and _foreign(table, [g])}}, keep=True, check=False)
        self._table = table
        for i, group in enumerate(groups):
            if isinstance(group, IdReference):
                name = "_gid"
            elif f"_g{i}" in table._columns:
                name = f"_g{i}"
            else:
                ref = table[group] if isinstance(group, str) else group
                name = table._resolve(ref).name  # type: ignore[attr-defined]
            self._groups.append(name)
            if (id_column is not None and _same(group, id_column)) or \
                    isinstance(group, IdReference):
                self._id = name

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """One row per group with the given columns (group columns and reducers)."""
        outputs: dict[str, ColumnExpression] = {}
        for arg in args:
            if isinstance(arg, ThisStar):
                for name in arg.names([g for g in self._groups if not g.startswith("_g")]):
                    outputs[name] = ThisReference(name)
                continue
            if isinstance(arg, ReducerExpression) and isinstance(
                    arg.arg, (ColumnReference, ThisReference)):
                outputs[arg.arg.name] = arg
                continue
            if not isinstance(arg, (ColumnReference, ThisReference)):
                raise api_error(ApiValueError, "positional arguments of reduce must be "
                                               "grouping columns; name other expressions")
            outputs[arg.name] = arg
        for name, value in kwargs.items():
            check_column_name(name)
            outputs[name] = wrap(value)
        return _Planner(self._table, self._groups, self._id).build(outputs)


class _Planner:
    def __init__(self, table: Table, groups: list[str], id_column: str | None = None) -> None:
        self.table = table
        self.groups = groups
        self.id_column = id_column
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
                            aggs=list(self.aggs), label=f"groupby at {user_location()}")
        post_outputs = [(n, e) for n, e in finals.items()]
        post_columns = {n: ColumnInfo(e.dtype) for n, e in post_outputs}
        if self.id_column is not None:
            key = (InputColumn(self.id_column, dt.POINTER),)
            return type(table)(RekeyNode([reduce], post_columns, outputs=post_outputs, key=key,
                                         raw_key=True))
        return type(table)(MapNode([reduce], post_columns, outputs=post_outputs))

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
        arg = resolved.arg  # type: ignore[attr-defined]
        reducer._final_dtype = reducer.final_dtype(  # type: ignore[attr-defined]
            resolved.dtype, None if arg is None else arg.dtype)

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
        column = InputColumn(out, agg_dtypes[out])
        if expr.post is None:
            return column
        from raystream.udfs import Apply  # noqa: PLC0415
        return Apply(expr.post, (column,), {}, expr._final_dtype)  # type: ignore[attr-defined]
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


def _same(a: Any, b: Any) -> bool:
    """True if two groupby arguments name the same column."""
    name = getattr(a, "name", a)
    return name == getattr(b, "name", b)


def _foreign(table: Table, groups: list[Any]) -> bool:
    """True if a grouping column belongs to another table over the same rows."""
    for group in groups:
        owner = getattr(group, "table", None)
        if isinstance(group, ColumnReference) and owner is not None and owner is not table:
            info = owner._columns.get(group.name)
            if info is not None and all(c.lineage is not info.lineage
                                        for c in table._columns.values()):
                return True
    return False
