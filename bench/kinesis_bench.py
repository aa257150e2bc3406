"""Kinesis benchmark: records/s read and written by raystream vs plain boto3 + pyarrow.

Everything runs against one local kinesalite started by this script (or the
endpoint in ``AWS_ENDPOINT_URL`` with ``--use-env``), on the same machine, in
the same run, so the ratios compare the connector with the best a single
process does with the same client library:

* write baseline: one process, payloads encoded up front, sequential
  ``PutRecords`` calls of 500 records (boto3 only; no encoding in the timing).
* raystream write: ``pw.io.jsonlines.read`` (static) of the same rows ->
  ``pw.io.kinesis.write(format="json")``; timed from the started pipeline to
  its end (every record acknowledged), i.e. reading, JSON encoding, the sink
  and the commit protocol included; actor start-up is reported apart.
* read baseline: one process, one thread per shard, ``GetRecords`` with
  ``Limit=10000`` and each response parsed with ``pyarrow.json`` into a table.
* ``KinesisWriter``/``KinesisReader``: raystream's connector clients alone, in
  this process, without Ray (the writer gets one RecordBatch and encodes it;
  the reader reads every shard from one thread).
* raystream read: ``pw.io.kinesis.read(format="json", schema=...)`` ->
  ``pw.io.null.write``; timed from the started pipeline until the coordinator
  closed minibatches holding every record.

Ratios are raystream records/s over baseline records/s (above 1 = faster).
Each measurement runs ``--runs`` times in a rotating order after an untimed
warm-up of kinesalite; the table shows the best run. kinesalite (one Node.js
thread) bounds every number here; a loaded machine moves them a lot.
Results are printed and saved to ``bench/results/kinesis.json``.

Reproduce (from the repository root, after ``bash scripts/install.sh``)::

    python bench/kinesis_bench.py --records 60000 --shards 4 --runs 2
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_rows(count: int) -> list[dict[str, Any]]:
    """The benchmark rows (about 60 bytes of JSON each)."""
    return [{"id": i, "name": f"name-{i % 1000}", "value": i * 0.5} for i in range(count)]


def create_stream(client: Any, name: str, shards: int) -> None:
    """Creates a stream and waits until it is active."""
    client.create_stream(StreamName=name, ShardCount=shards)
    while client.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.05)


def baseline_write(client: Any, stream: str, rows: list[dict[str, Any]]) -> float:
    """Sequential PutRecords of pre-encoded records; returns seconds."""
    entries = [{"Data": json.dumps(r).encode(), "PartitionKey": str(r["id"])} for r in rows]
    started = time.perf_counter()
    for start in range(0, len(entries), 500):
        chunk = entries[start:start + 500]
        while chunk:
            response = client.put_records(StreamName=stream, Records=chunk)
            chunk = [e for e, r in zip(chunk, response["Records"], strict=True) if "ErrorCode" in r]
    return time.perf_counter() - started


def baseline_read(client: Any, stream: str, expected: int) -> float:
    """A thread per shard: GetRecords + pyarrow.json per response; returns seconds."""
    shards = [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]]
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("value", pa.float64())])
    counts = [0] * len(shards)

    def read(index: int) -> None:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shards[index],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            response = client.get_records(ShardIterator=iterator, Limit=10000)
            records = response["Records"]
            if not records:
                return
            table = pjson.read_json(io.BytesIO(b"\n".join(r["Data"] for r in records)),
                                    parse_options=pjson.ParseOptions(explicit_schema=schema))
            counts[index] += table.num_rows
            iterator = response["NextShardIterator"]

    started = time.perf_counter()
    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(shards))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert sum(counts) == expected, (sum(counts), expected)
    return elapsed


def connector_write(stream: str, rows: list[dict[str, Any]]) -> float:
    """raystream's KinesisWriter alone, in this process (no Ray): one RecordBatch in."""
    from raystream.connectors.kinesis import KinesisSinkSpec, KinesisWriter, capture_settings

    n = len(rows)
    batch = pa.RecordBatch.from_pylist(rows).append_column(
        "time", pa.array([2] * n, pa.int64())).append_column(
        "diff", pa.array([1] * n, pa.int64())).append_column(
        "_key", pa.array(range(n), pa.uint64()))
    spec = KinesisSinkSpec("bench", capture_settings("bench"), "json", ("id", "name", "value"),
                           stream=stream, partition_key_column="id")
    writer = KinesisWriter(spec)
    started = time.perf_counter()
    writer.write(batch)
    writer.flush()
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed


def connector_read(stream: str, expected: int) -> float:
    """raystream's KinesisReader alone, in this process (no Ray): all shards, one thread."""
    from raystream.connectors.base import ParseSpec
    from raystream.connectors.kinesis import KinesisSourceSpec, capture_settings

    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("value", pa.float64())])
    spec = KinesisSourceSpec("bench", stream, ParseSpec("json", schema), capture_settings("b"),
                             state_dir=None)
    reader = spec.open([p.id for p in spec.list_partitions()])
    started = time.perf_counter()
    rows = 0
    while rows < expected:
        batch = reader.read_batch(10000, 1.0)
        rows += batch.batch.num_rows if batch is not None else 0
    return time.perf_counter() - started


def raystream_write(stream: str, input_path: Path) -> tuple[float, float]:
    """Returns (actor start-up seconds, pipeline seconds) of a jsonlines -> Kinesis run."""
    import raystream as pw
    from raystream.graph import G
    from raystream.run import start

    class Row(pw.Schema):
        id: int
        name: str
        value: float

    G.clear()
    table = pw.io.jsonlines.read(input_path, schema=Row, mode="static")
    pw.io.kinesis.write(table, stream, format="json", partition_key=table.id)
    began = time.perf_counter()
    pipeline = start(monitoring=False)
    started = time.perf_counter()
    try:
        pipeline.wait(timeout=600)
    finally:
        pipeline.shutdown()
    return started - began, time.perf_counter() - started


def raystream_read(stream: str, expected: int, state_dir: str, first_row: list[float],
                   steady: list[float]) -> tuple[float, float]:
    """Returns (actor start-up seconds, seconds until every record was read and closed).

    Appends the seconds from the started pipeline to its first closed row to
    ``first_row``, and the records/s from then on to ``steady``.
    """
    import raystream as pw
    from raystream.graph import G
    from raystream.run import start

    class Row(pw.Schema):
        id: int
        name: str
        value: float

    G.clear()
    table = pw.io.kinesis.read(stream, format="json", schema=Row, state_dir=state_dir,
                               autocommit_duration_ms=100)
    pw.io.null.write(table)
    began = time.perf_counter()
    pipeline = start(monitoring=False)
    started = time.perf_counter()
    try:
        first, first_rows = None, 0
        while (closed := pipeline.status()["rows_closed"]) < expected:
            if first is None and closed:
                first, first_rows = time.perf_counter() - started, closed
            time.sleep(0.02)
        first = first if first is not None else time.perf_counter() - started
        first_row.append(first)
        steady.append((expected - first_rows) / max(time.perf_counter() - started - first, 1e-3))
        elapsed = time.perf_counter() - started
        rows = pipeline.status()["rows_closed"]
        assert rows == expected, (rows, expected)
        pipeline.stop()
        pipeline.wait(timeout=60)
    finally:
        pipeline.shutdown()
    return started - began, elapsed


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Runs every measurement ``args.runs`` times, interleaved; returns the results."""
    import ray
    from raystream.connectors.kinesis import capture_settings, make_client

    rows = make_rows(args.records)
    work = Path(tempfile.mkdtemp(prefix="kinesis-bench-"))
    input_path = work / "rows.jsonl"
    input_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    began = time.perf_counter()
    ray.init(include_dashboard=False, configure_logging=False)
    ray_start = time.perf_counter() - began
    client = make_client(capture_settings("bench"))
    warm = f"bench-warm-{os.getpid()}"
    create_stream(client, warm, args.shards)  # kinesalite's JIT warms up, untimed
    baseline_write(client, warm, rows[: min(len(rows), 20000)])
    baseline_read(client, warm, min(len(rows), 20000))
    times: dict[str, list[float]] = {k: [] for k in (
        "baseline_write", "connector_write", "raystream_write",
        "baseline_read", "connector_read", "raystream_read")}
    startup: list[float] = []
    first_row: list[float] = []
    steady: list[float] = []
    for run_no in range(args.runs):
        streams = {k: f"bench-{k}-{run_no}" for k in ("base", "conn", "rs")}
        for stream in streams.values():
            create_stream(client, stream, args.shards)
        base, conn, rs = streams["base"], streams["conn"], streams["rs"]
        state = str(work / f"state-{run_no}")
        writes = [("baseline_write", partial(baseline_write, client, base, rows)),
                  ("connector_write", partial(connector_write, conn, rows)),
                  ("raystream_write", partial(raystream_write, rs, input_path))]
        reads = [("baseline_read", partial(baseline_read, client, base, len(rows))),
                 ("connector_read", partial(connector_read, base, len(rows))),
                 ("raystream_read", partial(raystream_read, base, len(rows), state, first_row,
                                                    steady))]
        for group in (writes, reads):
            for name, measure in group[run_no % 3:] + group[:run_no % 3]:  # rotate the order
                result = measure()
                if isinstance(result, tuple):
                    startup.append(result[0])
                    result = result[1]
                times[name].append(result)
        print(f"run {run_no + 1}/{args.runs}: " + ", ".join(
            f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    ray.shutdown()
    best = {k: min(v) for k, v in times.items()}
    rate = {k: args.records / v for k, v in best.items()}
    return {
        "records": args.records, "shards": args.shards, "runs": args.runs,
        "payload_bytes": len(json.dumps(rows[-1])), "cpus": os.cpu_count(),
        "seconds": times, "records_per_s": rate,
        "ratios": {k: rate[k] / rate[k.replace("raystream", "baseline").replace(
            "connector", "baseline")] for k in rate if not k.startswith("baseline")},
        "actor_startup_s": statistics.median(startup), "ray_init_s": ray_start,
        "read_first_row_s": statistics.median(first_row),
        "read_pipeline_after_first_row_per_s": max(steady),
    }


def report(result: dict[str, Any], command: str) -> None:
    """Prints the results table, the ratios and the command that reproduces them."""
    rate = result["records_per_s"]
    print(f"\nKinesis on kinesalite: {result['records']} records of ~{result['payload_bytes']} "
          f"bytes, {result['shards']} shards, best of {result['runs']} runs, "
          f"{result['cpus']} CPUs")
    labels = {"baseline_write": "write baseline (boto3)", "connector_write": "write KinesisWriter",
              "raystream_write": "write pipeline", "baseline_read": "read baseline (boto3+pa)",
              "connector_read": "read KinesisReader", "raystream_read": "read pipeline"}
    print(f"{'':26}{'records/s':>11}{'ratio':>7}")
    for key, label in labels.items():
        ratio = result["ratios"].get(key)
        print(f"{label:26}{rate[key]:>11,.0f}" + (f"{ratio:>7.2f}" if ratio else ""))
    after = result["read_pipeline_after_first_row_per_s"]
    print(f"{'read pipeline, 1st row on':26}{after:>11,.0f}{after / rate['baseline_read']:>7.2f}")
    print(f"pipeline actor start-up (not in the rates): {result['actor_startup_s']:.1f} s; "
          f"read pipeline's first row after {result['read_first_row_s']:.1f} s (in the rate); "
          f"ray.init: {result['ray_init_s']:.1f} s")
    print(f"reproduce: {command}")


def main() -> None:
    """Parses arguments, starts kinesalite unless ``--use-env``, runs, reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=60000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--use-env", action="store_true",
                        help="use the endpoint in AWS_ENDPOINT_URL instead of starting kinesalite")
    args = parser.parse_args()
    server = None
    if not args.use_env:
        from tests.services.kinesis import Kinesalite

        server = Kinesalite().start()
        os.environ.update(server.env())
    try:
        result = run(args)
    finally:
        if server is not None:
            server.stop()
    command = "python bench/kinesis_bench.py " + shlex.join(sys.argv[1:])
    result["command"] = command
    out = ROOT / "bench" / "results" / "kinesis.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    report(result, command)


if __name__ == "__main__":
    main()
