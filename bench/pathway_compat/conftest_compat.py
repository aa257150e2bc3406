"""pytest setup for Pathway's test files copied by ``run.py`` (installed there as conftest.py).

The same file serves both runs (``pathway`` = the raystream shim, or real Pathway):
the parse graph is cleared after each test as Pathway's conftest does, the
tests ``run.py`` deselected (``PW_COMPAT_DESELECT``: ``{file: {test: reason}}``)
are dropped and listed in ``PW_COMPAT_DESELECTED_OUT``, and each test gets
``PW_COMPAT_TIMEOUT`` seconds (SIGALRM) when pytest-timeout is not installed.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def parse_graph_teardown() -> Iterator[None]:
    """Forgets the tables and outputs a test defined (``parse_graph.G.clear()``)."""
    yield
    from pathway.internals import parse_graph

    parse_graph.G.clear()


@pytest.fixture(autouse=True)
def local_pathway_config() -> Iterator[None]:
    """Real Pathway only: its per-test config context (the shim has no ``config``)."""
    try:
        from pathway.internals import config
    except ImportError:
        yield
        return
    with config.local_pathway_config():
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drops the deselected tests (exact test function names, every parametrization)."""
    source = os.environ.get("PW_COMPAT_DESELECT")
    if not source:
        return
    deselect: dict[str, dict[str, str]] = json.loads(Path(source).read_text())
    keep, drop, reasons = [], [], {}
    for item in items:
        file = item.path.relative_to(config.rootpath).as_posix()
        reason = deselect.get(file, {}).get(getattr(item, "originalname", item.name))
        if reason:
            drop.append(item)
            reasons[item.nodeid] = reason
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    out = os.environ.get("PW_COMPAT_DESELECTED_OUT")
    if out:
        Path(out).write_text(json.dumps(reasons, indent=1))


def _alarm(signum: int, frame: Any) -> None:
    raise TimeoutError(f"test took longer than {os.environ.get('PW_COMPAT_TIMEOUT')} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Per-test time limit by SIGALRM, unless pytest-timeout does it."""
    seconds = int(os.environ.get("PW_COMPAT_TIMEOUT", "0"))
    if not seconds or item.config.pluginmanager.hasplugin("timeout"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
