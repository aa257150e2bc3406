"""Restart after a crash: the driver is SIGKILLed mid-stream with its whole process group and
started again on the same persistence storage; the output is exactly the uninterrupted one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.driver_process import DriverProcess
from tests.recovery_helpers import changelog, fold, negative_folds, repeated_changes, wait_until

COLUMNS = ["key", "value", "label"]


def _write(directory: Path, name: str, rows: list[tuple[int, int]]) -> None:
    text = "".join(json.dumps({"key": k, "value": v, "label": f"v{v}"}) + "\n" for k, v in rows)
    (directory / name).write_text(text)


def _manifests(storage: Path) -> int:
    return len(list(storage.glob("*/manifests/*.json")))


def test_a_crashed_upsert_pipeline_restarts_from_its_checkpoint_exactly(tmp_path) -> None:
    source, storage = tmp_path / "in", tmp_path / "pstorage"
    source.mkdir()
    out = tmp_path / "out.jsonl"
    latest: dict[int, int] = {}
    batches = [[(k, 1) for k in range(200)],
               [(k, 2) for k in range(0, 200, 2)],
               [(k, 3) for k in range(0, 200, 3)] + [(k, 4) for k in range(200, 260)]]
    args = [str(source), str(out), str(storage)]
    first = DriverProcess("tests.pipelines.files_upsert", args, tmp_path / "first.log")
    try:
        _write(source, "a.jsonl", batches[0])
        wait_until(lambda: first.running() and len(changelog(out)) >= 200
                   and _manifests(storage) >= 1, 180,
                   lambda: f"the first run's output and checkpoints ({first.output()[-2000:]})")
        _write(source, "b.jsonl", batches[1])
        wait_until(lambda: first.running() and len(changelog(out)) > 200, 60,
                   "output of the second file")
    finally:
        first.crash()
    written_before = len(changelog(out))
    _write(source, "c.jsonl", batches[2])
    for batch in batches:
        latest.update(batch)
    expected = Counter({(k, v, f"v{v}"): 1 for k, v in latest.items()})
    second = DriverProcess("tests.pipelines.files_upsert", args, tmp_path / "second.log")
    try:
        wait_until(lambda: second.running() and fold(changelog(out), COLUMNS) == expected, 240,
                   lambda: f"the exact output after the restart ({second.output()[-3000:]})")
        assert "restored checkpoint" in second.output()
    finally:
        code = second.stop()
    rows = changelog(out)
    assert code == 0, second.output()[-3000:]
    assert fold(rows, COLUMNS) == expected
    assert repeated_changes(rows, COLUMNS) == []
    assert negative_folds(rows, COLUMNS) == []
    assert written_before > 200
    assert out.read_text().endswith("\n")  # no torn line
