"""raystream: Pathway-style streaming tables on a Ray actor runtime.

Use it as ``import raystream as pw``.

The public names are loaded on first use (PEP 562): ``pw.Table``, ``pw.io`` or
``from raystream import Table`` import :mod:`raystream._api` once, which
imports them all. Ray actor processes import only ``raystream.actors`` and
``raystream.connectors`` and so never load the table API, pandas or the
connectors' Python front ends.
"""

# ruff: noqa: F405 - __all__ names come from raystream._api (star-imported for type checkers)

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raystream._api import *  # noqa: F403
    from raystream._api import debug, io, persistence, reducers, udfs, universes  # noqa: F401

__all__ = [
    "ApiTypeError", "ApiValueError", "ColumnExpression", "ColumnReference", "DateTimeNaive",
    "DateTimeUtc", "Duration", "GroupedTable", "Json", "MonitoringLevel", "PersistenceMode",
    "Pointer", "RaystreamError", "Schema", "Table", "apply", "apply_with_type", "cast",
    "coalesce", "column_definition", "debug", "global_error_log", "if_else", "io",
    "persistence", "reducers", "run", "run_all", "schema_from_dict", "schema_from_types",
    "this", "udf", "unwrap", "UDF", "apply_async", "BaseCustomAccumulator",
    "assert_table_has_schema", "fill_error", "require", "schema_builder", "table_transformer",
    "ref_scalar", "make_tuple", "udfs", "universes",
]

_SUBMODULES = frozenset({"debug", "io", "persistence", "reducers", "udfs", "universes"})
_loading = False


def __getattr__(name: str) -> Any:
    """Loads the public API on the first access of one of its names."""
    global _loading
    if name in _SUBMODULES:  # ``from raystream import universes`` inside the package
        return importlib.import_module(f"raystream.{name}")
    if name not in __all__ or _loading:
        # Not ours, or asked while the API loads: the import system then
        # imports ``raystream.<name>`` as a submodule (``from raystream import dtypes``).
        raise AttributeError(f"module 'raystream' has no attribute {name!r}")
    _loading = True
    try:
        api = importlib.import_module("raystream._api")
    finally:
        _loading = False
    globals().update({public: getattr(api, public) for public in __all__})
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(__all__)
