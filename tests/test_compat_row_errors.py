"""A row that fails in an expression or UDF goes to the error log; the stream goes on.

Division by zero, a UDF that raises and a bad cast, read from files and from a
real Kafka broker, on Ray. As in Pathway, the failing cell becomes an error
value (its row goes on, logged to ``pw.global_error_log()`` with the operator,
the user's line and the reason): ``pw.fill_error`` in a later operator (another
actor) replaces it, a reducer skips it, and an output skips the row (logged
too). ``terminate_on_error=True`` stops the run instead. ``pw.if_else`` is
lazy: its guarded branch never fails.
"""

from __future__ import annotations

import json

import pytest
from raystream.actors.runtime import PipelineError

import raystream as pw
from tests.helpers import fold_jsonl
from tests.test_kafka_helpers import jsonl_rows, produce, reader_settings

pytestmark = pytest.mark.usefixtures("ray_session")

ROWS = [{"a": 6, "b": 3, "s": "1"}, {"a": 5, "b": 0, "s": "2"}, {"a": 3, "b": 1, "s": "3"},
        {"a": 8, "b": 2, "s": "x"}, {"a": 9, "b": 3, "s": "5"}]


class Row(pw.Schema):
    a: int
    b: int
    s: str


@pw.udf
def explode(a: int) -> int:
    """Fails for a == 3."""
    if a == 3:
        raise ValueError("three is not allowed")
    return a * 10


def _pipeline(rows: pw.Table, out: object) -> dict[str, int]:
    """Defines the outputs; returns the source line of each failing operator."""
    import inspect  # noqa: PLC0415

    here = inspect.currentframe()
    assert here is not None
    lines = {}
    lines["div"] = here.f_lineno + 1
    divided = rows.select(rows.a, q=rows.a // rows.b)
    guarded = rows.select(rows.a, q=pw.if_else(rows.b != 0, rows.a // rows.b, -1))
    lines["udf"] = here.f_lineno + 1
    exploded = rows.select(rows.a, e=explode(rows.a))
    lines["cast"] = here.f_lineno + 1
    parsed = rows.select(rows.a, n=rows.s.str.parse_int())
    filled = divided.select(divided.a, q=pw.fill_error(divided.q, -1))
    totals = divided.groupby().reduce(n=pw.reducers.count(), s=pw.reducers.sum(divided.q))
    for name, table in (("div", divided), ("guarded", guarded), ("udf", exploded),
                        ("cast", parsed), ("filled", filled), ("totals", totals)):
        pw.io.jsonlines.write(table, f"{out}/{name}.jsonl")
    pw.io.jsonlines.write(pw.global_error_log(), f"{out}/errors.jsonl")
    return lines


def _check(out: object, lines: dict[str, int]) -> None:
    assert fold_jsonl(f"{out}/div.jsonl", ["a", "q"]) == {(6, 2): 1, (3, 3): 1, (8, 4): 1,
                                                         (9, 3): 1}
    assert fold_jsonl(f"{out}/guarded.jsonl", ["a", "q"]) == {
        (6, 2): 1, (5, -1): 1, (3, 3): 1, (8, 4): 1, (9, 3): 1}
    assert fold_jsonl(f"{out}/udf.jsonl", ["a", "e"]) == {(6, 60): 1, (5, 50): 1, (8, 80): 1,
                                                         (9, 90): 1}
    assert fold_jsonl(f"{out}/cast.jsonl", ["a", "n"]) == {(6, 1): 1, (5, 2): 1, (3, 3): 1,
                                                          (9, 5): 1}
    assert fold_jsonl(f"{out}/filled.jsonl", ["a", "q"]) == {
        (6, 2): 1, (5, -1): 1, (3, 3): 1, (8, 4): 1, (9, 3): 1}
    assert fold_jsonl(f"{out}/totals.jsonl", ["n", "s"]) == {(5, 12): 1}  # the error skipped
    errors = jsonl_rows(f"{out}/errors.jsonl")
    skipped = [e for e in errors if e["reason"].startswith("Error value encountered in output")]
    assert sorted(json.loads(e["raw"].replace("'", '"'))["a"] for e in skipped) == [3, 5, 8]
    by_kind = {}
    for kind, line in lines.items():
        found = [e for e in errors if f"test_compat_row_errors.py:{line}:" in e["source"]]
        assert len(found) == 1, (kind, errors)
        by_kind[kind] = found[0]
    assert by_kind["div"]["reason"].startswith("ZeroDivisionError")
    assert by_kind["div"]["source"].startswith("map at ")
    assert "rows.a // rows.b" in by_kind["div"]["source"]
    assert by_kind["udf"]["reason"] == "ValueError: three is not allowed"
    assert json.loads(by_kind["udf"]["raw"].replace("'", '"'))["a"] == 3
    assert "'x'" in by_kind["cast"]["reason"] or "x" in by_kind["cast"]["reason"]
    assert all(e["position"].startswith("id=^") for e in by_kind.values())


def test_failing_rows_from_a_file_are_logged_and_the_rest_goes_on(tmp_path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    rows = pw.io.jsonlines.read(source, schema=Row, mode="static")
    lines = _pipeline(rows, tmp_path)
    pw.run()
    _check(tmp_path, lines)


def test_terminate_on_error_stops_at_the_failing_row(tmp_path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    rows = pw.io.jsonlines.read(source, schema=Row, mode="static")
    pw.io.null.write(rows.select(q=rows.a // rows.b))
    with pytest.raises(PipelineError, match="ZeroDivisionError") as info:
        pw.run(terminate_on_error=True)
    assert "integer division or modulo by zero" in str(info.value)
    assert "test_compat_row_errors.py" in str(info.value)  # the operator's line


@pytest.mark.kafka
def test_failing_rows_from_kafka_are_logged_and_the_rest_goes_on(
        kafka_broker, unique_name, tmp_path) -> None:
    kafka_broker.create_topic(unique_name, partitions=2)
    produce(kafka_broker.client_settings(), unique_name, [json.dumps(r) for r in ROWS],
            partition=[i % 2 for i in range(len(ROWS))])
    rows = pw.io.kafka.read(reader_settings(kafka_broker, f"g-{unique_name}"), unique_name,
                            format="json", schema=Row, mode="static",
                            autocommit_duration_ms=200)
    lines = _pipeline(rows, tmp_path)
    pw.run()
    _check(tmp_path, lines)
