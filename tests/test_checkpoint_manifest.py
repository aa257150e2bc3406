"""Checkpoint layout, manifest and retention: atomicity, retention and clear errors (no Ray)."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pytest
from raystream.actors.checkpoint import (
    CheckpointCorrupt,
    CheckpointMissing,
    CheckpointStore,
    Manifest,
    StructureChanged,
    check_structure,
    ipc_codec,
    ipc_to_table,
    table_to_ipc,
)
from raystream.connectors.checkpoint_storage import (
    CheckpointStorage,
    FilesystemStorage,
    MemoryStorage,
    StorageUnwritable,
)

STRUCTURE = {
    "source:words": {"kind": "reader", "name": "words", "schema": {"word": "str"},
                     "parallelism": 2},
    "reduce:counts": {"kind": "reduce", "name": "counts",
                      "schema": {"word": "str", "count": "int"}, "parallelism": 4},
}


@pytest.fixture(params=["filesystem", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> CheckpointStorage:
    return FilesystemStorage(tmp_path / "pstorage") if request.param == "filesystem" \
        else MemoryStorage()


def checkpoint(store: CheckpointStore, k: int, parts: Iterable[str] = ("reduce/kg-0",),
               commit: bool = True) -> Manifest:
    refs = [store.write_part(k, name, f"{name} of {k}".encode()) for name in parts]
    manifest = Manifest(store.pipeline_id, k, frontier=100 * k, clock=100 * k + 2,
                        structure=STRUCTURE, positions={"source:words": {"0": {"offset": k}}},
                        parts=refs, sinks={"out": {"last_time": 100 * k - 2}},
                        extra={"note": [1, 2.5, None, True]})
    if commit:
        store.commit(manifest)
    return manifest


def files(storage: CheckpointStorage) -> dict[str, bytes]:
    return {path: storage.read(path) for path in storage.list("")}


# --- manifest ------------------------------------------------------------------------------

def test_manifest_round_trips_through_json(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    manifest = checkpoint(store, 1, ["reduce/kg-0", "reduce/kg-1", "sink/out"])
    assert Manifest.from_json(manifest.to_json(), "x") == manifest
    assert store.latest() == manifest
    assert manifest.part("sink/out").path == "wc/chk-000000000001/sink/out"
    with pytest.raises(KeyError, match="no part 'nope'"):
        manifest.part("nope")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("positions", {"s": {0: {"offset": 1}}}, "JSON keys must be str"),
    ("extra", {"t": (1, 2)}, "use a list"),
    ("extra", {"f": float("nan")}, "JSON cannot hold"),
    ("sinks", {"s": object()}, "not a JSON value"),
    ("positions", {"s": [1]}, "dict of partition"),
])
def test_manifest_refuses_values_that_do_not_round_trip(field: str, value: object,
                                                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Manifest("wc", 1, frontier=0, clock=0, **{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        Manifest("wc", 0, frontier=0, clock=0)
    with pytest.raises(ValueError, match="frontier must be an int"):
        Manifest("wc", 1, frontier=1.5, clock=0)  # type: ignore[arg-type]


# --- atomicity and retention ---------------------------------------------------------------

def test_a_crash_before_the_manifest_leaves_the_previous_checkpoint(
        storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    first = checkpoint(store, 1)
    checkpoint(store, 2, ["reduce/kg-0", "reduce/kg-1"], commit=False)
    assert store.latest() == first
    assert store.complete() == [1]
    again = CheckpointStore(storage, "wc")
    assert again.latest() == first


def test_a_crash_while_writing_the_manifest_leaves_the_previous_checkpoint(
        tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    store = CheckpointStore(storage, "wc")
    first = checkpoint(store, 1)
    second = checkpoint(store, 2, commit=False)
    temp = tmp_path / "wc" / "manifests" / ".000000000002.json.tmp-0123456789ab"
    temp.write_bytes(second.to_json()[:40])
    assert store.latest() == first


def test_retention_keeps_the_three_newest_and_spares_parts_in_progress(
        storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    for k in (1, 2, 3):
        checkpoint(store, k)
    checkpoint(store, 4, ["abandoned"], commit=False)
    checkpoint(store, 5)
    checkpoint(store, 7, ["in-progress"], commit=False)
    deleted = store.commit(checkpoint(store, 6, commit=False))
    assert store.complete() == [3, 5, 6]
    assert deleted == ["wc/manifests/000000000002.json", "wc/chk-000000000002/reduce/kg-0"]
    assert storage.list("wc/manifests/") == [store.manifest_path(k) for k in (3, 5, 6)]
    assert storage.list("wc/chk-") == ["wc/chk-000000000003/reduce/kg-0",
                                       "wc/chk-000000000005/reduce/kg-0",
                                       "wc/chk-000000000006/reduce/kg-0",
                                       "wc/chk-000000000007/in-progress"]
    assert store.latest() == store.manifest(6)
    assert store.read_part(store.manifest(3).parts[0]) == b"reduce/kg-0 of 3"


def test_retention_leaves_other_pipelines_alone(storage: CheckpointStorage) -> None:
    ours, theirs = CheckpointStore(storage, "wc", keep=1), CheckpointStore(storage, "other")
    checkpoint(theirs, 1)
    for k in (1, 2, 3):
        checkpoint(ours, k)
    assert ours.complete() == [3] and theirs.complete() == [1]
    assert storage.list("other/") == ["other/chk-000000000001/reduce/kg-0",
                                      "other/manifests/000000000001.json"]


def test_pipeline_ids_and_stray_files_do_not_confuse_the_layout(
        storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "chk-000000000009", keep=1)
    for k in (1, 2):
        checkpoint(store, k)
    storage.write("chk-000000000009/manifests/notes.txt", b"a user's file")
    storage.write("chk-000000000009/manifests/000000000007.json.bak", b"{}")
    assert store.complete() == [2]
    assert storage.list("chk-000000000009/chk-") == ["chk-000000000009/chk-000000000002/"
                                                     "reduce/kg-0"]
    assert store.latest() == store.manifest(2)


def test_a_failed_retention_is_logged_and_the_checkpoint_stays_complete(
        caplog: pytest.LogCaptureFixture) -> None:
    class NoDelete(MemoryStorage):
        def delete(self, paths: Iterable[str]) -> None:
            if list(paths):
                raise StorageUnwritable("memory:wc", "read-only")

    store = CheckpointStore(NoDelete(), "wc", keep=1)
    checkpoint(store, 1)
    with caplog.at_level(logging.WARNING, logger="raystream"):
        checkpoint(store, 2)
    assert store.complete() == [1, 2] and store.latest() == store.manifest(2)
    assert "retention failed" in caplog.text and "read-only" in caplog.text


def test_commit_refuses_bad_manifests_and_writes_nothing(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    checkpoint(store, 2)
    before = files(storage)
    with pytest.raises(ValueError, match="not above the newest complete one"):
        store.commit(checkpoint(store, 2, ["x"], commit=False))
    with pytest.raises(ValueError, match="pipeline 'other'"):
        store.commit(Manifest("other", 3, frontier=0, clock=0))
    outside = store.write_part(2, "elsewhere", b"1")
    with pytest.raises(ValueError, match="outside its folder"):
        store.commit(Manifest("wc", 3, frontier=0, clock=0, parts=[outside]))
    ghost = store.write_part(3, "ghost", b"1")
    storage.delete([ghost.path])
    with pytest.raises(CheckpointMissing) as info:
        store.commit(Manifest("wc", 3, frontier=0, clock=0, parts=[ghost]))
    assert storage.location(ghost.path) in str(info.value)
    assert store.complete() == [2]
    assert {p: d for p, d in files(storage).items() if p in before} == before


# --- errors: name the file, delete nothing -------------------------------------------------

def test_truncated_manifest_is_corrupt_and_nothing_is_deleted(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    checkpoint(store, 1)
    second = checkpoint(store, 2)
    storage.write(store.manifest_path(2), second.to_json()[:-30])
    before = files(storage)
    with pytest.raises(CheckpointCorrupt) as info:
        store.latest()
    assert info.value.location == storage.location("wc/manifests/000000000002.json")
    assert "not valid JSON" in str(info.value) and info.value.location in str(info.value)
    assert files(storage) == before


def test_edited_manifest_fails_its_checksum(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    data = checkpoint(store, 1).to_json()
    storage.write(store.manifest_path(1), data.replace(b'"frontier": 100', b'"frontier": 900'))
    with pytest.raises(CheckpointCorrupt, match="fails its checksum") as info:
        store.latest()
    assert storage.location(store.manifest_path(1)) in str(info.value)


def test_manifest_of_another_number_is_corrupt(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    storage.write(store.manifest_path(5), checkpoint(store, 1).to_json())
    with pytest.raises(CheckpointCorrupt, match="holds checkpoint 1 of pipeline 'wc', "
                                                "expected 5"):
        store.latest()


def test_flipped_byte_or_truncated_part_is_corrupt(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    ref = checkpoint(store, 1).parts[0]
    data = storage.read(ref.path)
    storage.write(ref.path, bytes([data[0] ^ 0x01]) + data[1:])
    with pytest.raises(CheckpointCorrupt, match="fails its checksum") as info:
        store.read_part(ref)
    assert info.value.location == storage.location(ref.path)
    storage.write(ref.path, data[:-3])
    with pytest.raises(CheckpointCorrupt, match="has 13 bytes, the manifest says 16"):
        store.read_part(ref)
    assert storage.list("wc/manifests/") == ["wc/manifests/000000000001.json"]


def test_missing_part_is_named_and_never_a_silent_fallback(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    checkpoint(store, 1)
    ref = checkpoint(store, 2, ["reduce/kg-0", "reduce/kg-1"]).part("reduce/kg-1")
    storage.delete([ref.path])
    before = files(storage)
    with pytest.raises(CheckpointMissing) as info:
        store.latest()
    assert info.value.location == storage.location(ref.path)
    assert "'reduce/kg-1' of checkpoint 2 is missing" in str(info.value)
    assert storage.location(store.manifest_path(2)) in str(info.value)
    with pytest.raises(CheckpointMissing, match="is missing"):
        store.read_part(ref)
    assert files(storage) == before
    assert store.complete() == [1, 2]


def test_structure_change_says_what_changed(storage: CheckpointStorage) -> None:
    store = CheckpointStore(storage, "wc")
    manifest = checkpoint(store, 1)
    store.check_structure(manifest, STRUCTURE)
    rescaled = {key: {**value, "parallelism": 8} for key, value in STRUCTURE.items()}
    store.check_structure(manifest, rescaled)
    changed = {
        "source:words": STRUCTURE["source:words"],
        "reduce:counts": {**STRUCTURE["reduce:counts"], "schema": {"word": "str", "n": "int"}},
        "sink:out": {"kind": "sink", "name": "out"},
    }
    with pytest.raises(StructureChanged) as info:
        store.check_structure(manifest, changed)
    message = str(info.value)
    assert storage.location(store.manifest_path(1)) in message
    assert "stages added: sink:out" in message
    assert ('stage reduce:counts: schema was {"count": "int", "word": "str"}, '
            'now {"n": "int", "word": "str"}') in message
    del changed["source:words"]
    with pytest.raises(StructureChanged, match="stages removed: source:words"):
        check_structure(manifest, changed)
    with pytest.raises(StructureChanged, match="parallelism was 4, now 8"):
        check_structure(manifest, rescaled, ignore=())
    assert store.complete() == [1]


def test_unwritable_storage_raises_naming_the_file_and_deletes_nothing(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    store = CheckpointStore(FilesystemStorage(tmp_path / "afile" / "ps"), "wc")
    with pytest.raises(StorageUnwritable) as info:
        store.write_part(1, "reduce/kg-0", b"state")
    assert str(tmp_path / "afile" / "ps" / "wc" / "chk-000000000001" / "reduce" / "kg-0") \
        in str(info.value)
    assert (tmp_path / "afile").read_text() == "x"


def test_checkpoint_errors_survive_pickling() -> None:
    for error in (CheckpointCorrupt("/m.json", "bad"), CheckpointMissing("/p", "gone"),
                  StructureChanged("/m.json", "changed")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)


# --- Arrow IPC -----------------------------------------------------------------------------

def test_ipc_round_trip_is_exact_and_compressed() -> None:
    table = pa.table({
        "_key": pa.array(range(10_000), pa.uint64()),
        "word": pa.array([f"w{i % 7}" for i in range(10_000)]),
        "count": pa.array([i if i % 3 else None for i in range(10_000)], pa.int64()),
        "share": pa.array([i / 7 for i in range(10_000)]),
    })
    data = table_to_ipc(table)
    assert ipc_to_table(data).equals(table)
    assert ipc_codec() in ("zstd", "lz4")
    assert len(data) < table.nbytes / 2
    batch = table.to_batches()[0]
    assert ipc_to_table(table_to_ipc(batch)).equals(pa.Table.from_batches([batch]))
    empty = table.schema.empty_table()
    assert ipc_to_table(table_to_ipc(empty)).equals(empty)


@pytest.mark.parametrize("garbage", [b"", b"not arrow at all", b"\xff\xff\xff\xff" * 8])
def test_ipc_garbage_is_corrupt(garbage: bytes) -> None:
    with pytest.raises(CheckpointCorrupt, match="not a valid Arrow IPC stream") as info:
        ipc_to_table(garbage, "/ps/wc/chk-000000000001/reduce/kg-0")
    assert "/ps/wc/chk-000000000001/reduce/kg-0" in str(info.value)


def test_truncated_ipc_is_corrupt() -> None:
    data = table_to_ipc(pa.table({"a": list(range(1000))}))
    with pytest.raises(CheckpointCorrupt):
        ipc_to_table(data[: len(data) // 2], "part")
