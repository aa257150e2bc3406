"""A persistent streaming pipeline: JSON lines with a primary key -> upsert -> JSON lines.

Usage: python -m tests.pipelines.files_upsert INPUT_DIR OUTPUT_FILE PSTORAGE_DIR

Runs until SIGTERM (a clean stop) or SIGKILL (a crash). Restarted with the same
PSTORAGE_DIR, it continues from the last checkpoint.
"""

from __future__ import annotations

import sys

import raystream as pw


class Row(pw.Schema):
    key: int = pw.column_definition(primary_key=True)
    value: int
    label: str


def main(source: str, output: str, storage: str) -> None:
    rows = pw.io.jsonlines.read(source, schema=Row, mode="streaming",
                                autocommit_duration_ms=100, max_batch_rows=300)
    pw.io.jsonlines.write(rows.select(rows.key, rows.value, rows.label), output)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE,
           persistence_config=pw.persistence.Config(pw.persistence.Backend.filesystem(storage),
                                                    snapshot_interval_ms=0))


if __name__ == "__main__":
    main(*sys.argv[1:4])
