"""A pipeline whose actor dies fails promptly with the actor's name (on Ray)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import ray
from raystream.actors.runtime import PipelineError

import raystream as pw
from raystream.run import start

pytestmark = pytest.mark.usefixtures("ray_session")


class S(pw.Schema):
    k: int


def test_a_killed_operator_fails_the_pipeline(tmp_path) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps({"k": 1}) + "\n")
    t = pw.io.jsonlines.read(tmp_path, schema=S, mode="streaming", autocommit_duration_ms=100)
    pw.io.null.write(t.groupby(t.k).reduce(t.k, n=pw.reducers.count()))
    pipeline = start()
    try:
        reduce_stage = next(s for s in pipeline.plan.stages if s.name.startswith("reduce"))
        victim = pipeline.deployed.handles[reduce_stage.id][0]
        threading.Timer(3.0, lambda: ray.kill(victim, no_restart=True)).start()
        started = time.monotonic()
        with pytest.raises(PipelineError) as info:
            pipeline.wait(timeout=60)
        assert "died" in str(info.value) and "reduce(k)" in str(info.value)
        assert time.monotonic() - started < 20
    finally:
        pipeline.shutdown()
