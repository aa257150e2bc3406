"""A failing operator (a raising UDF, an impossible reduce) fails pw.run(), never hangs."""

from __future__ import annotations

import time

import pytest
from raystream.actors.runtime import PipelineError

import raystream as pw

pytestmark = pytest.mark.usefixtures("ray_session")


def test_a_raising_udf_fails_the_run_with_the_function_and_values(tmp_path) -> None:
    t = pw.debug.table_from_markdown("""
        a
        1
        0
    """)

    def invert(x: int) -> float:
        return 1 / x

    pw.io.jsonlines.write(t.select(b=pw.apply(invert, t.a)), tmp_path / "out.jsonl")
    started = time.monotonic()
    with pytest.raises(PipelineError, match=r"invert\(0,\) raised ZeroDivisionError"):
        pw.run(timeout_s=60, runtime="ray")  # static tables would run in the driver
    assert time.monotonic() - started < 45, "the failure must surface promptly"


def test_unique_over_different_values_fails_the_run(tmp_path) -> None:
    t = pw.debug.table_from_markdown("""
        k | v
        1 | 1
        1 | 2
    """)
    pw.io.null.write(t.groupby(t.k).reduce(u=pw.reducers.unique(t.v)))
    with pytest.raises(PipelineError, match="has several values"):
        pw.run(timeout_s=60, runtime="ray")  # static tables would run in the driver
