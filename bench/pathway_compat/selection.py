"""Which of Pathway's tests measure raystream: deselects tests of features it lacks.

A test is deselected when its name or its code (including module-level helper
functions it calls, transitively) uses a feature raystream does not have:
joins, ``ix``/``ix_ref``, ``pw.iterate``, ``sort``, ``deduplicate``, windows,
temporal operators, connectors other than debug/csv/jsonlines/subscribe/null,
async transformers, ``pw.demo`` and persistence.

Usage: ``python3 selection.py TEST_DIR FILE...`` prints the deselection as JSON
(``{file: {test_function: reason}}``).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

TEST_FILES = ("test_common.py", "test_reducers.py", "test_flatten.py", "test_udf.py",
              "expressions/test_string.py", "expressions/test_numerical.py")
"""Pathway's tests of select, filter, with_columns, groupby/reduce, reducers, strings,
numbers, flatten and UDFs (paths under ``pathway/tests``)."""

NAME_RULES: tuple[tuple[str, str], ...] = (
    ("join", r"join"),
    ("ix", r"(^|_)ix(_|$)|ixref|ix_ref"),
    ("iterate", r"iterate|iteration|fixpoint"),
    ("deduplicate", r"deduplicate"),
    ("windows", r"window"),
    ("temporal", r"temporal|asof|interval"),
    ("persistence", r"persisten|disk_cache|cache_directory"),
)
"""(reason, regex on the test function name): the ``-k`` part of the selection."""

_METHOD_REASONS = {
    "join": "join", "join_inner": "join", "join_left": "join", "join_right": "join",
    "join_outer": "join", "ix": "ix", "ix_ref": "ix", "iterate": "iterate", "sort": "sort",
    "deduplicate": "deduplicate", "windowby": "windows", "asof_join": "temporal",
    "asof_now_join": "temporal", "interval_join": "temporal", "window_join": "windows",
}
_PW_MODULE_REASONS = {"temporal": "temporal", "demo": "demo", "persistence": "persistence",
                      "AsyncTransformer": "async transformer", "iterate": "iterate"}
_ALLOWED_IO = {"csv", "jsonlines", "subscribe", "null", "OnChangeCallback"}
_NAME_REASONS = {"persistence_config": "persistence", "PersistenceMode": "persistence",
                 "DiskCache": "persistence", "AsyncTransformer": "async transformer"}


def _attribute_path(node: ast.AST) -> list[str]:
    """``pw.io.kafka.read`` -> ``["pw", "io", "kafka", "read"]`` (empty if not a dotted name)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return []


def _is_table_call(call: ast.Call) -> bool:
    """False for ``", ".join(x)``, ``process.join()``, ``values.sort(key=lambda ...)``."""
    func = call.func
    assert isinstance(func, ast.Attribute)
    if isinstance(func.value, ast.Constant):
        return False
    if func.attr in ("join", "sort"):
        keys = [k.value for k in call.keywords if k.arg == "key"]
        return bool(call.args) or any(not isinstance(k, ast.Lambda) for k in keys)
    return True


def _node_reason(node: ast.AST) -> str | None:
    """The missing feature one AST node uses, if any."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        method = node.func.attr
        if method in _METHOD_REASONS and _is_table_call(node):
            return _METHOD_REASONS[method]
    if isinstance(node, ast.Attribute):
        path = _attribute_path(node)
        if len(path) >= 2 and path[0] == "pw" and path[1] in _PW_MODULE_REASONS:
            return _PW_MODULE_REASONS[path[1]]
        if len(path) >= 3 and path[:2] == ["pw", "io"] and path[2] not in _ALLOWED_IO:
            return f"connector pw.io.{path[2]}"
        if node.attr in _NAME_REASONS:
            return _NAME_REASONS[node.attr]
    if isinstance(node, ast.Name) and node.id in _NAME_REASONS:
        return _NAME_REASONS[node.id]
    if isinstance(node, ast.keyword) and node.arg in _NAME_REASONS:
        return _NAME_REASONS[node.arg]
    return None


def _function_reason(func: ast.AST, helpers: dict[str, ast.AST], seen: set[str]) -> str | None:
    """The first missing feature ``func``'s code uses, following module-level helpers."""
    for node in ast.walk(func):
        reason = _node_reason(node)
        if reason:
            return reason
        if isinstance(node, ast.Name) and node.id in helpers and node.id not in seen:
            seen.add(node.id)
            reason = _function_reason(helpers[node.id], helpers, seen)
            if reason:
                return reason
    return None


def file_deselection(path: Path) -> dict[str, str]:
    """``{test_function: reason}`` for the tests of one file that use a missing feature."""
    tree = ast.parse(path.read_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    helpers = {f.name: f for f in functions if not f.name.startswith("test_")}
    out: dict[str, str] = {}
    for func in functions:
        if not func.name.startswith("test_"):
            continue
        reason = next((r for r, pattern in NAME_RULES if re.search(pattern, func.name)), None)
        reason = reason or _function_reason(func, helpers, set())
        if reason:
            out[func.name] = reason
    return out


def deselection(test_dir: Path, files: tuple[str, ...] = TEST_FILES) -> dict[str, dict[str, str]]:
    """``{file: {test_function: reason}}`` for every selected file under ``test_dir``."""
    return {name: file_deselection(test_dir / name) for name in files}


if __name__ == "__main__":
    root = Path(sys.argv[1])
    print(json.dumps(deselection(root, tuple(sys.argv[2:]) or TEST_FILES), indent=1))
