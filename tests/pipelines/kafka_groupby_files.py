"""A streaming pipeline joined to a Ray cluster: Kafka JSON -> groupby -> JSON lines.

Usage: python -m tests.pipelines.kafka_groupby_files BOOTSTRAP TOPIC GROUP OUTPUT

Uses the 0.9 test broker's client settings; no persistence (in-run recovery).
"""

from __future__ import annotations

import sys

import raystream as pw
from tests.services.kafka import COMPAT


class Event(pw.Schema):
    k: int
    v: int


def main(bootstrap: str, topic: str, group: str, output: str) -> None:
    settings = {"bootstrap.servers": bootstrap, "group.id": group,
                "auto.offset.reset": "earliest", **COMPAT}
    events = pw.io.kafka.read(settings, topic, format="json", schema=Event,
                              autocommit_duration_ms=200, max_batch_rows=500)
    totals = events.groupby(events.k).reduce(events.k, s=pw.reducers.sum(events.v),
                                             n=pw.reducers.count())
    pw.io.jsonlines.write(totals, output)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, reduce_parallelism=2)


if __name__ == "__main__":
    main(*sys.argv[1:5])
