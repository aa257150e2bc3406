"""More operations: bit shifts, rounding, NaN handling, date/time parsing and parts."""

from __future__ import annotations

import re
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
    """Parses text into nanosecond datetimes (``%f`` takes up to 9 digits, as in Pathway)."""
    import pandas as pd  # noqa: PLC0415 - a dependency; only dates need it

    fmt, _ = params
    fmt = fmt.replace("%3f", "%f").replace("%6f", "%f").replace("%9f", "%f")
    texts = args[0]
    parsed = pd.to_datetime(pd.Series(texts.to_pylist(), dtype=object), format=fmt,
                            errors="raise")
    aware = getattr(parsed.dt, "tz", None) is not None
    if aware:
        parsed = parsed.dt.tz_convert("UTC")
    target = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    return pa.Array.from_pandas(parsed, type=target)


def _strftime(args: list[Value], params: tuple) -> Value:
    """Formats datetimes; ``%S`` is whole seconds and ``%f`` nanoseconds (9 digits)."""
    value = args[0]
    seconds = value.cast(pa.timestamp("s", tz=value.type.tz), safe=False)
    parts = []
    for piece in re.split(r"(%[369]?f)", params[0]):
        if piece in _FRACTIONS:
            parts.append(_fraction(value, _FRACTIONS[piece]))
        elif piece:
            parts.append(pc.strftime(seconds, format=piece))
    if not parts:
        return pc.if_else(value.is_null(), pa.scalar(None, pa.string()), "")
    return pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]


_FRACTIONS = {"%f": 9, "%9f": 9, "%6f": 6, "%3f": 3}


def _fraction(value: pa.Array, width: int) -> pa.Array:
    """The sub-second part of each datetime as ``width`` digits."""
    ns = value.cast(pa.timestamp("ns", tz=value.type.tz)).cast(pa.int64())
    fractions = ns.fill_null(0).to_numpy() % 1_000_000_000 // 10 ** (9 - width)
    text = np.char.zfill(fractions.astype(str), width)
    return pa.array(text.tolist(), pa.string(), mask=ns.is_null().to_numpy(zero_copy_only=False))


register("dt.strptime", _strptime_typer, _strptime)


def _dt_typer(result: DType) -> Any:
    def typer(types: list[DType], _params: tuple) -> DType:
        if types[0].name not in ("DateTimeNaive", "DateTimeUtc") and not types[0].is_any:
            raise TypeError(f"date/time method needs a DateTimeNaive or DateTimeUtc column, "
                            f"got {types[0]}")
        return result.with_optional(types[0].optional)
    return typer


register("dt.strftime", _dt_typer(dt.STR), _strftime)
def _part_kernel(function: Any) -> Any:
    return lambda a, p: pc.cast(function(a[0]), pa.int64())


for _part in ("year", "month", "day", "hour", "minute", "second"):
    register(f"dt.{_part}", _dt_typer(dt.INT),
             _part_kernel(getattr(pc, _part)))
register("dt.weekday", _dt_typer(dt.INT),
         lambda a, p: pc.cast(pc.day_of_week(a[0]), pa.int64()))
