"""Reopening sinks in a checkpointed state: files are cut back to the recorded length.

File tests need nothing but a directory; the Kafka and Kinesis writers (at-least-once:
their state only counts) run against the librdkafka mock cluster and kinesalite.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from raystream.connectors.base import AT_LEAST_ONCE, EXACTLY_ONCE, ResumeError
from raystream.connectors.file_sink import FileSinkSpec, NullSinkSpec
from raystream.connectors.kafka_sink import KafkaSinkSpec
from raystream.connectors.kinesis import ConnectionSettings, KinesisSinkSpec

from tests.test_kafka_helpers import consume_all


def rows(*values: int, time: int = 2) -> pa.RecordBatch:
    n = len(values)
    return pa.record_batch({"v": list(values), "time": [time] * n, "diff": [1] * n})


def through_json(state: dict) -> dict:
    return json.loads(json.dumps(state))


@pytest.mark.parametrize("format", ["json", "csv"])
def test_a_resumed_file_drops_what_came_after_the_state_and_appends(tmp_path, format) -> None:
    path = tmp_path / "out" / f"o.{format}"
    spec = FileSinkSpec("out", str(path), format)
    writer = spec.open()
    assert writer.delivery == EXACTLY_ONCE
    writer.write(rows(1, 2))
    writer.flush()
    state = through_json(writer.state())
    kept = path.read_bytes()
    assert state["length"] == len(kept) > 0
    writer.write(rows(3))
    assert writer.state() == state, "unflushed rows are not in the state"
    writer.flush()
    with path.open("ab") as handle:  # a crash in the middle of a write: a torn line
        handle.write(b'{"v": 4, "ti' if format == "json" else b"4,")
    resumed = spec.open(state)
    assert path.read_bytes() == kept
    resumed.write(rows(5, time=4))
    resumed.flush()
    lines = path.read_text().splitlines()
    if format == "json":
        assert [json.loads(line)["v"] for line in lines] == [1, 2, 5]
    else:
        assert lines == ["v,time,diff", "1,2,1", "2,2,1", "5,4,1"]  # one header
    assert resumed.state() == {"length": path.stat().st_size, **(
        {"header_written": True} if format == "csv" else {})}


def test_a_csv_resumed_before_its_first_flush_writes_the_header(tmp_path) -> None:
    path = tmp_path / "o.csv"
    spec = FileSinkSpec("out", str(path), "csv")
    writer = spec.open()
    state = through_json(writer.state())
    assert state == {"length": 0, "header_written": False}
    writer.write(rows(1))
    writer.flush()
    resumed = spec.open(state)
    resumed.write(rows(2))
    resumed.close()
    assert path.read_text().splitlines() == ["v,time,diff", "2,2,1"]


def test_a_missing_or_shorter_file_is_an_error_naming_it(tmp_path) -> None:
    path = tmp_path / "o.jsonl"
    spec = FileSinkSpec("out", str(path))
    writer = spec.open()
    writer.write(rows(1, 2, 3))
    writer.close()
    state = writer.state()
    path.write_bytes(path.read_bytes()[:5])
    with pytest.raises(ResumeError, match=rf"out: .*{path}: the checkpoint recorded "
                                          rf"{state['length']} bytes but it has 5"):
        spec.open(state)
    assert path.stat().st_size == 5, "nothing is cut or created on an error"
    path.unlink()
    with pytest.raises(ResumeError, match=rf"cannot resume output file {path}"):
        spec.open(state)
    assert not path.exists()
    with pytest.raises(ResumeError, match="'length' must be int"):
        spec.open({"length": "12"})


def test_a_csv_state_must_agree_with_its_length(tmp_path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("v,time,diff\n1,2,1\n")
    with pytest.raises(ResumeError, match="header_written=False at length 18"):
        FileSinkSpec("out", str(path), "csv").open({"length": 18, "header_written": False})


def test_the_null_sink_resumes_trivially() -> None:
    writer = NullSinkSpec().open({})
    assert writer.delivery == EXACTLY_ONCE
    writer.write(rows(1))
    writer.flush()
    assert writer.state() == {}


@pytest.mark.kafka
def test_kafka_writer_state_counts_and_keeps_dsv_headers_sent(mock_kafka, unique_name) -> None:
    settings = mock_kafka.client_settings()
    spec = KafkaSinkSpec("k", settings, unique_name, format="dsv")
    writer = spec.open()
    assert writer.delivery == AT_LEAST_ONCE
    writer.write(rows(1, 2))
    writer.flush()
    state = through_json(writer.state())
    assert state == {"messages": 2, "dsv_headers": [unique_name]}
    resumed = spec.open(state)
    resumed.write(rows(3))
    resumed.flush()
    assert resumed.state() == {"messages": 3, "dsv_headers": [unique_name]}
    values = [m.value.decode() for m in consume_all(settings, unique_name, expect=4)]
    assert sorted(values) == ["1,2,1", "2,2,1", "3,2,1", "v,time,diff"]  # one header
    with pytest.raises(ResumeError, match="k: kafka sink state: .* no 'dsv_headers'"):
        spec.open({"messages": 3})


@pytest.mark.kinesis
def test_kinesis_writer_state_counts_acknowledged_records(kinesalite, unique_name) -> None:
    kinesalite.create_stream(unique_name, shards=1)
    settings = ConnectionSettings(region="us-east-1", endpoint_url=kinesalite.endpoint_url,
                                  access_key="testing", secret_key="testing")
    spec = KinesisSinkSpec("kin", settings, "json", ("v",), stream=unique_name,
                           partition_key_column="v")
    writer = spec.open()
    assert writer.delivery == AT_LEAST_ONCE
    writer.write(rows(1, 2))
    assert writer.state() == {"records": 0}
    writer.flush()
    state = through_json(writer.state())
    writer.close()
    assert state == {"records": 2}
    resumed = spec.open(state)
    resumed.write(rows(3))
    resumed.flush()
    assert resumed.state() == {"records": 3}
    resumed.close()
