"""Pathway's Kafka tutorial (realtime_sum.py) on raystream, with its generator.

The pipeline at the bottom is the tutorial's, unchanged except for
``import raystream as pw`` and the connection settings, which come from the
command line or the environment instead of being written in the file.

One command runs the whole tutorial against the project's test broker (from the
repository root, after ``bash scripts/install.sh``)::

    python examples/kafka_realtime_sum.py

With no broker given, it starts a fresh Kafka 0.9 test broker
(``python -m tests.services start kafka`` in a temporary state directory),
creates the ``connector_example`` topic, starts the generator
(``examples/kafka_generating_stream.py``: the header ``value``, then 0..9, one per
second), prints every change of the ``sum`` topic, and stops by itself (as if
Ctrl-C was pressed) once the sum reaches 45. The broker is stopped on exit.

Against your own Kafka it behaves like the tutorial (runs until Ctrl-C)::

    python examples/kafka_realtime_sum.py --bootstrap-servers host:9092 \\
        --group-id my-group --set security.protocol=sasl_ssl --set sasl.mechanism=...
    python examples/kafka_generating_stream.py --bootstrap-servers host:9092

(``KAFKA_BOOTSTRAP_SERVERS`` and ``KAFKA_GROUP_ID`` work too). ``--generator-interval``
sets the generator's pace in the one-command demo.
"""

from __future__ import annotations

import _thread
import argparse
import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import raystream as pw

REPO = Path(__file__).resolve().parent.parent
FINAL_SUM = sum(range(10))


def connection_settings(argv: list[str] | None = None) -> dict:
    """rdkafka settings from the command line / environment, or from a demo broker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--group-id", default=os.environ.get("KAFKA_GROUP_ID"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--generator-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.set)
    if args.bootstrap_servers:
        return {"bootstrap.servers": args.bootstrap_servers,
                "group.id": args.group_id or "realtime-sum",
                "auto.offset.reset": "earliest", **extra}
    return start_demo(args.generator_interval, extra)


def start_demo(interval: float, extra: dict) -> dict:
    """Starts a test broker, the topic, the generator and a printer of the ``sum`` topic."""
    sys.path.insert(0, str(REPO))
    from tests.services.kafka import COMPAT

    state = Path(tempfile.mkdtemp(prefix="realtime-sum-"))
    services = [sys.executable, "-m", "tests.services", "--state-dir", str(state)]
    exports = subprocess.run([*services, "start", "kafka"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    atexit.register(subprocess.run, [*services, "stop", "kafka"], cwd=REPO,
                    capture_output=True)
    servers = next(line.split("=", 1)[1] for line in exports.splitlines()
                   if line.startswith("export KAFKA_BOOTSTRAP_SERVERS="))
    subprocess.run([*services, "create-topic", "connector_example"], cwd=REPO, check=True,
                   capture_output=True)
    settings = {"bootstrap.servers": servers, "group.id": f"realtime-sum-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest", "session.timeout.ms": "6000", **COMPAT,
                **extra}
    print(f"# test broker at {servers}; generator and printer started", flush=True)
    compat = [f"--set={k}={v}" for k, v in COMPAT.items()]
    generator = subprocess.Popen([sys.executable, str(REPO / "examples" /
                                                      "kafka_generating_stream.py"),
                                  "--bootstrap-servers", servers, *compat,
                                  "--initial-delay", str(5 * interval),
                                  "--interval", str(interval)])
    atexit.register(generator.kill)
    threading.Thread(target=print_sums, args=(settings,), daemon=True).start()
    return settings


def print_sums(settings: dict, timeout_s: float = 300.0) -> None:
    """Prints the ``sum`` changelog; interrupts ``pw.run()`` once the final sum is in."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({**settings, "group.id": f"printer-{uuid.uuid4().hex[:8]}",
                         "log_level": 0})
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                consumer.list_topics("sum", timeout=5).topics["sum"].partitions[0]
                break
            except (KafkaException, KeyError):
                time.sleep(1)
        consumer.assign([TopicPartition("sum", 0, 0)])
        while time.monotonic() < deadline:
            for message in consumer.consume(100, 0.5):
                if message.error() is None:
                    row = json.loads(message.value())
                    print(f"sum topic: {row}", flush=True)
                    if row["diff"] == 1 and row["sum"] == FINAL_SUM:
                        print(f"# final sum {FINAL_SUM} reached: stopping", flush=True)
                        return
    finally:
        consumer.close()
        _thread.interrupt_main()  # pw.run() stops cleanly, as on Ctrl-C


# ---- the tutorial's realtime_sum.py; only the import and the settings differ ----

# Kafka settings
rdkafka_settings = connection_settings()

# We define a schema for the table
# It set all the columns and their types
class InputSchema(pw.Schema):
  value: int


# We use the Kafka connector to listen to the "connector_example" topic
t = pw.io.kafka.read(
    rdkafka_settings,
    topic="connector_example",
    schema=InputSchema,
    format="csv",
    autocommit_duration_ms=1000
)

# We compute the sum (this part is independent of the connectors).
t = t.reduce(sum=pw.reducers.sum(t.value))

# We use the Kafka connector to send the resulting output stream containing the sum
pw.io.kafka.write(t, rdkafka_settings, topic_name="sum", format="json")

# We launch the computation.
pw.run()
