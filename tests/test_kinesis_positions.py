"""Positions without Ray: committed only on commit(), atomic checkpoint files, stable record ids."""

from __future__ import annotations

import dataclasses
import json

import pyarrow as pa
import pytest
from raystream.connectors.base import ParseSpec, ResumeError
from raystream.connectors.kinesis import (
    CheckpointStore,
    ConnectionSettings,
    KinesisError,
    KinesisSourceSpec,
    ShardCheckpoint,
)
from raystream.connectors.kinesis_positions import sequence_ids, shard_seed

from tests.test_kinesis_helpers import put_records

pytestmark = pytest.mark.kinesis


def _spec(server, stream: str, state_dir) -> KinesisSourceSpec:
    settings = ConnectionSettings(region="us-east-1", endpoint_url=server.endpoint_url,
                                  access_key="testing", secret_key="testing")
    parse = ParseSpec("plaintext", pa.schema([("data", pa.string())]))
    return KinesisSourceSpec("src", stream, parse, settings, state_dir=str(state_dir))


def _read_all(reader, limit: int = 1000) -> list[str]:
    texts = []
    while (batch := reader.read_batch(limit, 0.3)) is not None:
        texts += batch.batch.column("data").to_pylist()
    return texts


def test_positions_are_written_only_on_commit_and_resume_after_them(kinesalite, unique_name,
                                                                     tmp_path):
    kinesalite.create_stream(unique_name, shards=1)
    client = kinesalite.client()
    put_records(client, unique_name, [f"r{i}" for i in range(10)])
    spec = _spec(kinesalite, unique_name, tmp_path / "state")
    (shard,) = [p.id for p in spec.list_partitions()]

    reader = spec.open([shard])
    assert reader.read_batch(4, 0.3).batch.column("data").to_pylist() == ["r0", "r1", "r2", "r3"]
    after_four = reader.position()
    assert _read_all(reader) == [f"r{i}" for i in range(4, 10)]
    assert not (tmp_path / "state").exists()  # read, but nothing committed yet
    reader.commit(after_four)
    saved = json.loads((tmp_path / "state" / f"{shard}.json").read_text())
    assert saved == {"stream": unique_name, "shard": shard,
                     "sequence": after_four[shard]["sequence"], "end": False}

    reopened = spec.open([shard])  # a restart: continues after the committed record
    assert _read_all(reopened) == [f"r{i}" for i in range(4, 10)]
    reopened.commit(reopened.position())
    put_records(client, unique_name, ["r10"])
    assert _read_all(spec.open([shard])) == ["r10"]


def test_a_closed_shard_read_to_its_end_is_remembered(kinesalite, unique_name, tmp_path):
    kinesalite.create_stream(unique_name, shards=1)
    client = kinesalite.client()
    put_records(client, unique_name, ["a", "b"])
    client.split_shard(StreamName=unique_name, ShardToSplit="shardId-000000000000",
                       NewStartingHashKey=str(2**127))
    spec = _spec(kinesalite, unique_name, tmp_path)
    parent = spec.open(["shardId-000000000000"])
    assert _read_all(parent) == ["a", "b"] and parent.exhausted()
    parent.commit(parent.position())
    again = spec.open(["shardId-000000000000"])
    assert again.exhausted() and again.read_batch(10, 0.0) is None


def test_checkpoint_store_refuses_another_streams_directory(tmp_path):
    CheckpointStore(str(tmp_path), "one").save("shardId-000000000000", ShardCheckpoint("5"))
    assert CheckpointStore(str(tmp_path), "one").load_all() == {
        "shardId-000000000000": ShardCheckpoint("5", False)}
    with pytest.raises(ValueError, match="belong to stream 'one', not 'two'"):
        CheckpointStore(str(tmp_path), "two").load("shardId-000000000000")
    assert not list(tmp_path.glob("*.tmp"))


def test_record_ids_are_stable_and_distinct():
    sequences = pa.array([f"4968041503423995268598464674726068473825934288410692{i:04d}"
                          for i in range(5000)] + ["1", "2", "12"])
    seed = shard_seed("stream", "shardId-000000000000")
    ids = sequence_ids(seed, sequences)
    assert len(set(ids.tolist())) == len(sequences)
    assert (ids == sequence_ids(seed, sequences)).all()
    other = sequence_ids(shard_seed("stream", "shardId-000000000001"), sequences)
    assert not set(ids.tolist()) & set(other.tolist())
    assert (sequence_ids(seed, sequences.slice(10, 3)) == ids[10:13]).all()
    # an id never depends on the batch around it (short and long numbers mixed)
    assert (sequence_ids(seed, pa.array(["1", "2", "12"])) == ids[-3:]).all()


def test_positions_of_a_deleted_and_recreated_stream_give_a_clear_error(kinesalite, unique_name,
                                                                         tmp_path):
    kinesalite.create_stream(unique_name, shards=1)
    CheckpointStore(str(tmp_path), unique_name).save(
        "shardId-000000000000", ShardCheckpoint("4" * 56))  # not a number of this stream
    reader = _spec(kinesalite, unique_name, tmp_path).open(["shardId-000000000000"])
    with pytest.raises(KinesisError, match="cannot resume shard shardId-000000000000 .* remove"):
        reader.read_batch(10, 0.5)


# -- resuming at checkpointed positions (``open(shards, positions)``) ------------------------

def _records(reader, batches: int | None = None, limit: int = 5) -> list[tuple[int, str]]:
    """``(record id, data)`` of ``batches`` batches (None: until nothing comes in 0.3 s)."""
    out: list[tuple[int, str]] = []
    while batches is None or batches > 0:
        batch = reader.read_batch(limit, 0.3)
        if batch is None:
            if batches is None:
                return out
            continue
        out += list(zip(batch.record_ids.to_pylist(), batch.batch.column("data").to_pylist(),
                        strict=True))
        batches = None if batches is None else batches - 1
    return out


def test_two_shards_resumed_by_one_reader_each_read_exactly_the_rest(kinesalite, unique_name):
    kinesalite.create_stream(unique_name, shards=2)
    put_records(kinesalite.client(), unique_name, [f"r{i}" for i in range(60)])
    spec = dataclasses.replace(_spec(kinesalite, unique_name, "unused"), state_dir=None)
    shards = [p.id for p in spec.list_partitions()]
    per_shard = {s: _records(spec.open([s])) for s in shards}
    assert all(per_shard.values()) and sum(map(len, per_shard.values())) == 60
    first = spec.open(shards)
    head = _records(first, 3)
    position = json.loads(json.dumps(first.position()))
    assert set(position) == set(shards) and 0 < len(head) < 60
    for shard in shards:
        rest = _records(spec.open([shard], position))
        mine = [r for r in head if r in per_shard[shard]]
        assert mine + rest == per_shard[shard], "same records, same ids, in order"


def test_a_position_wins_over_the_state_dir_and_a_closed_shard_stays_exhausted(
        kinesalite, unique_name, tmp_path):
    kinesalite.create_stream(unique_name, shards=1)
    client = kinesalite.client()
    put_records(client, unique_name, [f"r{i}" for i in range(6)])
    spec = _spec(kinesalite, unique_name, tmp_path)
    shard = "shardId-000000000000"
    reader = spec.open([shard])
    reader.commit(reader.position())  # the state_dir says: nothing read
    assert _records(reader, 1, limit=4) == _records(spec.open([shard]), 1, limit=4)
    after_four = json.loads(json.dumps(reader.position()))
    assert [d for _, d in _records(spec.open([shard], after_four))] == ["r4", "r5"]
    client.split_shard(StreamName=unique_name, ShardToSplit=shard,
                       NewStartingHashKey=str(2**127))
    assert _records(reader) and reader.exhausted()
    ended = json.loads(json.dumps(reader.position()))
    assert ended[shard]["end"] is True
    again = spec.open([shard], ended)
    assert again.exhausted() and again.read_batch(10, 0.0) is None
    with pytest.raises(ResumeError, match=rf"src: kinesis stream={unique_name} shard={shard}: "
                                          r"malformed .*'sequence' must be str or NoneType"):
        spec.open([shard], {shard: {"sequence": 5, "end": False}})
