"""raystream side of the scaling benchmark: a static Kafka read -> groupby -> JSON lines.

Usage: python bench/scaling/pipeline.py BOOTSTRAP TOPIC OUTPUT [--readers N]

Joins ``RAY_ADDRESS`` when set (a cluster), else starts a local Ray. Uses the
0.9 test broker's client settings. Exits once every partition is read to the
offset it had at start and the totals are written.
"""

from __future__ import annotations

import argparse

import raystream as pw

COMPAT = {"api.version.request": "false", "broker.version.fallback": "0.9.0.1"}


class Event(pw.Schema):
    k: int
    v: int


def main() -> None:
    """Builds and runs the pipeline."""
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("output")
    parser.add_argument("--readers", type=int, default=None)
    args = parser.parse_args()
    settings = {"bootstrap.servers": args.bootstrap, "group.id": f"scaling-{args.output}",
                "auto.offset.reset": "earliest", **COMPAT}
    events = pw.io.kafka.read(settings, args.topic, format="json", schema=Event,
                              mode="static", parallel_readers=args.readers)
    totals = events.groupby(events.k).reduce(events.k, s=pw.reducers.sum(events.v),
                                             n=pw.reducers.count())
    pw.io.jsonlines.write(totals, args.output)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


if __name__ == "__main__":
    main()
