"""More operations: bit shifts, rounding, NaN handling, date/time parsing and parts."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raystream import dtypes as dt
from raystream.dtypes import DType
from raystream.ops import Value, register


def _ints(symbol: str) -> Any:
    def typer(types: list[DType], _params: tuple) -> DType:
        if all(t.name == "int" or t.is_any for t in types):
            return dt.INT.with_optional(any(t.optional for t in types))
        raise TypeError(f"cannot apply {symbol} to {', '.join(str(t) for t in types)}")
    return typer


register("lshift", _ints("<<"), lambda a, p: pc.shift_left_checked(*a))
register("rshift", _ints(">>"), lambda a, p: pc.shift_right_checked(*a))


def _round_typer(types: list[DType], _params: tuple) -> DType:
    value, digits = types
    if not dt.is_numeric(value) or (digits.name != "int" and not digits.is_any):
        raise TypeError(f"cannot round {value} to {digits} digits")
    return value


def _round(args: list[Value], _params: tuple) -> Value:
    value, digits = args
    if isinstance(digits, pa.Scalar):
        return pc.round(value, digits.as_py() or 0, round_mode="half_to_even")
    values = value.to_pylist()
    return pa.array([None if v is None or d is None else round(v, d)
                     for v, d in zip(values, digits.to_pylist(), strict=True)], value.type)


register("round", _round_typer, _round)


def _nan_to_none(args: list[Value], _params: tuple) -> Value:
    value = args[0]
    if pa.types.is_floating(value.type):
        return pc.if_else(pc.is_nan(value), pa.scalar(None, value.type), value)
    return value


register("nan_to_none", lambda t, p: t[0].with_optional(True), _nan_to_none)


# ---- date and time ------------------------------------------------------------

def _strptime_typer(types: list[DType], params: tuple) -> DType:
    if types[0].name != "str" and not types[0].is_any:
        raise TypeError(f".dt.strptime() needs a str column, got {types[0]}")
    fmt, tz = params
    aware = tz if tz is not None else any(d in fmt for d in ("%z", "%Z"))
    return (dt.DATETIME_UTC if aware else dt.DATETIME_NAIVE).with_optional(types[0].optional)


def _strptime(args: list[Value], params: tuple) -> Value:
    fmt, _ = params
    out: list[Any] = []
    for text in args[0].to_pylist():
        if text is None:
            out.append(None)
            continue
        value = _dt.datetime.strptime(text, fmt.replace("%3f", "%f").replace("%6f", "%f")
                                      .replace("%9f", "%f"))
        out.append(value.astimezone(_dt.timezone.utc) if value.tzinfo else value)
    aware = any(v is not None and v.tzinfo is not None for v in out)
    return pa.array(out, pa.timestamp("us", tz="UTC") if aware else pa.timestamp("us"))


register("dt.strptime", _strptime_typer, _strptime)


def _dt_typer(result: DType) -> Any:
    def typer(types: list[DType], _params: tuple) -> DType:
        if types[0].name not in ("DateTimeNaive", "DateTimeUtc") and not types[0].is_any:
            raise TypeError(f"date/time method needs a DateTimeNaive or DateTimeUtc column, "
                            f"got {types[0]}")
        return result.with_optional(types[0].optional)
    return typer


register("dt.strftime", _dt_typer(dt.STR), lambda a, p: pc.strftime(a[0], p[0]))
def _part_kernel(function: Any) -> Any:
    return lambda a, p: pc.cast(function(a[0]), pa.int64())


for _part in ("year", "month", "day", "hour", "minute", "second"):
    register(f"dt.{_part}", _dt_typer(dt.INT),
             _part_kernel(getattr(pc, _part)))
register("dt.weekday", _dt_typer(dt.INT),
         lambda a, p: pc.cast(pc.day_of_week(a[0]), pa.int64()))

del np
