"""The Kafka tutorial's generator (generating_kafka_stream.py) with confluent-kafka.

Sends the CSV header ``value`` to ``connector_example`` (partition 0), waits, then the
values 0..9 one per second, as in the tutorial. Usually started for you by
``python examples/kafka_realtime_sum.py``; to run it on its own::

    python examples/kafka_generating_stream.py --bootstrap-servers host:9092

Settings: ``--bootstrap-servers`` (or ``KAFKA_BOOTSTRAP_SERVERS``), ``--set KEY=VALUE``
for any other librdkafka setting (security...), ``--initial-delay`` and ``--interval``
(seconds; 5 and 1 in the tutorial).
"""

from __future__ import annotations

import argparse
import os
import time

from confluent_kafka import Producer

TOPIC = "connector_example"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--initial-delay", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not args.bootstrap_servers:
        parser.error("give --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = {"bootstrap.servers": args.bootstrap_servers,
                **dict(item.split("=", 1) for item in args.set)}
    producer = Producer(settings)
    producer.produce(TOPIC, ("value").encode("utf-8"), partition=0)  # noqa: UP012 - as in the tutorial
    producer.flush(30)

    time.sleep(args.initial_delay)
    for i in range(10):
        time.sleep(args.interval)
        producer.produce(TOPIC, (str(i)).encode("utf-8"), partition=0)
        producer.flush(30)


if __name__ == "__main__":
    main()
