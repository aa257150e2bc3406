"""Row keys from Kafka: primary keys upsert, message keys upsert, autogenerate_key appends.

One streaming pipeline on the 0.9 broker, fed in two phases so the updates
arrive in a later commit time than the rows they replace: the changelog must
then hold the retraction of the old row and the insertion of the new one.
"""

from __future__ import annotations

import json

import pytest

import raystream as pw
from raystream.run import start
from tests.helpers import fold_rows
from tests.test_kafka_helpers import (
    jsonl_rows,
    produce,
    reader_settings,
    stop_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.ray]


class Account(pw.Schema):
    id: int = pw.column_definition(primary_key=True)
    balance: int


def test_primary_keys_and_message_keys_replace_rows(kafka_broker, ray_session, unique_name,
                                                     tmp_path) -> None:
    topics = {k: f"{unique_name[:80]}-{k}" for k in ("pk", "keyed", "auto")}
    for topic in topics.values():
        kafka_broker.create_topic(topic, partitions=2)
    settings = kafka_broker.client_settings()

    def read(kind: str, **kwargs) -> pw.Table:
        return pw.io.kafka.read(reader_settings(kafka_broker, f"g-{topics[kind]}"),
                                topics[kind], autocommit_duration_ms=100, **kwargs)

    out = {k: tmp_path / f"{k}.jsonl" for k in topics}
    pw.io.jsonlines.write(read("pk", format="json", schema=Account), out["pk"])
    pw.io.jsonlines.write(read("keyed", format="plaintext"), out["keyed"])
    pw.io.jsonlines.write(read("auto", format="plaintext", autogenerate_key=True), out["auto"])
    pipeline = start()
    try:
        produce(settings, topics["pk"], [json.dumps({"id": i, "balance": 10 * i})
                                         for i in range(5)])
        produce(settings, topics["keyed"], ["v1", "w1", "x"], keys=["a", "b", None])
        produce(settings, topics["auto"], ["v1", "v2"], keys=["a", "a"], partition=0)
        wait_for(lambda: len(jsonl_rows(out["pk"])) == 5 and len(jsonl_rows(out["keyed"])) == 3
                 and len(jsonl_rows(out["auto"])) == 2, 60, "the first phase")
        # The updates go to other partitions than the originals on purpose: the key
        # decides, not the partition.
        produce(settings, topics["pk"], [json.dumps({"id": 1, "balance": 111}),
                                         json.dumps({"id": 3, "balance": 333})])
        produce(settings, topics["keyed"], ["v2"], keys=["a"])
        produce(settings, topics["auto"], ["v3"], keys=["a"], partition=1)
        wait_for(lambda: len(jsonl_rows(out["pk"])) == 9 and len(jsonl_rows(out["keyed"])) == 5
                 and len(jsonl_rows(out["auto"])) == 3, 60, "the updates")
    finally:
        stop_pipeline(pipeline)

    pk_rows = jsonl_rows(out["pk"])
    assert fold_rows(pk_rows, ["id", "balance"]) == {
        (0, 0): 1, (1, 111): 1, (2, 20): 1, (3, 333): 1, (4, 40): 1}
    retracted = {(r["id"], r["balance"]) for r in pk_rows if r["diff"] == -1}
    assert retracted == {(1, 10), (3, 30)}
    assert fold_rows(jsonl_rows(out["keyed"]), ["key", "data"]) == {
        ("a", "v2"): 1, ("b", "w1"): 1, (None, "x"): 1}
    assert fold_rows(jsonl_rows(out["auto"]), ["key", "data"]) == {
        ("a", "v1"): 1, ("a", "v2"): 1, ("a", "v3"): 1}
    assert not any(r["diff"] == -1 for r in jsonl_rows(out["auto"]))
