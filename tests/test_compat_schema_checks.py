"""Schema checks, warnings and API errors as Pathway gives them (no Ray).

``pw.assert_table_has_schema``, ``@pw.table_transformer``, ``pw.Table[Schema]``
annotations, warnings that point at the user's line, the "Occurred here"
part of API errors, and ``pw.run()`` with nothing to run.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import raystream as pw


class Keyed(pw.Schema):
    foo: int = pw.column_definition(primary_key=True)
    bar: float


class Plain(pw.Schema):
    foo: int
    bar: float


class Wider(pw.Schema):
    foo: int
    bar: float
    baz: Any


def _empty(schema: type[pw.Schema]) -> pw.Table:
    return pw.debug.table_from_rows(schema, [])


def test_table_schema_keeps_the_primary_key_and_the_check_compares_it() -> None:
    keyed = _empty(Keyed)
    assert keyed.schema.primary_key_columns() == ["foo"]
    pw.assert_table_has_schema(keyed, Plain)  # primary keys ignored by default
    with pytest.raises(AssertionError, match="primary key"):
        pw.assert_table_has_schema(keyed, Plain, ignore_primary_keys=False)
    with pytest.raises(AssertionError):
        pw.assert_table_has_schema(_empty(Wider), Plain, allow_superset=False)


def test_a_column_of_only_none_fits_any_optional_type() -> None:
    t = pw.debug.table_from_markdown("a | b\n1 | None")
    schema = pw.schema_from_types(a=int, b=int | None)
    pw.assert_table_has_schema(t, schema)
    with pytest.raises(AssertionError):
        pw.assert_table_has_schema(t, schema, allow_subtype=False)


def test_table_transformer_checks_annotated_arguments_and_the_result() -> None:
    @pw.table_transformer(locals={"Plain": Plain})
    def passthrough(a: pw.Table, c: pw.Table[Plain], *, d: pw.Table[Plain]) -> pw.Table[Plain]:
        return a

    plain, wider, keyed = _empty(Plain), _empty(Wider), _empty(Keyed)
    assert passthrough(plain, wider, d=plain) is plain  # supersets are allowed
    for args, kwargs in (((plain, _empty(pw.schema_from_types(foo=int))), {"d": plain}),
                         ((plain, plain), {"d": _empty(pw.schema_from_types(bar=float))}),
                         ((_empty(pw.schema_from_types(foo=int)), plain), {"d": plain})):
        with pytest.raises(AssertionError):
            passthrough(*args, **kwargs)

    @pw.table_transformer(allow_superset={"return": False}, ignore_primary_keys={"return": False},
                          locals={"Plain": Plain})
    def strict_result(a: pw.Table) -> pw.Table[Plain]:
        return a

    assert strict_result(plain) is plain
    with pytest.raises(AssertionError):
        strict_result(wider)
    with pytest.raises(AssertionError):
        strict_result(keyed)


def test_warnings_point_at_the_users_line() -> None:
    old = pw.debug.table_from_markdown("  | pet | age\n1 | dog | 2")
    update = pw.debug.table_from_markdown("  | age\n1 | 3")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old.update_cells(update)
    (warning,) = [w for w in caught if "update_cells" in str(w.message)]
    assert warning.filename == __file__


def test_api_errors_say_where_they_occurred_as_pathway_does() -> None:
    with pytest.raises(TypeError) as info:
        pw.Table.empty(foo=int).update_types(foo=str)
    text = str(info.value)
    assert "Occurred here:\n    Line: pw.Table.empty(foo=int).update_types(foo=str)\n" in text
    assert f"File: {__file__}:" in text


def test_run_with_nothing_to_run_warns_and_returns() -> None:
    with pytest.warns(UserWarning, match="nothing to run"):
        pw.run()
