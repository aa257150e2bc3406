"""The ``.str``, ``.num`` and ``.dt`` method namespaces of expressions (as in Pathway)."""

from __future__ import annotations

from typing import Any

from raystream.expressions import ColumnExpression, call, coalesce, wrap
from raystream.ops import HOOKS


class StrNamespace:
    """The ``.str`` methods of an expression."""

    def __init__(self, expr: ColumnExpression) -> None:
        self._expr = expr

    def _call(self, name: str, *params: Any) -> ColumnExpression:
        return call(f"str.{name}", self._expr, params=params)

    def lower(self) -> ColumnExpression:
        """Lower-cased text."""
        return self._call("lower")

    def upper(self) -> ColumnExpression:
        """Upper-cased text."""
        return self._call("upper")

    def title(self) -> ColumnExpression:
        """Title-cased text."""
        return self._call("title")

    def swapcase(self) -> ColumnExpression:
        """Case-swapped text."""
        return self._call("swapcase")

    def reversed(self) -> ColumnExpression:
        """Reversed text."""
        return self._call("reversed")

    def strip(self, chars: str | None = None) -> ColumnExpression:
        """Text without surrounding whitespace (or ``chars``)."""
        return self._call("strip", chars)

    def len(self) -> ColumnExpression:
        """Number of characters."""
        return self._call("len")

    def startswith(self, prefix: str) -> ColumnExpression:
        """True where the text starts with ``prefix``."""
        return self._call("startswith", prefix)

    def endswith(self, suffix: str) -> ColumnExpression:
        """True where the text ends with ``suffix``."""
        return self._call("endswith", suffix)

    def contains(self, sub: str) -> ColumnExpression:
        """True where the text contains ``sub``."""
        return self._call("contains", sub)

    def count(self, sub: str, start: int | None = None, end: int | None = None
              ) -> ColumnExpression:
        """Non-overlapping occurrences of ``sub`` in ``text[start:end]``."""
        return self._call("count", sub, start, end)

    def find(self, sub: str, start: int | None = None, end: int | None = None
             ) -> ColumnExpression:
        """Lowest index of ``sub`` in ``text[start:end]`` (as an index of the text), or -1."""
        return self._call("find", sub, start, end)

    def rfind(self, sub: str, start: int | None = None, end: int | None = None
              ) -> ColumnExpression:
        """Highest index of ``sub`` in ``text[start:end]``, or -1."""
        return self._call("rfind", sub, start, end)

    def replace(self, old: str, new: str, count: int = -1) -> ColumnExpression:
        """Text with ``old`` replaced by ``new`` (at most ``count`` times)."""
        return self._call("replace", old, new, None if count < 0 else count)

    def removeprefix(self, prefix: str) -> ColumnExpression:
        """Text without a leading ``prefix``."""
        return self._call("removeprefix", prefix)

    def removesuffix(self, suffix: str) -> ColumnExpression:
        """Text without a trailing ``suffix``."""
        return self._call("removesuffix", suffix)

    def slice(self, start: int, end: int) -> ColumnExpression:
        """Characters ``start`` to ``end``."""
        return self._call("slice", start, end)

    def parse_int(self, optional: bool = False) -> ColumnExpression:
        """The text as int (None where unparsable if ``optional``)."""
        return self._call("parse_int", optional)

    def parse_float(self, optional: bool = False) -> ColumnExpression:
        """The text as float (None where unparsable if ``optional``)."""
        return self._call("parse_float", optional)

    def parse_bool(self, true_values: Any = ("on", "true", "yes", "1"),
                   false_values: Any = ("off", "false", "no", "0"),
                   optional: bool = False) -> ColumnExpression:
        """The text as bool: case-insensitive ``true_values`` / ``false_values``."""
        return self._call("parse_bool", optional, tuple(v.lower() for v in true_values),
                          tuple(v.lower() for v in false_values))


class NumNamespace:
    """The ``.num`` methods of a numeric expression."""

    def __init__(self, expr: ColumnExpression) -> None:
        self._expr = expr

    def abs(self) -> ColumnExpression:
        """Absolute value."""
        return call("abs", self._expr)

    def round(self, decimals: Any = 0) -> ColumnExpression:
        """Rounded to ``decimals`` digits (an int or an int column)."""
        return call("round", self._expr, decimals)

    def fill_na(self, default_value: Any) -> ColumnExpression:
        """``default_value`` where the value is None (or NaN)."""
        return coalesce(call("nan_to_none", self._expr), wrap(default_value))


class DtNamespace:
    """The ``.dt`` methods of a date/time or duration expression."""

    def __init__(self, expr: ColumnExpression) -> None:
        self._expr = expr

    def _call(self, name: str, *params: Any) -> ColumnExpression:
        return call(f"dt.{name}", self._expr, params=params)

    def strptime(self, fmt: str, contains_timezone: bool | None = None) -> ColumnExpression:
        """Parses text with a ``strftime`` format into a DateTimeNaive/DateTimeUtc."""
        return call("dt.strptime", self._expr, params=(fmt, contains_timezone))

    def strftime(self, fmt: str) -> ColumnExpression:
        """Formats a date/time as text."""
        return self._call("strftime", fmt)

    def year(self) -> ColumnExpression:
        """The year."""
        return self._call("year")

    def month(self) -> ColumnExpression:
        """The month (1-12)."""
        return self._call("month")

    def day(self) -> ColumnExpression:
        """The day of the month."""
        return self._call("day")

    def hour(self) -> ColumnExpression:
        """The hour."""
        return self._call("hour")

    def minute(self) -> ColumnExpression:
        """The minute."""
        return self._call("minute")

    def second(self) -> ColumnExpression:
        """The second."""
        return self._call("second")

    def weekday(self) -> ColumnExpression:
        """The day of the week (Monday is 0)."""
        return self._call("weekday")


HOOKS.update({"str": StrNamespace, "num": NumNamespace, "dt": DtNamespace})
