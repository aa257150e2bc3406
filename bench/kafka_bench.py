"""Kafka (4 partitions, JSON) -> groupby-sum -> Kafka: raystream against a plain baseline.

Both sides do the same work on the same input topic, on this machine, in one run:

* **raystream**: ``pw.io.kafka.read`` (static mode: up to the high watermarks, four
  readers) -> ``groupby(key).reduce(total=sum(value))`` -> ``pw.io.kafka.write`` (JSON
  changelog), run with the runtime's defaults. Timed from ``start()`` (Ray already up,
  so actor creation is included) to the end of the run; the time from the first
  message read to the end is printed too.
* **baseline**: one Python process with confluent-kafka and pyarrow, no framework:
  ``consume(num_messages=65536)``, parse the batch with ``pyarrow.json``, sum per key
  with ``group_by().aggregate()``, keep the running totals, produce the changed totals
  as JSON (a retraction of the old and the new total, like the changelog), flush at
  the end. The floor of what a Python pipeline can do here.

Both outputs are folded and checked against the totals computed by the generator.
The broker is the project's Kafka 0.9.0.1 test broker, started through
``tests.services`` in a temporary directory and stopped at the end.

Reproduce (from the repository root, after ``bash scripts/install.sh``)::

    python bench/kafka_bench.py --messages 1000000 --keys 1000

Prints messages/s for both and the ratio raystream / baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from raystream.connectors.serialize import json_lines  # noqa: E402
from tests.services.kafka import KafkaBroker  # noqa: E402

PARTITIONS = 4
BATCH = 65536


def quiet(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "log_level": 3}


def generate(settings: dict[str, Any], topic: str, messages: int, keys: int) -> dict[int, int]:
    """Produces ``{"key": k, "value": v}`` messages round-robin over the partitions."""
    producer = Producer({**quiet(settings), "linger.ms": 50, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1_000_000})
    totals: Counter = Counter()
    for i in range(messages):
        key, value = i % keys, (i * 7919) % 1000
        totals[key] += value
        payload = f'{{"key": {key}, "value": {value}}}'
        while True:
            try:
                producer.produce(topic, payload, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0
    return dict(totals)


def fold_output(settings: dict[str, Any], topic: str) -> dict[int, int]:
    """The final total per key of a JSON changelog topic (rows with a +1 sum left)."""
    consumer = Consumer({**quiet(settings), "group.id": f"fold-{time.monotonic_ns()}"})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts}
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    state: Counter = Counter()
    seen = dict.fromkeys(parts, 0)
    while any(seen[p] < ends[p] for p in parts):
        for m in consumer.consume(BATCH, 1.0):
            if m.error() is None:
                row = json.loads(m.value())
                state[(row["key"], row["total"])] += row["diff"]
                seen[m.partition()] = m.offset() + 1
    consumer.close()
    live = [k for k, n in state.items() if n]
    assert all(state[k] == 1 for k in live), "a total with a multiplicity other than 1"
    return dict(live)


def run_raystream(settings: dict[str, Any], topic: str, out: str) -> tuple[float, float]:
    """Returns the run's seconds from ``start()``, and from its first message read."""
    import ray

    import raystream as pw
    from raystream.actors.runtime import cluster_cpus
    from raystream.graph import G
    from raystream.run import start

    cluster_cpus()  # Ray is up before the clock starts
    G.clear()

    class InputSchema(pw.Schema):
        key: int
        value: int

    t = pw.io.kafka.read({**settings, "group.id": f"bench-{out}", "auto.offset.reset":
                          "earliest"}, topic, schema=InputSchema, format="json",
                         mode="static")
    totals = t.groupby(t.key).reduce(t.key, total=pw.reducers.sum(t.value))
    pw.io.kafka.write(totals, settings, out, format="json")
    started = time.perf_counter()
    pipeline = start(monitoring=False)
    try:
        readers = list(pipeline.deployed.readers.values())
        while sum(s["records"] for s in ray.get([r.stats.remote() for r in readers])) == 0:
            time.sleep(0.02)
        reading = time.perf_counter()
        pipeline.wait(timeout=3600)
    finally:
        pipeline.shutdown()
    ended = time.perf_counter()
    return ended - started, ended - reading


def run_baseline(settings: dict[str, Any], topic: str, out: str) -> float:
    started = time.perf_counter()
    consumer = Consumer({**quiet(settings), "group.id": f"baseline-{out}",
                         "enable.auto.commit": False})
    producer = Producer({**quiet(settings), "linger.ms": 5})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    schema = pa.schema([("key", pa.int64()), ("value", pa.int64())])
    options = pjson.ParseOptions(explicit_schema=schema)
    totals: dict[int, int] = {}
    done = dict.fromkeys(range(PARTITIONS), 0)
    while any(done[p] < ends[p] for p in done):
        messages = [m for m in consumer.consume(BATCH, 0.1) if m.error() is None]
        if not messages:
            continue
        for m in messages:
            done[m.partition()] = m.offset() + 1
        table = pjson.read_json(io.BytesIO(b"\n".join(m.value() for m in messages)),
                                parse_options=options)
        sums = table.group_by("key").aggregate([("value", "sum")])
        _produce_changes(producer, out, sums, totals)
    assert producer.flush(120) == 0
    consumer.close()
    return time.perf_counter() - started


def _produce_changes(producer: Producer, out: str, sums: pa.Table,
                     totals: dict[int, int]) -> None:
    keys, added = sums.column("key").to_pylist(), sums.column("value_sum").to_pylist()
    rows_key, rows_total, rows_diff = [], [], []
    for key, plus in zip(keys, added, strict=True):
        old = totals.get(key)
        if old is not None:
            rows_key.append(key), rows_total.append(old), rows_diff.append(-1)
        totals[key] = (old or 0) + plus
        rows_key.append(key), rows_total.append(totals[key]), rows_diff.append(1)
    batch = pa.record_batch({"key": rows_key, "total": rows_total, "diff": rows_diff})
    for payload in json_lines(batch).to_pylist():
        while True:
            try:
                producer.produce(out, payload)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args(argv)
    broker = KafkaBroker(Path(tempfile.mkdtemp(prefix="kafka-bench-"))).start()
    try:
        settings = broker.client_settings()
        broker.create_topic("bench-in", partitions=PARTITIONS)
        started = time.perf_counter()
        expected = generate(settings, "bench-in", args.messages, args.keys)
        print(f"# produced {args.messages} messages ({args.keys} keys, {PARTITIONS} partitions) "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        base_s = run_baseline(settings, "bench-in", "bench-out-baseline")
        assert fold_output(settings, "bench-out-baseline") == expected, "baseline is wrong"
        ray_s, ray_reading_s = run_raystream(settings, "bench-in", "bench-out-raystream")
        assert fold_output(settings, "bench-out-raystream") == expected, "raystream is wrong"
    finally:
        broker.stop()
    base_rate, ray_rate = args.messages / base_s, args.messages / ray_s
    print(f"baseline  (confluent-kafka + pyarrow, 1 process): {base_s:7.2f} s "
          f"{base_rate:>12,.0f} msg/s")
    print(f"raystream (4 readers, default runtime)          : {ray_s:7.2f} s "
          f"{ray_rate:>12,.0f} msg/s  (actors start in {ray_s - ray_reading_s:.1f} s; "
          f"from the first message read: {args.messages / ray_reading_s:,.0f} msg/s)")
    print(f"ratio raystream / baseline: {ray_rate / base_rate:.2f} "
          f"(from the first message read: {args.messages / ray_reading_s / base_rate:.2f})")
    print("both outputs folded to the expected totals")
    print(f"reproduce: python bench/kafka_bench.py --messages {args.messages} --keys {args.keys}")


if __name__ == "__main__":
    main()
