"""pw.Schema: typed columns, primary keys, defaults, Arrow schemas (no Ray)."""

from __future__ import annotations

import datetime
from typing import Optional

import pyarrow as pa
import pytest

import raystream as pw


class Reading(pw.Schema):
    sensor: str = pw.column_definition(primary_key=True)
    value: float
    count: int = 0
    note: Optional[str] = None  # noqa: UP045 - the typing spelling is what is under test
    raw: bytes
    at: datetime.datetime
    extra: pw.Json
    flag: bool
    tags: list[str]


def test_columns_types_keys_and_defaults() -> None:
    assert Reading.column_names() == ["sensor", "value", "count", "note", "raw", "at",
                                      "extra", "flag", "tags"]
    assert Reading.primary_key_columns() == ["sensor"]
    assert Reading.default_values() == {"count": 0, "note": None}
    hints = Reading.typehints()
    assert str(hints["note"]) == "Optional[str]"
    assert hints["extra"].is_json


def test_arrow_schema() -> None:
    arrow = Reading.to_arrow()
    assert arrow.field("value").type == pa.float64()
    assert arrow.field("count").type == pa.int64()
    assert not arrow.field("value").nullable
    assert arrow.field("note").nullable
    assert arrow.field("raw").type == pa.binary()
    assert arrow.field("at").type == pa.timestamp("ns")  # nanoseconds, as Pathway
    assert arrow.field("tags").type == pa.list_(pa.field("item", pa.string(), nullable=False))


def test_inheritance_union_and_builders() -> None:
    class More(Reading):
        unit: str

    assert More.column_names()[-1] == "unit"
    both = pw.schema_from_types(a=int) | pw.schema_from_types(b=Optional[float])  # noqa: UP045
    assert both.column_names() == ["a", "b"]
    assert both.typehints()["b"].optional
    built = pw.schema_from_dict({"k": {"dtype": int, "primary_key": True}, "v": str})
    assert built.primary_key_columns() == ["k"]


def test_unsupported_types_are_rejected_with_the_column_name() -> None:
    with pytest.raises(pw.ApiTypeError, match="Bad.x: unsupported column type"):
        class Bad(pw.Schema):
            x: set
