"""The code stays ruff- and mypy-clean (the style we committed to in DEVELOPERS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["raystream", "actors", "connectors"]
RUFF_ALSO = ["tests", "bench", "examples", "docs", "scripts"]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", *PACKAGES, *RUFF_ALSO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = run("mypy", *PACKAGES, "--explicit-package-bases")
    assert result.returncode == 0, result.stdout + result.stderr
