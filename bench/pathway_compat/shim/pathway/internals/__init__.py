"""The few ``pathway.internals`` names the selected tests import, as aliases of raystream's.

Pathway's test files import these at module level; without them a whole file
would fail to import and measure nothing. Each is raystream's equivalent, or an
adapter of one line onto raystream's public API. A name raystream has no
equivalent of is absent: ``api.EngineError`` raises AttributeError in the tests
that use it, and only there.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import raystream
from raystream import udf_executors


def empty_from_schema(schema: Any) -> raystream.Table:
    """Pathway's ``table_io.empty_from_schema``: raystream's empty table of ``schema``."""
    return raystream.debug.table_from_rows(schema, [])


@contextlib.contextmanager
def new_event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Pathway's test helper: an event loop running in another thread meanwhile (asyncio only)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


ALIASES: dict[str, str] = {
    "dtype": "raystream.dtypes",
    "parse_graph": "raystream.graph",  # G and warn_if_some_operators_unused
    "shadows.operator": "operator",  # Pathway's shadow of the operator module
    "udfs.executors": "raystream.udf_executors",
}
"""``pathway.internals.<name>`` -> the module it is."""

NAMESPACES: dict[str, dict[str, Any]] = {
    "api": {"ref_scalar": raystream.ref_scalar, "Pointer": raystream.Pointer,
            "PersistenceMode": raystream.PersistenceMode},
    "graph_runner": {},
    "graph_runner.async_utils": {"new_event_loop": new_event_loop},
    "shadows": {},
    "table_io": {"empty_from_schema": empty_from_schema},
    "udfs": {"__getattr__": lambda name: getattr(raystream.udfs, name)},
    "udfs.utils": {"_run_async": udf_executors.run_coroutine},
}
"""``pathway.internals.<name>`` -> the names a new module of that name holds."""


def _install() -> None:
    modules: dict[str, ModuleType] = {}
    for name, attributes in NAMESPACES.items():
        module = ModuleType(f"{__name__}.{name}")
        module.__dict__.update(attributes)
        modules[name] = module
    for name, target in ALIASES.items():
        modules[name] = importlib.import_module(target)
    for name in sorted(modules):  # parents first
        sys.modules[f"{__name__}.{name}"] = modules[name]
        parent, _, child = name.rpartition(".")
        setattr(modules[parent] if parent else sys.modules[__name__], child, modules[name])


_install()
