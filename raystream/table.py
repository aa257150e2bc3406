"""``pw.Table``: a changing collection of keyed rows, and its column operations.

Operations on row keys (universes, set operations, updates, concat, flatten,
new ids) are in :mod:`raystream.table_keys`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from raystream import dtypes as dt
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
from raystream.graph import ColumnInfo, FilterNode, G, MapNode, Node, is_append_only, zip_node
from raystream.groupby import GroupedTable
from raystream.names import check_column_name
from raystream.reducers import find_reducers
from raystream.schema import ColumnSchema, Schema, schema_from_columns
from raystream.table_keys import KeyOperations
from raystream.table_streams import StreamOperations
from raystream.universes import Universe


class Table(KeyOperations, StreamOperations):
    """A table of rows with keys, changing over time (Pathway's ``pw.Table``).

    Tables are built by input connectors and by operations on other tables;
    nothing is computed until ``pw.run()`` (or a ``pw.debug`` function).
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        if not node.label:
            node.label = f"{node.kind} at {user_location()}"
        G.add_node(node)

    # -- columns -------------------------------------------------------------
    @property
    def _columns(self) -> dict[str, ColumnInfo]:
        return self._node.columns

    @property
    def _universe(self) -> Universe:
        return self._node.universe

    def __getattr__(self, name: str) -> ColumnReference:
        if name.startswith("__") or name == "_node":
            raise AttributeError(name)
        if name in self._node.columns:
            return ColumnReference(self, name)
        raise AttributeError(f"Table has no attribute {name!r}; columns: "
                             f"{', '.join(self._node.columns) or '(none)'}")

    def __getitem__(self, name: Any) -> Any:
        if isinstance(name, list):
            return self.select(*[self[n] for n in name])
        if isinstance(name, (ColumnReference, ThisReference)):
            name = name.name
        if name == "id":
            return self.id
        if name not in self._node.columns:
            raise api_error(ApiValueError, f"table has no column {name!r}; columns: "
                                           f"{', '.join(self._node.columns)}")
        return ColumnReference(self, name)

    def __iter__(self) -> Iterator[ColumnReference]:
        return iter([ColumnReference(self, n) for n in self._node.columns])

    def keys(self) -> list[str]:
        """The column names (so that ``**table`` passes the columns by name)."""
        return list(self._node.columns)

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
        keys = self._node.primary_key
        return schema_from_columns({n: ColumnSchema(n, c.dtype, n in keys)
                                    for n, c in self._node.columns.items()}, "TableSchema")

    def __class_getitem__(cls, schema: Any) -> Any:
        """``pw.Table[Schema]``: the type of a table with these columns (for annotations)."""
        import types  # noqa: PLC0415

        if isinstance(schema, tuple) and len(schema) == 1:  # typing re-subscripts with args
            schema = schema[0]
        return types.GenericAlias(cls, (schema,))

    def __repr__(self) -> str:
        return f"<pw.Table {', '.join(f'{n}: {c.dtype}' for n, c in self._columns.items())}>"

    # -- resolving expressions against this table ----------------------------
    def _resolve(self, expr: Any, allow_reducers: bool = False) -> ColumnExpression:
        return self._resolve_all([expr], allow_reducers)[1][0]

    def _resolve_all(self, exprs: list[Any], allow_reducers: bool = False
                     ) -> tuple[Node, list[ColumnExpression]]:
        """Resolves expressions; columns of other tables over these rows are zipped in.

        Returns the node the expressions read (this table's, or a zip of it with
        the other tables) and the resolved expressions.
        """
        wrapped = [wrap(e) for e in exprs]
        if not allow_reducers and any(find_reducers(e) for e in wrapped):
            raise api_error(ApiValueError, "reducers (pw.reducers.*) can only be used "
                                           "inside reduce()")
        base = self._zip_with(_foreign_tables(wrapped, self))
        return base, [e.resolve(lambda ref: self._bind(ref, base.columns)) for e in wrapped]

    def _bind(self, ref: ColumnExpression, columns: dict[str, ColumnInfo] | None = None
              ) -> ColumnExpression:
        """Binds ``t.name`` / ``pw.this.name`` to a column of this table (or its zip)."""
        columns = self._columns if columns is None else columns
        name = ref.name  # type: ignore[attr-defined]
        if isinstance(ref, ThisReference) or ref.table is self:  # type: ignore[attr-defined]
            if name in self._columns:
                return InputColumn(name, self._columns[name].dtype)
            raise api_error(ApiValueError, f"Table has no column {name!r}; columns: "
                                            f"{', '.join(self._columns)}")
        other = ref.table._columns.get(name)  # type: ignore[attr-defined]
        if other is None:
            raise api_error(ApiValueError, f"no column {name!r} in the referenced table")
        for mine, info in columns.items():
            if info.lineage is other.lineage:
                return InputColumn(mine, info.dtype)
        raise api_error(ApiValueError, f"column {name!r} belongs to a table whose rows are not "
                                       "known to include this table's rows; use "
                                       "pw.universes.promise_is_subset_of(...) or "
                                       "with_universe_of(...)")

    def _zip_with(self, tables: list[Table]) -> Node:
        if not tables:
            return self._node
        columns = dict(self._columns)
        sources = []
        for j, other in enumerate(tables):
            if not self._universe.is_subset_of(other._universe):
                raise api_error(ApiValueError, "a column used here belongs to another table "
                                               "whose rows are not known to include this "
                                               "table's rows; use pw.universes."
                                               "promise_is_subset_of(...) or with_universe_of")
            mapping = {}
            for name, info in other._columns.items():
                columns[f"_z{j}_{name}"] = info
                mapping[f"_z{j}_{name}"] = name
            sources.append(mapping)
        return zip_node(self._node, [t._node for t in tables], sources, columns, self._universe)

    # -- stateless operations ------------------------------------------------
    def select(self, *args: Any, **kwargs: Any) -> Table:
        """A table with the given columns, computed per row (``t.select(t.a, b=t.a + 1)``)."""
        return self._map(self._named_args(args, kwargs), keep=False)

    def with_columns(self, *args: Any, **kwargs: Any) -> Table:
        """This table with columns added or replaced."""
        return self._map(self._named_args(args, kwargs), keep=True)

    def __add__(self, other: Table) -> Table:
        """This table with the columns of ``other`` (same rows) added."""
        return self.with_columns(*other)

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
        """Renames columns given as ``{old_name_or_ref: new_name}``; renamed columns go last."""
        mapping = {(k if isinstance(k, str) else k.name): v for k, v in names_mapping.items()}
        for old in mapping:
            if old not in self._columns:
                raise api_error(ApiValueError, f"rename: no column {old!r}")
        outputs = {n: ColumnReference(self, n) for n in self._columns if n not in mapping}
        outputs.update({new: ColumnReference(self, old) for old, new in mapping.items()})
        return self._map(outputs, keep=False)

    def with_prefix(self, prefix: str) -> Table:
        """Every column renamed to ``prefix + name``."""
        return self.rename_by_dict({n: prefix + n for n in self._columns})

    def with_suffix(self, suffix: str) -> Table:
        """Every column renamed to ``name + suffix``."""
        return self.rename_by_dict({n: n + suffix for n in self._columns})

    def copy(self) -> Table:
        """The same table (a new node with the same columns)."""
        return self.select(*self)

    def filter(self, filter_expression: Any) -> Table:
        """The rows where ``filter_expression`` is true."""
        base, (predicate,) = self._resolve_all([filter_expression])
        if predicate.dtype.name != "bool" and not predicate.dtype.is_any:
            raise api_error(ApiTypeError, f"filter needs a bool expression, got "
                                          f"{predicate.dtype}")
        columns = dict(base.columns)
        node = FilterNode([base], columns, predicate=predicate,
                          universe=Universe(subset_of=self._universe))
        if base is self._node:
            return Table(node)
        keep: list[tuple[str, ColumnExpression]] = [
            (n, InputColumn(n, i.dtype)) for n, i in self._columns.items()]
        return Table(MapNode([node], dict(self._columns), outputs=keep, universe=node.universe))

    def split(self, split_expression: Any) -> tuple[Table, Table]:
        """The rows where the expression is true, and the others."""
        return self.filter(split_expression), self.filter(~wrap(split_expression))

    def await_futures(self) -> Table:
        """This table with its ``Future[T]`` columns (fully async UDFs) as ``T``."""
        columns = {n: ColumnInfo(dt.future_inner(info.dtype)) if info.dtype.name.startswith(
            "Future[") else info for n, info in self._columns.items()}
        outputs: list[tuple[str, ColumnExpression]] = [
            (n, InputColumn(n, columns[n].dtype)) for n in self._columns]
        return Table(MapNode([self._node], columns, outputs=outputs, universe=self._universe))

    @property
    def is_append_only(self) -> bool:
        """True if rows are only ever added (no retraction can reach this table)."""
        return is_append_only(self._node)

    def update_id_type(self, id_type: Any, *, id_append_only: bool | None = None) -> Table:
        """Declares the type of the row ids (raystream keys are all ``pw.Pointer``)."""
        return self

    def update_types(self, **kwargs: Any) -> Table:
        """Declares new column types without converting values (as Pathway's ``update_types``)."""
        for name in kwargs:
            if name not in self._columns:
                raise api_error(ApiValueError, f"update_types: no column {name!r}")
            old, new = self._columns[name].dtype, dt.dtype_of(kwargs[name])
            if not dt.may_retype(old, new):
                raise api_error(ApiTypeError, f"Cannot change type from {old.name.upper()} to "
                                              f"{new.name.upper()}.\nTable.update_types() "
                                              "should be used only for type narrowing or type "
                                              "extending.")
        columns = {n: (ColumnInfo(dt.dtype_of(kwargs[n])) if n in kwargs else info)
                   for n, info in self._columns.items()}
        outputs: list[tuple[str, ColumnExpression]] = [
            (n, InputColumn(n, columns[n].dtype)) for n in self._columns]
        return Table(MapNode([self._node], columns, outputs=outputs, universe=self._universe))

    def cast_to_types(self, **kwargs: Any) -> Table:
        """Converts columns to new types (``pw.cast`` per column)."""
        from raystream.expressions import cast  # noqa: PLC0415
        return self.with_columns(**{n: cast(t, ColumnReference(self, n))
                                    for n, t in kwargs.items()})

    def groupby(self, *args: Any, id: Any = None, sort_by: Any = None,  # noqa: A002
                instance: Any = None, **kwargs: Any) -> Any:
        """Groups rows by the values of columns; follow with ``.reduce(...)``."""
        if sort_by is not None:
            raise api_error(ApiValueError, "groupby(sort_by=...) is not supported")
        groups = list(args) + ([instance] if instance is not None else [])
        return GroupedTable(self, groups, id_column=id)  # instance: one more grouping column

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """Aggregates the whole table into one row (``t.reduce(s=pw.reducers.sum(t.v))``)."""
        return GroupedTable(self, []).reduce(*args, **kwargs)

    def _map(self, outputs: dict[str, Any], keep: bool, check: bool = True) -> Table:
        names = list(outputs)
        for name in names:
            if check:
                check_column_name(name)
        base, exprs = self._resolve_all([outputs[n] for n in names])
        computed: dict[str, ColumnExpression] = dict(zip(names, exprs, strict=True))
        order = ([*self._columns, *(n for n in names if n not in self._columns)]
                 if keep else names)  # with_columns replaces columns in place
        resolved: list[tuple[str, ColumnExpression]] = []
        columns: dict[str, ColumnInfo] = {}
        for name in order:
            expression = computed.get(name)
            if expression is None:
                info = self._columns[name]
                resolved.append((name, InputColumn(name, info.dtype)))
                columns[name] = info
                continue
            resolved.append((name, expression))
            columns[name] = base.columns[expression.name] \
                if isinstance(expression, InputColumn) else ColumnInfo(expression.dtype)
        return Table(MapNode([base], columns, outputs=resolved, universe=self._universe))

    def _named_args(self, args: Iterable[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for arg in args:
            if isinstance(arg, ThisStar):
                for name in arg.names(list(self._columns)):
                    outputs[name] = ColumnReference(self, name)
            elif isinstance(arg, (ColumnReference, ThisReference)):
                outputs[arg.name] = arg
            elif isinstance(arg, IdReference):
                raise api_error(ApiValueError, "id cannot be selected as a column; "
                                               "name it, e.g. select(ptr=t.id)")
            else:
                raise api_error(ApiValueError, f"positional arguments must be column "
                                               f"references (t.col or pw.this.col); give a "
                                               f"name to {arg!r}")
        for name, value in kwargs.items():
            outputs[name] = value
        return outputs


def _foreign_tables(exprs: list[ColumnExpression], table: Table) -> list[Table]:
    """Other tables whose columns the expressions use and this table does not carry."""
    found: dict[int, Table] = {}
    lineages = {id(info.lineage) for info in table._columns.values()}

    def visit(expr: ColumnExpression) -> None:
        owner = getattr(expr, "table", None)
        if isinstance(expr, ColumnReference) and owner is not table and owner is not None:
            info = owner._columns.get(expr.name)
            if info is not None and id(info.lineage) not in lineages:
                found.setdefault(owner._node.id, owner)
        for child in expr.children():
            visit(child)

    for expr in exprs:
        visit(expr)
    return list(found.values())

