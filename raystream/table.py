"""``pw.Table``: a changing collection of keyed rows, and its stateless operations."""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Iterator
from typing import Any

from raystream import dtypes as dt
from raystream.errors import ApiTypeError, ApiValueError, api_error
from raystream.expressions import (
    ColumnExpression,
    ColumnReference,
    IdReference,
    InputColumn,
    ThisReference,
    wrap,
)
from raystream.graph import (
    ColumnInfo,
    ConcatNode,
    FilterNode,
    FlattenNode,
    MapNode,
    Node,
)
from raystream.reducers import find_reducers
from raystream.schema import ColumnSchema, Schema, schema_from_columns


class Table:
    """A table of rows with keys, changing over time (Pathway's ``pw.Table``).

    Tables are built by input connectors and by operations on other tables;
    nothing is computed until ``pw.run()`` (or a ``pw.debug`` function).
    """

    def __init__(self, node: Node) -> None:
        self._node = node

    # -- columns -------------------------------------------------------------
    @property
    def _columns(self) -> dict[str, ColumnInfo]:
        return self._node.columns

    def __getattr__(self, name: str) -> ColumnReference:
        if name.startswith("__") or name == "_node":
            raise AttributeError(name)
        if name in self._node.columns:
            return ColumnReference(self, name)
        raise AttributeError(f"table has no column {name!r}; columns: "
                             f"{', '.join(self._node.columns) or '(none)'}")

    def __getitem__(self, name: str | list[str]) -> Any:
        if isinstance(name, list):
            return self.select(*[self[n] for n in name])
        if name == "id":
            return self.id
        if name not in self._node.columns:
            raise api_error(ApiValueError, f"table has no column {name!r}; columns: "
                                           f"{', '.join(self._node.columns)}")
        return ColumnReference(self, name)

    def __iter__(self) -> Iterator[ColumnReference]:
        return iter([ColumnReference(self, n) for n in self._node.columns])

    @property
    def id(self) -> IdReference:
        """The row key (``pw.Pointer``)."""
        return IdReference(self)

    def column_names(self) -> list[str]:
        """Returns the column names in order."""
        return list(self._node.columns)

    def typehints(self) -> dict[str, dt.DType]:
        """Returns the column types."""
        return {n: c.dtype for n, c in self._node.columns.items()}

    @property
    def schema(self) -> type[Schema]:
        """The table's columns as a Schema class."""
        return schema_from_columns({n: ColumnSchema(n, c.dtype)
                                    for n, c in self._node.columns.items()}, "TableSchema")

    def __repr__(self) -> str:
        return f"<pw.Table {', '.join(f'{n}: {c.dtype}' for n, c in self._columns.items())}>"

    # -- resolving expressions against this table ----------------------------
    def _resolve(self, expr: Any, allow_reducers: bool = False) -> ColumnExpression:
        expr = wrap(expr)
        if not allow_reducers and find_reducers(expr):
            raise api_error(ApiValueError, "reducers (pw.reducers.*) can only be used "
                                           "inside reduce()")
        return expr.resolve(self._bind)

    def _bind(self, ref: ColumnExpression) -> ColumnExpression:
        """Binds ``t.name`` / ``pw.this.name`` to a column of this table."""
        name = ref.name  # type: ignore[attr-defined]
        if isinstance(ref, ThisReference) or ref.table is self:  # type: ignore[attr-defined]
            if name in self._columns:
                return InputColumn(name, self._columns[name].dtype)
            raise api_error(ApiValueError, f"no column {name!r} in this table; columns: "
                                           f"{', '.join(self._columns)}")
        other = ref.table._columns.get(name)  # type: ignore[attr-defined]
        for mine, info in self._columns.items():
            if other is not None and info.lineage is other.lineage:
                return InputColumn(mine, info.dtype)
        raise api_error(ApiValueError, f"column {name!r} belongs to another table that this "
                                       "table was not derived from by filter/select; "
                                       "use this table's own columns (or pw.this)")

    # -- stateless operations ------------------------------------------------
    def select(self, *args: Any, **kwargs: Any) -> Table:
        """A table with the given columns, computed per row (``t.select(t.a, b=t.a + 1)``)."""
        return self._map(_named_args(args, kwargs), keep=False)

    def with_columns(self, *args: Any, **kwargs: Any) -> Table:
        """This table with columns added or replaced."""
        return self._map(_named_args(args, kwargs), keep=True)

    def without(self, *columns: Any) -> Table:
        """This table without the given columns (references or names)."""
        drop = {c if isinstance(c, str) else c.name for c in columns}
        for name in drop:
            if name not in self._columns:
                raise api_error(ApiValueError, f"without(): no column {name!r}")
        return self.select(*[ColumnReference(self, n) for n in self._columns if n not in drop])

    def rename(self, names_mapping: dict | None = None, **kwargs: Any) -> Table:
        """Renames columns: ``rename({"old": "new"})`` or ``rename(new=t.old)``."""
        if names_mapping is not None:
            return self.rename_by_dict(names_mapping)
        return self.rename_columns(**kwargs)

    def rename_columns(self, **kwargs: Any) -> Table:
        """Renames columns given as ``new_name=t.old_name``."""
        mapping = {(v if isinstance(v, str) else v.name): k for k, v in kwargs.items()}
        return self.rename_by_dict(mapping)

    def rename_by_dict(self, names_mapping: dict) -> Table:
        """Renames columns given as ``{old_name_or_ref: new_name}``."""
        mapping = {(k if isinstance(k, str) else k.name): v for k, v in names_mapping.items()}
        for old in mapping:
            if old not in self._columns:
                raise api_error(ApiValueError, f"rename: no column {old!r}")
        outputs = {mapping.get(n, n): ColumnReference(self, n) for n in self._columns}
        return self._map(outputs, keep=False)

    def filter(self, filter_expression: Any) -> Table:
        """The rows where ``filter_expression`` is true."""
        predicate = self._resolve(filter_expression)
        if predicate.dtype.name != "bool" and not predicate.dtype.is_any:
            raise api_error(ApiTypeError, f"filter needs a bool expression, got "
                                          f"{predicate.dtype}")
        return Table(FilterNode([self._node], dict(self._columns), predicate=predicate))

    def flatten(self, to_flatten: Any, *, origin_id: str | None = None) -> Table:
        """One row per item of a list/tuple column (other columns repeated)."""
        name = to_flatten if isinstance(to_flatten, str) else to_flatten.name
        column = self._resolve(to_flatten if not isinstance(to_flatten, str) else self[name])
        arrow = column.dtype.arrow
        if not hasattr(arrow, "value_type"):
            raise api_error(ApiTypeError, f"flatten needs a list or tuple column, "
                                          f"got {column.dtype}")
        columns = dict(self._columns)
        columns[name] = ColumnInfo(dt.dtype_of_arrow(arrow.value_type, optional=True))
        table = Table(FlattenNode([self._node], columns, column=name))
        if origin_id is not None:
            raise api_error(ApiValueError, "flatten(origin_id=...) is not supported yet")
        return table

    def concat(self, *others: Table) -> Table:
        """The union of this table and ``others`` (same column names; keys must differ)."""
        tables = [self, *others]
        names = self.column_names()
        columns: dict[str, ColumnInfo] = {}
        for name in names:
            dtype = self._columns[name].dtype
            for other in others:
                if sorted(other.column_names()) != sorted(names):
                    raise api_error(ApiValueError, f"concat: columns differ: {names} vs "
                                                   f"{other.column_names()}")
                unified = dt.unify(dtype, other._columns[name].dtype)
                if unified is None:
                    raise api_error(ApiTypeError, f"concat: column {name!r} has types "
                                                  f"{dtype} and {other._columns[name].dtype}")
                dtype = unified
            columns[name] = ColumnInfo(dtype)
        return Table(ConcatNode([t._node for t in tables], columns))

    @staticmethod
    def concat_reindex(*tables: Table) -> Table:
        """The union of tables, as ``concat`` (keys are already distinct per source)."""
        return tables[0].concat(*tables[1:])

    def groupby(self, *args: Any, id: Any = None, sort_by: Any = None,  # noqa: A002
                instance: Any = None) -> Any:
        """Groups rows by the values of columns; follow with ``.reduce(...)``."""
        from raystream.groupby import GroupedTable
        return GroupedTable(self, list(args))

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """Aggregates the whole table into one row (``t.reduce(s=pw.reducers.sum(t.v))``)."""
        from raystream.groupby import GroupedTable
        return GroupedTable(self, []).reduce(*args, **kwargs)

    def _map(self, outputs: dict[str, Any], keep: bool) -> Table:
        resolved: list[tuple[str, ColumnExpression]] = []
        columns: dict[str, ColumnInfo] = {}
        if keep:
            for name, info in self._columns.items():
                if name not in outputs:
                    resolved.append((name, InputColumn(name, info.dtype)))
                    columns[name] = info
        for name, expr in outputs.items():
            check_column_name(name)
            expression = self._resolve(expr)
            resolved.append((name, expression))
            columns[name] = self._lineage_of(expression)
        return Table(MapNode([self._node], columns, outputs=resolved))

    def _lineage_of(self, expression: ColumnExpression) -> ColumnInfo:
        if isinstance(expression, InputColumn):
            return self._columns[expression.name]
        return ColumnInfo(expression.dtype)


def _named_args(args: Iterable[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, (ColumnReference, ThisReference)):
            outputs[arg.name] = arg
        else:
            raise api_error(ApiValueError, f"positional arguments must be column references "
                                           f"(t.col or pw.this.col); give a name to {arg!r}")
    for name, value in kwargs.items():
        outputs[name] = value
    return outputs


def check_column_name(name: str) -> None:
    """Rejects names that cannot be columns (reserved, not identifiers)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise api_error(ApiValueError, f"{name!r} is not a valid column name")
    if name == "id" or (name.startswith("_") and name != "_metadata"):
        raise api_error(ApiValueError, f"column name {name!r} is reserved")
