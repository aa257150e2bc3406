"""String (``expr.str.*``) and JSON (``expr["field"]``, ``.as_int()``) operations."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raystream import dtypes as dt
from raystream.dtypes import DType
from raystream.ops import Value, register


def _str_typer(result: DType, name: str) -> Callable:
    def typer(types: list[DType], params: tuple) -> DType:
        if types[0].name != "str" and not types[0].is_any:
            raise TypeError(f".str.{name}() needs a str column, got {types[0]}")
        parsed_optional = name.startswith("parse_") and bool(params and params[0])
        return result.with_optional(types[0].optional or parsed_optional)
    return typer


def _parse(target: pa.DataType) -> Callable:
    def kernel(args: list[Value], params: tuple) -> Value:
        optional = params[0] if params else False
        if not optional:
            return pc.cast(pc.utf8_trim_whitespace(args[0]), target)
        return _parse_or_none(args[0], target)
    return kernel


def _parse_or_none(values: Value, target: pa.DataType) -> Value:
    out = []
    for v in values.to_pylist():
        try:
            out.append(pa.scalar(v.strip(), pa.string()).cast(target).as_py() if v else None)
        except (pa.ArrowInvalid, AttributeError):
            out.append(None)
    return pa.array(out, target)


def _window(values: Value, params: tuple) -> Value:
    """``text[start:end]`` for ``params = (sub, start, end)``."""
    start, end = (params[1:3] + (None, None))[:2]
    if start is None and end is None:
        return values
    return pc.utf8_slice_codeunits(values, start or 0, end)


def _find(values: Value, params: tuple, reverse: bool) -> Value:
    """Index of ``sub`` in ``text[start:end]`` as an index of ``text`` (-1 if absent)."""
    sub = params[0]
    window = _window(values, params)
    if reverse:
        found = pc.find_substring(pc.utf8_reverse(window), sub[::-1])
        found = pc.if_else(pc.less(found, 0), found,
                           pc.subtract(pc.subtract(pc.utf8_length(window), len(sub)), found))
    else:
        found = pc.find_substring(window, sub)
    start = (params[1:2] or (None,))[0] or 0
    if start:
        length = pc.utf8_length(values)
        offset = pc.max_element_wise(pc.add(length, start), 0) if start < 0 else \
            pc.min_element_wise(length, start)
        found = pc.if_else(pc.less(found, 0), found, pc.add(found, offset))
    return pc.cast(found, pa.int64())


def _parse_bool(values: Value, params: tuple) -> Value:
    optional, true_values, false_values = (params + (False, ("on", "true", "yes", "1"),
                                                     ("off", "false", "no", "0"))[len(params):])
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    is_true = pc.is_in(lowered, pa.array(list(true_values), pa.string()))
    is_false = pc.is_in(lowered, pa.array(list(false_values), pa.string()))
    known = pc.or_(is_true, is_false)
    if not optional and not pc.all(pc.or_(known, pc.is_null(values))).as_py():
        bad = values.filter(pc.and_(pc.invert(known), pc.is_valid(values)))[0]
        raise ValueError(f"cannot parse {bad.as_py()!r} as bool")
    return pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))


_STR_METHODS: dict[str, tuple[DType, Callable[[list[Value], tuple], Value]]] = {
    "lower": (dt.STR, lambda a, p: pc.utf8_lower(a[0])),
    "upper": (dt.STR, lambda a, p: pc.utf8_upper(a[0])),
    "title": (dt.STR, lambda a, p: pc.utf8_title(a[0])),
    "swapcase": (dt.STR, lambda a, p: pc.utf8_swapcase(a[0])),
    "reversed": (dt.STR, lambda a, p: pc.utf8_reverse(a[0])),
    "strip": (dt.STR, lambda a, p: pc.utf8_trim(a[0], p[0]) if p[0] is not None
              else pc.utf8_trim_whitespace(a[0])),
    "len": (dt.INT, lambda a, p: pc.cast(pc.utf8_length(a[0]), pa.int64())),
    "startswith": (dt.BOOL, lambda a, p: pc.starts_with(a[0], p[0])),
    "endswith": (dt.BOOL, lambda a, p: pc.ends_with(a[0], p[0])),
    "contains": (dt.BOOL, lambda a, p: pc.match_substring(a[0], p[0])),
    "count": (dt.INT, lambda a, p: pc.cast(pc.count_substring(_window(a[0], p), p[0]),
                                           pa.int64())),
    "find": (dt.INT, lambda a, p: _find(a[0], p, reverse=False)),
    "rfind": (dt.INT, lambda a, p: _find(a[0], p, reverse=True)),
    "replace": (dt.STR, lambda a, p: pc.replace_substring(a[0], p[0], p[1],
                                                          max_replacements=p[2])),
    "removeprefix": (dt.STR, lambda a, p: pc.if_else(pc.starts_with(a[0], p[0]),
                     pc.utf8_slice_codeunits(a[0], len(p[0])), a[0])),
    "removesuffix": (dt.STR, lambda a, p: pc.if_else(pc.ends_with(a[0], p[0]),
                     pc.utf8_slice_codeunits(a[0], 0, -len(p[0]) or None), a[0])
                     if p[0] else a[0]),
    "slice": (dt.STR, lambda a, p: pc.utf8_slice_codeunits(a[0], p[0], p[1])),
    "parse_int": (dt.INT, _parse(pa.int64())),
    "parse_float": (dt.FLOAT, _parse(pa.float64())),
    "parse_bool": (dt.BOOL, lambda a, p: _parse_bool(a[0], p)),
}

for _name, (_result, _kernel) in _STR_METHODS.items():
    register(f"str.{_name}", _str_typer(_result, _name), _kernel)


# ---- JSON -------------------------------------------------------------------

def _json_typer(types: list[DType], params: tuple) -> DType:
    if not types[0].is_json and not types[0].is_any:
        raise TypeError(f"indexing with [...] needs a Json, list or tuple column, got {types[0]}")
    return dt.JSON.with_optional(True)


def _json_get(args: list[Value], params: tuple) -> Value:
    key, default = params[:2]
    out = []
    for text in args[0].to_pylist():
        value = _lookup(None if text is None else json.loads(text), key)
        out.append(json.dumps(value) if value is not None else
                   (json.dumps(default) if default is not None else None))
    return pa.array(out, pa.string())


def _lookup(document: Any, key: Any) -> Any:
    if isinstance(document, dict) and isinstance(key, str):
        return document.get(key)
    in_range = isinstance(document, list) and isinstance(key, int) \
        and -len(document) <= key < len(document)
    if in_range:
        return document[key]
    return None


def _json_as(target: DType, python: type) -> tuple[Callable, Callable]:
    def typer(types: list[DType], _params: tuple) -> DType:
        if not types[0].is_json and not types[0].is_any:
            raise TypeError(f".as_{target.name}() needs a Json column, got {types[0]}")
        return target.with_optional(True)

    def kernel(args: list[Value], _params: tuple) -> Value:
        out = []
        for text in args[0].to_pylist():
            value = None if text is None else json.loads(text)
            if value is not None and python is float and isinstance(value, int) \
                    and not isinstance(value, bool):
                value = float(value)
            if value is not None and (not isinstance(value, python) or
                                      (python is int and isinstance(value, bool))):
                raise ValueError(f"JSON value {value!r} is not {target.name}")
            out.append(value)
        return pa.array(out, target.arrow)
    return typer, kernel


register("json.get", _json_typer, _json_get)
for _dtype, _python in ((dt.INT, int), (dt.FLOAT, float), (dt.STR, str), (dt.BOOL, bool)):
    register(f"json.as_{_dtype.name}", *_json_as(_dtype, _python))


def _list_get_typer(types: list[DType], params: tuple) -> DType:
    arrow = types[0].arrow
    if not (pa.types.is_list(arrow) or pa.types.is_large_list(arrow)):
        raise TypeError(f"indexing with [...] needs a Json, list or tuple column, got {types[0]}")
    return dt.dtype_of_arrow(arrow.value_type, optional=True)


def _list_get(args: list[Value], params: tuple) -> Value:
    index = params[0]
    values = args[0]
    if index >= 0:
        return pc.list_element(values, index) if pc.min(pc.list_value_length(values)).as_py() \
            is not None and pc.min(pc.list_value_length(values)).as_py() > index else \
            pa.array([v[index] if v is not None and len(v) > index else None
                      for v in values.to_pylist()], values.type.value_type)
    return pa.array([v[index] if v is not None and len(v) >= -index else None
                     for v in values.to_pylist()], values.type.value_type)


register("list.get", _list_get_typer, _list_get)
