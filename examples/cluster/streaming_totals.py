"""Running totals per key over JSON-lines files, until stopped (the cluster docs' example).

The same script runs on local Ray and on a cluster:

    python examples/cluster/streaming_totals.py /data/in /data/totals.jsonl
    ray job submit --working-dir examples/cluster -- \
        python streaming_totals.py /data/in /data/totals.jsonl

Input lines look like ``{"key": 1, "value": 10}``; lines appended to the
files, and files added to the directory, are picked up while it runs. Stop it
with Ctrl-C or ``ray job stop <id>``: the last commit is written first.
The paths must be visible on the nodes that run the reader and the sink.
"""

import argparse

import raystream as pw


class InputSchema(pw.Schema):
    key: int
    value: int


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("input", help="a JSON-lines file or a directory of them")
parser.add_argument("output", help="the changelog to write (JSON lines)")
parser.add_argument("--name", default="streaming-totals", help="pipeline name (actors, metrics)")
parser.add_argument("--status-interval", type=float, default=10.0,
                    help="seconds between status lines")
parser.add_argument("--autocommit-ms", type=int, default=500, help="longest commit duration")
args = parser.parse_args()

t = pw.io.jsonlines.read(args.input, schema=InputSchema, mode="streaming",
                         autocommit_duration_ms=args.autocommit_ms)
totals = t.groupby(t.key).reduce(t.key, total=pw.reducers.sum(t.value), n=pw.reducers.count())
pw.io.jsonlines.write(totals, args.output)
pw.run(name=args.name, status_interval_s=args.status_interval)
