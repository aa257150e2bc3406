"""Chaos: Kafka -> groupby -> Kafka (transactional) while random actors are SIGKILLed many
times and the source broker restarts once. The output stays exact.

The source topic lives on the Kafka 0.9 test broker (restarted once mid-run); the output on
noida-db, whose transactions are real. noida-db itself is not restarted: killed with an open
transaction it aborts it at restart without fencing the producer, whose next commit then
"succeeds" with its rows gone (a noida-db bug, DEVELOPERS.md), which real Kafka never does.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter

import pytest

import raystream as pw
from raystream.run import start
from tests.recovery_helpers import (
    expected_totals,
    fold,
    kill_actor_process,
    negative_folds,
    repeated_changes,
    wait_until,
)
from tests.test_kafka_helpers import consume_all, produce, reader_settings

pytestmark = [pytest.mark.kafka, pytest.mark.ray, pytest.mark.usefixtures("ray_session")]

GROUPS = 25
KILLS = 8
COLUMNS = ["k", "s", "n"]


def expected(total: int) -> Counter:
    return expected_totals(total, GROUPS, 3)


class Event(pw.Schema):
    k: int
    v: int


def test_random_kills_and_a_broker_restart_leave_the_output_exact(kafka_broker, noida_broker,
                                                                  unique_name) -> None:
    source, target = f"{unique_name}-in", f"{unique_name}-out"
    kafka_broker.create_topic(source, partitions=4)
    noida_broker.create_topic(target, partitions=2)
    events = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), source,
                              format="json", schema=Event, autocommit_duration_ms=150,
                              max_batch_rows=400)
    totals = events.groupby(events.k).reduce(events.k, s=pw.reducers.sum(events.v),
                                             n=pw.reducers.count())
    pw.io.kafka.write(totals, noida_broker.client_config(), target, format="json")
    pipeline = start(reduce_parallelism=2, monitoring=False)
    rng = random.Random(20261201)
    produced = [0]
    done = threading.Event()
    errors: list[BaseException] = []
    kills: list[str] = []

    def producing() -> None:
        settings = kafka_broker.client_settings()
        while not done.is_set():
            start_at = produced[0]
            try:
                produce(settings, source, [json.dumps({"k": i % GROUPS, "v": i % 3})
                                           for i in range(start_at, start_at + 200)])
                produced[0] += 200
            except Exception:  # noqa: BLE001 - the broker is restarting: try again
                time.sleep(0.5)
            time.sleep(0.2)

    def chaos() -> None:
        try:
            wait_until(lambda: pipeline.checkpointer.written >= 1, 120, "a first checkpoint")
            for round_ in range(KILLS):
                time.sleep(rng.uniform(1.5, 3.0))
                if round_ == KILLS // 2:
                    kafka_broker.restart_broker()
                recoveries = pipeline.supervisor.recoveries
                kills.append(kill_actor_process(pipeline, rng.choice(
                    ["reader", "operator", "sink", "coordinator"])))
                wait_until(lambda r=recoveries: pipeline.supervisor.recoveries > r, 120,
                           "the recovery")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (producing, chaos)]
    for thread in threads:
        thread.start()
    try:
        while not done.is_set():
            pipeline._step(0.05)
        for thread in threads:
            thread.join(timeout=60)
        total = produced[0]
        wait_until(lambda: pipeline._step(0.05) or fold(
            [m.json() for m in consume_all(noida_broker.client_config(), target, idle_s=0.5,
                                           timeout_s=20)], COLUMNS) == expected(total),
                   240, "the exact output after the chaos")
        pipeline.stop()
        pipeline.wait(timeout=120)
    finally:
        pipeline.shutdown()
    if errors:
        raise errors[0]
    rows = [m.json() for m in consume_all(noida_broker.client_config(), target, idle_s=1.0)]
    assert fold(rows, COLUMNS) == expected(total)
    assert repeated_changes(rows, COLUMNS) == []
    assert negative_folds(rows, COLUMNS) == []
    assert pipeline.supervisor.recoveries >= KILLS, kills
