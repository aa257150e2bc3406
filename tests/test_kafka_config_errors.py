"""Clear errors, not hangs: bad arguments at definition time, bad settings, a missing topic
and an unreachable broker when the pipeline is planned (on the driver).
"""

from __future__ import annotations

import time

import pytest
from raystream.actors.runtime import Pipeline, PipelineError
from raystream.connectors.kafka_client import (
    KafkaSettingsError,
    KafkaTopicError,
    KafkaUnavailableError,
)

import raystream as pw
from raystream.graph import G
from raystream.run import build_plan

pytestmark = [pytest.mark.kafka]

SETTINGS = {"bootstrap.servers": "127.0.0.1:9", "group.id": "g"}


class Event(pw.Schema):
    id: int


@pytest.mark.parametrize(("settings", "kwargs", "message"), [
    ({"group.id": "g"}, {}, "bootstrap.servers"),
    ({"bootstrap.servers": "h:1"}, {}, "group.id"),
    (SETTINGS, {"format": "avro"}, "format"),
    (SETTINGS, {"mode": "batch"}, "mode"),
    (SETTINGS, {"format": "json"}, "needs a schema"),
    (SETTINGS, {"format": "raw", "schema": Event}, "fixed columns"),
    (SETTINGS, {"format": "json", "schema": Event, "autogenerate_key": True},
     "autogenerate_key"),
    (SETTINGS, {"format": "csv", "schema": Event, "json_field_paths": {"id": "/a"}},
     "json_field_paths"),
    (SETTINGS, {"start_from_timestamp_ms": -5}, "start_from_timestamp_ms"),
    (SETTINGS, {"autocommit_duration_ms": 0}, "autocommit_duration_ms"),
    (SETTINGS, {"parallel_readers": 0}, "parallel_readers"),
])
def test_bad_read_arguments(settings, kwargs, message) -> None:
    with pytest.raises(pw.ApiValueError, match=message) as error:
        pw.io.kafka.read(settings, "topic", **kwargs)
    assert "test_kafka_config_errors.py" in str(error.value)  # points at the user's line


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="topic_nmae"):
        pw.io.kafka.read(SETTINGS, "topic", topic_nmae="x")


def start_reading(settings: dict, topic: str) -> None:
    """Plans (no broker contact) and starts: the partitions are listed at start."""
    pw.io.null.write(pw.io.kafka.read(settings, topic))
    pipeline = Pipeline(build_plan(list(G.sinks)))
    try:
        pipeline.start()
    finally:
        pipeline.shutdown()


def test_missing_topic_names_the_existing_ones(kafka_broker, ray_session, unique_name) -> None:
    kafka_broker.create_topic(unique_name)
    settings = {**kafka_broker.client_settings(), "group.id": "g"}
    with pytest.raises(KafkaTopicError) as error:
        start_reading(settings, unique_name + "-typo")
    assert f"topic '{unique_name}-typo' does not exist" in str(error.value)
    assert unique_name in str(error.value).split("existing topics:")[1]


def test_unknown_setting_is_reported_before_connecting(kafka_broker, ray_session) -> None:
    settings = {**kafka_broker.client_settings(), "group.id": "g", "fetch.wait.max.mss": 5}
    with pytest.raises(KafkaSettingsError, match='No such configuration property: "fetch.wait'):
        start_reading(settings, "whatever")


def test_unreachable_broker_fails_within_the_timeout(ray_session) -> None:
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError, match="127.0.0.1:9.*within 10 s"):
        start_reading({**SETTINGS, "log_level": 0}, "whatever")
    assert time.monotonic() - started < 20


def test_unreachable_broker_on_write_fails_the_run(ray_session) -> None:
    pw.io.kafka.write(pw.debug.table_from_markdown("a\n1"), {**SETTINGS, "log_level": 0}, "out")
    started = time.monotonic()
    with pytest.raises(PipelineError, match="KafkaUnavailableError.*127.0.0.1:9.*within 10 s"):
        pw.run(timeout_s=120)
    assert time.monotonic() - started < 40


def test_redpanda_is_kafka() -> None:
    assert pw.io.redpanda.read is pw.io.kafka.read
    assert pw.io.redpanda.write is pw.io.kafka.write


def test_planning_contacts_no_broker() -> None:
    pw.io.null.write(pw.io.kafka.read({**SETTINGS, "log_level": 0}, "whatever"))
    started = time.monotonic()
    plan = build_plan(list(G.sinks))  # an unreachable broker: planning must not notice
    assert time.monotonic() - started < 2
    assert plan.stages[0].groups == ()  # partitions are listed when the pipeline starts
