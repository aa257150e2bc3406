"""Totals per key over a Kafka topic, one reader per partition, spread over the nodes.

    ray job submit --working-dir examples/cluster -- python kafka_totals.py \
        --bootstrap kafka-1:9092 --topic events --group totals --output /data/totals.jsonl

Messages are JSON like ``{"key": 1, "value": 10}``. Offsets are committed
under ``--group`` once the output is durable; a restart resumes from there.
``--mode static`` reads up to the current end of every partition and stops.
"""

import argparse

import raystream as pw


class InputSchema(pw.Schema):
    key: int
    value: int


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap.servers")
parser.add_argument("--topic", required=True)
parser.add_argument("--group", required=True, help="consumer group.id for offset commits")
parser.add_argument("--output", required=True, help="the changelog to write (JSON lines)")
parser.add_argument("--mode", default="streaming", choices=["streaming", "static"])
parser.add_argument("--name", default="kafka-totals", help="pipeline name (actors, metrics)")
parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="extra librdkafka setting (repeatable)")
parser.add_argument("--status-interval", type=float, default=10.0)
args = parser.parse_args()

settings = {"bootstrap.servers": args.bootstrap, "group.id": args.group}
settings.update(item.split("=", 1) for item in args.setting)
t = pw.io.kafka.read(settings, args.topic, schema=InputSchema, format="json", mode=args.mode,
                     autocommit_duration_ms=500)
kept = t.filter(t.value % 3 != 0)
totals = kept.groupby(kept.key).reduce(kept.key, total=pw.reducers.sum(kept.value),
                                       n=pw.reducers.count())
pw.io.jsonlines.write(totals, args.output)
pw.run(name=args.name, status_interval_s=args.status_interval)
