"""Files: a reader over one file, a directory or a glob, and JSON-lines/CSV writers.

The reader returns whole batches of lines parsed at once. In ``static`` mode it
reads every file to its end and stops; in ``streaming`` mode it keeps reading
lines appended to the files and files that appear later (a trailing line is
only taken once its newline arrives).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.base import ParsedBatch, ParseSpec, PartitionInfo, RecordError
from raystream.connectors.parse import bulk_parse, parse_payloads
from raystream.connectors.serialize import dsv_header, dsv_lines, json_lines

_READ_BYTES = 4 << 20


def list_files(path: str) -> list[str]:
    """Files named by ``path``: the file itself, a directory's files, or a glob's matches."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if not n.startswith("."))
        return [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
    if any(c in path for c in "*?["):
        return sorted(p for p in glob.glob(path) if os.path.isfile(p))
    return [path] if os.path.isfile(path) else []


@dataclass(frozen=True)
class FileSourceSpec:
    """Lines of files, parsed with ``parse`` (JSON lines, CSV with a header, plaintext).

    Attributes:
        name: Source name for errors and logs.
        path: File, directory or glob.
        parse: How lines become columns.
        mode: ``static`` or ``streaming``.
        with_metadata: Add a ``_metadata`` JSON column (path, size, modified_at).
    """

    name: str
    path: str
    parse: ParseSpec
    mode: str = "streaming"
    with_metadata: bool = False

    def list_partitions(self) -> list[PartitionInfo]:
        """One partition: a single reader keeps the files' line order."""
        return [PartitionInfo("0")]

    def open(self, partitions: list[str]) -> FileReader:
        """Opens the reader."""
        if self.mode == "static" and not list_files(self.path):
            raise FileNotFoundError(f"{self.name}: no input file at {self.path!r}")
        return FileReader(self)


@dataclass
class _FileState:
    path: str
    offset: int = 0
    lines: int = 0
    buffer: bytes = b""
    header: list[str] | None = None
    done: bool = False
    id: int = field(init=False)

    def __post_init__(self) -> None:
        self.id = zlib.crc32(self.path.encode())


class FileReader:
    """Reads lines of the spec's files in name order; see :class:`FileSourceSpec`."""

    def __init__(self, spec: FileSourceSpec) -> None:
        self.spec = spec
        self.files: dict[str, _FileState] = {}
        self.paused = False
        self._rescan()

    def _rescan(self) -> None:
        for path in list_files(self.spec.path):
            self.files.setdefault(path, _FileState(path))

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        """Returns up to ``max_records`` parsed lines, or None if none are ready."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.paused and max_records > 0:
                for state in self.files.values():
                    if not state.done:
                        batch = self._read_file(state, max_records)
                        if batch is not None:
                            return batch
            if self.exhausted() or time.monotonic() >= deadline:
                return None
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
            self._rescan()

    def _read_file(self, state: _FileState, max_records: int) -> ParsedBatch | None:
        chunk, count, at_eof = self._take_lines(state, max_records)
        if state.header is None and self.spec.parse.format == "csv" and count:
            first_line, _, chunk = chunk.partition(b"\n")
            state.header = next(csv.reader([first_line.decode("utf-8", "replace").rstrip("\r")],
                                           delimiter=self.spec.parse.csv_delimiter))
            state.lines += 1
            count -= 1
        if at_eof and self.spec.mode == "static":
            state.done = True
        if not count:
            return None
        first = state.lines + 1
        state.lines += count
        return self._parse(state, chunk, count, first)

    def _take_lines(self, state: _FileState, max_records: int) -> tuple[bytes, int, bool]:
        """Takes up to ``max_records`` complete lines: ``(bytes, line count, at end)``.

        The returned bytes end with a newline; the file's trailing line without
        one is taken only at the end of a static read.
        """
        at_eof = False
        while state.buffer.count(b"\n") < max_records:
            with open(state.path, "rb") as handle:
                handle.seek(state.offset)
                chunk = handle.read(_READ_BYTES)
            state.offset += len(chunk)
            state.buffer += chunk
            if len(chunk) < _READ_BYTES:
                at_eof = True
                break
        newlines = np.flatnonzero(np.frombuffer(state.buffer, np.uint8) == 10)
        if len(newlines) >= max_records:
            end = int(newlines[max_records - 1]) + 1
            taken, state.buffer = state.buffer[:end], state.buffer[end:]
            return taken, max_records, False
        taken, state.buffer = state.buffer[: int(newlines[-1]) + 1] if len(newlines) else b"", \
            state.buffer[int(newlines[-1]) + 1:] if len(newlines) else state.buffer
        count = len(newlines)
        if at_eof and state.buffer and self.spec.mode == "static":
            taken, state.buffer, count = taken + state.buffer + b"\n", b"", count + 1
        return taken, count, at_eof and not state.buffer

    def _parse(self, state: _FileState, chunk: bytes, count: int, first: int) -> ParsedBatch:
        source = f"file {state.path}"
        numbers = np.arange(first, first + count, dtype=np.int64)
        batch = None if b"\r" in chunk else bulk_parse(chunk, count, self.spec.parse,
                                                           state.header)
        errors: tuple[RecordError, ...] = ()
        if batch is None:
            lines = [line.rstrip(b"\r") for line in chunk.split(b"\n")[:count]]
            if b"" in lines:  # empty lines are skipped, not errors
                keep = np.array([i for i, line in enumerate(lines) if line], dtype=np.int64)
                lines = [lines[i] for i in keep]
                numbers = numbers[keep]
            result = parse_payloads(lines, self.spec.parse, source,
                                    lambda i: f"line={numbers[i]}", csv_header=state.header)
            batch, numbers, errors = result.batch, numbers[result.accepted], tuple(result.errors)
        record_ids = (np.uint64(state.id) << np.uint64(32)) | numbers.astype(np.uint64)
        if self.spec.with_metadata:
            batch = batch.append_column("_metadata", self._metadata(state, batch.num_rows))
        return ParsedBatch(batch, pa.array(record_ids, pa.uint64()), None, errors, count)

    def _metadata(self, state: _FileState, n: int) -> pa.Array:
        stat = os.stat(state.path)
        value = json.dumps({"path": state.path, "size": stat.st_size,
                            "modified_at": int(stat.st_mtime), "seen_at": int(time.time())})
        return pa.nulls(n, pa.string()).fill_null(value)

    def position(self) -> Any:
        """Byte offsets of fully consumed lines, per file."""
        return {s.path: s.offset - len(s.buffer) for s in self.files.values()}

    def exhausted(self) -> bool:
        """True in static mode once every file was read to its end."""
        return self.spec.mode == "static" and all(s.done for s in self.files.values())

    def pause(self) -> None:
        """Stops returning lines."""
        self.paused = True

    def resume(self) -> None:
        """Returns lines again."""
        self.paused = False

    def commit(self, position: Any) -> None:
        """Files keep no external commit point."""

    def close(self) -> None:
        """Nothing to release (files are opened per read)."""


# ---- writers ------------------------------------------------------------------

def _join_lines(lines: pa.Array) -> bytes:
    """Joins a string array into newline-terminated bytes without a Python loop."""
    if len(lines) == 0:
        return b""
    listed = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    return pc.binary_join(listed, "\n")[0].as_buffer().to_pybytes() + b"\n"


class _FileWriter:
    def __init__(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()

    def flush(self) -> None:
        """Flushes to the OS and fsyncs: durable on return."""
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        """Flushes and closes."""
        if not self.handle.closed:
            self.flush()
            self.handle.close()


class JsonLinesWriter(_FileWriter):
    """Writes each row as one JSON object per line."""

    def __init__(self, path: str, json_columns: tuple[str, ...] = ()) -> None:
        super().__init__(path)
        self.json_columns = json_columns

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Appends the rows."""
        self.handle.write(_join_lines(json_lines(batch, self.json_columns)))
        return []


class CsvWriter(_FileWriter):
    """Writes rows as CSV with a header line."""

    def __init__(self, path: str, delimiter: str = ",") -> None:
        super().__init__(path)
        self.delimiter = delimiter
        self.header_written = False

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Appends the rows (the header before the first)."""
        if not self.header_written:
            self.handle.write((dsv_header(batch.schema.names, self.delimiter) + "\n").encode())
            self.header_written = True
        self.handle.write(_join_lines(dsv_lines(batch, self.delimiter)))
        return []


@dataclass(frozen=True)
class FileSinkSpec:
    """A JSON-lines or CSV output file.

    Attributes:
        name: Sink name.
        path: Output file (truncated when the pipeline starts).
        format: ``json`` or ``csv``.
        json_columns: ``pw.Json`` columns, written as JSON values.
        delimiter: CSV delimiter.
    """

    name: str
    path: str
    format: str = "json"
    json_columns: tuple[str, ...] = ()
    delimiter: str = ","

    def open(self) -> JsonLinesWriter | CsvWriter:
        """Creates the file."""
        if self.format == "csv":
            return CsvWriter(self.path, self.delimiter)
        return JsonLinesWriter(self.path, self.json_columns)


class NullWriter:
    """Discards rows (``pw.io.null.write``)."""

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Drops the rows."""
        return []

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class NullSinkSpec:
    """A sink that discards rows."""

    name: str = "null"

    def open(self) -> NullWriter:
        """Returns the writer."""
        return NullWriter()
