"""File sinks: JSON-lines and CSV writers that resume exactly at a checkpointed length.

A writer's :meth:`~_FileWriter.state` is the file's length at the last
:meth:`~_FileWriter.flush` (``{"length": bytes}``; CSV adds
``"header_written"``). Opened with that state, maybe in another process, the
writer cuts the file back to that length, so rows written after the
checkpoint disappear and a line torn by a crash is removed (flushes end on
line boundaries), then appends. A file missing or shorter than the recorded
length is a :class:`~raystream.connectors.base.ResumeError` naming it: the
output is never silently restarted. Delivery: exactly-once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.base import (
    EXACTLY_ONCE,
    Delivery,
    RecordError,
    ResumeError,
    position_field,
)
from raystream.connectors.serialize import dsv_header, dsv_lines, json_lines


def _join_lines(lines: pa.Array) -> bytes:
    """Joins a string array into newline-terminated bytes without a Python loop."""
    if len(lines) == 0:
        return b""
    listed = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    return pc.binary_join(listed, "\n")[0].as_buffer().to_pybytes() + b"\n"


def resumed_length(path: str, state: dict[str, Any], name: str) -> int:
    """Checks that ``path`` can resume at ``state["length"]``; returns that length.

    Raises:
        ResumeError: The state is malformed, or the file is missing or shorter.
    """
    length = position_field(state, "length", int, f"{name}: output file {path}")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ResumeError(f"{name}: cannot resume output file {path}: the checkpoint "
                          f"recorded {length} bytes, and now: {exc.strerror or exc}") from exc
    if size < length:
        raise ResumeError(f"{name}: cannot resume output file {path}: the checkpoint "
                          f"recorded {length} bytes but it has {size} (truncated or replaced)")
    return length


class _FileWriter:
    """An output file, created fresh or resumed at a checkpointed length.

    Args:
        path: The file.
        state: None to create (or truncate) it; else a :meth:`state` to resume.
        name: Sink name, for errors.
    """

    delivery: Delivery = EXACTLY_ONCE

    def __init__(self, path: str, state: dict[str, Any] | None = None,
                 name: str = "") -> None:
        self.path = path
        self.handle: BinaryIO
        if state is None:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()
            self.durable = 0
        else:
            self.durable = resumed_length(path, state, name or path)
            self.handle = open(path, "r+b")  # noqa: SIM115 - closed in close()
            self.handle.truncate(self.durable)
            self.handle.seek(self.durable)
            os.fsync(self.handle.fileno())

    def flush(self) -> None:
        """Flushes to the OS and fsyncs: durable on return."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.durable = self.handle.tell()

    def state(self) -> dict[str, Any]:
        """``{"length": bytes}``: the file's length at the last :meth:`flush`."""
        return {"length": self.durable}

    def close(self) -> None:
        """Flushes and closes."""
        if not self.handle.closed:
            self.flush()
            self.handle.close()


class JsonLinesWriter(_FileWriter):
    """Writes each row as one JSON object per line."""

    def __init__(self, path: str, json_columns: tuple[str, ...] = (),
                 state: dict[str, Any] | None = None, name: str = "") -> None:
        super().__init__(path, state, name)
        self.json_columns = json_columns

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Appends the rows."""
        self.handle.write(_join_lines(json_lines(batch, self.json_columns)))
        return []


class CsvWriter(_FileWriter):
    """Writes rows as CSV with a header line."""

    def __init__(self, path: str, delimiter: str = ",", state: dict[str, Any] | None = None,
                 name: str = "") -> None:
        super().__init__(path, state, name)
        self.delimiter = delimiter
        self.header_written = False
        if state is not None:
            self.header_written = position_field(state, "header_written", bool,
                                                 f"{name or path}: output file {path}")
            if self.header_written != (self.durable > 0):
                raise ResumeError(f"{name or path}: cannot resume output file {path}: the "
                                  f"checkpoint says header_written={self.header_written} at "
                                  f"length {self.durable}")

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Appends the rows (the header before the first)."""
        if not self.header_written:
            self.handle.write((dsv_header(batch.schema.names, self.delimiter) + "\n").encode())
            self.header_written = True
        self.handle.write(_join_lines(dsv_lines(batch, self.delimiter)))
        return []

    def state(self) -> dict[str, Any]:
        """``{"length": bytes, "header_written": bool}`` as of the last :meth:`flush`."""
        return {"length": self.durable, "header_written": self.durable > 0}


@dataclass(frozen=True)
class FileSinkSpec:
    """A JSON-lines or CSV output file.

    Attributes:
        name: Sink name.
        path: Output file (truncated when the pipeline starts fresh, cut back to
            the checkpointed length when it resumes).
        format: ``json`` or ``csv``.
        json_columns: ``pw.Json`` columns, written as JSON values.
        delimiter: CSV delimiter.
    """

    name: str
    path: str
    format: str = "json"
    json_columns: tuple[str, ...] = ()
    delimiter: str = ","

    def open(self, state: dict[str, Any] | None = None) -> JsonLinesWriter | CsvWriter:
        """Creates the file, or resumes it in ``state`` (see the module docstring).

        Raises:
            ResumeError: ``state`` is given and the file is missing, shorter
                than recorded, or the state is malformed.
        """
        if self.format == "csv":
            return CsvWriter(self.path, self.delimiter, state, self.name)
        return JsonLinesWriter(self.path, self.json_columns, state, self.name)


class NullWriter:
    """Discards rows (``pw.io.null.write``); exactly-once, trivially."""

    delivery: Delivery = EXACTLY_ONCE

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Drops the rows."""
        return []

    def flush(self) -> None:
        """Nothing to flush."""

    def state(self) -> dict[str, Any]:
        """Nothing is kept: ``{}``."""
        return {}

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class NullSinkSpec:
    """A sink that discards rows."""

    name: str = "null"

    def open(self, state: dict[str, Any] | None = None) -> NullWriter:
        """Returns the writer (any state resumes: nothing was kept)."""
        return NullWriter()
