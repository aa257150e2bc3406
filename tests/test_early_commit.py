"""A minibatch closes early when its source can return nothing before it is due.

Kinesis allows a caught-up shard one GetRecords call every ``idle_poll_s``:
a record read just after a poll would otherwise wait for the commit interval
too. The rule (``Minibatch.due``) is pure; the Kinesis reader says when it
can next return records (``idle_until``), tested here with botocore's
Stubber at the client boundary (no server).
"""

from __future__ import annotations

from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from raystream.actors.reader_parts import Minibatch
from raystream.connectors.base import ParseSpec, reader_idle_until
from raystream.connectors.kinesis import ConnectionSettings, KinesisReader, KinesisSourceSpec

SETTINGS = ConnectionSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9",
                              access_key="x", secret_key="x")
SEQ = "4968041503423995268598464674726068473825934288410692813"


class FakeTime:
    """A clock that only moves when told to (or when the code under test sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("now", "rows", "idle_until", "due"), [
    (10.2, 0, None, True),     # open for the whole interval: closes, even empty
    (10.1, 5, None, False),    # rows, but the source may return more at any time
    (10.1, 5, 10.15, False),   # the source returns more before the close
    (10.1, 5, 10.2, True),     # nothing before the close: close now
    (10.1, 5, 12.0, True),
    (10.1, 0, 12.0, False),    # nothing to commit: an early close would only cost a call
])
def test_due_at_the_interval_or_when_the_source_is_idle_past_it(now, rows, idle_until, due):
    batch = Minibatch(time=2, opened=10.0, rows=rows)
    assert batch.due(now, 0.2, idle_until) is due


def _client() -> Any:
    return boto3.client("kinesis", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                        aws_access_key_id="x", aws_secret_access_key="x")


def _reader(client: Any, shards: list[str], fake: FakeTime) -> KinesisReader:
    spec = KinesisSourceSpec("src", "s", ParseSpec("plaintext", pa.schema([("data", pa.string())])),
                             SETTINGS, state_dir=None, idle_poll_s=0.2)
    return KinesisReader(spec, shards, client=client, clock=fake.clock, sleep=fake.sleep)


def _poll(stubber: Stubber, shard: str, texts: list[str], behind: int = 0) -> None:
    stubber.add_response("get_shard_iterator", {"ShardIterator": f"{shard}-it"},
                         {"StreamName": "s", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})
    records = [{"Data": t.encode(), "PartitionKey": "p", "SequenceNumber": f"{SEQ}{i}"}
               for i, t in enumerate(texts)]
    stubber.add_response("get_records", {"Records": records, "MillisBehindLatest": behind,
                                         "NextShardIterator": f"{shard}-next"},
                         {"ShardIterator": f"{shard}-it", "Limit": 100})


def test_a_caught_up_shard_is_idle_until_its_next_allowed_poll():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _poll(stubber, "shard-0", ["a", "b"])
    with stubber:
        reader = _reader(client, ["shard-0"], fake)
        assert reader_idle_until(reader) <= fake.now  # never polled: ready now
        batch = reader.read_batch(100, 0.0)
    assert batch is not None and batch.batch.num_rows == 2
    assert reader_idle_until(reader) == pytest.approx(fake.now + 0.2)
    opened = Minibatch(time=2, opened=fake.now - 0.05, rows=2)
    assert opened.due(fake.now, 0.2, reader_idle_until(reader))  # commit without waiting


def test_a_shard_behind_the_tip_or_not_yet_polled_keeps_the_minibatch_open():
    client, fake = _client(), FakeTime()
    stubber = Stubber(client)
    _poll(stubber, "shard-0", ["a"], behind=5000)  # more is waiting: poll again at once
    _poll(stubber, "shard-1", ["b"])
    with stubber:
        reader = _reader(client, ["shard-0", "shard-1"], fake)
        reader.read_batch(100, 0.0)
        assert reader_idle_until(reader) <= fake.now  # shard-1 is due now
        reader.read_batch(100, 0.0)
    assert reader_idle_until(reader) == pytest.approx(fake.now)  # shard-0 is behind
    assert not Minibatch(time=2, opened=fake.now, rows=2).due(
        fake.now, 0.2, reader_idle_until(reader))


def test_a_paused_reader_or_one_without_the_method_is_never_idle():
    client, fake = _client(), FakeTime()
    reader = _reader(client, ["shard-0"], fake)
    reader.pause()
    assert reader_idle_until(reader) is None
    assert reader_idle_until(object()) is None  # type: ignore[arg-type]
