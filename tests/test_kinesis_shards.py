"""Several shards: one reader per shard, every record once; shard listing with pagination."""

from __future__ import annotations

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from raystream.connectors.base import ParseSpec
from raystream.connectors.kinesis import (
    ConnectionSettings,
    KinesisError,
    KinesisSourceSpec,
    list_shards,
)

import raystream as pw
from raystream.run import start
from tests.services.kinesis import wait_stream_active
from tests.test_kinesis_helpers import (
    fold,
    jsonl_rows,
    point_env_at,
    put_records,
    shard_records,
    stop_pipeline,
    wait_for,
)

pytestmark = pytest.mark.kinesis
SETTINGS = ConnectionSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9",
                              access_key="x", secret_key="x")


def _spec(server, stream: str, page_size: int | None = None) -> KinesisSourceSpec:
    settings = ConnectionSettings(region="us-east-1", endpoint_url=server.endpoint_url,
                                  access_key="testing", secret_key="testing")
    return KinesisSourceSpec("src", stream, ParseSpec("raw", pa.schema([("data", pa.binary())])),
                             settings, list_page_size=page_size)


@pytest.mark.ray
def test_four_shards_four_readers(kinesalite, ray_session, unique_name, tmp_path, monkeypatch):
    client = kinesalite.client()
    kinesalite.create_stream(unique_name, shards=4)
    texts = [f"record {i}" for i in range(2000)]
    put_records(client, unique_name, texts, [f"key-{i % 97}" for i in range(2000)])
    per_shard = [len(r) for r in shard_records(client, unique_name).values()]
    assert len(per_shard) == 4 and min(per_shard) > 0

    point_env_at(monkeypatch, kinesalite)
    out = tmp_path / "out.jsonl"
    pw.io.jsonlines.write(pw.io.kinesis.read(unique_name, format="plaintext",
                                             state_dir=tmp_path / "state"), out)
    pipeline = start()
    try:
        wait_for(lambda: len(jsonl_rows(out)) >= 2000, 60, "2000 rows")
        status = pipeline.status()
    finally:
        stop_pipeline(pipeline)
    assert fold(jsonl_rows(out), ["data"]) == {(t,): 1 for t in texts}
    assert status["readers"] == 4
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        f"shardId-00000000000{i}.json" for i in range(4)]


def test_listing_follows_next_token_pages():
    """AWS semantics (a Stubber: kinesalite never pages, moto wants StreamName with NextToken)."""
    client = boto3.client("kinesis", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    pages = [["shardId-000000000000", "shardId-000000000001"],
             ["shardId-000000000002", "shardId-000000000003"], ["shardId-000000000004"]]
    for number, page in enumerate(pages):
        request = {"StreamName": "s"} if number == 0 else {"NextToken": f"token-{number}"}
        response = {"Shards": [_shard(s, parent="shardId-000000000001" if s.endswith("4")
                                      else None) for s in page]}
        if number < len(pages) - 1:
            response["NextToken"] = f"token-{number + 1}"
        stubber.add_response("list_shards", response, {**request, "MaxResults": 2})
    with stubber:
        shards = list_shards(client, "s", SETTINGS, page_size=2)
        stubber.assert_no_pending_responses()
    assert [s["ShardId"] for s in shards] == [s for page in pages for s in page]


def _shard(shard_id: str, parent: str | None = None) -> dict:
    shard = {"ShardId": shard_id, "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "1"},
             "SequenceNumberRange": {"StartingSequenceNumber": "1"}}
    if parent:
        shard["ParentShardId"] = parent
    return shard


def test_listing_marks_closed_shards_and_listed_parents(moto_server, unique_name):
    moto_server.create_stream(unique_name, shards=2)
    client = moto_server.client()
    client.update_shard_count(StreamName=unique_name, TargetShardCount=4,
                              ScalingType="UNIFORM_SCALING")
    wait_stream_active(client, unique_name)
    infos = _spec(moto_server, unique_name).list_partitions()
    closed = {i.id for i in infos if i.closed}
    assert closed and len(infos) > 4
    children = [i for i in infos if i.parents]
    assert children and all(set(c.parents) <= {i.id for i in infos} for c in children)
    assert all(not i.parents for i in infos if i.id in {"shardId-000000000000",
                                                        "shardId-000000000001"})


def test_a_missing_stream_is_a_clear_error(kinesalite, unique_name):
    with pytest.raises(KinesisError, match=f"stream '{unique_name}' does not exist at http"):
        _spec(kinesalite, unique_name).list_partitions()
