"""``pw.persistence``: where checkpoints go and how often (Pathway's API).

Usage::

    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem("./pstorage"),
        snapshot_interval_ms=1000,
    ))

What raystream persists: always everything needed for exactly-once, in every
checkpoint: each source's positions, each stateful operator's state, and each
sink's progress. A restarted pipeline continues from the last complete
checkpoint; rows are neither lost nor repeated. Input rows themselves are
never stored (the sources keep them).

Modes (``persistence_mode``), as Pathway names them:

* ``PersistenceMode.PERSISTING`` (default) and ``PersistenceMode.OPERATOR_PERSISTING``
  are accepted and mean the same in raystream: positions plus operator state.
* ``SELECTIVE_PERSISTING`` (only named sources), ``UDF_CACHING`` (a cache of
  UDF results), and ``BATCH``/``SPEEDRUN_REPLAY``/``REALTIME_REPLAY`` (record
  and replay the input) are not implemented and raise at the user's line.

``snapshot_interval_ms``: the least time between the starts of two
checkpoints. ``0`` (the default, Pathway's "as often as possible") checkpoints
at every commit time once the previous checkpoint is complete. raystream
takes at most one checkpoint per commit time (``autocommit_duration_ms`` of the
sources), so intervals below it act like it.

Backends: :meth:`Backend.filesystem`, :meth:`Backend.s3`, and raystream's own
:meth:`Backend.memory` (checkpoints in memory: in-run recovery from actor or
node failures, nothing survives the run).
"""

from __future__ import annotations

import enum
import os
import warnings
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raystream.actors.checkpoint import DEFAULT_KEEP, CheckpointStore
from raystream.connectors.checkpoint_storage import (
    CheckpointStorage,
    FilesystemStorage,
    MemoryStorage,
    S3Storage,
)
from raystream.connectors.storage_base import check_path
from raystream.errors import ApiTypeError, ApiValueError, api_error, settings_error
from raystream.io.s3 import AwsS3Settings, split_s3_path

__all__ = ["Backend", "Config", "PersistenceMode", "SnapshotAccess"]


class PersistenceMode(enum.Enum):
    """What is persisted (``pw.PersistenceMode``; see the module docstring)."""

    BATCH = "batch"
    SPEEDRUN_REPLAY = "speedrun_replay"
    REALTIME_REPLAY = "realtime_replay"
    PERSISTING = "persisting"
    SELECTIVE_PERSISTING = "selective_persisting"
    UDF_CACHING = "udf_caching"
    OPERATOR_PERSISTING = "operator_persisting"


class SnapshotAccess(enum.Enum):
    """Whether snapshots are read, written or both; raystream does ``FULL`` only."""

    RECORD = "record"
    REPLAY = "replay"
    FULL = "full"
    OFFSETS_ONLY = "offsets_only"


SUPPORTED_MODES = frozenset({PersistenceMode.PERSISTING, PersistenceMode.OPERATOR_PERSISTING})
_REJECTED_MODES = {
    PersistenceMode.SELECTIVE_PERSISTING: "raystream persists every source and operator",
    PersistenceMode.UDF_CACHING: "raystream has no UDF result cache",
    PersistenceMode.BATCH: "raystream does not record or replay input streams",
    PersistenceMode.SPEEDRUN_REPLAY: "raystream does not record or replay input streams",
    PersistenceMode.REALTIME_REPLAY: "raystream does not record or replay input streams",
}
_WORKLOAD_WINDOW_MS = 120_000


class Backend(BaseModel):
    """Where checkpoints are stored; build it with a classmethod.

    Attributes:
        kind: ``"filesystem"``, ``"s3"`` or ``"memory"``.
        path: The absolute root directory (filesystem) or the key prefix (S3).
        bucket_settings: S3 settings, with region, endpoint and static
            credentials captured from the environment of ``Backend.s3``'s caller.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["filesystem", "s3", "memory"]
    path: str = ""
    bucket_settings: AwsS3Settings | None = None

    @classmethod
    def filesystem(cls, path: str | os.PathLike[str]) -> Backend:
        """Checkpoints in a directory (created on the first checkpoint).

        Args:
            path: The root directory; a relative path is made absolute now, in
                the driver's working directory.
        """
        where = "pw.persistence.Backend.filesystem"
        if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
            raise api_error(ApiTypeError, f"{where}: path must be a str or os.PathLike, "
                                          f"got {type(path).__name__}")
        text = os.fspath(path)
        if not text:
            raise api_error(ApiValueError, f"{where}: path must not be empty")
        return cls(kind="filesystem", path=os.path.abspath(os.path.expanduser(text)))

    @classmethod
    def s3(cls, root_path: str, bucket_settings: AwsS3Settings) -> Backend:
        """Checkpoints under a prefix of an S3 bucket (the bucket must exist).

        Args:
            root_path: Key prefix inside the bucket (``"pipelines/wordcount"``),
                or a full ``s3://bucket/prefix`` path.
            bucket_settings: Connection settings (``pw.io.s3.AwsS3Settings``);
                what they leave out is taken from this process's environment now.
        """
        where = "pw.persistence.Backend.s3"
        if not isinstance(bucket_settings, AwsS3Settings):
            raise api_error(ApiTypeError, f"{where}: bucket_settings must be "
                                          "pw.io.s3.AwsS3Settings, got "
                                          f"{type(bucket_settings).__name__}")
        if not isinstance(root_path, str):
            raise api_error(ApiTypeError, f"{where}: root_path must be a str, got "
                                          f"{type(root_path).__name__}")
        bucket, root = bucket_settings.bucket_name, root_path.strip("/")
        if root_path.startswith(("s3://", "s3a://")):
            bucket_in_path, root = split_s3_path(root_path, where)
            if bucket not in (None, bucket_in_path):
                raise api_error(ApiValueError, f"{where}: root_path names bucket "
                                               f"{bucket_in_path!r} but bucket_settings "
                                               f"names {bucket!r}")
            bucket = bucket_in_path
        if bucket is None:
            raise api_error(ApiValueError, f"{where}: no bucket: set bucket_name in "
                                           "bucket_settings or use root_path='s3://bucket/...'")
        if root:
            try:
                check_path(root)
            except ValueError as exc:
                raise api_error(ApiValueError, f"{where}: root_path: {exc}") from None
        settings = bucket_settings.resolved().model_copy(update={"bucket_name": bucket})
        return cls(kind="s3", path=root, bucket_settings=settings)

    @classmethod
    def memory(cls) -> Backend:
        """Checkpoints in memory (raystream only): in-run recovery, nothing survives the run.

        Every :meth:`open` returns a new empty storage, so the runtime opens it
        once, in the process that writes and restores checkpoints.
        """
        return cls(kind="memory")

    @classmethod
    def azure(cls, root_path: str, account: str, password: str, container: str) -> Backend:
        """Not implemented in raystream: raises at the caller's line."""
        raise api_error(ApiValueError, "pw.persistence.Backend.azure is not implemented in "
                                       "raystream; use Backend.filesystem or Backend.s3")

    def open(self) -> CheckpointStorage:
        """A storage client for this backend (plain, picklable, no Ray)."""
        if self.kind == "filesystem":
            return FilesystemStorage(self.path)
        if self.kind == "memory":
            return MemoryStorage()
        settings = self.bucket_settings
        assert settings is not None and settings.bucket_name is not None
        return S3Storage(settings.bucket_name, self.path, endpoint=settings.endpoint,
                         credentials=settings.credentials(), region=settings.region,
                         path_style=settings.with_path_style)

    def location(self) -> str:
        """Where the checkpoints go, for messages (a directory, ``s3://...`` or ``memory``)."""
        if self.kind == "memory":
            return "memory"
        return self.open().location("")


class Config(BaseModel):
    """Persistence settings for ``pw.run(persistence_config=...)``.

    Args:
        backend: Where checkpoints go (:class:`Backend`).
        snapshot_interval_ms: Least time between the starts of two checkpoints,
            in ms; 0: at every commit time once the previous one is complete.
        snapshot_access: ``SnapshotAccess.FULL`` only (read and write).
        persistence_mode: ``PERSISTING`` (default) or ``OPERATOR_PERSISTING``;
            both persist source positions, operator state and sink progress.
        continue_after_replay: True only: a restored pipeline goes on reading.
        worker_scaling_enabled: False only (set ``reduce_parallelism`` in
            ``pw.run``; a checkpoint restores into another parallelism).
        workload_tracking_window_ms: Used by worker scaling only; leave the default.

    Raises:
        ApiTypeError: An argument has the wrong type.
        ApiValueError: A value is out of range or not implemented by raystream.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    backend: Backend
    snapshot_interval_ms: int = Field(0, ge=0)
    snapshot_access: SnapshotAccess = SnapshotAccess.FULL
    persistence_mode: PersistenceMode = PersistenceMode.PERSISTING
    continue_after_replay: bool = True
    worker_scaling_enabled: bool = False
    workload_tracking_window_ms: int = Field(_WORKLOAD_WINDOW_MS, gt=0)

    def __init__(self, backend: Backend, *, snapshot_interval_ms: int = 0,
                 snapshot_access: SnapshotAccess = SnapshotAccess.FULL,
                 persistence_mode: PersistenceMode = PersistenceMode.PERSISTING,
                 continue_after_replay: bool = True, worker_scaling_enabled: bool = False,
                 workload_tracking_window_ms: int = _WORKLOAD_WINDOW_MS) -> None:
        try:
            super().__init__(backend=backend, snapshot_interval_ms=snapshot_interval_ms,
                             snapshot_access=snapshot_access, persistence_mode=persistence_mode,
                             continue_after_replay=continue_after_replay,
                             worker_scaling_enabled=worker_scaling_enabled,
                             workload_tracking_window_ms=workload_tracking_window_ms)
        except ValidationError as exc:
            raise settings_error("pw.persistence.Config", exc) from None
        self._check_implemented()

    def _check_implemented(self) -> None:
        where = "pw.persistence.Config"
        mode = self.persistence_mode
        if mode not in SUPPORTED_MODES:
            raise api_error(ApiValueError, f"{where}: persistence_mode={mode} is not "
                                           f"implemented: {_REJECTED_MODES[mode]}. Use "
                                           "PersistenceMode.PERSISTING (source positions and "
                                           "operator state, exactly-once)")
        if self.snapshot_access is not SnapshotAccess.FULL:
            raise api_error(ApiValueError, f"{where}: snapshot_access={self.snapshot_access} "
                                           "is not implemented: raystream always writes "
                                           "checkpoints and restores from them (FULL)")
        if not self.continue_after_replay:
            raise api_error(ApiValueError, f"{where}: continue_after_replay=False is not "
                                           "implemented: a restored pipeline goes on reading")
        if self.worker_scaling_enabled:
            raise api_error(ApiValueError, f"{where}: worker_scaling_enabled=True is not "
                                           "implemented: set pw.run(reduce_parallelism=...); "
                                           "a checkpoint restores into another parallelism")
        if self.workload_tracking_window_ms != _WORKLOAD_WINDOW_MS:
            raise api_error(ApiValueError, f"{where}: workload_tracking_window_ms is used by "
                                           "worker scaling only, which raystream does not "
                                           "implement; leave it out")

    @classmethod
    def simple_config(cls, backend: Backend, snapshot_interval_ms: int = 0,
                      snapshot_access: SnapshotAccess = SnapshotAccess.FULL,
                      persistence_mode: PersistenceMode = PersistenceMode.PERSISTING,
                      continue_after_replay: bool = True) -> Config:
        """Deprecated (as in Pathway): use ``Config(backend, ...)``."""
        warnings.warn("pw.persistence.Config.simple_config is deprecated: use "
                      "pw.persistence.Config(backend, ...)", DeprecationWarning, stacklevel=2)
        return cls(backend, snapshot_interval_ms=snapshot_interval_ms,
                   snapshot_access=snapshot_access, persistence_mode=persistence_mode,
                   continue_after_replay=continue_after_replay)

    @property
    def snapshot_interval_s(self) -> float:
        """``snapshot_interval_ms`` in seconds."""
        return self.snapshot_interval_ms / 1000.0

    def open_store(self, pipeline_id: str, keep: int = DEFAULT_KEEP) -> CheckpointStore:
        """The checkpoint store of ``pipeline_id`` in this config's backend."""
        return CheckpointStore(self.backend.open(), pipeline_id, keep)
