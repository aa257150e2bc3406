"""``pw.persistence`` and ``pw.io.s3.AwsS3Settings``: Pathway's API, checked at the user's line."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError
from raystream.actors.checkpoint import CheckpointStore, Manifest
from raystream.connectors.checkpoint_storage import FilesystemStorage, MemoryStorage, S3Storage

import raystream as pw

Backend, Config, Mode = pw.persistence.Backend, pw.persistence.Config, pw.PersistenceMode
HERE = "test_persistence_config.py"


def test_the_documented_config_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = pw.persistence.Config(pw.persistence.Backend.filesystem("./pstorage"),
                                   snapshot_interval_ms=1000)
    assert config.backend.kind == "filesystem"
    assert config.backend.path == str(tmp_path / "pstorage")
    assert config.snapshot_interval_ms == 1000 and config.snapshot_interval_s == 1.0
    assert config.persistence_mode is Mode.PERSISTING
    assert config.snapshot_access is pw.persistence.SnapshotAccess.FULL
    assert config.continue_after_replay is True
    assert pw.PersistenceMode is pw.persistence.PersistenceMode
    assert not (tmp_path / "pstorage").exists()


def test_config_defaults_operator_mode_and_pickling(tmp_path: Path) -> None:
    config = Config(Backend.filesystem(tmp_path), persistence_mode=Mode.OPERATOR_PERSISTING)
    assert config.snapshot_interval_ms == 0
    assert pickle.loads(pickle.dumps(config)) == config
    with pytest.raises(ValidationError, match="frozen"):
        config.snapshot_interval_ms = 5  # type: ignore[misc]


def test_open_store_writes_under_the_backend(tmp_path: Path) -> None:
    store = Config(Backend.filesystem(tmp_path / "ps")).open_store("wordcount")
    assert isinstance(store, CheckpointStore) and isinstance(store.storage, FilesystemStorage)
    ref = store.write_part(1, "reduce/kg-0", b"state")
    store.commit(Manifest("wordcount", 1, frontier=2, clock=4, parts=[ref]))
    assert (tmp_path / "ps" / "wordcount" / "manifests" / "000000000001.json").is_file()
    assert store.read_part(store.latest().parts[0]) == b"state"  # type: ignore[union-attr]


def test_memory_backend_opens_a_new_storage_each_time() -> None:
    backend = Backend.memory()
    first, second = backend.open(), backend.open()
    assert isinstance(first, MemoryStorage) and first is not second
    first.write("a", b"1")
    assert second.list("") == []
    assert backend.location() == "memory"
    Config(backend, snapshot_interval_ms=250)


def test_filesystem_backend_arguments(tmp_path: Path) -> None:
    assert Backend.filesystem(tmp_path / "x").path == str(tmp_path / "x")
    with pytest.raises(pw.ApiTypeError, match="path must be a str or os.PathLike, got int") \
            as info:
        Backend.filesystem(3)  # type: ignore[arg-type]
    assert HERE in str(info.value) and "Backend.filesystem(3)" in str(info.value)
    with pytest.raises(pw.ApiTypeError, match="got bytes"):
        Backend.filesystem(b"/tmp/x")  # type: ignore[arg-type]
    with pytest.raises(pw.ApiValueError, match="must not be empty"):
        Backend.filesystem("")
    with pytest.raises(pw.ApiValueError, match="Backend.azure is not implemented"):
        Backend.azure("root", "account", "password", "container")


def test_s3_backend_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    backend = Backend.s3("pipelines/wc/", pw.io.s3.AwsS3Settings(bucket_name="bkt"))
    settings = backend.bucket_settings
    assert settings is not None
    assert (backend.path, settings.bucket_name, settings.region) == ("pipelines/wc", "bkt",
                                                                    "eu-west-3")
    assert (settings.access_key, settings.secret_access_key) == ("AKIDFROMENV",
                                                                "secret-from-env")
    assert "secret-from-env" not in repr(backend) + repr(settings)
    storage = backend.open()
    assert isinstance(storage, S3Storage) and storage.location("x") == "s3://bkt/pipelines/wc/x"

    from_path = Backend.s3("s3://other/root", pw.io.s3.AwsS3Settings(region="us-east-2"))
    assert (from_path.path, from_path.bucket_settings.bucket_name,  # type: ignore[union-attr]
            from_path.bucket_settings.region) == ("root", "other", "us-east-2")  # type: ignore


@pytest.mark.parametrize(("call", "kind", "message"), [
    (lambda: Backend.s3("root", {"bucket_name": "b"}), pw.ApiTypeError,
     "bucket_settings must be pw.io.s3.AwsS3Settings, got dict"),
    (lambda: Backend.s3(5, pw.io.s3.AwsS3Settings(bucket_name="b")), pw.ApiTypeError,
     "root_path must be a str"),
    (lambda: Backend.s3("root", pw.io.s3.AwsS3Settings()), pw.ApiValueError, "no bucket"),
    (lambda: Backend.s3("s3://a/x", pw.io.s3.AwsS3Settings(bucket_name="b")), pw.ApiValueError,
     "root_path names bucket 'a' but bucket_settings names 'b'"),
    (lambda: Backend.s3("a/../b", pw.io.s3.AwsS3Settings(bucket_name="b")), pw.ApiValueError,
     "root_path: bad checkpoint object path"),
    (lambda: Backend.s3("s3://", pw.io.s3.AwsS3Settings()), pw.ApiValueError,
     "is not an S3 path"),
])
def test_bad_s3_backends_raise_at_the_users_line(call, kind, message) -> None:  # noqa: ANN001
    with pytest.raises(kind, match=message) as info:
        call()
    assert HERE in str(info.value)


def test_aws_settings_validation_hides_secrets() -> None:
    settings = pw.io.s3.AwsS3Settings(bucket_name="b", access_key="AKID", secret_access_key="hush",
                                      session_token="tok-hush", with_path_style=True,
                                      region="us-east-1", endpoint="http://127.0.0.1:9000")
    assert "hush" not in repr(settings)
    assert settings.credentials() is not None
    with pytest.raises(pw.ApiTypeError) as info:
        pw.io.s3.AwsS3Settings(bucket_name="b", access_key="AKID",
                               secret_access_key=12345)  # type: ignore[arg-type]
    assert "secret_access_key: Input should be a valid string" in str(info.value)
    assert "12345" not in str(info.value) and HERE in str(info.value)
    with pytest.raises(pw.ApiValueError, match="give both access_key and secret_access_key"):
        pw.io.s3.AwsS3Settings(access_key="AKID")
    with pytest.raises(pw.ApiValueError, match=r"endpoint: String should match.*'ftp://x'"):
        pw.io.s3.AwsS3Settings(endpoint="ftp://x")
    with pytest.raises(pw.ApiValueError, match="bucket_name"):
        pw.io.s3.AwsS3Settings(bucket_name="a/b")
    with pytest.raises(TypeError):
        pw.io.s3.AwsS3Settings("positional")  # type: ignore[misc]
    with pytest.raises(pw.ApiValueError, match="is not an S3 path"):
        pw.io.s3.AwsS3Settings.new_from_path("/local/path")


@pytest.mark.parametrize(("kwargs", "kind", "message"), [
    ({"snapshot_interval_ms": -1}, pw.ApiValueError,
     "snapshot_interval_ms: Input should be greater than or equal to 0 (got -1)"),
    ({"snapshot_interval_ms": 1.5}, pw.ApiTypeError,
     "snapshot_interval_ms: Input should be a valid integer (got 1.5)"),
    ({"snapshot_interval_ms": True}, pw.ApiTypeError, "snapshot_interval_ms"),
    ({"snapshot_interval_ms": "1000"}, pw.ApiTypeError, "snapshot_interval_ms"),
    ({"persistence_mode": "persisting"}, pw.ApiTypeError, "persistence_mode"),
    ({"continue_after_replay": 1}, pw.ApiTypeError, "continue_after_replay"),
    ({"snapshot_access": pw.persistence.SnapshotAccess.OFFSETS_ONLY}, pw.ApiValueError,
     "snapshot_access=SnapshotAccess.OFFSETS_ONLY is not implemented"),
    ({"continue_after_replay": False}, pw.ApiValueError,
     "continue_after_replay=False is not implemented"),
    ({"worker_scaling_enabled": True}, pw.ApiValueError,
     "worker_scaling_enabled=True is not implemented"),
    ({"workload_tracking_window_ms": 5000}, pw.ApiValueError,
     "workload_tracking_window_ms is used by worker scaling only"),
    ({"workload_tracking_window_ms": 0}, pw.ApiValueError, "greater than 0"),
])
def test_bad_config_arguments_raise_at_the_users_line(kwargs, kind, message) -> None:  # noqa: ANN001
    with pytest.raises(kind) as info:
        Config(Backend.memory(), **kwargs)
    assert message in str(info.value) and "pw.persistence.Config" in str(info.value)
    assert HERE in str(info.value) and "Config(Backend.memory(), **kwargs)" in str(info.value)


@pytest.mark.parametrize(("mode", "reason"), [
    (Mode.UDF_CACHING, "no UDF result cache"),
    (Mode.SELECTIVE_PERSISTING, "persists every source and operator"),
    (Mode.BATCH, "does not record or replay"),
    (Mode.SPEEDRUN_REPLAY, "does not record or replay"),
    (Mode.REALTIME_REPLAY, "does not record or replay"),
])
def test_unimplemented_modes_are_refused(mode: pw.PersistenceMode, reason: str) -> None:
    with pytest.raises(pw.ApiValueError) as info:
        Config(Backend.memory(), persistence_mode=mode)
    assert f"persistence_mode={mode} is not implemented: raystream" in str(info.value)
    assert reason in str(info.value) and "Use PersistenceMode.PERSISTING" in str(info.value)


def test_backend_must_be_a_backend() -> None:
    with pytest.raises(pw.ApiTypeError, match="backend") as info:
        Config("./pstorage")  # type: ignore[arg-type]
    assert HERE in str(info.value)
    with pytest.raises(TypeError):
        Config(Backend.memory(), snapshot_interval=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Config()  # type: ignore[call-arg]


def test_simple_config_is_deprecated_but_works(tmp_path: Path) -> None:
    backend = Backend.filesystem(tmp_path)
    with pytest.warns(DeprecationWarning, match="simple_config is deprecated"):
        config = Config.simple_config(backend, snapshot_interval_ms=30)
    assert config == Config(backend, snapshot_interval_ms=30)
    with pytest.warns(DeprecationWarning), pytest.raises(pw.ApiValueError, match="UDF"):
        Config.simple_config(backend, persistence_mode=Mode.UDF_CACHING)
