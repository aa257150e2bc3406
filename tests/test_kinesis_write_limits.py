"""KinesisWriter on kinesalite: oversize rows refused by name, calls within 500 records/5 MiB."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
from raystream.connectors.kinesis import ConnectionSettings, KinesisError, KinesisSinkSpec
from raystream.connectors.kinesis_lanes import MAX_BYTES_PER_CALL
from raystream.connectors.kinesis_sink import KinesisWriter, pointer_text

from tests.test_kinesis_helpers import shard_records

pytestmark = pytest.mark.kinesis


class RecordingClient:
    """A real boto3 client whose PutRecords calls are recorded (sizes per call)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[int, int]] = []

    def put_records(self, **request: Any) -> Any:
        records = request["Records"]
        size = sum(len(r["Data"]) + len(r["PartitionKey"].encode()) for r in records)
        self.calls.append((len(records), size))
        return self.client.put_records(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _settings(server) -> ConnectionSettings:
    return ConnectionSettings(region="us-east-1", endpoint_url=server.endpoint_url,
                              access_key="testing", secret_key="testing")


def _batch(values: list[Any], keys: list[Any]) -> pa.RecordBatch:
    n = len(values)
    return pa.record_batch({
        "value": pa.array(values, pa.string()), "pk": pa.array(keys, pa.string()),
        "time": pa.array([10] * n, pa.int64()), "diff": pa.array([1] * n, pa.int64()),
        "_key": pa.array(range(100, 100 + n), pa.uint64())})


def _writer(server, stream: str, client=None, **fields: Any) -> KinesisWriter:
    spec = KinesisSinkSpec(name="test-sink", settings=_settings(server), columns=("value", "pk"),
                           stream=stream, **{"format": "plaintext", "data_column": "value",
                                             "partition_key_column": "pk", **fields})
    return KinesisWriter(spec, client=client)


def test_refused_rows_are_named_and_the_rest_is_written(kinesalite, unique_name):
    kinesalite.create_stream(unique_name, shards=1)
    writer = _writer(kinesalite, unique_name)
    values = ["ok-1", "x" * (1024 * 1024), "ok-2", "ok-3", None, "ok-4"]
    keys = ["a", "b", "k" * 300, "", "e", "ü" * 128]  # the last key is exactly 256 bytes
    errors = writer.write(_batch(values, keys))
    writer.flush()

    by_row = {e.position: e for e in errors}
    names = pointer_text(pa.array(range(100, 106), pa.uint64())).to_pylist()
    assert set(by_row) == {f"row {names[i]} time=10" for i in (1, 2, 3, 4)}
    assert "1048577 bytes" in by_row[f"row {names[1]} time=10"].reason
    assert "at most 1048576 (1 MiB)" in by_row[f"row {names[1]} time=10"].reason
    assert "partition key is 300 bytes" in by_row[f"row {names[2]} time=10"].reason
    assert "partition key is empty" in by_row[f"row {names[3]} time=10"].reason
    assert "payload column 'value' is null" in by_row[f"row {names[4]} time=10"].reason
    assert all(e.source == f"kinesis stream={unique_name}" for e in errors)
    assert "row ^" in errors[0].describe()

    (records,) = shard_records(kinesalite.client(), unique_name).values()
    assert sorted((r["PartitionKey"], r["Data"].decode()) for r in records) == [
        ("a", "ok-1"), ("ü" * 128, "ok-4")]
    assert len(writer.write(_batch([None, None], ["a", "b"]))) == 2  # nothing left to send


def test_calls_stay_within_500_records_and_5_mib(kinesalite, unique_name):
    kinesalite.create_stream(unique_name, shards=2)
    client = RecordingClient(kinesalite.client())
    writer = _writer(kinesalite, unique_name, client=client, max_in_flight=1)
    writer.write(_batch([f"v{i}" for i in range(1200)], [str(i) for i in range(1200)]))
    assert len(writer.sender.queues[(unique_name, 0)].data) == 200  # full calls went out
    writer.flush()
    assert [c[0] for c in client.calls] == [500, 500, 200]

    client.calls.clear()
    big = "y" * (600 * 1024)
    writer.write(_batch([big] * 20, [f"p{i}" for i in range(20)]))
    writer.flush()
    assert sum(c[0] for c in client.calls) == 20
    assert all(size <= MAX_BYTES_PER_CALL for _, size in client.calls)
    assert [c[0] for c in client.calls] == [8, 8, 4]
    total = sum(len(r) for r in shard_records(kinesalite.client(), unique_name).values())
    assert total == 1220


def test_json_records_and_row_key_partition_keys(kinesalite, unique_name):
    kinesalite.create_stream(unique_name, shards=1)
    writer = _writer(kinesalite, unique_name, format="json", data_column=None,
                     partition_key_column=None)
    writer.write(_batch(["a", "b"], ["x", "y"]))
    writer.close()
    (records,) = shard_records(kinesalite.client(), unique_name).values()
    records.sort(key=lambda r: json.loads(r["Data"])["value"])  # two keys: two lanes
    assert [json.loads(r["Data"]) for r in records] == [
        {"value": "a", "pk": "x", "time": 10, "diff": 1},
        {"value": "b", "pk": "y", "time": 10, "diff": 1}]
    assert [r["PartitionKey"] for r in records] == \
        pointer_text(pa.array([100, 101], pa.uint64())).to_pylist()


def test_missing_streams(kinesalite, unique_name):
    """A fixed stream must exist; rows for a missing per-row stream are refused by name."""
    with pytest.raises(KinesisError, match="does not exist"):
        _writer(kinesalite, unique_name)
    kinesalite.create_stream(unique_name, shards=1)
    spec = KinesisSinkSpec(name="s", settings=_settings(kinesalite), format="json",
                           columns=("value", "pk"), stream_column="value")
    writer = KinesisWriter(spec)
    errors = writer.write(_batch([unique_name, "no-such-stream", None], ["a", "b", "c"]))
    writer.flush()
    assert sorted(e.reason for e in errors) == [
        "Kinesis stream 'no-such-stream' does not exist",
        "column 'value' (the stream name) is null"]
    (records,) = shard_records(kinesalite.client(), unique_name).values()
    assert len(records) == 1


def test_lanes_keep_each_partition_key_in_order(kinesalite, unique_name):
    """Four calls in flight (lanes by key), yet every key's records arrive in write order."""
    kinesalite.create_stream(unique_name, shards=3)
    writer = _writer(kinesalite, unique_name)  # the fast HTTP path, 4 lanes
    assert writer.sender.lanes == 4
    for start in range(0, 6000, 1500):
        ids = range(start, start + 1500)
        writer.write(_batch([str(i) for i in ids], [f"key-{i % 37}" for i in ids]))
    writer.flush()
    seen: dict[str, list[int]] = {}
    for records in shard_records(kinesalite.client(), unique_name).values():
        for record in records:
            seen.setdefault(record["PartitionKey"], []).append(int(record["Data"]))
    assert sum(len(v) for v in seen.values()) == 6000 and writer.records_sent == 6000
    assert all(values == sorted(values) for values in seen.values())
    writer.close()
