"""The checkpoint manifest and the checkpoint errors (pure Python, no Ray).

A manifest is stored as JSON with a ``sha256`` field over the canonical JSON
of every other field (sorted keys, no spaces), so a flipped byte that still
parses is caught as well as a truncated file. See :mod:`raystream.actors.checkpoint`
for the protocol around it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from raystream.connectors.storage_base import LocatedError

FORMAT_VERSION = 1
"""Manifest format written by this raystream; a manifest of another version is refused."""

_SHA256_HEX = 64


class CheckpointError(LocatedError):
    """A checkpoint cannot be used; names the file and what is wrong."""

    what = "checkpoint error"


class CheckpointCorrupt(CheckpointError):
    """A manifest or part is truncated, unparsable or fails its checksum."""

    what = "checkpoint corrupt"


class CheckpointMissing(CheckpointError):
    """A manifest points at a part that does not exist."""

    what = "checkpoint incomplete"


class StructureChanged(CheckpointError):
    """The pipeline being restored differs from the checkpointed one."""

    what = "checkpoint does not match the pipeline"


@dataclass(frozen=True)
class PartRef:
    """One part of a checkpoint, as its manifest lists it.

    Attributes:
        name: The part's name inside its checkpoint (e.g. ``"reduce-3/kg-0007.arrow"``).
        path: Its storage path (``<pipeline>/chk-<k>/<name>``).
        size: Its length in bytes.
        sha256: Hex digest of its bytes.
    """

    name: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What checkpoint ``k`` holds; JSON round-trips exactly (``from_json(to_json())``).

    Every dict must hold JSON values only (str keys; lists, not tuples; finite
    floats), checked at construction, so that the round trip is exact.

    Attributes:
        pipeline_id: The pipeline's persistent identity.
        k: Checkpoint number (1, 2, ...).
        frontier: The cut: every row of time ``< frontier`` is in this checkpoint.
        clock: The last commit time handed out when the checkpoint was taken.
        structure: Stage key -> JSON description (kind, name, schema, parallelism).
        positions: Source key -> {partition id: JSON position}.
        parts: The parts, in any order.
        sinks: Sink key -> JSON sink state (e.g. the last written time, a file length).
        extra: Anything else the runtime wants to keep.
        created: Wall time of the checkpoint (seconds since the epoch).
        format_version: :data:`FORMAT_VERSION`.
    """

    pipeline_id: str
    k: int
    frontier: int
    clock: int
    structure: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: tuple[PartRef, ...] = ()
    sinks: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        for name in ("k", "frontier", "clock"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int, got {value!r}")
        if self.k < 1:
            raise ValueError(f"checkpoint number must be at least 1, got {self.k}")
        for name in ("structure", "positions", "sinks", "extra"):
            _check_json(getattr(self, name), name)
        for source, partitions in self.positions.items():
            if not isinstance(partitions, dict):
                raise ValueError(f"positions[{source!r}] must be a dict of partition -> "
                                 f"position, got {type(partitions).__name__}")
        for stage, description in self.structure.items():
            if not isinstance(description, dict):
                raise ValueError(f"structure[{stage!r}] must be a dict, got "
                                 f"{type(description).__name__}")
        names = [part.name for part in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"checkpoint {self.k} lists a part name twice: {sorted(names)}")

    def part(self, name: str) -> PartRef:
        """The part called ``name``; KeyError if the checkpoint has none."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"checkpoint {self.k} has no part {name!r}")

    def to_json(self) -> bytes:
        """The manifest file's bytes: JSON with a ``sha256`` of the other fields."""
        body = asdict(self)
        body["parts"] = [asdict(part) for part in self.parts]
        body["sha256"] = hashlib.sha256(_canonical(body)).hexdigest()
        return (json.dumps(body, sort_keys=True, indent=1, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        """Parses and verifies a manifest file.

        Args:
            data: The file's bytes.
            where: Its location, for errors.

        Raises:
            CheckpointCorrupt: Truncated, unparsable, failing its checksum, of
                another format version, or with a field of the wrong type.
        """
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CheckpointCorrupt(where, f"manifest is not valid JSON (truncated?): "
                                           f"{exc}") from exc
        if not isinstance(body, dict):
            raise CheckpointCorrupt(where, "manifest is not a JSON object")
        checksum = body.pop("sha256", None)
        if checksum != hashlib.sha256(_canonical(body)).hexdigest():
            raise CheckpointCorrupt(where, "manifest fails its checksum (edited or corrupt)")
        if body.get("format_version") != FORMAT_VERSION:
            raise CheckpointCorrupt(where, f"manifest format {body.get('format_version')!r} "
                                           f"is not {FORMAT_VERSION}, the one this raystream "
                                           "reads")
        try:
            _check_fields(body)
            parts = tuple(_part(entry) for entry in body.pop("parts"))
            return cls(parts=parts, **body)
        except (TypeError, ValueError) as exc:
            raise CheckpointCorrupt(where, f"bad manifest: {exc}") from exc


_FIELDS: dict[str, tuple[type, ...]] = {
    "pipeline_id": (str,), "k": (int,), "frontier": (int,), "clock": (int,),
    "structure": (dict,), "positions": (dict,), "parts": (list,), "sinks": (dict,),
    "extra": (dict,), "created": (int, float), "format_version": (int,),
}


def _check_fields(body: dict[str, Any]) -> None:
    if set(body) != set(_FIELDS):
        raise ValueError(f"fields {sorted(body)}, expected {sorted(_FIELDS)}")
    for name, types in _FIELDS.items():
        if isinstance(body[name], bool) or not isinstance(body[name], types):
            raise ValueError(f"{name} is a {type(body[name]).__name__}")


def _part(entry: Any) -> PartRef:
    if not isinstance(entry, dict) or set(entry) != {"name", "path", "size", "sha256"}:
        raise ValueError(f"part entry {entry!r} needs exactly name, path, size, sha256")
    part = PartRef(**entry)
    if not (isinstance(part.name, str) and isinstance(part.path, str)
            and isinstance(part.size, int) and isinstance(part.sha256, str)
            and len(part.sha256) == _SHA256_HEX):
        raise ValueError(f"part entry {entry!r} has a field of the wrong type")
    return part


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _check_json(value: Any, where: str) -> None:
    """Raises ValueError unless ``value`` is plain JSON that round-trips exactly."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}, which JSON cannot hold")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has the key {key!r}: JSON keys must be str")
            _check_json(item, f"{where}[{key!r}]")
        return
    hint = " (use a list)" if isinstance(value, tuple) else ""
    raise ValueError(f"{where} holds a {type(value).__name__}, not a JSON value{hint}")
