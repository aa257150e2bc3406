"""jsonlines -> filter -> groupby().reduce() -> jsonlines, static and streaming, on Ray.

The output changelog is folded into a final state and compared with a
plain-Python computation on the same input.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import raystream as pw
from raystream.run import run_pipeline, start
from tests.helpers import fold_jsonl

pytestmark = pytest.mark.usefixtures("ray_session")


class InputSchema(pw.Schema):
    key: int
    value: int


def build(input_path: Path, output_path: Path, mode: str, **options) -> None:
    t = pw.io.jsonlines.read(input_path, schema=InputSchema, mode=mode, **options)
    result = t.filter(t.value % 3 != 0).groupby(t.key).reduce(
        t.key, total=pw.reducers.sum(t.value), n=pw.reducers.count())
    pw.io.jsonlines.write(result, output_path)


def reference(rows: list[tuple[int, int]]) -> dict[tuple, int]:
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for key, value in rows:
        if value % 3 != 0:
            totals[key][0] += value
            totals[key][1] += 1
    return {(k, t, n): 1 for k, (t, n) in totals.items()}


def write_rows(path: Path, rows: list[tuple[int, int]], mode: str = "w") -> None:
    with path.open(mode) as handle:
        handle.writelines(json.dumps({"key": k, "value": v}) + "\n" for k, v in rows)


def test_static_pipeline_matches_reference(tmp_path) -> None:
    rng = random.Random(7)
    rows = [(rng.randrange(50), rng.randrange(-1000, 1000)) for _ in range(20_000)]
    write_rows(tmp_path / "in.jsonl", rows)
    build(tmp_path / "in.jsonl", tmp_path / "out.jsonl", "static", max_batch_rows=3000)
    pw.run()
    assert fold_jsonl(tmp_path / "out.jsonl", ["key", "total", "n"]) == reference(rows)
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert set(lines[0]) == {"key", "total", "n", "time", "diff"}
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)


def test_streaming_pipeline_follows_appended_lines_over_several_commits(tmp_path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rng = random.Random(11)
    chunks = [[(rng.randrange(5), rng.randrange(100)) for _ in range(300)] for _ in range(4)]
    write_rows(source, chunks[0])
    build(source, output, "streaming", autocommit_duration_ms=200)
    pipeline = start()
    try:
        for done in range(1, len(chunks) + 1):
            expected = reference([r for c in chunks[:done] for r in c])
            wait_for_output(output, expected)  # this chunk was committed ...
            if done < len(chunks):
                write_rows(source, chunks[done], mode="a")  # ... before the next arrives
        pipeline.stop()
        pipeline.wait(timeout=60)
    finally:
        pipeline.shutdown()
    assert fold_jsonl(output, ["key", "total", "n"]) == expected
    lines = [json.loads(x) for x in output.read_text().splitlines()]
    assert len({line["time"] for line in lines}) >= 3, "input spread over several commits"
    assert any(line["diff"] == -1 for line in lines), "updated groups retract old rows"


def wait_for_output(output: Path, expected: dict, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if output.exists() and fold_jsonl(output, ["key", "total", "n"]) == expected:
            return
        time.sleep(0.1)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-50, 50)), max_size=200))
def test_random_inputs_match_reference(tmp_path_factory, rows) -> None:
    from raystream.graph import G

    G.clear()
    directory = tmp_path_factory.mktemp("random")
    write_rows(directory / "in.jsonl", rows)
    build(directory / "in.jsonl", directory / "out.jsonl", "static", max_batch_rows=37)
    run_pipeline(start(reduce_parallelism=2))
    assert fold_jsonl(directory / "out.jsonl", ["key", "total", "n"]) == reference(rows)
