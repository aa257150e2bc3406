"""A stream split and merged while a pipeline reads it (kinesalite routes to the children).

Every record arrives exactly once, and for each partition key the records
come in order: a parent shard is read to its end before its children, so
their rows never get an earlier commit time than the parent's.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

import raystream as pw
from raystream.run import start
from tests.services.kinesis import wait_stream_active
from tests.test_kinesis_helpers import jsonl_rows, point_env_at, put_records, stop_pipeline

pytestmark = [pytest.mark.kinesis, pytest.mark.ray]

KEYS = [f"key-{i}" for i in range(16)]


class Event(pw.Schema):
    pk: str
    n: int


def _put(client, stream: str, phase: int, count: int = 160) -> None:
    records = [{"pk": KEYS[i % len(KEYS)], "n": phase * 1000 + i} for i in range(count)]
    put_records(client, stream, [json.dumps(r) for r in records], [r["pk"] for r in records])


def _split(client, stream: str, shard: str, at: int) -> None:
    client.split_shard(StreamName=stream, ShardToSplit=shard, NewStartingHashKey=str(at))
    wait_stream_active(client, stream)


def _drive_until(pipeline, path, rows: int, timeout: float = 90.0) -> None:
    """Runs the driver loop (which follows new shards) until ``rows`` rows are written."""
    import time

    deadline = time.monotonic() + timeout
    while len(jsonl_rows(path)) < rows:
        assert time.monotonic() < deadline, f"only {len(jsonl_rows(path))} of {rows} rows"
        try:
            pipeline.wait(timeout=0.3)
        except TimeoutError:
            pass


def test_split_and_merge_while_reading(kinesalite, ray_session, unique_name, tmp_path,
                                       monkeypatch):
    client = kinesalite.client()
    kinesalite.create_stream(unique_name, shards=2)
    point_env_at(monkeypatch, kinesalite)
    table = pw.io.kinesis.read(unique_name, format="json", schema=Event,
                               autocommit_duration_ms=200, state_dir=tmp_path / "state")
    out = tmp_path / "out.jsonl"
    pw.io.jsonlines.write(table, out)
    # before the start: records in shard 0, then a split and records in its children,
    # so the closed parent and its children all have records when reading begins
    _put(client, unique_name, 0)
    _split(client, unique_name, "shardId-000000000000", 2**126)
    _put(client, unique_name, 1)
    pipeline = start()
    try:
        _drive_until(pipeline, out, 320)
        # while reading: merge the children (2 + 3 -> 4), then split shard 1 (-> 5, 6)
        client.merge_shards(StreamName=unique_name, ShardToMerge="shardId-000000000002",
                            AdjacentShardToMerge="shardId-000000000003")
        wait_stream_active(client, unique_name)
        _put(client, unique_name, 2)
        _drive_until(pipeline, out, 480)
        _split(client, unique_name, "shardId-000000000001", 3 * 2**126)
        _put(client, unique_name, 3)
        _drive_until(pipeline, out, 640)
        readers = pipeline.status()["readers"]
    finally:
        stop_pipeline(pipeline)

    rows = jsonl_rows(out)
    expected = sorted(phase * 1000 + i for phase in range(4) for i in range(160))
    assert sorted(r["n"] for r in rows) == expected
    assert readers == 7  # one per shard: 0, 1, children 2 and 3 of 0, merge 4, split 5 and 6
    times = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["n"]):
        times[row["pk"]].append(row["time"])
    for pk, seen in times.items():
        assert seen == sorted(seen), f"{pk}: a child's rows came before its parent's"

    shards = {s.id: s for s in table._node.source.spec.list_partitions()}
    assert shards["shardId-000000000002"].parents == ("shardId-000000000000",)
    assert set(shards["shardId-000000000004"].parents) == {"shardId-000000000002",
                                                           "shardId-000000000003"}
    assert shards["shardId-000000000005"].parents == ("shardId-000000000001",)
    assert [s for s, info in shards.items() if not info.closed] == \
        ["shardId-000000000004", "shardId-000000000005", "shardId-000000000006"]
