"""examples/kafka_realtime_sum.py: the tutorial runs by one command, to the final sum."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.services._proc import REPO_ROOT

pytestmark = [pytest.mark.kafka]


def test_realtime_sum_example_reaches_the_final_sum() -> None:
    result = subprocess.run(
        [sys.executable, "examples/kafka_realtime_sum.py", "--generator-interval", "0.3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    sums = [line for line in result.stdout.splitlines() if line.startswith("sum topic:")]
    assert sums and "'sum': 45, " in sums[-1] and "'diff': 1" in sums[-1], output[-3000:]
    assert "final sum 45 reached" in result.stdout
    assert "stopped cleanly" in output
