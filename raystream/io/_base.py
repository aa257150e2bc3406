"""What input and output connectors hand to the planner, and shared helpers.

A connector's ``read()`` is three things (as in Pathway): where the data is
(a :class:`SourceSpec` from ``raystream.connectors``), how it is encoded (a
:class:`ParseSpec`), and source options (:class:`SourceOptions`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raystream import dtypes as dt
from raystream.connectors.base import ParseSpec, SinkSpec, SourceSpec
from raystream.connectors.batch import RESERVED_OUTPUT
from raystream.errors import ApiValueError, api_error
from raystream.graph import ColumnInfo, G, SinkNode, SourceNode, UpsertNode
from raystream.schema import Schema
from raystream.table import Table


class SourceOptions(BaseModel):
    """Options every input connector takes (validated with clear errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    autocommit_duration_ms: int = Field(1500, gt=0)
    max_backlog_size: int | None = Field(None, gt=0)
    parallel_readers: int | None = Field(None, gt=0)
    name: str | None = None
    max_batch_rows: int = Field(65536, gt=0)


def source_options(where: str, **values: Any) -> SourceOptions:
    """Validates source options, raising an error that points at the user's line."""
    try:
        return SourceOptions(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise api_error(ApiValueError, f"{where}: {problems}") from None


@dataclass(frozen=True)
class SourceDescriptor:
    """An input connector as the planner sees it.

    Attributes:
        kind: Connector name (``jsonlines``, ``kafka``...), for actor names.
        label: What it reads (file path, topic), for actor names.
        spec: The plain source client spec.
        options: Autocommit, backlog, parallelism, name.
        columns: Parsed columns in order.
        primary_key: Primary key columns.
        use_message_key: Records' own keys become row keys (upsert).
        dynamic: Partitions can appear and end while running (Kinesis shards).
        grows: Partitions can appear while running, none ends (Kafka, streaming).
        raw_ids: The source's record ids are the row keys (user-given ids).
        append_only: No record retracts a row (False: an in-memory stream with
            retractions).
    """

    kind: str
    label: str
    spec: SourceSpec
    options: SourceOptions
    columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    use_message_key: bool = False
    dynamic: bool = False
    grows: bool = False
    raw_ids: bool = False
    append_only: bool = True

    @property
    def name(self) -> str:
        """The user's name for the source, or ``kind:label``."""
        return self.options.name or f"{self.kind}:{self.label}"

    @property
    def seed(self) -> int:
        """A stable number distinguishing this source's record ids."""
        return zlib.crc32(self.name.encode())


@dataclass(frozen=True)
class SinkDescriptor:
    """An output connector as the planner sees it.

    Attributes:
        kind: Connector name.
        label: What it writes to.
        spec: The plain sink client spec, or None for a driver-side sink.
        sort_by: Columns to sort each commit time's rows by.
        name: The user's name for the sink.
        callbacks: Driver-side callbacks (subscribe, debug capture).
        include_key: Pass row keys to the sink.
    """

    kind: str
    label: str
    spec: SinkSpec | None
    sort_by: tuple[str, ...] = ()
    name: str | None = None
    callbacks: Any = None
    include_key: bool = False


def parse_spec(schema: type[Schema] | None, format: str, json_field_paths: dict | None = None,
               delimiter: str = ",", extra: dict[str, dt.DType] | None = None) -> ParseSpec:
    """Builds the ParseSpec for a schema and format (raw/plaintext have a ``data`` column)."""
    if format in ("raw", "plaintext"):
        dtype = dt.BYTES if format == "raw" else dt.STR
        import pyarrow as pa
        return ParseSpec(format, pa.schema([dtype.field("data")]))
    if schema is None:
        raise api_error(ApiValueError, f"format {format!r} needs a schema")
    columns = schema.columns()
    for name in json_field_paths or {}:
        if name not in columns:
            raise api_error(ApiValueError, f"json_field_paths: {name!r} is not a schema column")
    import pyarrow as pa
    fields = [c.dtype.field(n) for n, c in columns.items()]
    return ParseSpec(format, pa.schema(fields), defaults=schema.default_values(),
                     json_field_paths=dict(json_field_paths or {}), csv_delimiter=delimiter,
                     json_columns=tuple(n for n, c in columns.items() if c.dtype.is_json))


def source_table(descriptor: SourceDescriptor, column_types: dict[str, dt.DType]) -> Table:
    """Creates the Table of a source (with an upsert step if rows can be replaced)."""
    columns = {n: ColumnInfo(t) for n, t in column_types.items()}
    node = SourceNode([], columns, source=descriptor, primary_key=descriptor.primary_key)
    if descriptor.primary_key or descriptor.use_message_key:
        return Table(UpsertNode([node], dict(columns), primary_key=descriptor.primary_key))
    return Table(node)


def register_sink(table: Table, descriptor: SinkDescriptor, check_reserved: bool = True) -> None:
    """Registers an output of ``table`` for ``pw.run()``."""
    if not isinstance(table, Table):
        raise api_error(ApiValueError, f"{descriptor.kind}.write: expected a pw.Table, "
                                       f"got {type(table).__name__}")
    if check_reserved:
        for reserved in RESERVED_OUTPUT:
            if reserved in table.column_names():
                raise api_error(ApiValueError, f"{descriptor.kind}.write: the table has a "
                                               f"column named {reserved!r}, which the output "
                                               "uses for the changelog; rename it first")
    for column in descriptor.sort_by:
        if column not in table.column_names():
            raise api_error(ApiValueError, f"sort_by: no column {column!r}")
    G.add_sink(SinkNode([table._node], dict(table._columns), sink=descriptor))


def reject_unsupported(where: str, **arguments: Any) -> None:
    """Raises at the user's line if an argument raystream does not implement was given.

    Args:
        where: The function, e.g. ``"csv.read"``.
        **arguments: Argument name -> value; a value other than None is an error.
    """
    given = [name for name, value in arguments.items() if value is not None]
    if given:
        raise api_error(ApiValueError, f"{where}: {', '.join(given)} "
                                       f"{'is' if len(given) == 1 else 'are'} not supported")


def column_name(value: Any, what: str) -> str:
    """The column name of a reference argument (``t.col`` or a string)."""
    if value is None:
        raise api_error(ApiValueError, f"{what} is required")
    if isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    if name is None:
        raise api_error(ApiValueError, f"{what} must be a column reference, got {value!r}")
    return name
