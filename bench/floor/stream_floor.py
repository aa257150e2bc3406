"""The floor: the streaming workloads in one plain Python process, no framework.

A loop takes whatever input is available (a batch of up to 65536 Kafka
messages from ``consume``, a whole new file of the watched directory, or one
GetRecords response per due Kinesis shard), parses it at once with
``pyarrow.json``, updates the result with ``pyarrow.compute`` (running
per-key totals in a dict for the reduces) and writes the changed rows as a
Pathway-style changelog (``diff``, ``time``; a reduce retracts a group's old
row before inserting the new one) to a JSON-lines file or a topic. Each batch
is its own "commit": there is no commit interval, no ordering across inputs,
no durability protocol. This is what the frameworks are compared against.

Clients: confluent-kafka (assign all partitions, read from the beginning,
produce with the default delivery settings), boto3 for Kinesis (one thread,
shards polled round-robin, a caught-up shard again after 0.2 s as AWS asks),
plain file reads. Runs until SIGTERM.

Usage:
    python bench/floor/stream_floor.py --source kafka --workload groupby \
        --input in-topic --output out-topic --bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

KAFKA_COMPAT = {"api.version.request": "false", "broker.version.fallback": "0.9.0.1",
                "log_level": 3}
BATCH = 65536
IDLE_POLL_S = 0.2


def input_schema(latency: bool) -> pa.Schema:
    """The input columns (``ts`` in latency runs)."""
    fields = [("key", pa.int64()), ("value", pa.int64())]
    return pa.schema(fields + ([("ts", pa.int64())] if latency else []))


def parse(data: bytes, schema: pa.Schema) -> pa.Table:
    """Parses newline-separated JSON objects into a table of ``schema``."""
    return pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=4 << 20),
                        parse_options=pj.ParseOptions(explicit_schema=schema))


# -- sources ---------------------------------------------------------------------------


def files_source(directory: str, schema: pa.Schema,
                 static: bool = False) -> Iterator[pa.Table | None]:
    """Each new file of ``directory`` (name order), read whole; None when idle.

    With ``static``, the files present at the start are read and the source ends.
    """
    seen: set[str] = set()
    while True:
        new = sorted(n for n in os.listdir(directory) if n not in seen and not n.startswith("."))
        if not new and static:
            return
        if not new:
            time.sleep(0.01)
            yield None
        for name in new:
            seen.add(name)
            yield pj.read_json(os.path.join(directory, name),
                               read_options=pj.ReadOptions(block_size=4 << 20),
                               parse_options=pj.ParseOptions(explicit_schema=schema))


def kafka_source(bootstrap: str, topic: str, schema: pa.Schema) -> Iterator[pa.Table | None]:
    """Batches of up to 65536 messages of every partition of ``topic``."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, **KAFKA_COMPAT,
                         "group.id": f"floor-{topic}", "enable.auto.commit": False,
                         "queued.min.messages": 1_000_000})  # as the engines get
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    while True:
        values = [m.value() for m in consumer.consume(BATCH, 0.01) if m.error() is None]
        yield parse(b"\n".join(values), schema) if values else None


def kinesis_source(stream: str, schema: pa.Schema) -> Iterator[pa.Table | None]:
    """One GetRecords response per due shard, round-robin (boto3)."""
    import boto3

    client = boto3.client("kinesis")
    shards = [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]]
    iterators = {s: client.get_shard_iterator(StreamName=stream, ShardId=s,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                 for s in shards}
    due = dict.fromkeys(shards, 0.0)
    while True:
        now = time.monotonic()
        ready = [s for s in shards if due[s] <= now]
        if not ready:
            time.sleep(max(min(due.values()) - now, 0.001))
            yield None
        for shard in ready:
            response = client.get_records(ShardIterator=iterators[shard], Limit=10000)
            iterators[shard] = response["NextShardIterator"]
            records = response["Records"]
            if len(records) < 10000 and not response.get("MillisBehindLatest"):
                due[shard] = time.monotonic() + IDLE_POLL_S
            if records:
                yield parse(b"\n".join(r["Data"] for r in records), schema)


# -- the work ----------------------------------------------------------------------------


def keep_not_multiple_of_3(table: pa.Table) -> pa.Table:
    """The rows with ``value % 3 != 0``."""
    value = table["value"]
    return table.filter(pc.not_equal(pc.subtract(value, pc.multiply(pc.divide(value, 3), 3)), 0))


class FilterSelect:
    """``value % 3 != 0`` -> ``key, doubled`` (and ``ts``)."""

    def update(self, table: pa.Table) -> pa.Table:
        """The rows this batch inserts."""
        kept = keep_not_multiple_of_3(table)
        cols = {"key": kept["key"], "doubled": pc.multiply(kept["value"], 2)}
        if "ts" in kept.column_names:
            cols["ts"] = kept["ts"]
        return pa.table(cols).append_column("diff", pa.repeat(pa.scalar(1), kept.num_rows))


class Reduce:
    """Running ``sum(value)`` (+ ``count``) (+ ``max(ts)``) per key, or globally.

    Args:
        by_key: ``groupby(key)`` (True) or a global reduce (False).
        latency: Keep ``max(ts)``.
        pre_filter: Keep only the rows with ``value % 3 != 0`` first.
    """

    def __init__(self, by_key: bool, latency: bool, pre_filter: bool = False) -> None:
        self.by_key, self.latency, self.pre_filter = by_key, latency, pre_filter
        self.state: dict[Any, tuple] = {}
        self.names = (["key", "total", "n"] if by_key else ["sum"]) + (["ts"] if latency else [])

    def _partials(self, table: pa.Table) -> list[tuple]:
        aggs = [("value", "sum"), ("value", "count")] + ([("ts", "max")] if self.latency else [])
        if self.by_key:
            agg = table.group_by("key").aggregate(aggs)
            columns = ["key", "value_sum", "value_count"] + (["ts_max"] if self.latency else [])
            return list(zip(*(agg[c].to_pylist() for c in columns), strict=True))
        row = [None, pc.sum(table["value"]).as_py(), table.num_rows]
        return [tuple(row + ([pc.max(table["ts"]).as_py()] if self.latency else []))]

    def update(self, table: pa.Table) -> pa.Table:
        """Retractions of the changed groups' old rows, then their new rows."""
        if self.pre_filter:
            table = keep_not_multiple_of_3(table)
        rows: list[tuple] = []
        for key, total, n, *ts in self._partials(table):
            old = self.state.get(key)
            new = (old[0] + total, old[1] + n, *(max(old[2], ts[0]) for _ in ts)) if old \
                else (total, n, *ts)
            if old is not None:
                rows.append((key, *old, -1))
            rows.append((key, *new, 1))
            self.state[key] = new
        if not rows:
            return pa.table({})
        columns = list(zip(*rows, strict=True))
        if not self.by_key:  # drop the key and the count: the output is sum (+ ts)
            columns = [columns[1], *columns[3:]]
        return pa.table(dict(zip([*self.names, "diff"], columns, strict=True)))


# -- sinks -----------------------------------------------------------------------------------


def render(table: pa.Table, time_ms: int) -> list[bytes]:
    """Each row as a Pathway-style JSON object with ``diff`` and ``time``."""
    parts: list[object] = []
    for i, name in enumerate(table.column_names):
        parts.append(("{" if i == 0 else ",") + f'"{name}":')
        parts.append(table[name].cast(pa.string()))
    parts.append(f',"time":{time_ms}}}')
    return pc.binary_join_element_wise(*parts, "").cast(pa.binary()).to_pylist()


class FileSink:
    """Appends changelog lines to a file, flushed after every batch."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "ab")  # noqa: SIM115 - lives as long as the process

    def write(self, lines: list[bytes]) -> None:
        """Writes and flushes one batch of lines."""
        self.file.write(b"\n".join(lines) + b"\n")
        self.file.flush()


class KafkaSink:
    """Produces one message per changelog line."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, **KAFKA_COMPAT,
                                  "linger.ms": 5, "queue.buffering.max.messages": 2_000_000})

    def write(self, lines: list[bytes]) -> None:
        """Queues one batch of messages (librdkafka sends them in the background)."""
        for line in lines:
            while True:
                try:
                    self.producer.produce(self.topic, line)
                    break
                except BufferError:
                    self.producer.poll(0.01)
        self.producer.poll(0)


def main() -> None:
    """Parses arguments and runs the loop until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["files", "kafka", "kinesis"], required=True)
    parser.add_argument("--workload", choices=["filter_select", "groupby", "global_sum",
                                                  "filter_groupby"],
                        required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--state-dir", default=None, help="ignored (engines' option)")
    parser.add_argument("--commit-ms", type=int, default=0,
                        help="ignored: every batch is a commit")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--static", action="store_true",
                        help="files only: read the input once, then exit")
    parser.add_argument("--sink", choices=["native", "files"], default="native",
                        help="native: a Kafka source writes to a topic; files: JSON lines")
    args = parser.parse_args()

    schema = input_schema(args.latency)
    source = {"files": lambda: files_source(args.input, schema, args.static),
              "kafka": lambda: kafka_source(args.bootstrap, args.input, schema),
              "kinesis": lambda: kinesis_source(args.input, schema)}[args.source]()
    sink = KafkaSink(args.bootstrap, args.output) \
        if args.source == "kafka" and args.sink == "native" else FileSink(args.output)
    work = FilterSelect() if args.workload == "filter_select" \
        else Reduce(args.workload != "global_sum", args.latency,
                    pre_filter=args.workload == "filter_groupby")
    for table in source:
        if table is None or table.num_rows == 0:
            continue
        out = work.update(table)
        if out.num_rows:
            sink.write(render(out, int(time.time() * 1000) // 2 * 2))


if __name__ == "__main__":
    main()
