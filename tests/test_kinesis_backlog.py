"""max_backlog_size: shard readers pause at the limit and resume as the sinks catch up."""

from __future__ import annotations

from collections import Counter

import pytest

import raystream as pw
from raystream.run import start
from tests.test_kinesis_helpers import (
    fold,
    jsonl_rows,
    point_env_at,
    put_records,
    stop_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.kinesis, pytest.mark.ray]


def test_backlog_limit_bounds_every_minibatch(kinesalite, ray_session, unique_name, tmp_path,
                                              monkeypatch):
    """Without the limit one GetRecords call would bring all 1500 records into one time."""
    client = kinesalite.client()
    kinesalite.create_stream(unique_name, shards=2)
    texts = [f"r{i}" for i in range(1500)]
    put_records(client, unique_name, texts)
    point_env_at(monkeypatch, kinesalite)
    out = tmp_path / "out.jsonl"
    table = pw.io.kinesis.read(unique_name, format="plaintext", max_backlog_size=100,
                               autocommit_duration_ms=1000, state_dir=tmp_path / "state")
    pw.io.jsonlines.write(table, out)
    pipeline = start()
    try:
        wait_for(lambda: len(jsonl_rows(out)) >= 1500, 90, "1500 rows")
    finally:
        stop_pipeline(pipeline)
    rows = jsonl_rows(out)
    assert fold(rows, ["data"]) == {(t,): 1 for t in texts}
    per_time = Counter(r["time"] for r in rows)
    assert max(per_time.values()) <= 100
    assert len(per_time) >= 15  # reading went on in many small steps, not one burst
