"""Bad pipeline definitions fail at once, naming the problem and the user's line (no Ray)."""

from __future__ import annotations

import pytest

import raystream as pw

T = pw.debug.table_from_markdown("""
    name  | age
    Alice | 3
""")


def test_unknown_column_points_at_this_line() -> None:
    with pytest.raises(pw.ApiValueError) as info:
        T.select(pw.this.agee)
    assert "no column 'agee'" in str(info.value)
    assert "test_api_errors.py" in str(info.value) and "pw.this.agee" in str(info.value)
    with pytest.raises(AttributeError, match="columns: name, age"):
        T.agee  # noqa: B018


def test_type_errors_point_at_this_line() -> None:
    with pytest.raises(pw.ApiTypeError) as info:
        T.select(x=T.name + T.age)
    assert "cannot apply + to str and int" in str(info.value)
    assert "T.name + T.age" in str(info.value)
    with pytest.raises(pw.ApiTypeError, match="filter needs a bool"):
        T.filter(T.age + 1)
    with pytest.raises(pw.ApiTypeError, match="use &, |, ~"):
        T.filter(T.age > 1 and T.age < 5)


def test_time_and_diff_columns_are_rejected_on_output(tmp_path) -> None:
    with pytest.raises(pw.ApiValueError, match="column named 'time'") as info:
        pw.io.jsonlines.write(T.select(time=T.age), tmp_path / "out.jsonl")
    assert "test_api_errors.py" in str(info.value)


def test_reducers_outside_reduce_and_non_group_columns() -> None:
    with pytest.raises(pw.ApiValueError, match="only be used inside reduce"):
        T.select(s=pw.reducers.sum(T.age))
    with pytest.raises(pw.ApiValueError, match="neither a grouping column"):
        T.groupby(T.name).reduce(x=T.age + 1)


def test_columns_of_unrelated_tables_are_refused() -> None:
    other = pw.debug.table_from_markdown("name | age\nBob | 4")
    with pytest.raises(pw.ApiValueError, match="belongs to another table"):
        T.select(other.age)
    derived = T.filter(T.age > 1)
    assert derived.select(T.age).column_names() == ["age"]  # same lineage: allowed


def test_source_options_are_validated(tmp_path) -> None:
    class S(pw.Schema):
        a: int

    with pytest.raises(pw.ApiValueError, match="autocommit_duration_ms: Input should be "
                                                "greater than 0"):
        pw.io.jsonlines.read(tmp_path, schema=S, autocommit_duration_ms=0)
    with pytest.raises(pw.ApiValueError, match="mode must be"):
        pw.io.jsonlines.read(tmp_path, schema=S, mode="sometimes")
