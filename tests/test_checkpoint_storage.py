"""Checkpoint storage: one contract for the filesystem, memory and S3 (moto server) backends."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from raystream.connectors.checkpoint_storage import (
    CheckpointStorage,
    FilesystemStorage,
    MemoryStorage,
    S3Credentials,
    S3Storage,
    StorageError,
    StorageMissing,
    StorageUnwritable,
)

REGION = "us-east-1"
CREDENTIALS = S3Credentials("testing", "hush-secret", "hush-token")


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def new_bucket(endpoint: str) -> str:
    bucket = f"rs-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def s3_storage(endpoint: str, bucket: str, root: str = "ckpt/run") -> S3Storage:
    return S3Storage(bucket, root, endpoint=endpoint, credentials=CREDENTIALS, region=REGION,
                     path_style=True)


@pytest.fixture(params=["filesystem", "memory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CheckpointStorage]:
    if request.param == "filesystem":
        yield FilesystemStorage(tmp_path / "root")
    elif request.param == "memory":
        yield MemoryStorage()
    else:
        endpoint = request.getfixturevalue("moto_server").endpoint_url
        yield s3_storage(endpoint, new_bucket(endpoint))


# --- the contract, for every backend -------------------------------------------------------

def test_write_read_and_replace(storage: CheckpointStorage) -> None:
    storage.write("p/chk-000000000001/state.arrow", b"first")
    assert storage.read("p/chk-000000000001/state.arrow") == b"first"
    storage.write("p/chk-000000000001/state.arrow", b"second, longer")
    assert storage.read("p/chk-000000000001/state.arrow") == b"second, longer"
    storage.write("empty", b"")
    assert storage.read("empty") == b""


def test_missing_object_names_its_location(storage: CheckpointStorage) -> None:
    with pytest.raises(StorageMissing) as info:
        storage.read("p/manifests/000000000009.json")
    assert info.value.location == storage.location("p/manifests/000000000009.json")
    assert storage.location("p/manifests/000000000009.json") in str(info.value)


def test_list_is_recursive_sorted_and_by_prefix(storage: CheckpointStorage) -> None:
    paths = ["p/manifests/000000000002.json", "p/chk-000000000002/op/kg-1", "p/chk-000000000002/a",
             "p/manifests/000000000001.json", "q/other", "p/chk-000000000010/a"]
    for path in paths:
        storage.write(path, path.encode())
    assert storage.list("") == sorted(paths)
    assert storage.list("p/manifests/") == ["p/manifests/000000000001.json",
                                            "p/manifests/000000000002.json"]
    assert storage.list("p/chk-") == ["p/chk-000000000002/a", "p/chk-000000000002/op/kg-1",
                                      "p/chk-000000000010/a"]
    assert storage.list("p/chk-000000000002/") == ["p/chk-000000000002/a",
                                                   "p/chk-000000000002/op/kg-1"]
    assert storage.list("nothing/here/") == []
    assert storage.list("p/manifests/000000000001.json") == ["p/manifests/000000000001.json"]


def test_delete_ignores_missing_objects(storage: CheckpointStorage) -> None:
    storage.write("p/a/1", b"1")
    storage.write("p/a/2", b"2")
    storage.write("p/b", b"3")
    storage.delete(["p/a/1", "p/a/2", "p/never-written"])
    assert storage.list("") == ["p/b"]
    with pytest.raises(StorageMissing):
        storage.read("p/a/1")
    storage.delete([])


def test_probe_leaves_nothing_behind(storage: CheckpointStorage) -> None:
    storage.write("keep", b"x")
    storage.probe()
    assert storage.list("") == ["keep"]


@pytest.mark.parametrize("path", ["", "/abs", "a/../b", "a//b", "./a", "a/", "sp ace", "a\\b"])
def test_bad_paths_are_refused(storage: CheckpointStorage, path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        storage.write(path, b"x")


def test_errors_survive_pickling() -> None:
    for error in (StorageError("/x", "broken"), StorageMissing("s3://b/k", "no such object"),
                  StorageUnwritable("/y", "Permission denied")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.location, copy.reason, str(copy)) == (error.location, error.reason,
                                                           str(error))


# --- filesystem ----------------------------------------------------------------------------

def test_filesystem_locations_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = FilesystemStorage("pstorage")
    assert storage.location("p/x") == str(tmp_path / "pstorage" / "p" / "x")
    assert storage.location("") == str(tmp_path / "pstorage")
    copy = pickle.loads(pickle.dumps(storage))
    monkeypatch.chdir("/")
    copy.write("p/x", b"1")
    assert (tmp_path / "pstorage" / "p" / "x").read_bytes() == b"1"


def test_failed_rename_keeps_the_old_object_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write("p/m.json", b"old")

    def crash(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageUnwritable) as info:
        storage.write("p/m.json", b"new")
    assert str(tmp_path / "p" / "m.json") in str(info.value)
    assert "Input/output error" in str(info.value)
    monkeypatch.undo()
    assert storage.read("p/m.json") == b"old"
    assert os.listdir(tmp_path / "p") == ["m.json"]


def test_leftover_temp_files_of_a_crashed_writer_are_invisible(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write("p/manifests/000000000001.json", b"{}")
    (tmp_path / "p" / "manifests" / ".000000000002.json.tmp-0123456789ab").write_bytes(b"{\"k\"")
    assert storage.list("p/") == ["p/manifests/000000000001.json"]


def test_write_fsyncs_the_file_and_its_directory(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write("p/first", b"makes the folders")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    storage.write("p/second", b"data")
    assert synced == ["file", "dir"]


def test_a_killed_writer_leaves_the_whole_old_or_new_object(tmp_path: Path) -> None:
    """SIGKILL a process while it rewrites a 32 MB object: readers see old or new, whole."""
    old, new = b"o" * (32 << 20), b"n" * (32 << 20)
    storage = FilesystemStorage(tmp_path)
    storage.write("big", old)
    script = textwrap.dedent(f"""
        import sys
        from raystream.connectors.checkpoint_storage import FilesystemStorage
        storage = FilesystemStorage({str(tmp_path)!r})
        print("ready", flush=True)
        while True:
            storage.write("big", b"n" * (32 << 20))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert storage.read("big") in (old, new)
    assert storage.list("") == ["big"]


def test_a_path_under_a_file_is_unwritable_and_named(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    storage = FilesystemStorage(tmp_path / "afile" / "pstorage")
    with pytest.raises(StorageUnwritable) as info:
        storage.write("p/chk-000000000001/part", b"x")
    assert str(tmp_path / "afile" / "pstorage" / "p" / "chk-000000000001" / "part") \
        in str(info.value)
    assert "is a file, not a directory" in str(info.value)
    with pytest.raises(StorageUnwritable) as probe:
        storage.probe()
    assert probe.value.location == str(tmp_path / "afile" / "pstorage")
    assert "cannot store checkpoints" in str(probe.value)
    with pytest.raises(StorageError, match="cannot be listed"):
        storage.list("p/")
    assert (tmp_path / "afile").read_text() == "not a directory"


def test_reading_a_directory_is_an_error_not_missing(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write("p/x/y", b"1")
    with pytest.raises(StorageError) as info:
        storage.read("p/x")
    assert not isinstance(info.value, StorageMissing)
    assert str(tmp_path / "p" / "x") in str(info.value)


def test_delete_removes_emptied_folders_but_not_the_root(tmp_path: Path) -> None:
    storage = FilesystemStorage(tmp_path / "root")
    storage.write("p/chk-000000000001/op/kg-0", b"1")
    storage.write("p/manifests/000000000001.json", b"2")
    storage.delete(["p/chk-000000000001/op/kg-0"])
    assert sorted(os.listdir(tmp_path / "root" / "p")) == ["manifests"]
    storage.delete(["p/manifests/000000000001.json"])
    assert os.listdir(tmp_path / "root") == []


# --- memory --------------------------------------------------------------------------------

def test_memory_storage_copies_data_and_pickles_its_objects() -> None:
    storage = MemoryStorage()
    data = bytearray(b"abc")
    storage.write("a", data)
    data[0] = ord("z")
    assert storage.read("a") == b"abc"
    copy = pickle.loads(pickle.dumps(storage))
    copy.write("b", b"only in the copy")
    assert copy.list("") == ["a", "b"] and storage.list("") == ["a"]
    assert storage.location("a") == "memory:a"


# --- S3 (moto server) ----------------------------------------------------------------------

def test_s3_locations_and_keys(moto_server: Any) -> None:
    endpoint = moto_server.endpoint_url
    bucket = new_bucket(endpoint)
    storage = s3_storage(endpoint, bucket, "/ckpt/run/")
    storage.write("p/x", b"1")
    assert storage.location("p/x") == f"s3://{bucket}/ckpt/run/p/x"
    assert storage.location("") == f"s3://{bucket}/ckpt/run"
    keys = [o["Key"] for o in s3_client(endpoint).list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["ckpt/run/p/x"]
    top = s3_storage(endpoint, bucket, "")
    assert top.list("") == ["ckpt/run/p/x"] and top.location("a") == f"s3://{bucket}/a"


def test_s3_lists_and_deletes_across_pages(moto_server: Any) -> None:
    endpoint = moto_server.endpoint_url
    storage = s3_storage(endpoint, new_bucket(endpoint))
    storage.page_size, storage.delete_batch = 7, 4
    paths = [f"p/chk-000000000001/kg-{i:04d}" for i in range(23)]
    for path in paths:
        storage.write(path, b"x")
    storage.write("p/other", b"y")
    assert storage.list("p/chk-") == paths
    storage.delete(paths[:-1])
    assert storage.list("") == [paths[-1], "p/other"]


def test_s3_storage_pickles_without_its_client(moto_server: Any) -> None:
    endpoint = moto_server.endpoint_url
    storage = s3_storage(endpoint, new_bucket(endpoint))
    storage.write("a", b"1")
    copy = pickle.loads(pickle.dumps(storage))
    assert copy._client is None
    assert copy.read("a") == b"1"
    assert "hush" not in repr(storage) + repr(storage.credentials)


def test_s3_missing_bucket_is_unwritable_and_named(moto_server: Any) -> None:
    storage = s3_storage(moto_server.endpoint_url, f"rs-missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageUnwritable) as info:
        storage.write("p/x", b"1")
    assert f"s3://{storage.bucket}/ckpt/run/p/x" in str(info.value)
    assert "NoSuchBucket" in str(info.value)
    with pytest.raises(StorageUnwritable, match="cannot store checkpoints"):
        storage.probe()
    with pytest.raises(StorageMissing, match="no such bucket"):
        storage.read("p/x")
    with pytest.raises(StorageError, match="cannot be listed"):
        storage.list("p/")


def test_s3_backend_and_settings_from_the_public_api(moto_server: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import raystream as pw

    endpoint = moto_server.endpoint_url
    bucket = new_bucket(endpoint)
    settings = pw.io.s3.AwsS3Settings(bucket_name=bucket, access_key="testing",
                                      secret_access_key="testing", with_path_style=True,
                                      region=REGION, endpoint=endpoint)
    backend = pw.persistence.Backend.s3("pipelines/wordcount", settings)
    config = pw.persistence.Config(backend, snapshot_interval_ms=500)
    store = pickle.loads(pickle.dumps(config)).open_store("wc")
    store.storage.probe()
    store.storage.write("wc/chk-000000000001/x", b"1")
    assert s3_client(endpoint).get_object(
        Bucket=bucket, Key="pipelines/wordcount/wc/chk-000000000001/x")["Body"].read() == b"1"
    assert backend.location() == f"s3://{bucket}/pipelines/wordcount"

    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    found = pw.io.s3.AwsS3Settings.new_from_path(f"s3://{bucket}/some/prefix")
    assert (found.bucket_name, found.region) == (bucket, REGION)
    env_backend = pw.persistence.Backend.s3(f"s3://{bucket}/from-env", pw.io.s3.AwsS3Settings(
        with_path_style=True))
    env_backend.open().write("a", b"2")
    assert env_backend.open().read("a") == b"2"
    with pytest.raises(pw.ApiValueError, match="region lookup failed"):
        pw.io.s3.AwsS3Settings.new_from_path(f"s3://rs-missing-{uuid.uuid4().hex[:8]}/x")
