"""Transient broker failures (a timed-out watermark query, a moving leader) are retried.

Unit tests of the retry rule in ``connectors.kafka_client._call`` with real
``KafkaError`` values and no broker; the status line shows the retries.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from raystream.actors.status import Sample, format_status, make_sample
from raystream.connectors import kafka_client
from raystream.connectors.kafka_client import KafkaUnavailableError, _call


def failing(errors: list[int], result: object = (0, 10)):
    calls = []

    def fn() -> object:
        calls.append(1)
        if len(calls) <= len(errors):
            raise KafkaException(KafkaError(errors[len(calls) - 1]))
        return result
    return fn, calls


def test_a_timed_out_watermark_query_is_retried_with_growing_waits() -> None:
    before = kafka_client.transient_retries()
    waits: list[float] = []
    fn, calls = failing([KafkaError._TIMED_OUT, KafkaError.NOT_LEADER_FOR_PARTITION])
    assert _call("read the watermarks", fn, budget_s=30, sleep=waits.append) == (0, 10)
    assert len(calls) == 3 and waits == [0.25, 0.5]
    assert kafka_client.transient_retries() == before + 2


def test_no_answer_in_time_is_transient_too() -> None:
    answers = iter([None, (3, 4)])
    waits: list[float] = []
    assert _call("read the watermarks", lambda: next(answers), sleep=waits.append) == (3, 4)
    assert waits == [0.25]


def test_a_lasting_timeout_fails_after_the_budget_with_the_reason() -> None:
    fn, calls = failing([KafkaError._TIMED_OUT] * 100)
    with pytest.raises(KafkaUnavailableError, match=r"read the watermarks: .*retried for 2 s"):
        _call("read the watermarks", fn, budget_s=2, sleep=lambda s: None)
    assert 2 <= len(calls) < 100


def test_a_permanent_error_is_not_retried() -> None:
    fn, calls = failing([KafkaError.TOPIC_AUTHORIZATION_FAILED])
    waits: list[float] = []
    with pytest.raises(KafkaUnavailableError, match="read the watermarks"):
        _call("read the watermarks", fn, sleep=waits.append)
    assert len(calls) == 1 and waits == []


def test_the_status_line_counts_broker_retries_over_the_readers() -> None:
    sample = make_sample(1.0, [{"rows": 5, "broker_retries": 2}, {"rows": 1, "broker_retries": 1}],
                         [], {})
    assert sample.broker_retries == 3
    assert "broker retries 3" in format_status("p", None, sample)
    assert "retries" not in format_status("p", None, Sample(at=1.0, rows_in=0, rows_out=0))
