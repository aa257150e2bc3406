"""A throttling endpoint: the bulk HTTP paths (GetRecords, PutRecords) back off and retry.

A tiny fake Kinesis (JSON 1.1 over HTTP, in a thread) answers the first calls
with ``ProvisionedThroughputExceededException`` (HTTP 400, as AWS does) or
with failed PutRecords entries, then succeeds; the connector must get every
record through, retrying only what failed.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pytest
from raystream.connectors.base import ParseSpec
from raystream.connectors.kinesis import (
    ConnectionSettings,
    KinesisReader,
    KinesisSinkSpec,
    KinesisSourceSpec,
    KinesisWriter,
)

THROTTLED = {"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded"}


class FakeKinesis(BaseHTTPRequestHandler):
    """Answers from ``server.script``: operation -> list of (status, body) used in order."""

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        operation = self.headers["X-Amz-Target"].split(".")[-1]
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls.append((operation, request))  # type: ignore[attr-defined]
        status, body = self.server.script[operation].pop(0)  # type: ignore[attr-defined]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKinesis)
    server.calls, server.script = [], {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _settings(server) -> ConnectionSettings:
    return ConnectionSettings(region="us-east-1", access_key="x", secret_key="x",
                              endpoint_url=f"http://127.0.0.1:{server.server_address[1]}")


def _record(text: str, seq: int) -> dict[str, Any]:
    return {"Data": base64.b64encode(text.encode()).decode(), "PartitionKey": "p",
            "SequenceNumber": str(seq), "ApproximateArrivalTimestamp": 1.7e9}


def test_reader_backs_off_on_a_throttling_endpoint(fake):
    fake.script = {
        "GetShardIterator": [(200, {"ShardIterator": "it-0"})],
        "GetRecords": [(400, THROTTLED), (400, THROTTLED),
                       (200, {"Records": [_record("a", 1), _record("b", 2)],
                              "NextShardIterator": "it-1", "MillisBehindLatest": 0})]}
    spec = KinesisSourceSpec("src", "s", ParseSpec("plaintext", pa.schema([("data", pa.string())])),
                             _settings(fake))
    reader = KinesisReader(spec, ["shardId-000000000000"])
    assert reader.get_records.__name__ == "get_records_fast"
    batch = reader.read_batch(100, 5.0)
    assert batch.batch.column("data").to_pylist() == ["a", "b"]
    assert [op for op, _ in fake.calls] == ["GetShardIterator"] + ["GetRecords"] * 3
    assert reader.position() == {"shardId-000000000000": {"sequence": "2", "end": False}}
    assert reader.metrics() == {"millis_behind_latest": 0.0}


def test_writer_retries_failed_entries_on_a_throttling_endpoint(fake):
    summary = {"StreamDescriptionSummary": {
        "StreamName": "s", "StreamARN": "arn:aws:kinesis:us-east-1:1:stream/s",
        "StreamStatus": "ACTIVE", "RetentionPeriodHours": 24, "StreamCreationTimestamp": 0,
        "EnhancedMonitoring": [], "OpenShardCount": 1}}
    ok = {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
    fake.script = {
        "DescribeStreamSummary": [(200, summary)],
        "PutRecords": [
            (200, {"FailedRecordCount": 1, "Records": [
                ok, {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"},
                ok]}),
            (400, THROTTLED),
            (200, {"FailedRecordCount": 0, "Records": [ok]})]}
    spec = KinesisSinkSpec(name="sink", settings=_settings(fake), format="plaintext",
                           columns=("v",), stream="s", data_column="v",
                           partition_key_column="v", max_in_flight=1)
    writer = KinesisWriter(spec)
    writer.write(pa.record_batch({"v": ["a", "b", "c"], "time": [2] * 3, "diff": [1] * 3,
                                  "_key": pa.array([1, 2, 3], pa.uint64())}))
    writer.close()
    puts = [request for op, request in fake.calls if op == "PutRecords"]
    assert [[base64.b64decode(r["Data"]) for r in p["Records"]] for p in puts] == [
        [b"a", b"b", b"c"], [b"b"], [b"b"]]
    assert writer.records_sent == 3 and writer.retries == 2
