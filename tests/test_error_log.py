"""Bad input goes to pw.global_error_log() with file and line; the rest goes on (on Ray)."""

from __future__ import annotations

import json

import pytest
from raystream.actors.runtime import PipelineError

import raystream as pw
from tests.helpers import fold_jsonl

pytestmark = pytest.mark.usefixtures("ray_session")

LINES = ['{"k": 1, "v": 10}', '{"k": 2, "v": "ten"}', "not json", '{"k": 3}',
         '{"k": 4, "v": 40}', '{"k": 5, "v": 50, "extra": true}']


class Schema(pw.Schema):
    k: int
    v: int


def test_malformed_lines_are_logged_with_file_and_line_and_good_lines_processed(
        tmp_path, caplog) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    table = pw.io.jsonlines.read(source, schema=Schema, mode="static")
    pw.io.jsonlines.write(table, tmp_path / "out.jsonl")
    pw.io.jsonlines.write(pw.global_error_log(), tmp_path / "errors.jsonl")
    pw.run()
    assert fold_jsonl(tmp_path / "out.jsonl", ["k", "v"]) == {(1, 10): 1, (4, 40): 1, (5, 50): 1}
    errors = [json.loads(x) for x in (tmp_path / "errors.jsonl").read_text().splitlines()]
    by_line = {e["position"]: e for e in errors}
    assert set(by_line) == {"line=2", "line=3", "line=4"}
    assert all(e["source"] == f"file {source}" and e["diff"] == 1 for e in errors)
    assert by_line["line=2"]["reason"] == "column 'v': expected int, got str 'ten'"
    assert by_line["line=3"]["reason"].startswith("malformed JSON")
    assert by_line["line=4"]["reason"] == "column 'v': value is missing and the column is required"
    assert by_line["line=3"]["raw"] == "not json"


def test_terminate_on_error_stops_with_the_source_and_position(tmp_path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    pw.io.null.write(pw.io.jsonlines.read(source, schema=Schema, mode="static"))
    with pytest.raises(PipelineError, match=rf"file {source} line=2: column 'v': expected int"):
        pw.run(terminate_on_error=True)
