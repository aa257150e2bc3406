"""Operations on row keys: universes, key set operations, updates, concat, flatten, new ids.

Mixed into :class:`raystream.table.Table`; every method returns a new table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raystream import dtypes as dt
from raystream import universes
from raystream.errors import ApiTypeError, ApiValueError, api_error, warn_at_user
from raystream.expressions import (
    ColumnExpression,
    IdReference,
    InputColumn,
    IsError,
    PointerFrom,
    wrap,
)
from raystream.graph import ColumnInfo, CombineNode, ConcatNode, FlattenNode, RekeyNode
from raystream.ops import HOOKS
from raystream.schema import schema_from_types
from raystream.universes import Universe

if TYPE_CHECKING:
    from raystream.table import Table


class KeyOperations:
    """The key operations of ``pw.Table`` (see the module docstring)."""

    # -- universes -------------------------------------------------------------
    def promise_universe_is_subset_of(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """Promises that every key of this table is a key of ``other``; returns this table."""
        self._universe.promise_subset_of(other._universe)
        return self

    def promise_universe_is_equal_to(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """Promises that this table and ``other`` have the same keys; returns this table."""
        self._universe.promise_equal_to(other._universe)
        return self

    def promise_universes_are_disjoint(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """Promises that this table and ``other`` share no key; returns this table."""
        if self._universe.is_subset_of(other._universe) or \
                other._universe.is_subset_of(self._universe):
            warn_at_user("Found universe that is always empty, but wasn't declared as such "
                         "-- this is potentially a bug.")
        self._universe.promise_disjoint_from(other._universe)
        return self

    def with_universe_of(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """This table's rows, declared to have exactly ``other``'s keys."""
        if self._universe.is_equal_to(other._universe):
            return self.copy()
        table = self._combine([other], [((0, n),) for n in self._columns], required=(0, 1),
                              universe=other._universe)
        return table

    # -- key set operations ----------------------------------------------------
    def _combine(self: Table, others: list[Table], outputs: list, *,  # type: ignore[misc]
                 required: tuple[int, ...] = (), forbidden: tuple[int, ...] = (),
                 universe: Universe | None = None,
                 columns: dict[str, ColumnInfo] | None = None,
                 check_subset: bool = False) -> Table:
        node = CombineNode([self._node, *(t._node for t in others)],
                           dict(self._columns) if columns is None else columns,
                           outputs=outputs, required=required, forbidden=forbidden,
                           check_subset=check_subset,
                           universe=universe or Universe(subset_of=self._universe))
        return type(self)(node)

    def _own(self: Table) -> list:  # type: ignore[misc]
        return [((0, n),) for n in self._columns]

    def intersect(self: Table, *tables: Table) -> Table:  # type: ignore[misc]
        """The rows of this table whose keys are in every one of ``tables``."""
        if not tables:
            return self
        universe = Universe(subset_of=self._universe)
        for t in tables:
            universe.promise_subset_of(t._universe)
        return self._combine(list(tables), self._own(), required=tuple(range(len(tables) + 1)),
                             universe=universe)

    def difference(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """The rows of this table whose keys are not in ``other``."""
        return self._combine([other], self._own(), required=(0,), forbidden=(1,))

    def restrict(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """This table's rows with the keys of ``other`` (which must be a subset)."""
        if not other._universe.is_subset_of(self._universe):
            raise api_error(ApiValueError, "Table.restrict(): other universe has to be a "
                                           "subset of self universe. Consider using "
                                           "Table.promise_universe_is_subset_of() to assert it.")
        return self._combine([other], self._own(), required=(0, 1), universe=other._universe)

    def update_rows(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """Rows of both tables; where both have a key, ``other``'s row wins."""
        if set(self.column_names()) != set(other.column_names()):
            raise api_error(ApiValueError, "Columns do not match between argument of "
                                           "Table.update_rows() and the updated table.")
        if other._universe.is_subset_of(self._universe):
            universe = self._universe
        else:
            universe = Universe()
            self._universe.promise_subset_of(universe)
            other._universe.promise_subset_of(universe)
        if self._universe.is_subset_of(other._universe):
            warn_at_user("Universe of self is a subset of universe of other in update_rows. "
                         "Returning other.")
            return other
        columns = _unified(self, other, "update_rows")
        outputs = [((1, n), (0, n)) for n in self._columns]
        return self._combine([other], outputs, universe=universe, columns=columns)

    def update_cells(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """This table with the cells of ``other``'s columns replaced where ``other`` has the key."""
        for name in other.column_names():
            if name not in self._columns:
                raise api_error(ApiValueError, "Columns of the argument in Table.update_cells() "
                                               "not present in the updated table: "
                                               f"[{name!r}].")
        if not other._universe.is_subset_of(self._universe):
            raise api_error(ApiValueError, "Universe of the argument of Table.update_cells() "
                                           "needs to be a subset of the universe of the updated "
                                           "table.\nConsider using "
                                           "pw.universes.promise_is_subset_of() to assert this.")
        if self._universe.is_subset_of(other._universe):
            warn_at_user("Key sets of self and other in update_cells are the same. "
                         "Using with_columns instead of update_cells.")
            return self.with_columns(*other)
        columns = dict(self._columns)
        for name in other.column_names():
            unified = dt.unify(self._columns[name].dtype, other._columns[name].dtype)
            columns[name] = ColumnInfo(unified or self._columns[name].dtype)
        outputs = [((1, n), (0, n)) if n in other._columns else ((0, n),) for n in self._columns]
        return self._combine([other], outputs, required=(0,), universe=self._universe,
                             columns=columns, check_subset=True)

    def __lshift__(self: Table, other: Table) -> Table:  # type: ignore[misc]
        """Alias of :meth:`update_cells`."""
        return self.update_cells(other)

    # -- concat ----------------------------------------------------------------
    def concat(self: Table, *others: Table, _check_keys: bool = True) -> Table:  # type: ignore[misc]
        """The union of this table and ``others`` (same columns; keys must be disjoint).

        Promised disjointness is checked while running: a shared id raises
        ``KeyError`` (or, with ``terminate_on_error=False``, the later row is
        skipped and logged).
        """
        tables = [self, *others]
        for i, table in enumerate(tables):
            for other in tables[i + 1:]:
                if not table._universe.is_disjoint_from(other._universe):
                    raise api_error(ApiValueError, "Universes of the arguments of Table.concat() "
                                                   "have to be disjoint.\nConsider using "
                                                   "Table.promise_universes_are_disjoint() to "
                                                   "assert it.\n(However, untrue assertion might "
                                                   "result in runtime errors.)")
        columns = dict(self._columns)
        for other in others:
            columns = _unified_columns(columns, other, "concat")
        universe = Universe()
        for t in tables:
            t._universe.promise_subset_of(universe)
        return type(self)(ConcatNode([t._node for t in tables],
                                {n: ColumnInfo(c.dtype) for n, c in columns.items()},
                                universe=universe, check_keys=_check_keys))

    def concat_reindex(self: Table, *tables: Table) -> Table:  # type: ignore[misc]
        """The union of tables, each row with a new key (so keys never collide)."""
        all_tables = [self, *tables]
        rekeyed = [t._rekey([IdReference(t), wrap(i)]) for i, t in enumerate(all_tables)]
        universes.promise_are_pairwise_disjoint(*rekeyed)
        return rekeyed[0].concat(*rekeyed[1:], _check_keys=False)

    # -- new keys --------------------------------------------------------------
    def _rekey(self: Table, exprs: list[Any]) -> Table:  # type: ignore[misc]
        base, resolved = self._resolve_all(exprs)
        keep: list[tuple[str, ColumnExpression]] = [
            (n, InputColumn(n, i.dtype)) for n, i in self._columns.items()]
        node = RekeyNode([base], dict(self._columns), outputs=keep, key=tuple(resolved))
        return type(self)(node)

    def with_id_from(self: Table, *args: Any, instance: Any = None) -> Table:  # type: ignore[misc]
        """This table with keys ``pointer_from(*args)`` (rows with equal values collide)."""
        return self._rekey(list(args) + ([instance] if instance is not None else []))

    def with_id(self: Table, new_index: Any) -> Table:  # type: ignore[misc]
        """This table with keys taken from a Pointer column."""
        base, (expr,) = self._resolve_all([new_index])
        if expr.dtype.name != "Pointer" and not expr.dtype.is_any:
            raise api_error(ApiTypeError, f"with_id needs a Pointer column, got {expr.dtype}")
        keep: list[tuple[str, ColumnExpression]] = [
            (n, InputColumn(n, i.dtype)) for n, i in self._columns.items()]
        return type(self)(RekeyNode([base], dict(self._columns), outputs=keep, key=(expr,),
                               raw_key=True))

    def pointer_from(self: Table, *args: Any, optional: bool = False,  # type: ignore[misc]
                     instance: Any = None) -> Any:
        """The key a row with these values would have (``pw.Pointer``)."""
        values = list(args) + ([instance] if instance is not None else [])
        return PointerFrom(values, optional)

    # -- flatten -----------------------------------------------------------------
    def flatten(self: Table, to_flatten: Any, *, origin_id: str | None = None  # type: ignore[misc]
                ) -> Table:
        """One row per item of a list/tuple/str/Json column (other columns repeated)."""
        name = to_flatten if isinstance(to_flatten, str) else to_flatten.name
        column = self._resolve(to_flatten if not isinstance(to_flatten, str) else self[name])
        item = dt.item_dtype(column.dtype)
        if item is None:
            shown = column.dtype.name.upper() if not column.dtype.optional else column.dtype
            raise api_error(ApiTypeError, f"Cannot flatten column of type {shown}.")
        columns = {n: (ColumnInfo(item) if n == name else info)
                   for n, info in self._columns.items()}
        if origin_id is not None:
            columns[origin_id] = ColumnInfo(dt.POINTER)
        return type(self)(FlattenNode([self._node], columns, column=name, origin_id=origin_id,
                                 item_dtype=item, source_dtype=column.dtype))

    # -- constructors ------------------------------------------------------------
    @staticmethod
    def empty(**kwargs: Any) -> Table:
        """An empty static table with the given column types."""
        return HOOKS["static_table_from_rows"](schema_from_types(**kwargs), [])

    @staticmethod
    def from_columns(*args: Any, **kwargs: Any) -> Table:
        """A table of columns of tables with one universe."""
        refs = list(args) + list(kwargs.values())
        names = [r.name for r in args] + list(kwargs)
        if len(set(names)) != len(names):
            raise ValueError(f"Table.from_columns(): duplicate column names {names}")
        if not refs:
            raise ValueError("Table.from_columns() cannot have empty arguments list")
        table = refs[0].table
        for ref in refs:
            if not table._universe.is_equal_to(ref.table._universe):
                raise ValueError("Universes of all arguments of Table.from_columns() have to be "
                                 "equal.\nConsider using Table.promise_universes_are_equal() to "
                                 "assert it.\n(However, untrue assertion might result in runtime "
                                 "errors.)")
        return table.select(*args, **kwargs)

    def remove_errors(self: Table) -> Table:  # type: ignore[misc]
        """The rows without error values in any column."""
        condition = None
        for ref in self:
            ok = ~IsError(ref)
            condition = ok if condition is None else condition & ok
        return self.filter(condition) if condition is not None else self.copy()


def _unified_columns(columns: dict[str, ColumnInfo], other: Table, what: str
                     ) -> dict[str, ColumnInfo]:
    if sorted(other.column_names()) != sorted(columns):
        raise api_error(ApiValueError, f"{what}: columns differ: {list(columns)} vs "
                                       f"{other.column_names()}")
    out = {}
    for name, info in columns.items():
        unified = dt.unify(info.dtype, other._columns[name].dtype)
        if unified is None:
            raise api_error(ApiTypeError, f"{what}: column {name!r} has types {info.dtype} "
                                          f"and {other._columns[name].dtype}")
        out[name] = info if unified == info.dtype else ColumnInfo(unified)
    return out


def _unified(table: Table, other: Table, what: str) -> dict[str, ColumnInfo]:
    return {n: ColumnInfo(c.dtype) for n, c in _unified_columns(dict(table._columns), other,
                                                                what).items()}
