"""``pw.io.kinesis``: AWS Kinesis Data Streams in and out.

Connection settings come from the environment as boto3 reads them
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, credentials) and are captured when
``read()``/``write()`` is called, so every Ray worker uses the same endpoint.

Reading: one reader actor per shard; a resharded stream is followed (a closed
parent shard is read to its end before its children). The sequence number of
each shard is committed to ``state_dir`` once the sinks made the rows
durable, and a restarted pipeline continues right after it.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raystream import dtypes as dt
from raystream.connectors.batch import KEY
from raystream.connectors.kinesis import (
    KinesisError,
    KinesisSinkSpec,
    KinesisSourceSpec,
    capture_settings,
)
from raystream.errors import ApiTypeError, ApiValueError, api_error
from raystream.expressions import IdReference
from raystream.io._base import (
    SinkDescriptor,
    SourceDescriptor,
    column_name,
    parse_spec,
    register_sink,
    reject_unsupported,
    source_options,
    source_table,
)
from raystream.io._files import sort_columns
from raystream.schema import Schema, check_schema
from raystream.table import Table

DEFAULT_STATE_ROOT = os.path.join("raystream-state", "kinesis")
_STREAM_NAME = r"^[a-zA-Z0-9_.-]+$"


class KinesisReadSettings(BaseModel):
    """The Kinesis-specific arguments of :func:`read`, validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_name: str = Field(min_length=1, max_length=128, pattern=_STREAM_NAME)
    format: Literal["raw", "plaintext", "json"] = "raw"
    json_field_paths: dict[str, str] | None = None
    state_dir: str | None = None


class KinesisWriteSettings(BaseModel):
    """The Kinesis-specific arguments of :func:`write`, validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_name: str | None = Field(None, min_length=1, max_length=128, pattern=_STREAM_NAME)
    format: Literal["raw", "plaintext", "json"] = "json"
    retry_timeout_s: float = Field(300.0, gt=0)


def _validate(model: type[BaseModel], where: str, **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise api_error(ApiValueError, f"{where}: {problems}") from None


def _settings(where: str) -> Any:
    try:
        return capture_settings(where)
    except KinesisError as exc:
        raise api_error(ApiValueError, str(exc)) from None


def read(stream_name: str, *, schema: type[Schema] | None = None,
         format: Literal["raw", "plaintext", "json"] = "raw",
         autocommit_duration_ms: int | None = 1500,
         json_field_paths: dict[str, str] | None = None, name: str | None = None,
         max_backlog_size: int | None = None, debug_data: Any = None,
         state_dir: str | os.PathLike[str] | None = None,
         max_batch_rows: int = 10000) -> Table:
    """Reads a table from a Kinesis stream (every shard, from TRIM_HORIZON or the saved position).

    Args:
        stream_name: The stream to read.
        schema: Columns of the ``json`` format (primary keys make later records
            replace earlier ones).
        format: ``"raw"`` (a bytes ``data`` column), ``"plaintext"`` (a str
            ``data`` column) or ``"json"`` (the schema's columns).
        autocommit_duration_ms: Maximum time between two commits; must not be None.
        json_field_paths: Column -> JSON Pointer (RFC 6901) into each record.
        name: Unique source name (logs; also names the default ``state_dir``).
        max_backlog_size: Records read but not yet written by every sink at
            which a shard reader pauses.
        debug_data: Not supported (raises if given).
        state_dir: raystream extension: directory of the per-shard positions;
            default ``./raystream-state/kinesis/<name or stream_name>``.
            It must be reachable from the reader actors (shared in a cluster).
        max_batch_rows: Largest GetRecords response (raystream extension).

    Returns:
        The table of records.
    """
    where = "kinesis.read"
    reject_unsupported(where, debug_data=debug_data)
    if autocommit_duration_ms is None:
        raise api_error(ApiValueError, f"{where}: autocommit_duration_ms must not be None "
                                       "for Kinesis")
    settings = _validate(KinesisReadSettings, where, stream_name=stream_name, format=format,
                         json_field_paths=json_field_paths,
                         state_dir=None if state_dir is None else os.fspath(state_dir))
    if settings.format == "json":
        if schema is None:
            raise api_error(ApiValueError, f"{where}: format 'json' needs a schema")
        check_schema(schema, where)
    elif json_field_paths:
        raise api_error(ApiValueError, f"{where}: json_field_paths needs format 'json'")
    parse = parse_spec(schema if settings.format == "json" else None, settings.format,
                       json_field_paths)
    opts = source_options(where, autocommit_duration_ms=autocommit_duration_ms, name=name,
                          max_backlog_size=max_backlog_size,
                          max_batch_rows=max_batch_rows)
    directory = settings.state_dir or os.path.join(DEFAULT_STATE_ROOT, name or stream_name)
    spec = KinesisSourceSpec(name=opts.name or f"kinesis:{stream_name}", stream=stream_name,
                             parse=parse, settings=_settings(where),
                             state_dir=os.path.abspath(directory))
    if settings.format == "json":
        types = schema.typehints()  # type: ignore[union-attr]
        primary_key = tuple(schema.primary_key_columns() or ())  # type: ignore[union-attr]
    else:
        types = {"data": dt.BYTES if settings.format == "raw" else dt.STR}
        primary_key = ()
    descriptor = SourceDescriptor("kinesis", stream_name, spec, opts, tuple(types), primary_key,
                                  dynamic=True)
    return source_table(descriptor, types)


def write(table: Table, stream_name: Any, *, format: Literal["raw", "plaintext", "json"] = "json",
          partition_key: Any = None, data: Any = None, name: str | None = None,
          sort_by: Any = None, retry_timeout_s: float = 300.0) -> None:
    """Streams the table's changes into Kinesis, one record per changed row.

    Args:
        table: The table to write.
        stream_name: A stream name, or a column of ``table`` holding each
            row's stream (a stream per row; the streams must exist).
        format: ``"json"`` (the columns plus ``time`` and ``diff``),
            ``"plaintext"`` (a str column) or ``"raw"`` (a bytes column).
        partition_key: Column whose value (as text, at most 256 bytes) is the
            partition key; default the row key.
        data: The payload column for plaintext/raw; needed unless the table
            has exactly one column.
        name: Unique sink name.
        sort_by: Columns to sort the rows of each commit time by.
        retry_timeout_s: How long failed records are retried before the
            pipeline fails (raystream extension).
    """
    where = "kinesis.write"
    if not isinstance(table, Table):
        raise api_error(ApiTypeError, f"{where}: expected a pw.Table, got {type(table).__name__}")
    columns = table.typehints()
    fixed = stream_name if isinstance(stream_name, str) else None
    stream_column = None if fixed is not None else _column(stream_name, columns, "stream_name")
    settings = _validate(KinesisWriteSettings, where, stream_name=fixed, format=format,
                         retry_timeout_s=retry_timeout_s)
    if stream_column is not None and columns[stream_column].arrow != dt.STR.arrow:
        raise api_error(ApiTypeError, f"{where}: the stream_name column {stream_column!r} must "
                                      f"hold str, not {columns[stream_column]}")
    key_column = None if partition_key is None or isinstance(partition_key, IdReference) \
        else _column(partition_key, columns, "partition_key")
    data_column = None
    if settings.format != "json":
        data_column = _data_column(data, columns, settings.format, where)
    spec = KinesisSinkSpec(
        name=name or f"kinesis:{fixed or stream_column}", settings=_settings(where),
        format=settings.format, columns=tuple(columns), stream=fixed,
        stream_column=stream_column, data_column=data_column,
        partition_key_column=key_column, key_column=KEY,
        json_columns=tuple(n for n, t in columns.items() if t.is_json),
        retry_timeout_s=settings.retry_timeout_s)
    label = fixed or f"<{stream_column}>"
    register_sink(table, SinkDescriptor("kinesis", label, spec, sort_columns(sort_by), name,
                                        include_key=True))


def _column(ref: Any, columns: dict[str, dt.DType], what: str) -> str:
    column = column_name(ref, what)
    if column not in columns:
        raise api_error(ApiValueError, f"kinesis.write: {what}: the table has no column "
                                       f"{column!r}; columns: {', '.join(columns)}")
    return column


def _data_column(data: Any, columns: dict[str, dt.DType], format: str, where: str) -> str:
    if data is None:
        if len(columns) != 1:
            raise api_error(ApiValueError, f"{where}: format {format!r} writes one column: pass "
                                           f"data=table.<column> (columns: {', '.join(columns)})")
        column = next(iter(columns))
    else:
        column = _column(data, columns, "data")
    wanted = dt.STR if format == "plaintext" else dt.BYTES
    if columns[column].arrow != wanted.arrow and not columns[column].is_any:
        raise api_error(ApiTypeError, f"{where}: format {format!r} needs a {wanted} data column; "
                                      f"{column!r} is {columns[column]}")
    return column
