"""Partitions that appear while running: a Kafka topic grows, its new partitions get a reader.

Unit tests (no Ray, no broker) cover the driver's rules; the integration test
grows a topic on the Kafka 0.9 test broker (``kafka-topics.sh --alter``) under a
running groupby pipeline, kills the new reader, then a reduce actor, and checks
the folded output.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
import ray
from raystream.actors.checkpointer import Restore
from raystream.actors.dynamic import DynamicSources
from raystream.actors.plan import ReaderStage
from raystream.actors.routing import channel_id, source_key
from raystream.connectors.base import FIRST_RECORD, PartitionInfo

import raystream as pw
from raystream.run import start
from tests.recovery_helpers import (
    changelog,
    expected_totals,
    fold,
    kill_actor_process,
    negative_folds,
    repeated_changes,
    run_driven,
    wait_until,
)
from tests.services.kafka import COMPAT
from tests.test_kafka_helpers import produce

# -- the driver's rules (no Ray) ------------------------------------------------------


class _Listing:
    """A source whose listing the test changes."""

    name = "kafka:t"

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def list_partitions(self) -> list[PartitionInfo]:
        return [PartitionInfo(i) for i in self.ids]


class _Host:
    """Records the readers DynamicSources starts."""

    def __init__(self) -> None:
        self.started: list[tuple[int, list[str]]] = []

    def start_reader(self, stage: ReaderStage, instance: int, partitions: list[str]) -> str:
        self.started.append((instance, list(partitions)))
        return channel_id(stage.id, instance)

    def release_reader(self, reader_id: str) -> None:
        raise AssertionError("a growing source never releases a reader")

    def exhausted_readers(self) -> list[str]:
        return []


def _stage(source: _Listing, groups: list[list[str]], **flags: bool) -> ReaderStage:
    return ReaderStage(3, "kafka:t", source, prepare=None,  # type: ignore[arg-type]
                       **flags).with_partitions(groups)


def test_partitions_that_appear_get_one_new_reader_together() -> None:
    source = _Listing(["0", "1", "2", "3"])
    host = _Host()
    follower = DynamicSources(host, [_stage(source, [["0", "2"], ["1", "3"]], grows=True)])
    follower.poll(force=True)
    assert host.started == [], "partitions read from the start get no second reader"
    source.ids += ["4", "5", "6"]
    follower.poll(force=True)
    assert host.started == [(2, ["4", "5", "6"])]
    source.ids += ["7"]
    follower.poll(force=True)
    follower.poll(force=True)
    assert host.started == [(2, ["4", "5", "6"]), (3, ["7"])]


def test_a_static_source_is_not_followed() -> None:
    source = _Listing(["0"])
    host = _Host()
    follower = DynamicSources(host, [_stage(source, [["0"]])])
    source.ids.append("1")
    follower.poll(force=True)
    assert host.started == []


def test_resharded_partitions_still_get_one_reader_each() -> None:
    source = _Listing(["a"])
    host = _Host()
    follower = DynamicSources(host, [_stage(source, [["a"]], dynamic=True)])
    source.ids += ["b", "c"]
    follower.poll(force=True)
    assert host.started == [(1, ["b"]), (2, ["c"])]


def test_appeared_partitions_start_at_their_first_record_unless_checkpointed() -> None:
    stage = _stage(_Listing(["0", "1"]), [["0"], ["1"]], grows=True)
    key = source_key(stage.name, stage.id)
    fresh = Restore()
    assert fresh.reader_positions(stage, ["0"]) == {}, "a partition listed at start: as usual"
    assert fresh.reader_positions(stage, ["4", "5"], appeared=True) == {
        "4": FIRST_RECORD, "5": FIRST_RECORD}
    restored = Restore(number=3, sources={key: {"0": {"offset": 7}, "4": {"offset": 2}}})
    assert restored.reader_positions(stage, ["4", "5"], appeared=True) == {
        "4": {"offset": 2}, "5": FIRST_RECORD}
    assert restored.reader_positions(stage, ["0", "9"]) == {
        "0": {"offset": 7}, "9": FIRST_RECORD}, "unknown to the checkpoint: appeared after it"
    kinesis = _stage(_Listing(["a"]), [["a"]], dynamic=True)
    assert Restore(number=3).reader_positions(kinesis, ["b"], appeared=True) == {}


# -- a real topic grows under a running pipeline --------------------------------------

GROUPS = 10


class Event(pw.Schema):
    k: int
    v: int


def _events(start_at: int, count: int) -> list[str]:
    return [json.dumps({"k": i % GROUPS, "v": i % 5}) for i in range(start_at, start_at + count)]


def _expected(total: int) -> Counter:
    return expected_totals(total, GROUPS, 5)


def _pipeline(settings: dict, topic: str, out: Path):
    events = pw.io.kafka.read(settings, topic, format="json", schema=Event,
                              autocommit_duration_ms=200, max_batch_rows=500)
    totals = events.groupby(events.k).reduce(events.k, s=pw.reducers.sum(events.v),
                                             n=pw.reducers.count())
    pw.io.jsonlines.write(totals, out)
    return start(reduce_parallelism=2, monitoring=False)


@pytest.mark.kafka
@pytest.mark.ray
@pytest.mark.usefixtures("ray_session")
def test_a_topic_that_grows_is_read_from_the_new_partitions_first_offsets(
        kafka_broker, unique_name, tmp_path) -> None:
    topic, out = unique_name, tmp_path / "out.jsonl"
    kafka_broker.create_topic(topic, partitions=2)
    # "latest": a partition listed at start skips what was there before; one that
    # appears later must still be read from its first offset
    settings = {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": f"g-{topic}",
                "auto.offset.reset": "latest", **COMPAT}
    produce(kafka_broker.client_settings(), topic, _events(-500, 500))  # skipped: latest
    pipeline = _pipeline(settings, topic, out)
    columns = ["k", "s", "n"]

    def drive() -> None:
        wait_until(lambda: all(s["opens"] for s in ray.get(
            [r.stats.remote() for r in pipeline.deployed.readers.values()])), 120,
            "every reader to open its partitions (at their high watermarks)")
        produce(kafka_broker.client_settings(), topic, _events(0, 1000),
                partition=[i % 2 for i in range(1000)])
        wait_until(lambda: fold(changelog(out), columns) == _expected(1000), 120,
                   "the output of the first partitions")
        kafka_broker.add_partitions(topic, 4)
        produce(kafka_broker.client_settings(), topic, _events(1000, 1000),
                partition=[2 + i % 2 for i in range(1000)])
        wait_until(lambda: pipeline.appeared, 30, "a reader for the new partitions")
        wait_until(lambda: fold(changelog(out), columns) == _expected(2000), 120,
                   "the output of the new partitions")
        written = pipeline.checkpointer.written
        wait_until(lambda: pipeline.checkpointer.written > written, 60, "a checkpoint")
        new_reader = next(iter(pipeline.appeared))
        pid = int(ray.get(pipeline.deployed.readers[new_reader].ping.remote(),
                          timeout=60)["pid"])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pipeline.supervisor.recoveries >= 1, 120, "a recovery")
        produce(kafka_broker.client_settings(), topic, _events(2000, 1000),
                partition=[i % 4 for i in range(1000)])
        wait_until(lambda: fold(changelog(out), columns) == _expected(3000), 120,
                   "the exact output after the new reader's recovery")
        # a restarted reduce actor reran __init__: it must learn the new reader's
        # channel again, or the new reader's rows would be refused
        kill_actor_process(pipeline, "operator")
        wait_until(lambda: pipeline.supervisor.recoveries >= 2, 120, "a second recovery")
        produce(kafka_broker.client_settings(), topic, _events(3000, 1000),
                partition=[i % 4 for i in range(1000)])
        wait_until(lambda: fold(changelog(out), columns) == _expected(4000), 120,
                   "the exact output after the reduce's recovery")

    run_driven(pipeline, drive, 500)
    assert [parts for _, parts in pipeline.appeared.values()] == [("2", "3")]
    rows = changelog(out)
    assert fold(rows, columns) == _expected(4000)
    assert repeated_changes(rows, columns) == []
    assert negative_folds(rows, columns) == []
