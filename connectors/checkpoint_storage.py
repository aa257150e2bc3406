"""Object storage for checkpoints: a filesystem directory, an S3 prefix, or memory.

Plain clients, no Ray and no raystream API. A storage maps relative paths
(``"pipe/chk-000000000001/state.arrow"``: ``/``-separated, no ``..``) to
whole byte objects. The contract, the same for every implementation:

* :meth:`CheckpointStorage.write` is atomic: a reader sees the whole object
  or no object, never a prefix of it, even if the writer dies half-way.
  The filesystem writes a temp file, fsyncs it, renames it over the target and
  fsyncs the directory; S3 and memory replace whole objects by themselves.
* :meth:`~CheckpointStorage.read` of a missing object raises
  :class:`StorageMissing`; a failed write or delete raises
  :class:`StorageUnwritable`; anything else raises :class:`StorageError`.
  Every error names the object by :meth:`~CheckpointStorage.location`.
* :meth:`~CheckpointStorage.list` returns every object whose path starts with
  a prefix (recursively), sorted; it never returns half-written temp files.
* :meth:`~CheckpointStorage.delete` ignores objects that are already gone.
* :meth:`~CheckpointStorage.probe` writes, reads back and deletes a probe
  object, so that a pipeline fails at start, not at its first checkpoint.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from raystream.connectors.checkpoint_s3 import S3Credentials, S3Storage
from raystream.connectors.storage_base import (
    CheckpointStorage,
    StorageError,
    StorageMissing,
    StorageUnwritable,
    check_path,
    check_prefix,
    probe_storage,
)

__all__ = [
    "CheckpointStorage", "FilesystemStorage", "MemoryStorage", "S3Credentials", "S3Storage",
    "StorageError", "StorageMissing", "StorageUnwritable", "probe_storage",
]

_TEMP_MARK = ".tmp-"


class FilesystemStorage:
    """Objects as files under a root directory (created on the first write).

    Args:
        root: The root directory; made absolute at once (actors may run in
            another working directory).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))

    def __repr__(self) -> str:
        return f"FilesystemStorage({self.root!r})"

    def location(self, path: str) -> str:  # noqa: D102
        return os.path.join(self.root, path) if path else self.root

    def write(self, path: str, data: bytes) -> None:  # noqa: D102
        target = Path(self.location(check_path(path)))
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex[:12]}")
        try:
            _make_dirs(target.parent)
            _write_synced(temp, data)
            os.replace(temp, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            _remove_quietly(temp)
            raise StorageUnwritable(str(target), _cause(exc)) from exc

    def read(self, path: str) -> bytes:  # noqa: D102
        target = self.location(check_path(path))
        try:
            with open(target, "rb") as file:
                return file.read()
        except FileNotFoundError as exc:
            raise StorageMissing(target, "no such file") from exc
        except OSError as exc:
            raise StorageError(target, f"cannot be read: {_cause(exc)}") from exc

    def list(self, prefix: str) -> list[str]:  # noqa: D102
        prefix = check_prefix(prefix)
        top = self.location(prefix.rpartition("/")[0])
        return sorted(p for p in self._walk(top) if p.startswith(prefix))

    def _walk(self, top: str) -> Iterable[str]:
        def fail(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError):  # a missing folder lists nothing
                raise StorageError(top, f"cannot be listed: {_cause(exc)}") from exc

        for folder, _dirs, files in os.walk(top, onerror=fail):
            relative = os.path.relpath(folder, self.root)
            for name in files:
                if not (name.startswith(".") and _TEMP_MARK in name):
                    yield name if relative == "." else f"{relative}/{name}".replace(os.sep, "/")

    def delete(self, paths: Iterable[str]) -> None:  # noqa: D102
        parents: set[Path] = set()
        for path in paths:
            target = Path(self.location(check_path(path)))
            try:
                target.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageUnwritable(str(target), f"cannot be deleted: {_cause(exc)}") from exc
            parents.add(target.parent)
        self._remove_empty_dirs(parents)

    def _remove_empty_dirs(self, folders: set[Path]) -> None:
        root = Path(self.root)
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            while folder != root and root in folder.parents:
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent

    def probe(self) -> None:  # noqa: D102
        probe_storage(self)


def _make_dirs(folder: Path) -> None:
    """Creates ``folder`` and its missing parents, fsyncing each new entry's parent."""
    missing: list[Path] = []
    while not folder.is_dir():
        if folder.exists():
            raise NotADirectoryError(errno.ENOTDIR, "is a file, not a directory", str(folder))
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        try:
            new.mkdir()
        except FileExistsError:
            if not new.is_dir():
                raise
        _fsync_dir(new.parent)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _cause(exc: OSError) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"{exc.strerror or exc}{where}"


class MemoryStorage:
    """Objects in a dict of this process (thread-safe).

    Nothing survives the process: in-run recovery only. A pickled copy is a
    separate storage, so keep it in the one process that owns checkpoints.
    """

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStorage({len(self._objects)} objects)"

    def __getstate__(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._objects)

    def __setstate__(self, state: dict[str, bytes]) -> None:
        self._objects = dict(state)
        self._lock = threading.Lock()

    def location(self, path: str) -> str:  # noqa: D102
        return f"memory:{path}"

    def write(self, path: str, data: bytes) -> None:  # noqa: D102
        data = bytes(data)
        with self._lock:
            self._objects[check_path(path)] = data

    def read(self, path: str) -> bytes:  # noqa: D102
        with self._lock:
            data = self._objects.get(check_path(path))
        if data is None:
            raise StorageMissing(self.location(path), "no such object")
        return data

    def list(self, prefix: str) -> list[str]:  # noqa: D102
        prefix = check_prefix(prefix)
        with self._lock:
            return sorted(p for p in self._objects if p.startswith(prefix))

    def delete(self, paths: Iterable[str]) -> None:  # noqa: D102
        checked = [check_path(p) for p in paths]
        with self._lock:
            for path in checked:
                self._objects.pop(path, None)

    def probe(self) -> None:  # noqa: D102
        probe_storage(self)
