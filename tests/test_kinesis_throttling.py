"""Retry logic with errors injected at the boto3 client boundary (botocore Stubber, no server).

Reader: a throttled shard backs off exponentially with jitter, alone (other
shards keep going), without blocking past the poll timeout; an expired
iterator is renewed after the last sequence number. Writer: failed PutRecords
entries (and throttled calls) are retried alone, with backoff, until a deadline.
"""

from __future__ import annotations

from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from raystream.connectors.base import ParseSpec
from raystream.connectors.kinesis import (
    ConnectionSettings,
    KinesisError,
    KinesisReader,
    KinesisSinkSpec,
    KinesisSourceSpec,
    KinesisWriter,
)

SETTINGS = ConnectionSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9",
                              access_key="x", secret_key="x")
THROTTLED = "ProvisionedThroughputExceededException"
SEQ = "4968041503423995268598464674726068473825934288410692813"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client() -> Any:
    return boto3.client("kinesis", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                        aws_access_key_id="x", aws_secret_access_key="x")


def _records(*texts: str, first: int = 1) -> list[dict[str, Any]]:
    return [{"Data": t.encode(), "PartitionKey": "p", "SequenceNumber": f"{SEQ}{first + i}"}
            for i, t in enumerate(texts)]


def _reader(client: Any, shards: list[str], fake: FakeTime) -> KinesisReader:
    spec = KinesisSourceSpec("src", "s", ParseSpec("plaintext", pa.schema([("data", pa.string())])),
                             SETTINGS, state_dir=None)
    return KinesisReader(spec, shards, client=client, clock=fake.clock, sleep=fake.sleep)


def _iterator(stubber: Stubber, shard: str, iterator: str, after: str | None = None) -> None:
    params = {"StreamName": "s", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
    if after is not None:
        params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
    stubber.add_response("get_shard_iterator", {"ShardIterator": iterator}, params)


def _records_response(stubber: Stubber, iterator: str, records: list, next_it: str | None) -> None:
    response: dict[str, Any] = {"Records": records, "MillisBehindLatest": 0}
    if next_it is not None:
        response["NextShardIterator"] = next_it
    stubber.add_response("get_records", response, {"ShardIterator": iterator, "Limit": 100})


def test_throttled_shard_backs_off_exponentially_with_jitter():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _iterator(stubber, "shard-0", "it-0")
    for _ in range(4):
        stubber.add_client_error("get_records", THROTTLED, "Rate exceeded for shard")
    _records_response(stubber, "it-0", _records("a", "b"), "it-1")
    with stubber:
        reader = _reader(client, ["shard-0"], fake)
        shard = reader.shards[0]
        delays = []
        for _ in range(4):
            before = fake.now
            assert reader.read_batch(100, 0.0) is None  # never blocks past the timeout
            assert fake.now == before
            delays.append(shard.next_poll - fake.now)
            fake.now = shard.next_poll
        batch = reader.read_batch(100, 0.0)
        stubber.assert_no_pending_responses()
    assert batch.batch.column("data").to_pylist() == ["a", "b"]
    for attempt, delay in enumerate(delays):  # equal jitter: in [bound/2, bound]
        bound = 0.05 * 2 ** attempt
        assert bound / 2 <= delay <= bound, (attempt, delay)
    assert shard.backoff.attempts == 0  # a success resets the backoff


def test_waiting_for_a_backoff_sleeps_within_the_timeout():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _iterator(stubber, "shard-0", "it-0")
    stubber.add_client_error("get_records", "LimitExceededException", "slow down")
    _records_response(stubber, "it-0", _records("late"), "it-1")
    with stubber:
        reader = _reader(client, ["shard-0"], fake)
        batch = reader.read_batch(100, 1.0)  # throttled, sleeps out the backoff, retries
        stubber.assert_no_pending_responses()
    assert batch.batch.column("data").to_pylist() == ["late"]
    assert 0.025 <= sum(fake.sleeps) <= 0.05


def test_other_shards_go_on_while_one_is_throttled():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _iterator(stubber, "shard-0", "a-0")
    stubber.add_client_error("get_records", THROTTLED, "Rate exceeded")
    _iterator(stubber, "shard-1", "b-0")
    _records_response(stubber, "b-0", _records("from-b"), "b-1")
    with stubber:
        reader = _reader(client, ["shard-0", "shard-1"], fake)
        batch = reader.read_batch(100, 0.0)
        stubber.assert_no_pending_responses()
    assert batch.batch.column("data").to_pylist() == ["from-b"]
    assert reader.shards[0].backoff.attempts == 1 and reader.shards[1].backoff.attempts == 0


def test_expired_iterator_is_renewed_after_the_last_sequence_number():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _iterator(stubber, "shard-0", "it-0")
    _records_response(stubber, "it-0", _records("a", "b"), "it-1")
    stubber.add_client_error("get_records", "ExpiredIteratorException", "Iterator expired")
    _iterator(stubber, "shard-0", "it-2", after=f"{SEQ}2")
    _records_response(stubber, "it-2", _records("c", first=3), None)  # closed shard ends
    with stubber:
        reader = _reader(client, ["shard-0"], fake)
        assert reader.read_batch(100, 0.0).batch.column("data").to_pylist() == ["a", "b"]
        fake.now += 1
        assert reader.read_batch(100, 0.0) is None  # expired: nothing lost, renewed next
        assert reader.read_batch(100, 0.0).batch.column("data").to_pylist() == ["c"]
        stubber.assert_no_pending_responses()
    assert reader.exhausted()
    assert reader.position() == {"shard-0": {"sequence": f"{SEQ}3", "end": True}}


def test_non_retryable_errors_raise_with_the_shard_named():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _iterator(stubber, "shard-0", "it-0")
    stubber.add_client_error("get_records", "AccessDeniedException", "not allowed")
    with stubber, pytest.raises(KinesisError, match="reading shard shard-0"):
        _reader(client, ["shard-0"], fake).read_batch(100, 0.0)


def _writer(client: Any, sleeps: list[float], timeout: float = 60.0) -> KinesisWriter:
    spec = KinesisSinkSpec(name="sink", settings=SETTINGS, format="plaintext",
                           columns=("v",), stream="s", data_column="v",
                           partition_key_column="v", retry_timeout_s=timeout,
                           max_in_flight=1)
    return KinesisWriter(spec, client=client, sleep=sleeps.append)


def _batch(values: list[str]) -> pa.RecordBatch:
    n = len(values)
    return pa.record_batch({"v": values, "time": [2] * n, "diff": [1] * n,
                            "_key": pa.array(range(n), pa.uint64())})


def _entries(values: list[str]) -> list[dict[str, Any]]:
    return [{"Data": v.encode(), "PartitionKey": v} for v in values]


def _put_ok(n: int) -> dict[str, Any]:
    return {"Records": [{"SequenceNumber": "1", "ShardId": "shardId-0"}] * n}


def test_writer_retries_only_failed_entries_with_backoff():
    client, sleeps = _client(), []
    stubber = Stubber(client)
    stubber.add_response("describe_stream_summary", {"StreamDescriptionSummary": {
        "StreamName": "s", "StreamARN": "arn:aws:kinesis:us-east-1:1:stream/s",
        "StreamStatus": "ACTIVE", "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": 0, "EnhancedMonitoring": [], "OpenShardCount": 1}})
    partial = {"FailedRecordCount": 2, "Records": [
        {"SequenceNumber": "1", "ShardId": "shardId-0"},
        {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded"},
        {"SequenceNumber": "2", "ShardId": "shardId-0"},
        {"ErrorCode": "InternalFailure", "ErrorMessage": "oops"}]}
    stubber.add_response("put_records", partial,
                         {"StreamName": "s", "Records": _entries(["a", "b", "c", "d"])})
    stubber.add_client_error("put_records", THROTTLED, "Rate exceeded for stream",
                             expected_params={"StreamName": "s", "Records": _entries(["b", "d"])})
    stubber.add_response("put_records", _put_ok(2),
                         {"StreamName": "s", "Records": _entries(["b", "d"])})
    with stubber:
        writer = _writer(client, sleeps)
        assert writer.write(_batch(["a", "b", "c", "d"])) == []
        writer.flush()
        stubber.assert_no_pending_responses()
    assert writer.records_sent == 4 and len(sleeps) == 2
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2


def test_writer_gives_up_after_the_retry_timeout():
    client, sleeps = _client(), []
    stubber = Stubber(client)
    stubber.add_response("describe_stream_summary", {"StreamDescriptionSummary": {
        "StreamName": "s", "StreamARN": "arn:aws:kinesis:us-east-1:1:stream/s",
        "StreamStatus": "ACTIVE", "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": 0, "EnhancedMonitoring": [], "OpenShardCount": 1}})
    stubber.add_response("put_records", {"FailedRecordCount": 1, "Records": [
        {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded"}]})
    with stubber:
        writer = _writer(client, sleeps, timeout=1e-9)
        writer.write(_batch(["a"]))
        with pytest.raises(KinesisError, match="1 records for stream 's' still failing"):
            writer.flush()
