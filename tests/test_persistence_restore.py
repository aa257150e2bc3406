"""Restoring persisted checkpoints: into another parallelism, from S3, and clear errors when
the state is corrupt, missing, from another pipeline, or the storage cannot be written."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from raystream.actors.checkpoint_manifest import (
    CheckpointCorrupt,
    CheckpointMissing,
    StructureChanged,
)
from raystream.connectors.checkpoint_storage import StorageUnwritable

import raystream as pw
from raystream.graph import G
from tests.recovery_helpers import changelog, fold, negative_folds, repeated_changes
from tests.test_checkpoint_storage import new_bucket

pytestmark = pytest.mark.usefixtures("ray_session")

COLUMNS = ["k", "s", "n"]


class Event(pw.Schema):
    k: int
    v: int


def _write(path: Path, start: int, count: int) -> None:
    path.write_text("".join(json.dumps({"k": i % 13, "v": i}) + "\n"
                            for i in range(start, start + count)))


def _expected(total: int) -> Counter:
    sums: Counter = Counter()
    counts: Counter = Counter()
    for i in range(total):
        sums[i % 13] += i
        counts[i % 13] += 1
    return Counter({(k, sums[k], counts[k]): 1 for k in sums})


def _run(source: Path, out: Path, config: pw.persistence.Config, parallelism: int = 2,
         extra_column: bool = False) -> None:
    G.clear()
    t = pw.io.jsonlines.read(source, schema=Event, mode="static", autocommit_duration_ms=50,
                             max_batch_rows=100)
    outputs = {"s": pw.reducers.sum(t.v), "n": pw.reducers.count()}
    if extra_column:
        outputs["m"] = pw.reducers.max(t.v)
    pw.io.jsonlines.write(t.groupby(t.k).reduce(t.k, **outputs), out)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, persistence_config=config,
           reduce_parallelism=parallelism)


def _config(storage: Path) -> pw.persistence.Config:
    return pw.persistence.Config(pw.persistence.Backend.filesystem(storage))


def test_a_checkpoint_of_two_reduce_actors_restores_into_three_and_into_one(tmp_path) -> None:
    source, out, storage = tmp_path / "in", tmp_path / "out.jsonl", tmp_path / "pstorage"
    source.mkdir()
    _write(source / "a.jsonl", 0, 1000)
    _run(source, out, _config(storage), parallelism=2)
    assert fold(changelog(out), COLUMNS) == _expected(1000)
    _write(source / "b.jsonl", 1000, 700)
    _run(source, out, _config(storage), parallelism=3)  # static: reads what is new, ends
    assert fold(changelog(out), COLUMNS) == _expected(1700)
    _write(source / "c.jsonl", 1700, 300)
    _run(source, out, _config(storage), parallelism=1)
    rows = changelog(out)
    assert fold(rows, COLUMNS) == _expected(2000)
    assert repeated_changes(rows, COLUMNS) == [] and negative_folds(rows, COLUMNS) == []


def test_a_rerun_of_a_finished_pipeline_writes_nothing_new(tmp_path) -> None:
    source, out, storage = tmp_path / "in", tmp_path / "out.jsonl", tmp_path / "pstorage"
    source.mkdir()
    _write(source / "a.jsonl", 0, 500)
    _run(source, out, _config(storage))
    before = out.read_text()
    _run(source, out, _config(storage))
    assert out.read_text() == before


def test_checkpoints_on_s3(tmp_path, moto_server) -> None:
    endpoint = moto_server.endpoint_url
    bucket = new_bucket(endpoint)
    settings = pw.io.s3.AwsS3Settings(bucket_name=bucket, access_key="test",
                                      secret_access_key="test", region="us-east-1",
                                      endpoint=endpoint, with_path_style=True)
    config = pw.persistence.Config(pw.persistence.Backend.s3("checkpoints/run", settings))
    source, out = tmp_path / "in", tmp_path / "out.jsonl"
    source.mkdir()
    _write(source / "a.jsonl", 0, 400)
    _run(source, out, config)
    _write(source / "b.jsonl", 400, 400)
    _run(source, out, config)
    assert fold(changelog(out), COLUMNS) == _expected(800)


def _newest_manifest(storage: Path) -> Path:
    return sorted(storage.glob("*/manifests/*.json"))[-1]


def test_a_corrupt_manifest_is_an_error_naming_it_and_nothing_is_deleted(tmp_path) -> None:
    source, out, storage = tmp_path / "in", tmp_path / "out.jsonl", tmp_path / "pstorage"
    source.mkdir()
    _write(source / "a.jsonl", 0, 300)
    _run(source, out, _config(storage))
    manifest = _newest_manifest(storage)
    manifest.write_bytes(manifest.read_bytes()[:-20])  # truncated
    files = sorted(p for p in storage.rglob("*") if p.is_file())
    with pytest.raises(CheckpointCorrupt) as info:
        _run(source, out, _config(storage))
    assert str(manifest) in str(info.value)
    assert sorted(p for p in storage.rglob("*") if p.is_file()) == files


def test_a_missing_part_is_an_error_naming_it(tmp_path) -> None:
    source, out, storage = tmp_path / "in", tmp_path / "out.jsonl", tmp_path / "pstorage"
    source.mkdir()
    _write(source / "a.jsonl", 0, 300)
    _run(source, out, _config(storage))
    newest = _newest_manifest(storage)
    part = sorted(newest.parent.parent.glob(f"chk-{newest.stem}/**/*.arrow"))[0]
    part.unlink()
    with pytest.raises((CheckpointMissing, CheckpointCorrupt)) as info:
        _run(source, out, _config(storage))
    assert part.name in str(info.value)


def test_a_changed_pipeline_is_an_error_saying_what_changed(tmp_path) -> None:
    source, out, storage = tmp_path / "in", tmp_path / "out.jsonl", tmp_path / "pstorage"
    source.mkdir()
    _write(source / "a.jsonl", 0, 300)
    _run(source, out, _config(storage))
    with pytest.raises(StructureChanged) as info:
        _run(source, out, _config(storage), extra_column=True)
    assert "changed" in str(info.value) and "stage" in str(info.value)


def test_storage_that_cannot_be_written_fails_at_start(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    source, out = tmp_path / "in", tmp_path / "out.jsonl"
    source.mkdir()
    _write(source / "a.jsonl", 0, 10)
    with pytest.raises(StorageUnwritable) as info:
        _run(source, out, _config(blocker / "pstorage"))
    assert str(blocker) in str(info.value)
