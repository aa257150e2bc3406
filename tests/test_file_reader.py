"""The file reader: batches of lines, line numbers, streaming appends (no Ray)."""

from __future__ import annotations

import pyarrow as pa
from raystream.connectors.base import ParseSpec
from raystream.connectors.files import FileSourceSpec

SPEC = ParseSpec("json", pa.schema([pa.field("v", pa.int64(), nullable=False)]))


def test_static_reads_every_file_in_batches_and_reports_line_numbers(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_text('{"v": 1}\n{"v": "bad"}\n\n{"v": 3}\n')
    (tmp_path / "b.jsonl").write_text('{"v": 4}\n{"v": 5}')  # no trailing newline
    reader = FileSourceSpec("s", str(tmp_path), SPEC, "static").open(["0"])
    values, errors = [], []
    while not reader.exhausted():
        batch = reader.read_batch(2, 0.1)
        if batch is not None:
            values += batch.batch.column("v").to_pylist()
            errors += [(e.source, e.position) for e in batch.errors]
    assert values == [1, 3, 4, 5]
    assert errors == [(f"file {tmp_path}/a.jsonl", "line=2")]


def test_streaming_waits_for_complete_lines_and_new_files(tmp_path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"v": 1}\n{"v": 2')
    reader = FileSourceSpec("s", str(tmp_path), SPEC, "streaming").open(["0"])
    assert reader.read_batch(100, 0.1).batch.column("v").to_pylist() == [1]
    assert reader.read_batch(100, 0.1) is None  # the second line is not complete
    with path.open("a") as handle:
        handle.write('0}\n{"v": 3}\n')
    assert reader.read_batch(100, 0.1).batch.column("v").to_pylist() == [20, 3]
    (tmp_path / "later.jsonl").write_text('{"v": 4}\n')
    assert reader.read_batch(100, 0.3).batch.column("v").to_pylist() == [4]
    assert not reader.exhausted()


def test_paused_reader_returns_nothing_and_record_ids_are_stable(tmp_path) -> None:
    (tmp_path / "in.jsonl").write_text('{"v": 1}\n{"v": 2}\n')
    spec = FileSourceSpec("s", str(tmp_path), SPEC, "static")
    reader = spec.open(["0"])
    reader.pause()
    assert reader.read_batch(10, 0.05) is None
    reader.resume()
    first = reader.read_batch(10, 0.05).record_ids.to_pylist()
    assert first == spec.open(["0"]).read_batch(10, 0.05).record_ids.to_pylist()
