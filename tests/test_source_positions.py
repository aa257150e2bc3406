"""Resuming file and memory readers at a checkpointed position (no Ray, no broker).

A reader stopped anywhere, resumed by a new reader from ``position()`` (passed
through JSON, as a checkpoint manifest stores it), returns exactly the rest of
one uninterrupted read: the same rows, record ids and errors, the CSV header
kept, a static read that ended stays ended.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from raystream.connectors.base import ParseSpec, ResumeError
from raystream.connectors.files import FileSourceSpec
from raystream.connectors.memory import MemorySourceSpec

CSV = ParseSpec("csv", pa.schema([("id", pa.int64()), ("name", pa.string())]))
JSON = ParseSpec("json", pa.schema([pa.field("id", pa.int64(), nullable=False)]))


def through_json(position: Any) -> Any:
    """The position as a checkpoint manifest gives it back."""
    return json.loads(json.dumps(position))


def take(reader, batches: int | None = None, max_records: int = 2,
         timeout_s: float = 0.0) -> list[tuple]:
    """Reads ``batches`` non-empty batches (None: until exhausted or nothing comes)."""
    out: list[tuple] = []
    while batches is None or batches > 0:
        batch = reader.read_batch(max_records, timeout_s)
        if batch is None:
            if reader.exhausted() or batches is None:
                return out
            continue
        rows = batch.batch.to_pylist()
        out += [("row", r, i) for r, i in zip(rows, batch.record_ids.to_pylist(), strict=True)]
        out += [("error", e.source, e.position) for e in batch.errors]
        if batches is not None:
            batches -= 1
    return out


def csv_inputs(tmp_path) -> FileSourceSpec:
    (tmp_path / "a.csv").write_text("id,name\n1,one\n2,two\n\nnot-a-number,x\n3,three\n")
    (tmp_path / "b.csv").write_text("id,name\n4,four\n5,five")  # no trailing newline
    return FileSourceSpec("src", str(tmp_path), CSV, "static")


def test_every_cut_point_of_a_static_csv_read_resumes_exactly(tmp_path) -> None:
    spec = csv_inputs(tmp_path)
    whole = take(spec.open(["0"]))
    assert [r[1]["id"] for r in whole if r[0] == "row"] == [1, 2, 3, 4, 5]
    assert [r[2] for r in whole if r[0] == "error"] == ["line=5"]
    for cut in range(0, 6):
        first = spec.open(["0"])
        head = take(first, cut)
        position = through_json(first.position())
        assert list(position) == ["0"]
        second = spec.open(["0"], position)
        assert head + take(second) == whole, f"cut after {cut} batches"
        assert second.exhausted()


def test_the_csv_header_is_part_of_the_position(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n")
    spec = FileSourceSpec("src", str(tmp_path), CSV, "streaming")
    first = spec.open(["0"])
    assert first.read_batch(10, 0.0) is None  # only the header so far
    (entry,) = through_json(first.position())["0"]["files"]
    assert entry == {"path": str(tmp_path / "a.csv"), "offset": 8, "lines": 1,
                     "header": ["id", "name"], "done": False}
    with (tmp_path / "a.csv").open("a") as handle:
        handle.write("7,seven\n")
    resumed = spec.open(["0"], through_json(first.position()))
    batch = resumed.read_batch(10, 0.0)
    assert batch.batch.to_pylist() == [{"id": 7, "name": "seven"}]
    assert batch.record_ids.to_pylist() == first.read_batch(10, 0.0).record_ids.to_pylist()


def test_streaming_resume_reads_appended_lines_and_new_files_with_the_same_ids(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n{"id": 3')  # the third line is not complete
    spec = FileSourceSpec("src", str(tmp_path), JSON, "streaming")
    first = spec.open(["0"])
    assert take(first, 1, max_records=1)[0][1] == {"id": 1}
    position = through_json(first.position())
    with path.open("a") as handle:
        handle.write('0}\n{"id": 4}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 5}\n')
    expected = take(first, timeout_s=0.2)  # a timeout: new files are found between polls
    assert [r[1]["id"] for r in expected] == [2, 30, 4, 5]
    assert take(spec.open(["0"], position), timeout_s=0.2) == expected


def test_a_static_read_that_ended_stays_ended(tmp_path) -> None:
    spec = csv_inputs(tmp_path)
    reader = spec.open(["0"])
    take(reader)
    assert reader.exhausted()
    position = through_json(reader.position())
    with (tmp_path / "a.csv").open("a") as handle:
        handle.write("6,six\n")
    resumed = spec.open(["0"], position)
    assert resumed.exhausted() and resumed.read_batch(100, 0.0) is None


def test_a_file_missing_or_shorter_than_its_position_is_a_clear_error(tmp_path) -> None:
    spec = FileSourceSpec("src", str(tmp_path), JSON, "streaming")
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    reader = spec.open(["0"])
    take(reader)
    position = through_json(reader.position())
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ResumeError, match=r"a\.jsonl: it was read up to byte 20 .* is 10 bytes"):
        spec.open(["0"], position)
    (tmp_path / "a.jsonl").unlink()
    with pytest.raises(ResumeError, match=r"cannot resume file .*a\.jsonl"):
        spec.open(["0"], position)
    with pytest.raises(ResumeError, match="src: file /x: malformed .* 'offset' must be int"):
        spec.open(["0"], {"0": {"files": [{"path": "/x", "offset": "3", "lines": 0,
                                           "header": None, "done": False}]}})


def test_positions_of_other_partitions_are_ignored(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n')
    spec = FileSourceSpec("src", str(tmp_path), JSON, "static")
    assert [r[1] for r in take(spec.open(["0"], {"9": {"files": []}}))] == [{"id": 1}]


def memory_spec(rows: int = 10) -> MemorySourceSpec:
    values = np.arange(rows, dtype=np.int64)
    return MemorySourceSpec("mem", pa.record_batch({"v": values}),
                            pa.array((values * 7 + 3).astype(np.uint64)))


def test_memory_reader_resumes_after_the_rows_it_returned() -> None:
    spec = memory_spec()
    whole = take(spec.open(["0"]), max_records=3)
    for cut in range(0, 5):
        first = spec.open(["0"])
        head = take(first, cut, max_records=3)
        position = through_json(first.position())
        assert position == {"0": {"offset": min(3 * cut, 10)}}
        assert head + take(spec.open(["0"], position), max_records=3) == whole
    ended = spec.open(["0"], {"0": {"offset": 10}})
    assert ended.exhausted() and ended.read_batch(5, 0.0) is None
    with pytest.raises(ResumeError, match="after 11 rows: the source has 10"):
        spec.open(["0"], {"0": {"offset": 11}})
