"""The API page's examples (examples/kinesis_*.py) run with ``import raystream as pw``.

Runs the same command the docs give, ``python examples/kinesis_examples.py``:
it starts its own kinesalite (the examples use the fixed stream names
``testing`` and ``other``) and one Ray whose workers run in the examples'
directory, runs every example as its own process and checks its output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kinesis

ROOT = Path(__file__).resolve().parent.parent


def test_seed_page_examples_run_against_kinesalite():
    done = subprocess.run([sys.executable, "examples/kinesis_examples.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if not line.startswith("[rs-")]
    assert lines[-1] == "all Kinesis examples ran and their outputs are as the page describes"
    assert "kinesis_read.py again: only the new record" in done.stdout
