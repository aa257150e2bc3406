"""Stop a pipeline while records keep arriving, restart it: nothing lost, nothing read twice."""

from __future__ import annotations

import json
import threading
import time

import pytest

import raystream as pw
from raystream.graph import G
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


class Row(pw.Schema):
    id: int


def _pipeline(stream: str, state, out):
    table = pw.io.kinesis.read(stream, format="json", schema=Row, autocommit_duration_ms=100,
                               state_dir=state)
    pw.io.jsonlines.write(table, out)
    return start()


def test_restart_resumes_after_the_committed_sequence_numbers(
        kinesalite, ray_session, unique_name, tmp_path, monkeypatch):
    client = kinesalite.client()
    kinesalite.create_stream(unique_name, shards=3)
    point_env_at(monkeypatch, kinesalite)
    state, first, second = tmp_path / "state", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    put_records(client, unique_name, [json.dumps({"id": i}) for i in range(300)],
                [str(i) for i in range(300)])

    def produce() -> None:  # keeps writing while the first run stops
        producer = kinesalite.client()
        for chunk in range(30):
            ids = range(1000 + chunk * 10, 1010 + chunk * 10)
            put_records(producer, unique_name, [json.dumps({"id": i}) for i in ids],
                        [str(i) for i in ids])
            time.sleep(0.05)

    pipeline = _pipeline(unique_name, state, first)
    try:
        wait_for(lambda: len(jsonl_rows(first)) >= 300, 60, "the first 300 rows")
        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(0.5)
    finally:
        stop_pipeline(pipeline)
    producer.join()
    read_first = len(jsonl_rows(first))
    assert 300 < read_first < 600, "the first run should stop in the middle of the production"
    assert sorted((state).glob("*.json")) and not list(state.glob("*.tmp"))

    G.clear()  # a second pipeline definition in the same test
    pipeline = _pipeline(unique_name, state, second)
    try:
        wait_for(lambda: read_first + len(jsonl_rows(second)) >= 600, 60, "the other rows")
        time.sleep(1.0)  # a duplicate would show up in this time
    finally:
        stop_pipeline(pipeline)

    both = fold(jsonl_rows(first) + jsonl_rows(second), ["id"])
    expected = {(i,): 1 for i in [*range(300), *range(1000, 1300)]}
    assert both == expected
    assert len(jsonl_rows(second)) == 600 - read_first
