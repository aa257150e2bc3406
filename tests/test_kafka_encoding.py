"""How the Kafka sink encodes a batch: payloads, keys and headers, column-wise (no broker)."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.connectors.kafka_sink import KafkaSinkSpec, encode_batch


def _reference_header(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([17, 18, 2**40]), st.sampled_from([1, -1]),
                          st.none() | st.text(max_size=3), st.none() | st.integers(-3, 3),
                          st.binary(max_size=2)),
                min_size=1, max_size=300))
def test_headers_match_a_row_by_row_rendering(rows) -> None:
    times, diffs, labels, numbers, blobs = (list(c) for c in zip(*rows, strict=True))
    batch = pa.record_batch({"label": pa.array(labels, pa.string()),
                             "number": pa.array(numbers, pa.int64()),
                             "blob": pa.array(blobs, pa.binary()),
                             "time": pa.array(times, pa.int64()),
                             "diff": pa.array(diffs, pa.int64())})
    spec = KafkaSinkSpec("s", {}, "t", header_columns=("label", "number", "blob"))
    got = encode_batch(spec, batch).headers
    want = [[("pathway_time", str(t).encode()), ("pathway_diff", str(d).encode()),
             ("label", _reference_header(lb)), ("number", _reference_header(n)),
             ("blob", _reference_header(b))]
            for t, d, lb, n, b in rows]
    assert got == want


def test_many_distinct_header_values_are_rendered_per_row() -> None:
    """Past a million combinations the rows are numbered by sorting (np.unique)."""
    n = 3000
    batch = pa.record_batch({"a": pa.array(range(n)), "b": pa.array(range(n, 2 * n)),
                             "time": pa.array([5] * n), "diff": pa.array([1] * n)})
    spec = KafkaSinkSpec("s", {}, "t", header_columns=("a", "b"))
    headers = encode_batch(spec, batch).headers
    assert [dict(h)["a"] for h in headers] == [str(i).encode() for i in range(n)]
    assert [dict(h)["b"] for h in headers] == [str(i).encode() for i in range(n, 2 * n)]


def test_payloads_and_row_keys_are_bytes() -> None:
    batch = pa.record_batch({"_key": pa.array([1, 2**63], pa.uint64()),
                             "word": pa.array(["é", None]),
                             "time": pa.array([5, 5]), "diff": pa.array([1, -1])})
    rows = encode_batch(KafkaSinkSpec("s", {}, "t"), batch)
    assert [json.loads(p) for p in rows.payloads] == [
        {"word": "é", "time": 5, "diff": 1}, {"word": None, "time": 5, "diff": -1}]
    assert all(isinstance(p, bytes) for p in rows.payloads)
    assert all(isinstance(k, bytes) and k.startswith(b"^") for k in rows.keys)
