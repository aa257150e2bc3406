"""pw.io.csv read and write (on Ray)."""

from __future__ import annotations

import csv

import pytest

import raystream as pw

pytestmark = pytest.mark.usefixtures("ray_session")


class S(pw.Schema):
    name: str
    qty: int
    price: float = 0.0


def test_csv_round_trip_with_header_defaults_and_bad_rows(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("name,qty,price\napple,3,1.5\npear,x,2.0\n\"kiwi, gold\",2,\n")
    (tmp_path / "b.csv").write_text("qty,name\n7,plum\n")  # own header, other order
    table = pw.io.csv.read(tmp_path / "*.csv", schema=S, mode="static")
    pw.io.csv.write(table.select(table.name, total=table.qty * table.price), tmp_path / "out")
    pw.io.jsonlines.write(pw.global_error_log(), tmp_path / "errors.jsonl")
    pw.run()
    with open(tmp_path / "out") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["name", "total", "diff", "time"]  # Pathway's order
    assert sorted((r["name"], float(r["total"]), r["diff"]) for r in rows) == [
        ("apple", 4.5, "1"), ("kiwi, gold", 0.0, "1"), ("plum", 0.0, "1")]
    errors = (tmp_path / "errors.jsonl").read_text()
    assert "a.csv" in errors and "line=3" in errors and "expected int" in errors
