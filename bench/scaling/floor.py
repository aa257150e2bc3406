"""The floor of the scaling benchmark: one plain confluent-kafka + pyarrow consumer process.

Usage: python bench/scaling/floor.py BOOTSTRAP TOPIC PARTITIONS...

Assigns the given partitions from their beginning, reads each up to the high
watermark it has at start in batches of up to 65,536 messages, parses every
batch with ``pyarrow.json`` and folds per-key sums and counts with
``pyarrow.compute`` (``Table.group_by``). Prints the number of messages read.
No framework, no commit protocol, no output: what N such processes reach is
the floor the pipeline is compared against.
"""

from __future__ import annotations

import io
import sys

import pyarrow as pa
import pyarrow.json as pj
from confluent_kafka import Consumer, TopicPartition

COMPAT = {"api.version.request": "false", "broker.version.fallback": "0.9.0.1"}


def _fold(totals: pa.Table | None, grouped: pa.Table) -> pa.Table:
    """Adds one batch's per-key sums and counts to the running totals."""
    if totals is None:
        return grouped
    merged = pa.concat_tables([totals, grouped]).group_by("k").aggregate(
        [("v_sum", "sum"), ("v_count", "sum")])
    return pa.table({"k": merged["k"], "v_sum": merged["v_sum_sum"],
                     "v_count": merged["v_count_sum"]})


def main(bootstrap: str, topic: str, partitions: list[int]) -> int:
    """Reads and folds the partitions; returns the messages read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "scaling-floor",
                         "enable.auto.commit": False, "log_level": 3, **COMPAT})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions if ends[p] > 0])
    left = {p for p in partitions if ends[p] > 0}
    totals: pa.Table | None = None
    read = 0
    while left:
        messages = consumer.consume(num_messages=65_536, timeout=1.0)
        values = [m.value() for m in messages if m.error() is None]
        for m in messages:
            if m.error() is None and m.offset() + 1 >= ends[m.partition()]:
                left.discard(m.partition())
        if not values:
            continue
        read += len(values)
        batch = pj.read_json(io.BytesIO(b"\n".join(values)))
        grouped = batch.group_by("k").aggregate([("v", "sum"), ("v", "count")])
        totals = _fold(totals, grouped.select(["k", "v_sum", "v_count"]))
    consumer.close()
    return read


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]))
