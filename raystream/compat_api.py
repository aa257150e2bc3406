"""Smaller parts of Pathway's API.

``pw.require``, ``pw.fill_error``, ``pw.schema_builder``, ``pw.assert_table_has_schema``,
``pw.table_transformer``, ``pw.BaseCustomAccumulator``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from typing_extensions import override

from raystream.actors.kernels.cells import cell_values
from raystream.expressions import ColumnExpression, Resolver, if_else, wrap
from raystream.ops import Value
from raystream.schema import ColumnDefinition, Schema, SchemaMeta, _column_from
from raystream.schema import schema_from_columns as _from_columns


def require(val: Any, *deps: Any) -> ColumnExpression:
    """``val`` where every one of ``deps`` is not None, else None (and ``val`` not computed)."""
    condition = None
    for dep in deps:
        present = wrap(dep).is_not_none()
        condition = present if condition is None else condition & present
    if condition is None:
        return wrap(val)
    from raystream.expressions import FutureCheck  # noqa: PLC0415
    return FutureCheck("require", if_else(condition, val, None), [val, *deps])


class FillError(ColumnExpression):
    """``pw.fill_error(expr, replacement)``: ``replacement`` on rows where ``expr`` fails."""

    def __init__(self, expr: Any, replacement: Any) -> None:
        self.expr = wrap(expr)
        self.replacement = wrap(replacement)

    @override
    def children(self) -> list[ColumnExpression]:
        return [self.expr, self.replacement]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        from raystream import dtypes as dt  # noqa: PLC0415
        resolved = FillError(self.expr.resolve(resolver), self.replacement.resolve(resolver))
        resolved.dtype = dt.unify(resolved.expr.dtype, resolved.replacement.dtype) or \
            resolved.expr.dtype
        return resolved

    fallible = False

    @override
    def may_be_error(self, flagged: frozenset[str]) -> bool:
        return self.replacement.may_be_error(flagged)

    @override
    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        return None

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        values, errors = cell_values(self.expr, batch)
        target = values.type if self.dtype.is_any else self.dtype.arrow
        if values.type != target:
            values = values.cast(target)
        if not pc.any(errors).as_py():
            return values
        return pc.if_else(errors, self.replacement.column(batch).cast(target), values)


def fill_error(col: Any, replacement: Any) -> ColumnExpression:
    """Where computing ``col`` fails for a row, ``replacement`` instead (``pw.fill_error``)."""
    return FillError(col, replacement)


def schema_builder(columns: dict[str, ColumnDefinition], *, name: str | None = None,
                   properties: Any = None) -> type[Schema]:
    """A Schema from ``{name: pw.column_definition(dtype=...)}`` (``pw.schema_builder``)."""
    schema_name = name or "Schema"
    resolved = {}
    for column, definition in columns.items():
        resolved[column] = _column_from(schema_name, column, definition.dtype, definition)
    return _from_columns(resolved, schema_name)


def assert_table_has_schema(table: Any, schema: type[Schema], *, allow_superset: bool = True,
                            ignore_primary_keys: bool = True, allow_subtype: bool = True
                            ) -> None:
    """Raises AssertionError unless the table's columns have the schema's types."""
    have = table.typehints()
    want = schema.typehints()
    if not allow_superset and set(have) != set(want):
        raise AssertionError(f"table columns {list(have)} differ from schema {list(want)}")
    for name, dtype in want.items():
        if name not in have:
            raise AssertionError(f"table has no column {name!r}")
        got = have[name]
        same = got == dtype or (allow_subtype and got.with_optional(True) == dtype
                                and dtype.optional)
        if not same:
            raise AssertionError(f"column {name!r} has type {got}, the schema says {dtype}")


def table_transformer(func: Callable | None = None, **options: Any) -> Any:
    """Marks a function of tables (``@pw.table_transformer``); it runs unchanged."""
    if func is None:
        return lambda f: f
    return func


class BaseCustomAccumulator:
    """A reducer's state (``pw.BaseCustomAccumulator``) for ``pw.reducers.udf_reducer``.

    Subclasses define ``from_row(row)`` (a classmethod), ``update(other)`` and
    ``compute_result()``; optionally ``neutral()`` and ``retract(other)``.
    """

    @classmethod
    def neutral(cls) -> BaseCustomAccumulator:
        """The state of an empty group."""
        raise NotImplementedError

    @classmethod
    def from_row(cls, row: list[Any]) -> BaseCustomAccumulator:
        """The state of one row."""
        raise NotImplementedError

    def update(self, other: BaseCustomAccumulator) -> None:
        """Adds ``other``'s rows to this state."""
        raise NotImplementedError

    def retract(self, other: BaseCustomAccumulator) -> None:
        """Removes ``other``'s rows from this state."""
        raise NotImplementedError

    def compute_result(self) -> Any:
        """The reducer's value."""
        raise NotImplementedError


__all__ = ["BaseCustomAccumulator", "FillError", "SchemaMeta", "assert_table_has_schema",
           "fill_error", "require", "schema_builder", "table_transformer"]
