"""The checkpoint storage contract: the protocol, its errors and path rules.

See :mod:`raystream.connectors.checkpoint_storage` for the contract in words
and the implementations.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

PROBE_DATA = b"raystream checkpoint storage probe\n"
_SEGMENT = re.compile(r"^[A-Za-z0-9_.=+-]+$")


class LocatedError(Exception):
    """An error about one file or object: ``"<what>: <location>: <reason>"``.

    Subclasses set ``what``. Picklable (it crosses Ray actor boundaries).

    Args:
        location: The file or object, as ``CheckpointStorage.location`` spells it.
        reason: What is wrong, in words.

    Attributes:
        location: As given.
        reason: As given.
    """

    what = "error"

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{self.what}: {location}: {reason}")
        self.location = location
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.location, self.reason)


class StorageError(LocatedError):
    """A checkpoint storage operation failed; names the object and the cause."""

    what = "checkpoint storage error"


class StorageMissing(StorageError):
    """The object does not exist."""

    what = "checkpoint object missing"


class StorageUnwritable(StorageError):
    """The object (or the storage) cannot be written or deleted."""

    what = "checkpoint storage cannot be written"


def check_path(path: str) -> str:
    """Returns ``path`` if it is a valid object path, else raises ValueError.

    A valid path is ``/``-separated segments of letters, digits and ``_.=+-``,
    with no empty, ``.`` or ``..`` segment and no leading ``/``.
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"checkpoint object path must be a non-empty str, got {path!r}")
    for segment in path.split("/"):
        if segment in (".", "..") or not _SEGMENT.match(segment):
            raise ValueError(f"bad checkpoint object path {path!r}: segments may hold "
                             "letters, digits and _.=+- only, and cannot be '', '.' or '..'")
    return path


def check_prefix(prefix: str) -> str:
    """Returns ``prefix`` if it is ``""`` or a path, possibly ending with ``/``."""
    if prefix:
        check_path(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


@runtime_checkable
class CheckpointStorage(Protocol):
    """Whole-object storage under one root (contract: ``connectors.checkpoint_storage``)."""

    def write(self, path: str, data: bytes) -> None:
        """Stores ``data`` at ``path`` atomically, replacing any previous object."""

    def read(self, path: str) -> bytes:
        """Returns the object at ``path``; raises :class:`StorageMissing` if there is none."""

    def list(self, prefix: str) -> list[str]:
        """Returns the sorted paths of every object whose path starts with ``prefix``."""

    def delete(self, paths: Iterable[str]) -> None:
        """Deletes the objects at ``paths``; missing ones are ignored."""

    def location(self, path: str) -> str:
        """Where ``path`` lives, for messages: a file path or ``s3://bucket/key``."""

    def probe(self) -> None:
        """Writes, reads back and deletes a probe object; raises :class:`StorageUnwritable`."""


def probe_storage(storage: CheckpointStorage) -> None:
    """Checks that ``storage`` can be written, read back and deleted from.

    Raises:
        StorageUnwritable: Naming the storage's root and the cause.
    """
    path = f".probe-{uuid.uuid4().hex}"
    root = storage.location("")
    try:
        storage.write(path, PROBE_DATA)
        if storage.read(path) != PROBE_DATA:
            raise StorageError(storage.location(path), "the probe object read back differs")
        storage.delete([path])
    except StorageUnwritable as exc:
        raise StorageUnwritable(root, f"cannot store checkpoints: {exc.reason}") from exc
    except StorageError as exc:
        raise StorageUnwritable(root, f"cannot store checkpoints: {exc}") from exc
