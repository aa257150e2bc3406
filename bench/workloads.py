"""The benchmark workloads: input rows, their JSON encoding, expected results, checks.

Input rows are ``{"key": K, "value": V}`` with ``K`` uniform in ``0..999`` and
``V`` uniform in ``0..999_999`` (seeded, so every engine gets the same bytes);
latency runs add ``"ts"``: the injection time in microseconds since the epoch.

Workloads (the same in the engines' script, the floor and :func:`expected`):
    filter_select: ``value % 3 != 0`` -> ``key, doubled = value * 2`` (``ts`` kept).
    groupby: ``groupby(key).reduce(key, total=sum(value), n=count())``
        (``ts = max(ts)`` in latency runs).
    global_sum: ``reduce(sum=sum(value))`` (Pathway's Kafka tutorial;
        ``ts = max(ts)`` in latency runs).
    filter_groupby: ``filter_select``'s filter, then ``groupby``'s reduce over the
        rows kept (the README's first pipeline).

Outputs are changelogs (``diff``, ``time``); :func:`fold` turns one into the
rows it ends with, which must equal :func:`expected` of all injected rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

WORKLOADS = ("filter_select", "groupby", "global_sum", "filter_groupby")
GROUPED = ("groupby", "filter_groupby")
NUM_KEYS = 1000
MAX_VALUE = 1_000_000
WARMUP_KEY = -1


def make_rows(count: int, seed: int = 0) -> pa.Table:
    """``count`` seeded input rows (columns ``key``, ``value``)."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, NUM_KEYS, size=count, dtype=np.int64)
    values = rng.integers(0, MAX_VALUE, size=count, dtype=np.int64)
    return pa.table({"key": keys, "value": values})


def warmup_rows(count: int, ts_us: int | None = None) -> pa.Table:
    """Rows injected before the measurement; key -1 and value 1 pass every workload."""
    columns = {"key": np.full(count, WARMUP_KEY, np.int64), "value": np.ones(count, np.int64)}
    if ts_us is not None:
        columns["ts"] = np.full(count, ts_us, np.int64)
    return pa.table(columns)


def json_lines(table: pa.Table) -> pa.Array:
    """Each row as a compact JSON object (a binary array, no newlines)."""
    parts: list[object] = []
    for i, name in enumerate(table.column_names):
        parts.append(("{" if i == 0 else ",") + f'"{name}":')
        parts.append(table.column(name).cast(pa.string()))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "").cast(pa.binary())


def jsonl_bytes(table: pa.Table) -> bytes:
    """The rows as newline-terminated JSON lines."""
    lines = json_lines(table)
    return b"".join(v + b"\n" for v in lines.to_pylist()) if len(lines) else b""


def payloads(table: pa.Table) -> list[bytes]:
    """The rows as one JSON message each."""
    return json_lines(table).to_pylist()


def keep_not_multiple_of_3(table: pa.Table) -> pa.Table:
    """The rows with ``value % 3 != 0`` (the workloads' filter)."""
    value = table["value"]
    return table.filter(pc.not_equal(pc.subtract(value, pc.multiply(pc.divide(value, 3), 3)), 0))


def compute(table: pa.Table, workload: str) -> pa.Table:
    """The result rows of ``workload`` over all of ``table`` (no changelog)."""
    latency = "ts" in table.column_names
    if workload == "filter_groupby":
        return compute(keep_not_multiple_of_3(table), "groupby")
    if workload == "filter_select":
        kept = keep_not_multiple_of_3(table)
        cols = {"key": kept["key"], "doubled": pc.multiply(kept["value"], 2)}
        if latency:
            cols["ts"] = kept["ts"]
        return pa.table(cols)
    if workload == "groupby":
        aggs = [("value", "sum"), ("value", "count")] + ([("ts", "max")] if latency else [])
        agg = table.group_by("key").aggregate(aggs)
        cols = {"key": agg["key"], "total": agg["value_sum"], "n": agg["value_count"]}
        if latency:
            cols["ts"] = agg["ts_max"]
        return pa.table(cols)
    if workload == "global_sum":
        cols = {"sum": [pc.sum(table["value"]).as_py()]}
        if latency:
            cols["ts"] = [pc.max(table["ts"]).as_py()]
        return pa.table(cols)
    raise ValueError(f"unknown workload {workload!r}")


def _multiset(table: pa.Table, count: pa.Array | None = None) -> pa.Table:
    """Distinct rows with their multiplicity in ``count``, sorted, int64 columns."""
    cols = table.column_names
    table = table.cast(pa.schema([(c, pa.int64()) for c in cols]))
    if count is None:
        net = table.group_by(cols).aggregate([([], "count_all")])
    else:
        net = table.append_column("_n", count).group_by(cols).aggregate([("_n", "sum")])
    net = net.rename_columns([*cols, "count"])
    net = net.filter(pc.greater(net["count"], 0))
    return net.sort_by([(c, "ascending") for c in cols])


def expected(table: pa.Table, workload: str) -> pa.Table:
    """What a correct output folds to (see :func:`fold`)."""
    return _multiset(compute(table, workload))


def parse_changelog(data: bytes) -> pa.Table | None:
    """Parses JSON-lines changelog bytes (None if there are no complete lines)."""
    end = data.rfind(b"\n")
    if end < 0:
        return None
    return pj.read_json(io.BytesIO(data[: end + 1]))


def fold(changelog: pa.Table | None, columns: list[str]) -> pa.Table:
    """The rows a changelog ends with (sum of ``diff`` per row, positive kept)."""
    if changelog is None or changelog.num_rows == 0:
        return pa.table({**{c: pa.array([], pa.int64()) for c in columns},
                         "count": pa.array([], pa.int64())})
    return _multiset(changelog.select(columns), changelog["diff"].cast(pa.int64()))


def check(changelog: pa.Table | None, want: pa.Table) -> str:
    """"" if the changelog folds to ``want``, else what differs."""
    columns = [c for c in want.column_names if c != "count"]
    if changelog is not None and changelog.num_rows:
        missing = [c for c in columns if c not in changelog.column_names]
        if missing:
            return f"output lacks columns {missing} (has {changelog.column_names})"
    got = fold(changelog, columns)
    if got.equals(want):
        return ""
    return f"result differs: {got.num_rows} distinct rows, expected {want.num_rows}"


@dataclass
class Progress:
    """Follows an output changelog as it arrives and tells when it is final.

    For ``filter_select`` the output is final once it has as many lines as the
    expected result has rows (the workload never retracts); for the reduces,
    once the latest inserted row of every group equals the expected row.

    Args:
        workload: The workload.
        want: The expected result (see :func:`compute`), without counts.
    """

    workload: str
    want: pa.Table
    lines: int = 0
    latest: dict[tuple, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.target = self._rows(self.want)

    def _group_columns(self) -> list[str]:
        return ["key"] if self.workload in GROUPED else []

    def _rows(self, table: pa.Table) -> dict[tuple, tuple]:
        groups = self._group_columns()
        values = [c for c in table.column_names if c not in groups]
        vcols = [table[c].to_pylist() for c in values]
        if not groups:
            return {(): tuple(c[-1] for c in vcols)} if table.num_rows else {}
        gcols = [table[c].to_pylist() for c in groups]
        return dict(zip(zip(*gcols, strict=True), zip(*vcols, strict=True), strict=True))

    def feed(self, data: bytes, parsed: pa.Table | None = None) -> None:
        """Takes a chunk of complete output lines."""
        if self.workload == "filter_select":
            self.lines += data.count(b"\n")
            return
        parsed = parsed if parsed is not None else parse_changelog(data)
        if parsed is None or parsed.num_rows == 0:
            return
        inserted = parsed.filter(pc.greater(parsed["diff"], 0))
        columns = [c for c in self.want.column_names if c in inserted.column_names]
        self.latest.update(self._rows(inserted.select(columns)))

    def done(self) -> bool:
        """True once the output reached the expected final state."""
        if self.workload == "filter_select":
            return self.lines >= self.want.num_rows
        return self.latest == self.target
