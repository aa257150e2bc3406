"""``import pathway`` that is raystream: runs Pathway's own tests on raystream's public API.

Only for the compatibility check in ``bench/pathway_compat`` (put ``shim/`` first
on ``PYTHONPATH``). Every name is raystream's: ``from raystream import *``, any
other attribute is looked up on :mod:`raystream`, and ``pathway.<module>``
(``pathway.debug``, ``pathway.io.csv``...) is raystream's module of that name
where raystream has one. Nothing here implements a feature: what raystream
lacks fails in the test that uses it.
"""

# ruff: noqa: F403 - the point of this module is to re-export raystream

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType
from typing import Any

import raystream
from raystream import *

PUBLIC_SUBMODULES = ("debug", "demo", "io", "persistence", "reducers", "stdlib", "udfs",
                     "universes")
"""Pathway's public submodules; each one raystream has is aliased as ``pathway.<name>``."""


def _alias(name: str, module: ModuleType) -> None:
    sys.modules[f"{__name__}.{name}"] = module


def _alias_submodules() -> None:
    """``pathway.<name>`` (and ``pathway.io.<connector>``) = raystream's module of that name."""
    for name in PUBLIC_SUBMODULES:
        try:
            _alias(name, importlib.import_module(f"raystream.{name}"))
        except ModuleNotFoundError:
            continue  # raystream has no such module: ``import pathway.<name>`` fails
    io = importlib.import_module("raystream.io")
    for info in pkgutil.iter_modules(io.__path__):
        if not info.name.startswith("_"):
            _alias(f"io.{info.name}", importlib.import_module(f"raystream.io.{info.name}"))


def __getattr__(name: str) -> Any:
    """Any other ``pathway.<name>`` is ``raystream.<name>`` (AttributeError if missing)."""
    return getattr(raystream, name)


_alias_submodules()
