"""Batch parsers: many payloads in, one RecordBatch (plus rejected records) out.

The fast path hands the whole batch to pyarrow's C++ JSON or CSV reader. If
pyarrow rejects the batch (one bad record spoils the block), the batch is
bisected so the good halves still parse in bulk, and each bad record is
re-examined alone in Python to give a precise reason. Records never shift: a
result row is always matched to the payload it came from.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
from raystream.connectors.base import ParseSpec, RecordError
from raystream.connectors.values import BadValue, convert_value, resolve_pointer

Where = Callable[[int], str]
"""Maps a payload index to its position text, e.g. ``lambda i: f"line={i + 1}"``."""

_RAW_PREVIEW = 200


@dataclass(frozen=True)
class ParseResult:
    """Rows parsed from a list of payloads.

    Attributes:
        batch: One row per accepted payload, in payload order.
        accepted: Indices (into the payloads) of the rows in ``batch``.
        errors: One entry per rejected payload.
    """

    batch: pa.RecordBatch
    accepted: np.ndarray
    errors: list[RecordError]


def parse_payloads(
    payloads: Sequence[bytes],
    spec: ParseSpec,
    source: str,
    where: Where,
    csv_header: Sequence[str] | None = None,
) -> ParseResult:
    """Parses payloads according to ``spec.format``.

    Args:
        payloads: Raw records (message values, file lines).
        spec: Format, schema, defaults and JSON paths.
        source: Source description for error messages.
        where: Position text for a payload index.
        csv_header: Column names for the ``csv`` format.

    Returns:
        The parsed rows and the rejected records.
    """
    if spec.format == "raw":
        return _accept_all(pa.record_batch({"data": pa.array(payloads, pa.binary())}))
    if spec.format == "plaintext":
        return _parse_plaintext(payloads, source, where)
    if spec.format == "json":
        return _Parser(spec, source, where, _json_bulk, _json_single).run(payloads)
    if spec.format == "csv":
        header = list(csv_header or spec.schema.names)
        return _Parser(spec, source, where, _csv_bulk(header, spec),
                       _csv_single(header, spec)).run(payloads)
    raise ValueError(f"unknown format {spec.format!r}")


def bulk_parse(data: bytes, count: int, spec: ParseSpec,
               csv_header: Sequence[str] | None = None) -> pa.RecordBatch | None:
    """Parses ``count`` newline-separated records held in one buffer, all at once.

    The fast path for line-oriented sources: no per-line Python work at all.

    Returns:
        The rows if every record parsed and fits the schema, else None (then
        split the buffer and use :func:`parse_payloads` to find the bad ones).
    """
    if spec.format not in ("json", "csv") or _needs_python(spec) or count == 0:
        return None
    try:
        if spec.format == "json":
            options = pjson.ParseOptions(explicit_schema=_json_read_schema(spec),
                                         unexpected_field_behavior="ignore")
            table = _select_json(pjson.read_json(io.BytesIO(data), parse_options=options), spec)
        else:
            header = list(csv_header or spec.schema.names)
            table = _csv_bulk(header, spec)([data.rstrip(b"\n")], spec)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, KeyError):
        return None
    if table.num_rows != count:
        return None
    table = _complete_table(table, spec)
    return None if table is None else _to_batch([table], spec.schema)


def _accept_all(batch: pa.RecordBatch) -> ParseResult:
    return ParseResult(batch, np.arange(batch.num_rows), [])


def _parse_plaintext(payloads: Sequence[bytes], source: str, where: Where) -> ParseResult:
    try:
        return _accept_all(pa.record_batch({"data": pa.array(
            [p.decode("utf-8") for p in payloads], pa.string())}))
    except UnicodeDecodeError:
        pass
    texts, accepted, errors = [], [], []
    for i, payload in enumerate(payloads):
        try:
            texts.append(payload.decode("utf-8"))
            accepted.append(i)
        except UnicodeDecodeError as exc:
            errors.append(_error(source, where(i), f"not valid UTF-8 text: {exc}", payload))
    batch = pa.record_batch({"data": pa.array(texts, pa.string())})
    return ParseResult(batch, np.array(accepted, dtype=np.int64), errors)


def _error(source: str, position: str, reason: str, payload: bytes) -> RecordError:
    raw = payload[:_RAW_PREVIEW].decode("utf-8", errors="replace")
    return RecordError(source=source, position=position, reason=reason, raw=raw)


BulkParse = Callable[[Sequence[bytes], ParseSpec], pa.Table]
"""Parses many payloads at once (raises if any is bad)."""
SingleParse = Callable[[bytes, ParseSpec], dict]
"""Parses one payload into a row dict (raises BadValue with the reason)."""


class _Parser:
    """Bulk parse with bisection down to single records on failure."""

    def __init__(self, spec: ParseSpec, source: str, where: Where,
                 bulk: BulkParse, single: SingleParse) -> None:
        self.spec = spec
        self.source = source
        self.where = where
        self.bulk = bulk
        self.single = single
        self.python_only = _needs_python(spec)

    def run(self, payloads: Sequence[bytes]) -> ParseResult:
        tables: list[pa.Table] = []
        accepted: list[np.ndarray] = []
        errors: list[RecordError] = []
        self._parse_range(payloads, 0, len(payloads), tables, accepted, errors)
        batch = _to_batch(tables, self.spec.schema)
        order = np.concatenate(accepted) if accepted else np.zeros(0, dtype=np.int64)
        return ParseResult(batch, order, errors)

    def _parse_range(self, payloads: Sequence[bytes], lo: int, hi: int,
                     tables: list[pa.Table], accepted: list[np.ndarray],
                     errors: list[RecordError]) -> None:
        if lo >= hi:
            return
        if hi - lo <= 8 or self.python_only:
            self._parse_each(payloads, lo, hi, tables, accepted, errors)
            return
        table = self._try_bulk(payloads[lo:hi])
        if table is not None:
            tables.append(table)
            accepted.append(np.arange(lo, hi, dtype=np.int64))
            return
        mid = (lo + hi) // 2
        self._parse_range(payloads, lo, mid, tables, accepted, errors)
        self._parse_range(payloads, mid, hi, tables, accepted, errors)

    def _try_bulk(self, chunk: Sequence[bytes]) -> pa.Table | None:
        try:
            table = self.bulk(chunk, self.spec)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, KeyError):
            return None
        if table.num_rows != len(chunk):
            return None
        return _complete_table(table, self.spec)

    def _parse_each(self, payloads: Sequence[bytes], lo: int, hi: int,
                    tables: list[pa.Table], accepted: list[np.ndarray],
                    errors: list[RecordError]) -> None:
        rows, good = [], []
        for i in range(lo, hi):
            try:
                rows.append(self.single(payloads[i], self.spec))
                good.append(i)
            except BadValue as exc:
                errors.append(_error(self.source, self.where(i), str(exc), payloads[i]))
        if rows:
            tables.append(pa.Table.from_pylist(rows, schema=self.spec.schema))
            accepted.append(np.array(good, dtype=np.int64))


def _to_batch(tables: list[pa.Table], schema: pa.Schema) -> pa.RecordBatch:
    """Concatenates parsed pieces into one contiguous RecordBatch."""
    if not tables:
        return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
    table = pa.concat_tables([t.cast(schema) for t in tables])
    return pa.RecordBatch.from_arrays(
        [table.column(i).combine_chunks() for i in range(table.num_columns)], schema=schema)


def _needs_python(spec: ParseSpec) -> bool:
    """Json-typed columns and array indices in JSON Pointers use the Python path."""
    if spec.format != "json":
        return False
    if spec.json_columns:
        return True
    return any(part.isdigit() for path in spec.json_field_paths.values()
               for part in path.split("/"))


def _complete_table(table: pa.Table, spec: ParseSpec) -> pa.Table | None:
    """Fills defaults and rejects the chunk if a required column has a null."""
    columns = []
    for field in spec.schema:
        column = table.column(field.name)
        if column.null_count:
            if field.name in spec.defaults:
                column = column.fill_null(pa.scalar(spec.defaults[field.name], field.type))
            elif not field.nullable:
                return None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=spec.schema)


# ---- JSON -------------------------------------------------------------------

def _json_read_schema(spec: ParseSpec) -> pa.Schema:
    """The nested schema pyarrow must read so every JSON Pointer can be followed."""
    tree: dict = {}
    for field in spec.schema:
        parts = _pointer_parts(spec.json_field_paths.get(field.name), field.name)
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = field.type
    return pa.schema([pa.field(k, _tree_type(v)) for k, v in tree.items()])


def _tree_type(node: dict | pa.DataType) -> pa.DataType:
    if isinstance(node, dict):
        return pa.struct([pa.field(k, _tree_type(v)) for k, v in node.items()])
    return node


def _pointer_parts(path: str | None, name: str) -> list[str]:
    if path is None:
        return [name]
    parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
    return [p.replace("~1", "/").replace("~0", "~") for p in parts]


def _json_bulk(chunk: Sequence[bytes], spec: ParseSpec) -> pa.Table:
    data = b"\n".join(chunk)
    if data.count(b"\n") != len(chunk) - 1:
        data = b"\n".join(p.replace(b"\n", b" ") for p in chunk)
    options = pjson.ParseOptions(explicit_schema=_json_read_schema(spec),
                                 unexpected_field_behavior="ignore")
    return _select_json(pjson.read_json(io.BytesIO(data), parse_options=options), spec)


def _select_json(table: pa.Table, spec: ParseSpec) -> pa.Table:
    """Picks the schema's columns (following JSON Pointers) from a parsed table."""
    if not spec.json_field_paths:
        return table.select(spec.schema.names)
    columns = []
    for field in spec.schema:
        parts = _pointer_parts(spec.json_field_paths.get(field.name), field.name)
        column = table.column(parts[0])
        for part in parts[1:]:
            child_type = column.type.field(part).type
            column = pa.chunked_array([c.field(part) for c in column.chunks], child_type)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=spec.schema.names)


def _json_single(payload: bytes, spec: ParseSpec) -> dict:
    try:
        document = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadValue(f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadValue(f"expected a JSON object, got {type(document).__name__}")
    row = {}
    for field in spec.schema:
        path = spec.json_field_paths.get(field.name)
        present, value = resolve_pointer(document, _pointer_parts(path, field.name))
        row[field.name] = _column_value(field, present, value, spec)
    return row


def _column_value(field: pa.Field, present: bool, value: object, spec: ParseSpec) -> object:
    if not present or value is None:
        if field.name in spec.defaults:
            return spec.defaults[field.name]
        if field.nullable:
            return None
        what = "missing" if not present else "null"
        raise BadValue(f"column {field.name!r}: value is {what} and the column is required")
    if field.name in spec.json_columns:
        return json.dumps(value)
    return convert_value(field, value)


# ---- CSV --------------------------------------------------------------------

def _csv_bulk(header: list[str], spec: ParseSpec) -> BulkParse:
    present = [f for f in spec.schema if f.name in header]

    def parse(chunk: Sequence[bytes], _spec: ParseSpec) -> pa.Table:
        data = b"\n".join(chunk) + b"\n"
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=header),
            parse_options=pcsv.ParseOptions(delimiter=spec.csv_delimiter,
                                            newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(
                column_types={f.name: f.type for f in present},
                include_columns=[f.name for f in present],
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        columns = [table.column(f.name) if f.name in header
                   else pa.nulls(table.num_rows, f.type) for f in spec.schema]
        return pa.Table.from_arrays(columns, names=spec.schema.names)

    return parse


def _csv_single(header: list[str], spec: ParseSpec) -> SingleParse:
    import csv

    def parse(payload: bytes, _spec: ParseSpec) -> dict:
        try:
            cells = next(csv.reader([payload.decode("utf-8")], delimiter=spec.csv_delimiter))
        except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
            raise BadValue(f"malformed CSV row: {exc}") from None
        if len(cells) != len(header):
            raise BadValue(f"expected {len(header)} fields ({','.join(header)}), "
                              f"got {len(cells)}")
        by_name = dict(zip(header, cells, strict=False))
        row = {}
        for field in spec.schema:
            present = field.name in by_name
            cell = by_name.get(field.name)
            if present and cell == "" and not pa.types.is_string(field.type):
                present = False
            row[field.name] = _column_value(field, present, cell, spec) if not present \
                else convert_value(field, cell, from_text=True)
        return row

    return parse
