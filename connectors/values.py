"""Single-value conversion with precise error messages (the slow, exact path)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa


class BadValue(ValueError):
    """A record value that does not fit its column; the message says why."""


_TRUE = {"true", "True", "TRUE", "1"}
_FALSE = {"false", "False", "FALSE", "0"}


def resolve_pointer(document: Any, parts: list[str]) -> tuple[bool, Any]:
    """Follows JSON Pointer parts into a parsed document.

    Args:
        document: A parsed JSON value.
        parts: Unescaped pointer segments.

    Returns:
        ``(present, value)``; ``present`` is False if a segment is missing.
    """
    node = document
    for part in parts:
        if isinstance(node, dict):
            if part not in node:
                return False, None
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def convert_value(field: pa.Field, value: Any, from_text: bool = False) -> Any:
    """Converts one JSON value (or CSV cell when ``from_text``) to the column's type.

    Raises:
        BadValue: If the value does not fit; the message names the column.
    """
    try:
        return _convert(field.type, value, from_text)
    except (BadValue, ValueError, TypeError, OverflowError):
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        raise BadValue(f"column {field.name!r}: expected {_type_name(field.type)}, "
                       f"got {type(value).__name__} {shown}") from None


def _convert(typ: pa.DataType, value: Any, from_text: bool) -> Any:
    if pa.types.is_integer(typ):
        if from_text:
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue
        return value
    if pa.types.is_floating(typ):
        if from_text:
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadValue
        return float(value)
    if pa.types.is_boolean(typ):
        return _to_bool(value, from_text)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        if not isinstance(value, str):
            raise BadValue
        return value
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        if isinstance(value, str):
            return value.encode("utf-8")
        raise BadValue
    if pa.types.is_timestamp(typ):
        return _to_datetime(typ, value)
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        if not isinstance(value, list):
            raise BadValue
        return [_convert(typ.value_type, v, False) for v in value]
    return value


def _to_bool(value: Any, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and value in _TRUE:
        return True
    if from_text and value in _FALSE:
        return False
    raise BadValue


def _to_datetime(typ: pa.TimestampType, value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise BadValue
    parsed = dt.datetime.fromisoformat(value)
    if typ.tz is not None and parsed.tzinfo is None:
        raise BadValue
    if typ.tz is None and parsed.tzinfo is not None:
        raise BadValue
    return parsed


def _type_name(typ: pa.DataType) -> str:
    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "str"
    if pa.types.is_binary(typ):
        return "bytes"
    if pa.types.is_timestamp(typ):
        return "datetime with time zone" if typ.tz else "naive datetime"
    return str(typ)
