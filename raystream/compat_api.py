"""Smaller parts of Pathway's API.

``pw.require``, ``pw.fill_error``, ``pw.schema_builder``, ``pw.assert_table_has_schema``,
``pw.table_transformer``, ``pw.BaseCustomAccumulator``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from typing_extensions import override

from raystream.actors.kernels.cells import cell_values
from raystream.expressions import ColumnExpression, Names, Resolver, if_else, wrap
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
    def may_be_error(self, flagged: Names) -> bool:
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
    """Raises AssertionError unless the table's columns have the schema's types.

    Args:
        table: The table to check.
        schema: The columns (and types) it must have.
        allow_superset: The table may have more columns.
        ignore_primary_keys: Do not compare the primary key columns.
        allow_subtype: A column may have a narrower type (``int`` for
            ``Optional[int]``, a column of only None for any optional type).
    """
    have = table.typehints()
    want = schema.typehints()
    if not allow_superset and set(have) != set(want):
        raise AssertionError(f"table columns {list(have)} differ from schema {list(want)}")
    for name, dtype in want.items():
        if name not in have:
            raise AssertionError(f"table has no column {name!r}")
        if not _is_subtype(have[name], dtype, allow_subtype):
            raise AssertionError(f"column {name!r} has type {have[name]}, the schema says "
                                 f"{dtype}")
    if not ignore_primary_keys:
        keys = table.schema.primary_key_columns() or []
        wanted = schema.primary_key_columns() or []
        if sorted(keys) != sorted(wanted):
            raise AssertionError(f"table's primary key {keys} differs from the schema's "
                                 f"{wanted}")


def _is_subtype(got: Any, dtype: Any, allow_subtype: bool) -> bool:
    from raystream import dtypes as dt  # noqa: PLC0415

    if got == dtype:
        return True
    if not allow_subtype:
        return False
    if got.with_optional(False) == dt.NONE.with_optional(False):
        return dtype.optional
    return dtype.optional and got.with_optional(True) == dtype


def table_transformer(func: Callable | None = None, *, allow_superset: Any = True,
                      ignore_primary_keys: Any = True, locals: dict | None = None) -> Any:  # noqa: A002
    """Checks a function's ``pw.Table[Schema]`` arguments and result (``@pw.table_transformer``).

    Each argument annotated ``pw.Table[S]`` (and the return value) must have
    the columns of ``S`` (:func:`assert_table_has_schema`), else AssertionError.
    ``allow_superset`` and ``ignore_primary_keys`` are a bool or a mapping
    from argument name (or ``"return"``) to bool; absent names allow.
    """
    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            hints = _table_hints(fn, locals)
            for name, value in signature.bind(*args, **kwargs).arguments.items():
                _check_table(name, value, hints, allow_superset, ignore_primary_keys)
            result = fn(*args, **kwargs)
            _check_table("return", result, hints, allow_superset, ignore_primary_keys)
            return result
        return checked

    return decorate(func) if func is not None else decorate


def _table_hints(fn: Callable, local_names: dict | None) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, localns=local_names)
    except Exception:  # noqa: BLE001 - annotations that do not resolve are not checked
        return {}


def _option(value: Any, name: str) -> bool:
    return bool(value.get(name, True)) if isinstance(value, dict) else bool(value)


def _check_table(name: str, value: Any, hints: dict[str, Any], allow_superset: Any,
                 ignore_primary_keys: Any) -> None:
    from raystream.table import Table  # noqa: PLC0415

    hint = hints.get(name)
    if typing.get_origin(hint) is not Table or not typing.get_args(hint):
        return
    schema = typing.get_args(hint)[0]
    if not isinstance(value, Table):
        raise AssertionError(f"{name}: expected a pw.Table, got {type(value).__name__}")
    assert_table_has_schema(value, schema, allow_superset=_option(allow_superset, name),
                            ignore_primary_keys=_option(ignore_primary_keys, name))


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
