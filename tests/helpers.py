"""Helpers for tests: evaluate expressions without Ray, fold changelogs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
from raystream.actors.kernels.prepare import PrepareRows
from raystream.actors.kernels.steps import MapStep

from raystream.table import Table


def source_batch(table: Table) -> pa.RecordBatch:
    """The dataflow batch of a static (markdown) table, as its reader would send it."""
    source = table._node.source
    spec = source.spec
    prepare = PrepareRows(source.columns, source.primary_key, source.use_message_key,
                          source.seed, source.raw_ids)
    return prepare(spec.open(["0"]).read_batch(10**9, 0), "test")


def evaluate(table: Table, **exprs: Any) -> dict[str, list]:
    """Resolves expressions against ``table`` and computes them on its rows (no Ray)."""
    outputs = tuple((name, table._resolve(expr)) for name, expr in exprs.items())
    result = MapStep(outputs)(source_batch(table))
    return {name: result.column(name).to_pylist() for name in exprs}


def fold_rows(rows: list[dict], columns: list[str]) -> Counter:
    """Folds changelog rows (with ``diff``) into a multiset of value tuples."""
    state: Counter = Counter()
    for row in rows:
        state[tuple(row[c] for c in columns)] += row["diff"]
    return +state


def fold_jsonl(path: str | Path, columns: list[str]) -> Counter:
    """Folds a Pathway-style JSON-lines changelog file."""
    text = Path(path).read_text()
    return fold_rows([json.loads(line) for line in text.splitlines() if line], columns)
