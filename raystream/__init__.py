"""raystream: Pathway-style streaming tables on a Ray actor runtime.

Use it as ``import raystream as pw``.

A user's process imports the whole public API here (:mod:`raystream._api`).
A Ray worker process does not: actors import only ``raystream.actors`` and
``raystream.connectors``, and loading the table API, the connectors' Python
front ends and their dependencies cost every actor process about 0.4 s of CPU
at start (on 2 cores, with 5 actors, a second before the first output). In a
worker the public names load on first use (PEP 562), e.g. when a UDF shipped to
an actor reads ``pw.this``.
"""

# ruff: noqa: F405 - __all__ names come from raystream._api (star-imported for type checkers)

from __future__ import annotations

import importlib
import os
import sys
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
    """Loads the public API on the first access of one of its names (Ray workers only)."""
    global _loading
    if name in _SUBMODULES:  # ``from raystream import universes`` in a worker
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


def _in_ray_worker() -> bool:
    """True in a process Ray started to run tasks and actors (not a driver)."""
    main = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    return os.path.basename(main) == "default_worker.py"


if not _in_ray_worker():
    __getattr__("Table")  # the whole API, at once
