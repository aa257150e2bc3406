"""Kafka readers resumed at checkpointed positions (no Ray; the 0.9 test broker).

A reader stopped mid-read and resumed from ``position()`` (through JSON, maybe
by readers grouping the partitions differently) returns exactly the rest of one
uninterrupted read, with the same record ids; a static read keeps its end; the
CSV header travels in the positions.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa
import pytest
from raystream.connectors.base import ParseSpec, ResumeError
from raystream.connectors.kafka import KafkaSourceSpec
from raystream.connectors.kafka_positions import KafkaPosition, check_in_range

from tests.test_kafka_helpers import produce, reader_settings

pytestmark = [pytest.mark.kafka]


def through_json(position: Any) -> Any:
    return json.loads(json.dumps(position))


def read(reader, records: int | None = None, max_records: int = 7,
         timeout_s: float = 1.0) -> list[tuple[int, str]]:
    """``(record id, value)`` of up to ``records`` records (None: until exhausted)."""
    out: list[tuple[int, str]] = []
    deadline = time.monotonic() + 60
    while (records is None or len(out) < records) and not reader.exhausted():
        assert time.monotonic() < deadline, f"only {len(out)} records came in 60 s"
        want = max_records if records is None else min(max_records, records - len(out))
        batch = reader.read_batch(want, timeout_s)
        if batch is not None:
            values = batch.batch.column(0).to_pylist()
            out += list(zip(batch.record_ids.to_pylist(), values, strict=True))
    return out


def by_partition(records: list[tuple[int, Any]]) -> dict[int, list[tuple[int, Any]]]:
    """Records per partition (the id's top bits), in reading order."""
    out: dict[int, list] = {}
    for record in records:
        out.setdefault(record[0] >> 48, []).append(record)
    return out


def two_partitions(kafka_broker, topic: str, count: int = 120) -> None:
    kafka_broker.create_topic(topic, partitions=2)
    produce(kafka_broker.client_settings(), topic, [f"m{i}" for i in range(count)],
            partition=[i % 2 for i in range(count)])


PLAIN = ParseSpec("plaintext", pa.schema([("data", pa.string())]))
CSV = ParseSpec("csv", pa.schema([("id", pa.int64()), ("name", pa.string())]))


def spec_of(kafka_broker, topic: str, mode: str = "static",
            parse: ParseSpec = PLAIN) -> KafkaSourceSpec:
    settings = reader_settings(kafka_broker, f"g-{topic}", log_level=3)
    return KafkaSourceSpec("src", topic, settings, parse, mode=mode)


def test_one_reader_resumed_by_two_readers_reads_exactly_the_rest(kafka_broker,
                                                                   unique_name) -> None:
    two_partitions(kafka_broker, unique_name)
    spec = spec_of(kafka_broker, unique_name)
    whole = spec.open(["0", "1"])
    expected = by_partition(read(whole))
    whole.close()
    assert sum(len(v) for v in expected.values()) == 120
    first = spec.open(["0", "1"])
    head = read(first, 45)
    position = through_json(first.position())
    first.close()
    assert set(position) == {"0", "1"}
    assert sum(p["offset"] for p in position.values()) == 45
    assert {p["end"] for p in position.values()} == {60}
    rest = []
    for partition in ("0", "1"):  # each resumed by its own reader
        reader = spec.open([partition], position)
        rest += read(reader)
        assert reader.exhausted()
        reader.close()
    assert by_partition(head + rest) == expected


def test_two_readers_resumed_by_one_and_a_static_end_survives(kafka_broker,
                                                              unique_name) -> None:
    two_partitions(kafka_broker, unique_name)
    spec = spec_of(kafka_broker, unique_name)
    positions, head = {}, []
    for partition, records in (("0", 60), ("1", 20)):  # partition 0 is read to its end
        reader = spec.open([partition])
        head += read(reader, records)
        assert reader.exhausted() == (partition == "0")
        positions.update(through_json(reader.position()))
        reader.close()
    produce(kafka_broker.client_settings(), unique_name, ["late0", "late1"], partition=[0, 1])
    merged = spec.open(["0", "1"], positions)
    rest = read(merged)
    merged.close()
    assert [value for _, value in rest] == [f"m{i}" for i in range(41, 120, 2)]
    assert len(head + rest) == 120, "the static end recorded in the position holds"
    again = spec.open(["0"], {"0": positions["0"]})
    assert again.exhausted() and again.read_batch(10, 0.5) is None
    again.close()


def test_streaming_resume_continues_with_new_messages_and_commits(kafka_broker,
                                                                 unique_name) -> None:
    two_partitions(kafka_broker, unique_name, 20)
    spec = spec_of(kafka_broker, unique_name, mode="streaming")
    first = spec.open(["0", "1"])
    head = read(first, 8)
    position = through_json(first.position())
    assert all(set(p) == {"offset"} for p in position.values())
    first.commit(position)
    first.close()
    produce(kafka_broker.client_settings(), unique_name, [f"m{i}" for i in range(20, 30)],
            partition=[i % 2 for i in range(20, 30)])
    resumed = spec.open(["0", "1"], position)
    rest = read(resumed, 22)
    resumed.close()
    assert sorted(v for _, v in head + rest) == sorted(f"m{i}" for i in range(30))
    fresh = spec.open(["0", "1"])  # no positions: the group's committed offsets
    assert fresh.position() == position
    fresh.close()


def test_the_csv_header_travels_with_every_partitions_position(kafka_broker,
                                                               unique_name) -> None:
    kafka_broker.create_topic(unique_name, partitions=2)
    settings = kafka_broker.client_settings()
    produce(settings, unique_name, ["id,name"], partition=0)
    lines = [f"{i},n{i}" for i in range(40)]
    produce(settings, unique_name, lines, partition=[i % 2 for i in range(40)])
    spec = spec_of(kafka_broker, unique_name, parse=CSV)
    first = spec.open(["0", "1"])
    head = read(first, 10)
    position = through_json(first.position())
    first.close()
    assert {json.dumps(p["header"]) for p in position.values()} == {
        json.dumps({"names": ["id", "name"], "offset": 0})}
    rest = []
    for partition in ("1", "0"):
        reader = spec.open([partition], position)
        assert reader.header.names == ["id", "name"] and reader.header.consumer is None
        rest += read(reader)
        reader.close()
    assert sorted(v for _, v in head + rest) == list(range(40))
    # the header offset is skipped as data even when partition 0 resumes before it
    early = spec.open(["0"], {"0": {"offset": 0, "end": 21, "header": position["1"]["header"]}})
    assert [v for _, v in read(early)] == list(range(0, 40, 2))
    early.close()


def test_positions_the_topic_no_longer_holds_are_refused(kafka_broker, unique_name) -> None:
    two_partitions(kafka_broker, unique_name, 10)
    spec = spec_of(kafka_broker, unique_name, mode="streaming")
    with pytest.raises(ResumeError, match=r"partition=1 at offset 99: the partition ends at "
                                          r"offset 5 \(was the topic deleted"):
        spec.open(["0", "1"], {"1": {"offset": 99}})
    with pytest.raises(ResumeError, match=r"kafka topic=.* partition=0: malformed .*'offset'"):
        spec.open(["0"], {"0": {"next": 3}})
    with pytest.raises(ResumeError, match="records 3..6 were deleted"):
        check_in_range(2, KafkaPosition(3), 7, 10, "t", "src")
    check_in_range(2, KafkaPosition(3, end=3), 7, 10, "t", "src")  # ended: nothing to read
