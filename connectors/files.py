"""Files: a reader over one file, a directory or a glob (writers: :mod:`file_sink`).

The reader returns whole batches of lines parsed at once. In ``static`` mode it
reads every file to its end and stops; in ``streaming`` mode it keeps reading
lines appended to the files and files that appear later (a trailing line is
only taken once its newline arrives).

The source has one partition, ``"0"``, holding every file (one reader keeps
the files' order). Its position lists each file seen so far, in reading
order::

    {"0": {"files": [{"path": "/abs/a.csv", "offset": 1024, "lines": 31,
                      "header": ["id", "v"], "done": false}, ...]}}

``offset`` is the byte after the last line returned, ``lines`` the lines
consumed (record ids are built from line numbers, so they continue), and
``header`` the CSV header (``null`` before it was read, and for other
formats); ``done`` marks a static read to the end (it stays done). A file not
done that is missing or shorter than ``offset`` on resume is a
:class:`~raystream.connectors.base.ResumeError`.
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
from raystream.connectors.base import (
    ParsedBatch,
    ParseSpec,
    PartitionInfo,
    Position,
    RecordError,
    ResumeError,
    position_field,
)
from raystream.connectors.parse import bulk_parse, parse_payloads

_MIN_READ_BYTES = 64 << 10


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

    def open(self, partitions: list[str],
             positions: dict[str, Position] | None = None) -> FileReader:
        """Opens the reader, at ``positions["0"]`` if given (see the module docstring).

        Raises:
            FileNotFoundError: Static mode and no input file.
            ResumeError: The position is malformed, or a file it still reads
                is missing or shorter than its offset.
        """
        position = (positions or {}).get("0")
        restored = _restore(position, self) if position is not None else []
        if self.mode == "static" and not restored and not list_files(self.path):
            raise FileNotFoundError(f"{self.name}: no input file at {self.path!r}")
        return FileReader(self, restored)


@dataclass
class _FileState:
    path: str
    offset: int = 0
    lines: int = 0
    buffer: bytes = b""
    line_bytes: float = 100.0  # average line length so far: sizes the next read
    header: list[str] | None = None
    done: bool = False
    id: int = field(init=False)

    def __post_init__(self) -> None:
        self.id = zlib.crc32(self.path.encode())

    def position(self) -> dict[str, Any]:
        """This file's part of the reader position (bytes in the buffer are not consumed)."""
        return {"path": self.path, "offset": self.offset - len(self.buffer),
                "lines": self.lines, "header": self.header, "done": self.done}


def _after_line(data: bytes, count: int, total: int, line_bytes: float) -> int:
    """The offset just past the ``count``-th newline of ``data``, which holds ``total``.

    Starts from the guess ``count * line_bytes`` and walks to the exact line with
    ``bytes.count``/``find``/``rfind``; far off, it lists the newlines with numpy.
    """
    if count == 0:
        return 0
    if count == total:
        return data.rfind(b"\n") + 1
    guess = min(int(count * line_bytes), len(data))
    seen = data.count(b"\n", 0, guess)
    if abs(seen - count) > 4096:
        return int(np.flatnonzero(np.frombuffer(data, np.uint8) == 10)[count - 1]) + 1
    at = guess
    while seen < count:  # forward to the count-th newline
        at = data.index(b"\n", at) + 1
        seen += 1
    while seen > count:  # back: drop newlines past the count-th
        at = data.rindex(b"\n", 0, at)
        seen -= 1
    if data[at - 1] != 10:  # mid-line (the guess was right): back to the line's start
        at = data.rindex(b"\n", 0, at) + 1
    return at


def _restore(position: Position, spec: FileSourceSpec) -> list[_FileState]:
    """The file states of a checkpointed position, checked against the files on disk."""
    files = position_field(position, "files", list, f"{spec.name} (files) partition 0")
    states = []
    for entry in files:
        path = position_field(entry, "path", str, f"{spec.name} (files) partition 0")
        where = f"{spec.name}: file {path}"
        header = position_field(entry, "header", (list, type(None)), where)
        state = _FileState(path, position_field(entry, "offset", int, where),
                           position_field(entry, "lines", int, where),
                           header=None if header is None else [str(h) for h in header],
                           done=position_field(entry, "done", bool, where))
        if spec.parse.format == "csv" and state.lines > 0 and state.header is None:
            raise ResumeError(f"{where}: the checkpoint has {state.lines} lines read but no "
                              "CSV header (was it taken with another format?)")
        if not state.done:
            _check_resumable(state, spec.name)
        states.append(state)
    return states


def _check_resumable(state: _FileState, name: str) -> None:
    try:
        size = os.path.getsize(state.path)
    except OSError as exc:
        raise ResumeError(f"{name}: cannot resume file {state.path}: it was read up to byte "
                          f"{state.offset} (line {state.lines}) before the checkpoint, and "
                          f"now: {exc.strerror or exc}") from exc
    if size < state.offset:
        raise ResumeError(f"{name}: cannot resume file {state.path}: it was read up to byte "
                          f"{state.offset} (line {state.lines}) before the checkpoint, but "
                          f"is {size} bytes now (truncated or replaced)")


class FileReader:
    """Reads lines of the spec's files in name order; see :class:`FileSourceSpec`.

    Args:
        spec: The source.
        restored: File states from a checkpointed position, in reading order.
    """

    def __init__(self, spec: FileSourceSpec, restored: list[_FileState] | None = None) -> None:
        self.spec = spec
        self.files: dict[str, _FileState] = {s.path: s for s in restored or ()}
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
        one is taken only at the end of a static read. Reads are sized from the
        lines seen so far, so the buffer rarely holds much more than one batch,
        and newlines are only counted (``bytes.count``), never listed.
        """
        at_eof = False
        buffered = state.buffer.count(b"\n")
        while buffered < max_records:
            size = max(int((max_records - buffered) * state.line_bytes * 1.05), _MIN_READ_BYTES)
            with open(state.path, "rb") as handle:
                handle.seek(state.offset)
                chunk = handle.read(size)
            state.offset += len(chunk)
            buffered += chunk.count(b"\n")
            state.buffer = state.buffer + chunk if state.buffer else chunk
            if buffered:  # longer lines than guessed: the next read asks for enough
                state.line_bytes = max(state.line_bytes, len(state.buffer) / buffered)
            if len(chunk) < size:
                at_eof = True
                break
        count = min(buffered, max_records)
        end = _after_line(state.buffer, count, buffered, state.line_bytes)
        taken, state.buffer = state.buffer[:end], state.buffer[end:]
        if count:
            state.line_bytes = end / count
        if at_eof and state.buffer and self.spec.mode == "static" and count < max_records:
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

    def position(self) -> dict[str, Position]:
        """``{"0": {"files": [...]}}``: each file's offset, lines, header, done (in order)."""
        return {"0": {"files": [s.position() for s in self.files.values()]}}

    def exhausted(self) -> bool:
        """True in static mode once every file was read to its end."""
        return self.spec.mode == "static" and all(s.done for s in self.files.values())

    def pause(self) -> None:
        """Stops returning lines."""
        self.paused = True

    def resume(self) -> None:
        """Returns lines again."""
        self.paused = False

    def commit(self, position: dict[str, Position]) -> None:
        """Files keep no external commit point."""

    def close(self) -> None:
        """Nothing to release (files are opened per read)."""
