"""max_backlog_size: a slow sink holds data back; in-flight rows stay bounded (on Ray)."""

from __future__ import annotations

import json
import time

import pytest
import ray

import raystream as pw
from raystream.run import run_pipeline, start

pytestmark = pytest.mark.usefixtures("ray_session")

LIMIT = 1_000
BATCH = 200


class Schema(pw.Schema):
    v: int


def test_in_flight_rows_never_exceed_the_backlog_limit_by_more_than_a_batch(tmp_path) -> None:
    total = 12_000
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"v": i}) + "\n"
                                               for i in range(total)))
    table = pw.io.jsonlines.read(tmp_path / "in.jsonl", schema=Schema, mode="static",
                                 max_backlog_size=LIMIT, max_batch_rows=BATCH,
                                 autocommit_duration_ms=5000)
    delivered: list[int] = []
    samples: list[int] = []
    readers: list = []

    def slow_sink(time_: int, batch) -> None:
        read = sum(ray.get([r.stats.remote() for r in readers])[i]["rows"]
                   for i in range(len(readers)))
        samples.append(read - sum(delivered))  # >= rows in flight right now
        delivered.append(batch.num_rows)
        time.sleep(0.05)

    pw.io.subscribe(table.select(w=table.v * 2), on_batch=slow_sink)
    pipeline = start()
    readers.extend(pipeline.deployed.readers.values())
    run_pipeline(pipeline)
    assert sum(delivered) == total, "every row arrives"
    assert max(samples) <= LIMIT + BATCH, f"in flight: {max(samples)}"
    assert len(samples) >= total // LIMIT, "the limit split the input into many commits"


def test_reader_pauses_and_resumes_while_the_sink_drains(tmp_path) -> None:
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"v": i}) + "\n" for i in range(5000)))
    table = pw.io.jsonlines.read(tmp_path / "in.jsonl", schema=Schema, mode="static",
                                 max_backlog_size=500, max_batch_rows=100)
    seen: list[int] = []
    pw.io.subscribe(table, on_batch=lambda t, b: (seen.extend(b.column("v").to_pylist()),
                                                  time.sleep(0.02)))
    pipeline = start()
    reader = next(iter(pipeline.deployed.readers.values()))
    pauses = set()
    try:
        while not pipeline_done(pipeline):
            pauses.add(ray.get(reader.stats.remote())["paused"])
            time.sleep(0.01)
    finally:
        run_pipeline(pipeline)
    assert sorted(seen) == list(range(5000))
    assert pauses == {True, False}


def pipeline_done(pipeline) -> bool:
    return pipeline._step(0.01)  # one round of the driver loop (drains the subscription)
