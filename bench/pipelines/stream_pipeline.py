"""The streaming benchmark pipelines, written once against the Pathway API.

The same script runs on Pathway (``--engine pathway``, in ``bench/.venv-pathway``)
and on raystream (``--engine raystream``): only ``import pathway as pw`` versus
``import raystream as pw`` differs, plus raystream-only tuning options that
are passed only when given (``--read-opt``, ``--run-opt``, ``--readers``).

Sources (streaming: the engine runs until it is stopped with SIGTERM; with
``--static``, files are read once and ``pw.run()`` returns when they are done):
    files: ``pw.io.jsonlines.read(<directory>)``; output ``pw.io.jsonlines.write``.
    kafka: ``pw.io.kafka.read(<topic>, format="json")``; output ``pw.io.kafka.write``
        (JSON) to another topic.
    kinesis: ``pw.io.kinesis.read(<stream>, format="json")``; output
        ``pw.io.jsonlines.write`` (raystream only: Pathway's needs a licence).

Workloads: see ``bench/workloads.py`` (``--latency`` adds the ``ts`` column,
carried through ``select`` and as ``max(ts)`` through the reduces).

Exits with code 3 if the engine cannot be imported or lacks an API this
script needs, so the harness can report "not available".

Usage:
    python bench/pipelines/stream_pipeline.py --engine raystream --source kafka \
        --workload groupby --input in-topic --output out-topic --bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

NOT_AVAILABLE_EXIT = 3
KAFKA_COMPAT = {"api.version.request": "false", "broker.version.fallback": "0.9.0.1",
                "log_level": "3"}
# Given to every engine's reader (and the floor's consumer): with librdkafka's default
# (100k), a consumer whose local queue is full stops fetching for fetch.queue.backoff.ms
# (1 s), which stalled a single consumer of 4 partitions for most of each second.
KAFKA_FETCH = {"queued.min.messages": "1000000"}


def _load_engine(engine: str) -> Any:
    try:
        return importlib.import_module(engine)
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"engine {engine} not available: {exc!r}", file=sys.stderr)
        sys.exit(NOT_AVAILABLE_EXIT)


def _options(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs with JSON values where they parse (``true``, ``65536``), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def schema(pw: Any, latency: bool) -> Any:
    """The input schema (with ``ts`` for latency runs)."""
    if latency:
        class LatencySchema(pw.Schema):
            key: int
            value: int
            ts: int
        return LatencySchema

    class InputSchema(pw.Schema):
        key: int
        value: int
    return InputSchema


def read(pw: Any, args: argparse.Namespace) -> Any:
    """The input table of ``args.source``."""
    common: dict[str, Any] = {"schema": schema(pw, args.latency),
                              "autocommit_duration_ms": args.commit_ms,
                              **_options(args.read_opt)}
    if args.readers:
        common["parallel_readers"] = args.readers
    if args.source == "files":
        mode = "static" if args.static else "streaming"
        return pw.io.jsonlines.read(args.input, mode=mode, **common)
    if args.source == "kafka":
        settings = {"bootstrap.servers": args.bootstrap, **KAFKA_COMPAT,
                    "group.id": f"bench-{args.input}", "auto.offset.reset": "earliest",
                    **KAFKA_FETCH,
                    **{k: str(v) for k, v in _options(args.kafka_opt).items()}}
        return pw.io.kafka.read(settings, args.input, format="json", **common)
    if args.source == "kinesis":
        extra = {"state_dir": args.state_dir} if args.engine == "raystream" else {}
        return pw.io.kinesis.read(args.input, format="json", **extra, **common)
    raise ValueError(f"unknown source {args.source!r}")


def transform(pw: Any, t: Any, workload: str, latency: bool) -> Any:
    """The workload's result table."""
    if workload == "filter_groupby":
        t, workload = t.filter(t.value % 3 != 0), "groupby"
    if workload == "filter_select":
        kept = t.filter(t.value % 3 != 0)
        return kept.select(kept.key, doubled=kept.value * 2, **({"ts": kept.ts} if latency else {}))
    ts = {"ts": pw.reducers.max(t.ts)} if latency else {}
    if workload == "groupby":
        return t.groupby(t.key).reduce(t.key, total=pw.reducers.sum(t.value),
                                       n=pw.reducers.count(), **ts)
    if workload == "global_sum":
        return t.reduce(sum=pw.reducers.sum(t.value), **ts)
    raise ValueError(f"unknown workload {workload!r}")


def write(pw: Any, table: Any, args: argparse.Namespace) -> None:
    """Writes the result as a JSON changelog to ``args.output``."""
    if args.source == "kafka" and args.sink == "native":
        settings = {"bootstrap.servers": args.bootstrap, **KAFKA_COMPAT}
        pw.io.kafka.write(table, settings, args.output, format="json")
    else:
        pw.io.jsonlines.write(table, args.output)


def main() -> None:
    """Parses arguments, builds the pipeline and runs it until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["pathway", "raystream"], required=True)
    parser.add_argument("--source", choices=["files", "kafka", "kinesis"], required=True)
    parser.add_argument("--workload", choices=["filter_select", "groupby", "global_sum",
                                                  "filter_groupby"],
                        required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--static", action="store_true",
                        help="files only: read the input once, then pw.run() returns")
    parser.add_argument("--sink", choices=["native", "files"], default="native",
                        help="native: a Kafka source writes to a topic; files: JSON lines")
    parser.add_argument("--commit-ms", type=int, default=1500)
    parser.add_argument("--readers", type=int, default=0)
    parser.add_argument("--read-opt", action="append", default=[], metavar="K=V")
    parser.add_argument("--run-opt", action="append", default=[], metavar="K=V")
    parser.add_argument("--kafka-opt", action="append", default=[], metavar="K=V",
                        help="extra rdkafka settings of the reader")
    args = parser.parse_args()

    pw = _load_engine(args.engine)
    try:
        write(pw, transform(pw, read(pw, args), args.workload, args.latency), args)
    except (AttributeError, NotImplementedError) as exc:
        print(f"engine {args.engine} not available: {exc!r}", file=sys.stderr)
        sys.exit(NOT_AVAILABLE_EXIT)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, **_options(args.run_opt))


if __name__ == "__main__":
    main()
