"""First example: JSON lines in, a Pathway-style changelog out, on local Ray.

Run from the repository root:

    python examples/files_groupby.py

It writes ``example-data/input.jsonl``, runs a filter + groupby + reduce over it
and writes the changelog to ``example-data/totals.jsonl``.
"""

import json
import pathlib
import random

import raystream as pw

data = pathlib.Path("example-data")
data.mkdir(exist_ok=True)
rng = random.Random(0)
with open(data / "input.jsonl", "w") as handle:
    for _ in range(10_000):
        handle.write(json.dumps({"key": rng.randrange(5), "value": rng.randrange(100)}) + "\n")


class InputSchema(pw.Schema):
    key: int
    value: int


t = pw.io.jsonlines.read(data / "input.jsonl", schema=InputSchema, mode="static")
totals = t.filter(t.value % 3 != 0).groupby(t.key).reduce(
    t.key, total=pw.reducers.sum(t.value), n=pw.reducers.count()
)
pw.io.jsonlines.write(totals, data / "totals.jsonl")
pw.run()

print((data / "totals.jsonl").read_text())
