"""Rules for the names users give to columns."""

from __future__ import annotations

import keyword

from raystream.errors import ApiValueError, api_error


def check_column_name(name: str) -> None:
    """Rejects names that cannot be columns (reserved, not identifiers)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise api_error(ApiValueError, f"{name!r} is not a valid column name")
    if name == "id" or (name.startswith("_") and name != "_metadata"):
        raise api_error(ApiValueError, f"column name {name!r} is reserved")
