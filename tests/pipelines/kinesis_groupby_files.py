"""A streaming pipeline joined to a Ray cluster: Kinesis JSON -> groupby -> JSON lines.

Usage: python -m tests.pipelines.kinesis_groupby_files STREAM OUTPUT

The endpoint and dummy credentials come from the environment (``AWS_ENDPOINT_URL``...);
no persistence (in-run recovery). The reader's ``state_dir`` is next to the output,
not in the working directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import raystream as pw


class Event(pw.Schema):
    k: int
    v: int


def main(stream: str, output: str) -> None:
    events = pw.io.kinesis.read(stream, format="json", schema=Event,
                                autocommit_duration_ms=200,
                                state_dir=Path(output).parent / "kinesis-state")
    totals = events.groupby(events.k).reduce(events.k, s=pw.reducers.sum(events.v),
                                             n=pw.reducers.count())
    pw.io.jsonlines.write(totals, output)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, reduce_parallelism=2)


if __name__ == "__main__":
    main(*sys.argv[1:3])
