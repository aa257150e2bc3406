"""A persistent streaming pipeline: Kafka JSON -> groupby-sum/count -> Kafka (transactional).

Usage: python -m tests.pipelines.kafka_groupby BOOTSTRAP IN_TOPIC OUT_TOPIC PSTORAGE_DIR

The brokers need no special settings (a modern Kafka, here noida-db): the sink
writes one transaction per checkpoint. Runs until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import sys

import raystream as pw


class Event(pw.Schema):
    k: int
    v: int


def main(bootstrap: str, source: str, target: str, storage: str) -> None:
    settings = {"bootstrap.servers": bootstrap, "group.id": f"g-{source}",
                "auto.offset.reset": "earliest"}
    events = pw.io.kafka.read(settings, source, format="json", schema=Event,
                              autocommit_duration_ms=150, max_batch_rows=500)
    totals = events.groupby(events.k).reduce(events.k, s=pw.reducers.sum(events.v),
                                             n=pw.reducers.count())
    pw.io.kafka.write(totals, {"bootstrap.servers": bootstrap}, target, format="json")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE,
           persistence_config=pw.persistence.Config(pw.persistence.Backend.filesystem(storage)))


if __name__ == "__main__":
    main(*sys.argv[1:5])
