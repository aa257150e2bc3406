"""Checkpoint layout, manifest and retention over a :class:`CheckpointStorage` (no Ray).

Vocabulary
----------
*Checkpoint k*: a consistent cut of one pipeline, numbered ``k = 1, 2, ...``
(strictly increasing per pipeline). *Part*: one opaque object of a checkpoint
(a stateful kernel's state for some key groups, as Arrow IPC; a sink's
state). *Manifest*: the JSON object that lists every part of checkpoint ``k``
with its size and sha256, plus the frontier, the clock, the source positions,
the sinks' states and the pipeline's structure.

Layout under ``<storage root>/<pipeline_id>/``
-----------------------------------------------
::

    chk-000000000007/<part name>      parts of checkpoint 7 (names may hold '/')
    manifests/000000000007.json       manifest of checkpoint 7, written last

The protocol, step by step
--------------------------
1. **Parts.** The writers of checkpoint ``k`` call :meth:`CheckpointStore.write_part`
   (in any order, from any process sharing the storage). Each part is one
   atomic object write and yields a :class:`PartRef` (path, size, sha256).
2. **Manifest.** Once every part of ``k`` is written, the one committer (the
   coordinator) calls :meth:`CheckpointStore.commit`: it checks that ``k`` is
   above every complete checkpoint and that every referenced part exists,
   then writes ``manifests/<k>.json`` atomically. **Checkpoint ``k`` is
   complete exactly when its manifest exists**; a crash at any earlier point
   leaves checkpoint ``k-1`` (or nothing) as the latest.
3. **Retention.** After the manifest is written, ``commit`` keeps the ``keep``
   newest complete checkpoints and deletes older ones: manifests first, then
   their parts, so a manifest never outlives its parts. Parts of numbers above
   the newest manifest are never deleted (a checkpoint in progress); parts of
   abandoned numbers below it are. A failed deletion is logged and retried at
   the next commit (retention is recomputed from the listing each time).
4. **Restore.** :meth:`CheckpointStore.latest` reads the newest manifest only,
   verifies its checksum and that every part exists; :meth:`~CheckpointStore.read_part`
   verifies each part's size and sha256. :func:`check_structure` compares the
   manifest's structure with the current pipeline's.

Invariants
----------
* A reader never sees a partly written manifest or part (atomic writes).
* A manifest only references parts of its own number (``chk-<k>/``), so
  retention can drop whole numbers.
* Bad state is an error, never a silent fallback: a corrupt or truncated
  newest manifest or part raises :class:`CheckpointCorrupt`, a missing part
  :class:`CheckpointMissing`, a changed pipeline :class:`StructureChanged`.
  Each names the file (``storage.location``), and nothing is deleted when one
  is raised (only ``commit`` deletes, after its manifest is written).
  Storage failures raise the storage's own errors (``StorageUnwritable``...).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.ipc as ipc
from raystream.actors.checkpoint_manifest import (
    CheckpointCorrupt,
    CheckpointError,
    CheckpointMissing,
    Manifest,
    PartRef,
    StructureChanged,
)
from raystream.connectors.checkpoint_storage import (
    CheckpointStorage,
    StorageError,
    StorageMissing,
)
from raystream.connectors.storage_base import check_path

__all__ = [
    "CheckpointCorrupt", "CheckpointError", "CheckpointMissing", "CheckpointStore", "Manifest",
    "PartRef", "StructureChanged", "check_structure", "ipc_to_table", "table_to_ipc",
]

log = logging.getLogger("raystream")
_MANIFEST = re.compile(r"^manifests/(\d{12})\.json$")
_PART_DIR = re.compile(r"^chk-(\d{12})/")
DEFAULT_KEEP = 3


@dataclass
class CheckpointStore:
    """The checkpoints of one pipeline in one storage (see the module docstring).

    Args:
        storage: Where the objects go.
        pipeline_id: The pipeline's persistent identity (one path segment).
        keep: How many complete checkpoints to keep (at least 1).
    """

    storage: CheckpointStorage
    pipeline_id: str
    keep: int = DEFAULT_KEEP

    def __post_init__(self) -> None:
        if "/" in self.pipeline_id:
            raise ValueError(f"pipeline_id must be one path segment, got {self.pipeline_id!r}")
        check_path(self.pipeline_id)
        if self.keep < 1:
            raise ValueError(f"keep must be at least 1, got {self.keep}")

    def part_path(self, k: int, name: str) -> str:
        """The storage path of part ``name`` of checkpoint ``k``."""
        return f"{self.pipeline_id}/chk-{k:012d}/{check_path(name)}"

    def manifest_path(self, k: int) -> str:
        """The storage path of the manifest of checkpoint ``k``."""
        return f"{self.pipeline_id}/manifests/{k:012d}.json"

    def location(self, path: str) -> str:
        """Where ``path`` lives (a file path or ``s3://`` URL), for messages."""
        return self.storage.location(path)

    def write_part(self, k: int, name: str, data: bytes) -> PartRef:
        """Writes part ``name`` of checkpoint ``k`` atomically and returns its reference."""
        path = self.part_path(k, name)
        self.storage.write(path, data)
        return PartRef(name, path, len(data), hashlib.sha256(data).hexdigest())

    def complete(self) -> list[int]:
        """The numbers of the complete checkpoints (those with a manifest), ascending."""
        found = (_MANIFEST.match(self._relative(path))
                 for path in self.storage.list(f"{self.pipeline_id}/manifests/"))
        return sorted(int(match.group(1)) for match in found if match)

    def _relative(self, path: str) -> str:
        """``path`` without the leading ``<pipeline_id>/``."""
        return path[len(self.pipeline_id) + 1:]

    def commit(self, manifest: Manifest) -> list[str]:
        """Makes checkpoint ``manifest.k`` complete, then applies retention.

        Returns:
            The paths deleted by retention.

        Raises:
            ValueError: The manifest belongs to another pipeline, its number is
                not above every complete checkpoint, or it references a part
                outside ``chk-<k>/``.
            CheckpointMissing: A referenced part does not exist (nothing written).
        """
        k = manifest.k
        if manifest.pipeline_id != self.pipeline_id:
            raise ValueError(f"manifest of pipeline {manifest.pipeline_id!r} committed to "
                             f"the store of {self.pipeline_id!r}")
        complete = self.complete()
        if complete and k <= complete[-1]:
            raise ValueError(f"checkpoint {k} is not above the newest complete one "
                             f"({self.location(self.manifest_path(complete[-1]))})")
        present = set(self.storage.list(f"{self.pipeline_id}/chk-{k:012d}/"))
        for part in manifest.parts:
            if part.path != self.part_path(k, part.name):
                raise ValueError(f"part {part.name!r} of checkpoint {k} lies outside its "
                                 f"folder: {part.path!r}")
            if part.path not in present:
                raise CheckpointMissing(self.location(part.path),
                                        f"part {part.name!r} of checkpoint {k} was never "
                                        "written; the manifest is not committed")
        self.storage.write(self.manifest_path(k), manifest.to_json())
        return self._retain([*complete, k])

    def _retain(self, complete: list[int]) -> list[str]:
        """Deletes checkpoints older than the ``keep`` newest of ``complete``."""
        newest, kept = complete[-1], set(complete[-self.keep:])
        manifests = [self.manifest_path(j) for j in complete if j not in kept]
        parts = []
        for path in self.storage.list(f"{self.pipeline_id}/chk-"):
            match = _PART_DIR.match(self._relative(path))
            if match and int(match.group(1)) < newest and int(match.group(1)) not in kept:
                parts.append(path)
        try:
            self.storage.delete(manifests)
            self.storage.delete(parts)
        except StorageError as exc:  # the new checkpoint is complete all the same
            log.warning("checkpoint retention failed (retried at the next commit): %s", exc)
            return []
        return manifests + parts

    def manifest(self, k: int) -> Manifest:
        """Reads and verifies the manifest of checkpoint ``k`` (and that its parts exist).

        Raises:
            CheckpointCorrupt: The manifest is truncated, unparsable, fails its
                checksum, or belongs to another number or pipeline.
            CheckpointMissing: The manifest or one of its parts does not exist.
        """
        path = self.manifest_path(k)
        where = self.location(path)
        try:
            data = self.storage.read(path)
        except StorageMissing as exc:
            raise CheckpointMissing(where, f"manifest of checkpoint {k} does not exist") from exc
        manifest = Manifest.from_json(data, where)
        if manifest.k != k or manifest.pipeline_id != self.pipeline_id:
            raise CheckpointCorrupt(where, f"holds checkpoint {manifest.k} of pipeline "
                                           f"{manifest.pipeline_id!r}, expected {k} of "
                                           f"{self.pipeline_id!r}")
        present = set(self.storage.list(f"{self.pipeline_id}/chk-{k:012d}/"))
        for part in manifest.parts:
            if part.path not in present:
                raise CheckpointMissing(self.location(part.path),
                                        f"part {part.name!r} of checkpoint {k} is missing "
                                        f"(listed by {where})")
        return manifest

    def latest(self) -> Manifest | None:
        """The newest complete checkpoint, verified; None if there is none.

        Never falls back to an older checkpoint: see :meth:`manifest` for the errors.
        """
        complete = self.complete()
        return self.manifest(complete[-1]) if complete else None

    def read_part(self, ref: PartRef) -> bytes:
        """Reads a part and verifies its size and sha256 against the manifest.

        Raises:
            CheckpointMissing: The part does not exist.
            CheckpointCorrupt: Its size or checksum differs from the manifest's.
        """
        where = self.location(ref.path)
        try:
            data = self.storage.read(ref.path)
        except StorageMissing as exc:
            raise CheckpointMissing(where, f"part {ref.name!r} is missing") from exc
        if len(data) != ref.size:
            raise CheckpointCorrupt(where, f"part {ref.name!r} has {len(data)} bytes, the "
                                           f"manifest says {ref.size} (truncated or replaced)")
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256:
            raise CheckpointCorrupt(where, f"part {ref.name!r} fails its checksum (sha256 "
                                           f"{digest}, the manifest says {ref.sha256})")
        return data

    def check_structure(self, manifest: Manifest, current: dict[str, dict]) -> None:
        """:func:`check_structure`, naming this store's manifest file."""
        check_structure(manifest, current, where=self.location(self.manifest_path(manifest.k)))


def check_structure(manifest: Manifest, current: dict[str, dict], *, where: str = "",
                    ignore: Collection[str] = ("parallelism",)) -> None:
    """Raises :class:`StructureChanged` if ``current`` differs from the checkpoint's.

    Args:
        manifest: The checkpoint to restore.
        current: Stage key -> JSON description of the pipeline being started.
        where: The manifest's location, for the message.
        ignore: Description fields that may change between runs. By default
            ``parallelism``: state is partitioned by key group, so a checkpoint
            taken with N actors restores into M.
    """
    old = manifest.structure
    new = json.loads(json.dumps(current, sort_keys=True))
    if not all(isinstance(description, dict) for description in new.values()):
        raise ValueError("check_structure: every stage description must be a dict")
    problems = []
    if added := sorted(set(new) - set(old)):
        problems.append("stages added: " + ", ".join(added))
    if removed := sorted(set(old) - set(new)):
        problems.append("stages removed: " + ", ".join(removed))
    for key in sorted(set(old) & set(new)):
        for name in sorted((set(old[key]) | set(new[key])) - set(ignore)):
            before, after = old[key].get(name), new[key].get(name)
            if before != after:
                problems.append(f"stage {key}: {name} was {_short(before)}, now {_short(after)}")
    if problems:
        raise StructureChanged(
            where or f"checkpoint {manifest.k}",
            f"the pipeline changed since checkpoint {manifest.k}: " + "; ".join(problems)
            + ". Restoring needs the same pipeline: undo the change, or use another "
              "persistence path (this checkpoint is kept)")


def _short(value: object, limit: int = 200) -> str:
    text = "absent" if value is None else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def ipc_codec() -> str | None:
    """The compression codec for state: zstd, else lz4, else None (what pyarrow has)."""
    for codec in ("zstd", "lz4"):
        if pa.Codec.is_available(codec):
            return codec
    return None


def table_to_ipc(table: pa.Table | pa.RecordBatch) -> bytes:
    """Serialises ``table`` as a compressed Arrow IPC stream."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=ipc_codec())
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def ipc_to_table(data: bytes, where: str = "<bytes>") -> pa.Table:
    """Reads an Arrow IPC stream written by :func:`table_to_ipc`.

    Raises:
        CheckpointCorrupt: ``data`` is not a complete Arrow IPC stream.
    """
    try:
        with ipc.open_stream(io.BytesIO(data)) as reader:
            return reader.read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CheckpointCorrupt(where, f"not a valid Arrow IPC stream: {exc}") from exc
