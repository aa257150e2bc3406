"""The file reader: batches of lines, line numbers, streaming appends (no Ray)."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.connectors.base import ParseSpec
from raystream.connectors.files import FileSourceSpec, _after_line

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


@given(st.lists(st.integers(0, 40), max_size=60), st.data())
def test_after_line_finds_the_end_of_the_nth_line_from_any_guess(lengths, data) -> None:
    text = b"".join(b"x" * n + b"\n" for n in lengths) + data.draw(st.binary(max_size=5))
    total = text.count(b"\n")
    count = data.draw(st.integers(0, total))
    guess = data.draw(st.floats(0.5, 60))
    ends = [i + 1 for i, byte in enumerate(text) if byte == 10]
    assert _after_line(text, count, total, guess) == (ends[count - 1] if count else 0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=400),
       st.integers(1, 70), st.booleans())
def test_batches_hold_every_line_once_in_order(tmp_path_factory, widths, batch_rows,
                                               trailing_newline) -> None:
    """Lines of very different lengths, cut at any batch size: nothing lost or repeated."""
    path = tmp_path_factory.mktemp("lines") / "in.jsonl"
    lines = [json.dumps({"v": i, "pad": "p" * w}) for i, w in enumerate(widths)]
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""))
    spec = ParseSpec("json", pa.schema([pa.field("v", pa.int64(), nullable=False)]))
    reader = FileSourceSpec("s", str(path), spec, "static").open(["0"])
    values, ids = [], []
    while not reader.exhausted():
        batch = reader.read_batch(batch_rows, 0.0)
        if batch is not None:
            assert batch.batch.num_rows <= batch_rows
            values += batch.batch.column("v").to_pylist()
            ids += [i & 0xFFFFFFFF for i in batch.record_ids.to_pylist()]
    assert values == list(range(len(widths)))
    assert ids == [i + 1 for i in range(len(widths))]  # line numbers


def test_after_line_with_a_guess_far_off_lists_the_newlines() -> None:
    text = b"".join(b"y" * (i % 7) + b"\n" for i in range(20_000))
    ends = [i + 1 for i, byte in enumerate(text) if byte == 10]
    for guess in (0.01, 1000.0):
        assert _after_line(text, 12_345, 20_000, guess) == ends[12_344]
