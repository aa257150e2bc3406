"""``pw.io.kafka``: read a Kafka topic into a table, write a table's changes to Kafka.

Reading: one reader actor per partition (or per group of partitions with
``parallel_readers``), partitions assigned explicitly, offsets committed under
the user's ``group.id`` only after every output made the data durable, so a
restarted pipeline resumes where it stopped. Writing: whole batches are
serialised at once and the producer is flushed at every commit time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from raystream import dtypes as dt
from raystream.connectors.kafka import KafkaSourceSpec
from raystream.connectors.kafka_client import KafkaSettingsError, make_producer
from raystream.connectors.kafka_sink import KafkaSinkSpec
from raystream.errors import ApiValueError, api_error
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

METADATA = "_metadata"
RESERVED_HEADERS = ("pathway_time", "pathway_diff")


class KafkaSettings(BaseModel):
    """The rdkafka settings dict, checked before anything connects."""

    model_config = ConfigDict(frozen=True)

    rdkafka_settings: dict[str, Any]

    @field_validator("rdkafka_settings")
    @classmethod
    def _has_servers(cls, value: dict[str, Any]) -> dict[str, Any]:
        servers = value.get("bootstrap.servers")
        if not isinstance(servers, str) or not servers.strip():
            raise ValueError("needs a non-empty 'bootstrap.servers' (e.g. 'host:9092'), "
                             f"got {servers!r}")
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"setting names must be strings, got {key!r}")
        return value


class KafkaReadArgs(KafkaSettings):
    """Arguments of :func:`read` besides the schema and the common source options."""

    topic: str = Field(min_length=1)
    format: Literal["raw", "plaintext", "csv", "json"] = "raw"
    mode: Literal["streaming", "static"] = "streaming"
    json_field_paths: dict[str, str] | None = None
    autogenerate_key: bool = False
    with_metadata: bool = False
    start_from_timestamp_ms: int | None = Field(None, ge=0)

    @field_validator("rdkafka_settings")
    @classmethod
    def _has_group(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value.get("group.id"):
            raise ValueError("needs a 'group.id': processed offsets are committed under it "
                             "and a restarted pipeline resumes from them")
        return value


def _validate(model: type[BaseModel], where: str, **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise api_error(ApiValueError, f"{where}: {problems}") from None


def read(rdkafka_settings: dict, topic: str | None = None, *, schema: type[Schema] | None = None,
         format: str = "raw", mode: str = "streaming", autocommit_duration_ms: int | None = 1500,
         json_field_paths: dict[str, str] | None = None, autogenerate_key: bool = False,
         with_metadata: bool = False, start_from_timestamp_ms: int | None = None,
         parallel_readers: int | None = None, max_backlog_size: int | None = None,
         name: str | None = None, debug_data: Any = None,
         max_batch_rows: int | None = None) -> Table:
    """Reads a Kafka topic.

    Args:
        rdkafka_settings: librdkafka settings; ``bootstrap.servers`` and
            ``group.id`` are required. Offsets are committed under ``group.id``
            once the outputs are durable (``enable.auto.commit`` is ignored).
        topic: The topic.
        schema: Columns for ``json``/``csv``; primary key columns make later
            messages replace earlier rows with the same key.
        format: ``raw`` (``data: bytes`` and ``key: bytes``), ``plaintext``
            (``data: str``, ``key: str``), ``json`` or ``csv`` (the first message
            of partition 0 is the header line, sent once).
        mode: ``streaming`` runs forever; ``static`` reads every partition up to
            its high watermark at start, then ends.
        autocommit_duration_ms: Maximum time between two commits.
        json_field_paths: Column -> JSON Pointer into each message.
        autogenerate_key: ``raw``/``plaintext``: generate row keys instead of
            using message keys (by default a message with a key replaces the
            row with the same key).
        with_metadata: Add a ``_metadata`` Json column (timestamp_millis, topic,
            partition, offset, headers).
        start_from_timestamp_ms: Partitions without a committed offset start at
            the first message at or after this time (at the end if all are older).
            Committed offsets win, so a restart resumes instead of re-reading.
        parallel_readers: Number of reader actors (default: one per partition).
        max_backlog_size: Messages read but not yet durable that pause reading.
        name: Source name (logs, actor names).
        debug_data: Not supported (raises if given).
        max_batch_rows: Largest batch per poll (raystream extension).

    Returns:
        The table of messages.
    """
    reject_unsupported("kafka.read", debug_data=debug_data)
    args = _validate(KafkaReadArgs, "kafka.read", rdkafka_settings=rdkafka_settings,
                     topic=topic, format=format, mode=mode, json_field_paths=json_field_paths,
                     autogenerate_key=autogenerate_key, with_metadata=with_metadata,
                     start_from_timestamp_ms=start_from_timestamp_ms)
    types, primary_key = _read_columns(args, schema)
    opts = source_options("kafka.read", autocommit_duration_ms=autocommit_duration_ms,
                          parallel_readers=parallel_readers, max_backlog_size=max_backlog_size,
                          name=name, max_batch_rows=max_batch_rows)
    identity = args.format in ("raw", "plaintext")
    message_keys = identity and not args.autogenerate_key
    spec = KafkaSourceSpec(
        name=opts.name or f"kafka:{args.topic}", topic=args.topic,
        settings=dict(args.rdkafka_settings),
        parse=parse_spec(schema if not identity else None, args.format, args.json_field_paths),
        mode=args.mode, with_metadata=args.with_metadata, key_column=identity,
        message_keys=message_keys, start_from_timestamp_ms=args.start_from_timestamp_ms)
    descriptor = SourceDescriptor("kafka", args.topic, spec, opts, tuple(types), primary_key,
                                  use_message_key=message_keys,
                                  grows=args.mode == "streaming")
    return source_table(descriptor, types)


def _read_columns(args: KafkaReadArgs,
                  schema: type[Schema] | None) -> tuple[dict[str, dt.DType], tuple[str, ...]]:
    """Column types and primary key of a Kafka source."""
    if args.format in ("raw", "plaintext"):
        if schema is not None or args.json_field_paths is not None:
            raise api_error(ApiValueError, f"kafka.read: format {args.format!r} has fixed "
                                           "columns 'data' and 'key'; schema and "
                                           "json_field_paths are for 'json' and 'csv'")
        value = dt.BYTES if args.format == "raw" else dt.STR
        types = {"data": value, "key": value.with_optional()}
        primary_key: tuple[str, ...] = ()
    else:
        if schema is None:
            raise api_error(ApiValueError, f"kafka.read: format {args.format!r} needs a schema")
        if args.autogenerate_key:
            raise api_error(ApiValueError, "kafka.read: autogenerate_key is only meaningful "
                                           "for 'raw' and 'plaintext'")
        if args.json_field_paths is not None and args.format != "json":
            raise api_error(ApiValueError, "kafka.read: json_field_paths needs format='json'")
        check_schema(schema, "kafka.read")
        if METADATA in schema.column_names():
            raise api_error(ApiValueError, f"kafka.read: {METADATA!r} is reserved for "
                                           "with_metadata=True; rename the schema column")
        types = schema.typehints()
        primary_key = tuple(schema.primary_key_columns() or ())
    if args.with_metadata:
        types = {**types, METADATA: dt.JSON}
    return types, primary_key


def write(table: Table, rdkafka_settings: dict, topic_name: Any = None, *,
          format: str = "json", delimiter: str = ",", key: Any = None, value: Any = None,
          headers: Any = None, name: str | None = None, sort_by: Any = None) -> None:
    """Writes the table's changes to Kafka, flushing the producer at every commit time.

    Args:
        table: The table.
        rdkafka_settings: librdkafka settings (``bootstrap.servers`` required).
        topic_name: A topic, or a column reference: each row goes to the topic
            named in that column (which is then left out of the payload).
        format: ``json`` (the columns plus ``time`` and ``diff``), ``dsv``
            (delimiter-separated values, a header message first per topic),
            ``plaintext`` or ``raw`` (the ``value`` column as it is).
        delimiter: Field separator of ``dsv``.
        key: Column used as message key (str or bytes); default: the row key.
        value: Payload column for ``plaintext``/``raw`` (optional if the table
            has a single column; required when ``key`` is given).
        headers: Columns sent as headers named after them (values as UTF-8
            text, bytes as they are). ``pathway_time`` and ``pathway_diff``
            headers are always added.
        name: Sink name.
        sort_by: Columns to sort each commit time's rows by.
    """
    where = "kafka.write"
    settings = _validate(KafkaSettings, where, rdkafka_settings=rdkafka_settings).rdkafka_settings
    if not isinstance(table, Table):
        raise api_error(ApiValueError, f"{where}: expected a pw.Table, got {type(table).__name__}")
    if format not in ("json", "dsv", "plaintext", "raw"):
        raise api_error(ApiValueError, f"{where}: format must be 'json', 'dsv', 'plaintext' "
                                       f"or 'raw', got {format!r}")
    if delimiter != "," and format != "dsv":
        raise api_error(ApiValueError, f"{where}: delimiter is only used by format='dsv'")
    types = table.typehints()
    topic, topic_column = _topic(topic_name, types)
    spec = KafkaSinkSpec(
        name=name or f"kafka:{topic or topic_column}", settings=dict(settings), topic=topic,
        format=format, topic_column=topic_column,
        key_column=_key(key, types), value_column=_value(format, key, value, types, topic_column),
        header_columns=_headers(headers, types), delimiter=delimiter,
        json_columns=tuple(n for n, t in types.items() if t.is_json))
    _check_producer_settings(settings, spec.name)
    descriptor = SinkDescriptor("kafka", topic or f"<{topic_column}>", spec,
                                sort_columns(sort_by), name, include_key=key is None)
    register_sink(table, descriptor, check_reserved=format in ("json", "dsv"))


def _column(ref: Any, what: str, types: dict[str, dt.DType],
            allowed: tuple[str, ...] | None = None) -> str:
    column = column_name(ref, what)
    if column not in types:
        raise api_error(ApiValueError, f"kafka.write: {what}: the table has no column {column!r}")
    dtype = types[column]
    if allowed is not None and dtype.name not in allowed:
        raise api_error(ApiValueError, f"kafka.write: {what} column {column!r} must be of type "
                                       f"{' or '.join(allowed)}, got {dtype}")
    return column


def _topic(topic_name: Any, types: dict[str, dt.DType]) -> tuple[str | None, str | None]:
    if isinstance(topic_name, str):
        if not topic_name:
            raise api_error(ApiValueError, "kafka.write: topic_name must not be empty")
        return topic_name, None
    if topic_name is None:
        raise api_error(ApiValueError, "kafka.write: topic_name is required")
    return None, _column(topic_name, "topic_name", types, ("str", "Any"))


def _key(key: Any, types: dict[str, dt.DType]) -> str | None:
    return None if key is None else _column(key, "key", types, ("str", "bytes", "Any"))


def _value(format: str, key: Any, value: Any, types: dict[str, dt.DType],
           topic_column: str | None) -> str | None:
    if format in ("json", "dsv"):
        if value is not None:
            raise api_error(ApiValueError, f"kafka.write: value cannot be used with "
                                           f"format={format!r} (every column is written)")
        return None
    if value is None:
        if key is not None:
            raise api_error(ApiValueError, "kafka.write: value is required when key is given")
        payload = [c for c in types if c != topic_column]
        if len(payload) != 1:
            raise api_error(ApiValueError, f"kafka.write: format {format!r} needs value=<column> "
                                           f"for a table with columns {payload}")
        value = payload[0]
    return _column(value, "value", types, ("str", "bytes", "Any"))


def _headers(headers: Any, types: dict[str, dt.DType]) -> tuple[str, ...]:
    names: list[str] = []
    for ref in headers or ():
        column = _column(ref, "headers", types)
        if column in RESERVED_HEADERS:
            raise api_error(ApiValueError, f"kafka.write: header {column!r} is reserved for "
                                           "the time and diff headers; rename the column")
        if column in names:
            raise api_error(ApiValueError, f"kafka.write: header {column!r} given twice")
        names.append(column)
    return tuple(names)


def _check_producer_settings(settings: dict[str, Any], what: str) -> None:
    """Builds (and drops) a producer so unknown or bad settings fail at definition time."""
    try:
        make_producer(settings, what, log_level=0)
    except KafkaSettingsError as exc:
        raise api_error(ApiValueError, str(exc)) from None
