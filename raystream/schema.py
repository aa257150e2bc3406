"""``pw.Schema``: typed columns declared as a class, compiled to an Arrow schema."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa

from raystream.dtypes import DType, dtype_of
from raystream.errors import ApiTypeError, ApiValueError, api_error

_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class ColumnDefinition:
    """What ``pw.column_definition`` declares about a column.

    Attributes:
        primary_key: Rows with equal primary keys are the same row (upsert).
        default_value: Used when the input lacks the field.
        dtype: Overrides the annotation.
        name: The column's name in the input, if different.
    """

    primary_key: bool = False
    default_value: Any = _NO_DEFAULT
    dtype: Any = None
    name: str | None = None

    @property
    def has_default(self) -> bool:
        """True if a default value was given (None counts)."""
        return self.default_value is not _NO_DEFAULT


def column_definition(*, primary_key: bool = False, default_value: Any = _NO_DEFAULT,
                      dtype: Any = None, name: str | None = None,
                      append_only: bool | None = None, description: str | None = None,
                      example: Any = None) -> Any:
    """Declares a column's properties inside a :class:`Schema` (as in Pathway).

    ``append_only``, ``description`` and ``example`` are accepted as Pathway's
    documentation hints; raystream derives whether a table is append-only from
    its operators (``Table.is_append_only``).

    Example:
        >>> class S(Schema):
        ...     id: int = column_definition(primary_key=True)
        ...     name: str = column_definition(default_value="anonymous")
    """
    return ColumnDefinition(primary_key, default_value, dtype, name)


@dataclass(frozen=True)
class ColumnSchema:
    """One resolved column of a schema."""

    name: str
    dtype: DType
    primary_key: bool = False
    default_value: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        """True if the column has a default value."""
        return self.default_value is not _NO_DEFAULT


class SchemaMeta(type):
    """Collects annotated columns of :class:`Schema` subclasses."""

    __columns__: dict[str, ColumnSchema]

    def __new__(mcs, name: str, bases: tuple, namespace: dict, **kwargs: Any) -> SchemaMeta:
        """Builds a Schema class from its annotated columns."""
        cls = super().__new__(mcs, name, bases, namespace)
        columns: dict[str, ColumnSchema] = {}
        for base in reversed(bases):
            columns.update(getattr(base, "__columns__", {}))
        hints = namespace.get("__annotations__", {})
        module = sys.modules.get(namespace.get("__module__", ""))
        for column, hint in hints.items():
            if isinstance(hint, str):
                hint = _evaluate_hint(name, column, hint, module)
            columns[column] = _column_from(name, column, hint, namespace.get(column, _NO_DEFAULT))
        cls.__columns__ = columns
        return cls

    def __iter__(cls):  # noqa: D105 - iterate column names like Pathway
        return iter(cls.__columns__)

    def __repr__(cls) -> str:
        body = ", ".join(f"{c.name}: {c.dtype}" for c in cls.__columns__.values())
        return f"<pw.Schema {cls.__name__}({body})>"

    def __or__(cls, other: SchemaMeta) -> type[Schema]:
        return schema_from_columns({**cls.__columns__, **other.__columns__},
                                   f"{cls.__name__}|{other.__name__}")


def _evaluate_hint(schema: str, column: str, hint: str, module: Any) -> Any:
    """Evaluates a string annotation (``from __future__ import annotations``)."""
    scope = dict(vars(module)) if module is not None else {}
    try:
        return eval(hint, scope)  # noqa: S307 - annotations are the user's own code
    except Exception as exc:  # noqa: BLE001
        raise api_error(ApiTypeError, f"{schema}.{column}: cannot resolve type {hint!r}: "
                                      f"{exc}") from None


def _column_from(schema: str, column: str, hint: Any, value: Any) -> ColumnSchema:
    """Resolves one annotated column; ``value`` is its class attribute, if any."""
    if isinstance(value, ColumnDefinition):
        definition = value
    else:
        definition = ColumnDefinition(default_value=value)
    try:
        dtype = dtype_of(definition.dtype if definition.dtype is not None else hint)
    except TypeError as exc:
        raise api_error(ApiTypeError, f"{schema}.{column}: {exc}") from None
    return ColumnSchema(definition.name or column, dtype, definition.primary_key,
                        definition.default_value)


class Schema(metaclass=SchemaMeta):
    """Base class of table schemas (``class InputSchema(pw.Schema): value: int``)."""

    @classmethod
    def column_names(cls) -> list[str]:
        """Returns the column names in declaration order."""
        return list(cls.__columns__)

    @classmethod
    def columns(cls) -> dict[str, ColumnSchema]:
        """Returns the columns by name."""
        return dict(cls.__columns__)

    @classmethod
    def typehints(cls) -> dict[str, DType]:
        """Returns the column types by name."""
        return {n: c.dtype for n, c in cls.__columns__.items()}

    @classmethod
    def primary_key_columns(cls) -> list[str] | None:
        """Returns the primary key columns, or None if there are none."""
        keys = [n for n, c in cls.__columns__.items() if c.primary_key]
        return keys or None

    @classmethod
    def default_values(cls) -> dict[str, Any]:
        """Returns the declared default values by column."""
        return {n: c.default_value for n, c in cls.__columns__.items() if c.has_default}

    @classmethod
    def to_arrow(cls) -> pa.Schema:
        """Returns the Arrow schema of the columns."""
        return pa.schema([c.dtype.field(n) for n, c in cls.__columns__.items()])


def schema_from_columns(columns: dict[str, ColumnSchema], name: str = "Schema") -> type[Schema]:
    """Builds a Schema class from resolved columns."""
    cls = SchemaMeta(name, (Schema,), {})
    cls.__columns__ = dict(columns)
    return cast(type[Schema], cls)


def schema_from_types(_name: str | None = None, **types: Any) -> type[Schema]:
    """Builds a Schema from ``column=type`` pairs (``pw.schema_from_types``)."""
    columns = {}
    for column, hint in types.items():
        columns[column] = _column_from(_name or "Schema", column, hint, _NO_DEFAULT)
    return schema_from_columns(columns, _name or "Schema")


def schema_from_dict(columns: dict[str, Any], name: str = "Schema") -> type[Schema]:
    """Builds a Schema from ``{column: type or {"dtype": ..., "primary_key": ...}}``."""
    resolved = {}
    for column, spec in columns.items():
        if isinstance(spec, dict):
            definition = ColumnDefinition(spec.get("primary_key", False),
                                          spec.get("default_value", _NO_DEFAULT),
                                          spec.get("dtype"))
            resolved[column] = _column_from(name, column, spec.get("dtype"), definition)
        else:
            resolved[column] = _column_from(name, column, spec, _NO_DEFAULT)
    return schema_from_columns(resolved, name)


def check_schema(schema: Any, where: str) -> type[Schema]:
    """Validates a ``schema=`` argument."""
    if not isinstance(schema, SchemaMeta):
        raise api_error(ApiValueError, f"{where}: schema must be a pw.Schema subclass, "
                                       f"got {schema!r}")
    return cast(type[Schema], schema)
