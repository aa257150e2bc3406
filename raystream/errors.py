"""API errors that point at the user's line, not at raystream's internals."""

from __future__ import annotations

import linecache
import sys
import warnings
from collections.abc import Collection
from pathlib import Path
from types import FrameType
from typing import Any

_PACKAGE_DIRS = tuple(str(Path(__file__).resolve().parent.parent / d) + "/"
                      for d in ("raystream", "actors", "connectors"))


def _user_frame() -> FrameType | None:
    """The innermost caller outside raystream (and pydantic)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = str(Path(frame.f_code.co_filename).resolve())
        if not filename.startswith(_PACKAGE_DIRS) and "/pydantic/" not in filename:
            return frame
        frame = frame.f_back
    return None


def user_location() -> str:
    """Returns ``file:line: code`` of the innermost caller outside raystream."""
    frame = _user_frame()
    if frame is None:
        return "<unknown>"
    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}: {code}"


def warn_at_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warns, attributing the warning to the user's line (as Pathway does)."""
    frame = _user_frame()
    if frame is None:
        warnings.warn(message, category, stacklevel=2)
        return
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"),
                           registry=frame.f_globals.setdefault("__warningregistry__", {}))


class ErrorValue:
    """An error value: what ``pw.debug`` shows for a cell whose computation failed."""

    _instance: ErrorValue | None = None

    def __new__(cls) -> ErrorValue:
        """The one error value."""
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Error"

    def __reduce__(self) -> tuple:
        return (ErrorValue, ())


ERROR = ErrorValue()
"""The error value (one instance)."""


class RaystreamError(Exception):
    """Base class of raystream's API errors."""


class ApiTypeError(RaystreamError, TypeError):
    """Wrong type in a pipeline definition (e.g. adding a str to an int)."""


class ApiValueError(RaystreamError, ValueError):
    """Bad argument in a pipeline definition (e.g. an unknown column)."""


def api_error(kind: type[RaystreamError], message: str) -> RaystreamError:
    """Builds an API error whose message ends with the user's line.

    Args:
        kind: :class:`ApiTypeError` or :class:`ApiValueError`.
        message: What is wrong, in the user's terms.
    """
    frame = _user_frame()
    if frame is None:
        return kind(message)
    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return kind(f"{message}\nOccurred here:\n    Line: {code}\n"
                f"    File: {frame.f_code.co_filename}:{frame.f_lineno}")


_TYPE_ERRORS = ("is_instance_of", "enum", "model_type", "dataclass_type")


def settings_error(where: str, exc: Any, secrets: Collection[str] = ()) -> RaystreamError:
    """Turns a pydantic ``ValidationError`` into an API error at the user's line.

    Every problem names its argument and the value given (except for arguments
    in ``secrets``). The error is an :class:`ApiTypeError` when every problem is
    a wrong type, else an :class:`ApiValueError`.

    Args:
        where: The API call, e.g. ``"pw.persistence.Config"``.
        exc: The ``pydantic.ValidationError``.
        secrets: Argument names whose values must not appear in messages.
    """
    problems, kinds = [], set()
    for error in exc.errors():
        name = ".".join(map(str, error["loc"])) or "value"
        given = "" if error["loc"][:1] and error["loc"][0] in secrets \
            else f" (got {error.get('input')!r})"
        problems.append(f"{name}: {error['msg']}{given}")
        kinds.add(error["type"].endswith("_type") or error["type"] in _TYPE_ERRORS)
    kind = ApiTypeError if kinds == {True} else ApiValueError
    return api_error(kind, f"{where}: " + "; ".join(problems))
