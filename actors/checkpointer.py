"""The driver's side of checkpoints: write complete cuts, load what a rollback restores.

The driver is the one writer of checkpoints (the coordinator only collects
the parts): it survives every actor, and a run ends with it anyway. A cut's
operator parts arrive as object references to Arrow IPC bytes; the driver
writes them, then the manifest (:class:`raystream.actors.checkpoint.CheckpointStore`).
On a rollback it reads the newest manifest back, splits each stateful stage's
tables by key group among the stage's current instances, and maps the
sources' per-partition positions onto the current readers.
"""

from __future__ import annotations

import logging
import re
import time as _time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import ray
from raystream.actors.checkpoint import CheckpointStore, ipc_to_table
from raystream.actors.checkpoint_manifest import Manifest, PartRef
from raystream.actors.cuts import Cut
from raystream.actors.messages import END
from raystream.actors.plan import OperatorStage, PhysicalPlan, ReaderStage, SinkStage
from raystream.actors.routing import channel_id, filter_groups, source_key
from raystream.connectors.base import FIRST_RECORD

log = logging.getLogger("raystream.checkpoint")

_PART = re.compile(r"^stage(\d+)/(\d+)/([A-Za-z0-9_.-]+)\.arrow$")


def stage_key(stage_id: int) -> str:
    """The name of a stage in manifests (its structure and its parts)."""
    return f"stage{stage_id}"


def structure_of(plan: PhysicalPlan) -> dict[str, dict[str, Any]]:
    """What a checkpoint must match to be restored into this plan (JSON)."""
    structure: dict[str, dict[str, Any]] = {}
    for stage in plan.stages:
        entry: dict[str, Any] = {"name": stage.name, "parallelism": stage.parallelism}
        if isinstance(stage, ReaderStage):
            entry["kind"] = "reader"
            entry["source"] = getattr(stage.source, "name", stage.name)
        elif isinstance(stage, OperatorStage):
            entry["kind"] = "operator"
            entry["state"] = repr(getattr(stage.kernel, "head", None))[:2000]
        else:
            entry["kind"] = "sink"
        structure[stage_key(stage.id)] = entry
    return structure


@dataclass
class Restore:
    """What a rollback gives every actor.

    Attributes:
        frontier: The cut's frontier (0: no cut yet, the run's start).
        clock: Times handed out from now on are above this.
        positions: Reader id -> {partition: position} (missing: as at the start),
            for the readers the plan started with.
        sources: Source key -> {partition: position}: the checkpoint's positions
            (readers started while running take theirs from here).
        operator_state: Operator id -> its tables (its key groups only).
        sink_states: Sink id -> its writer state (missing: as at the start).
        sink_parts: Sink id -> its parts (an epoch's staged rows).
        number: The checkpoint number restored (0: none).
    """

    frontier: int = 0
    clock: int = 0
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    operator_state: dict[str, dict[str, pa.Table]] = field(default_factory=dict)
    sink_states: dict[str, dict] = field(default_factory=dict)
    sink_parts: dict[str, dict[str, pa.Table]] = field(default_factory=dict)
    number: int = 0

    def reader_positions(self, stage: ReaderStage, partitions: tuple[str, ...] | list[str],
                         appeared: bool = False) -> dict[str, Any]:
        """Where a reader of ``partitions`` of ``stage`` starts after this restore.

        A partition the checkpoint has a position for resumes there. Of a
        growing source (Kafka, streaming), a partition the checkpoint does not
        know appeared after it, and one that ``appeared`` while running, reads
        from its first record (:data:`FIRST_RECORD`); any other starts as a
        fresh reader does (group offsets, ``auto.offset.reset``, TRIM_HORIZON).

        Args:
            stage: The reader stage.
            partitions: The reader's partitions.
            appeared: The reader was started while running, for new partitions.
        """
        source = self.sources.get(source_key(stage.name, stage.id), {})
        found = {p: source[p] for p in partitions if p in source}
        if stage.grows and (appeared or self.number):
            found.update({p: FIRST_RECORD for p in partitions if p not in source})
        return found


class Checkpointer:
    """Writes cuts of one running plan and reads them back.

    Args:
        store: The checkpoint store (memory, filesystem or S3).
        plan: The running plan (resolved).
    """

    def __init__(self, store: CheckpointStore, plan: PhysicalPlan) -> None:
        self.store = store
        self.plan = plan
        self.latest: Manifest | None = None
        self.written = 0
        self.bytes_written = 0
        self.last_write_s = 0.0

    def start(self) -> Manifest | None:
        """Reads the newest checkpoint (an error if it is corrupt or does not fit the plan)."""
        self.latest = self.store.latest()
        if self.latest is not None:
            self.store.check_structure(self.latest, structure_of(self.plan))
        return self.latest

    # -- writing ---------------------------------------------------------------

    def write(self, cut: Cut, readers: dict[str, str]) -> Manifest:
        """Writes one complete cut as the next checkpoint.

        Args:
            cut: The cut (its parts are object references).
            readers: Reader id -> source key (for the per-source positions).
        """
        started = _time.monotonic()
        k = (self.latest.k if self.latest is not None else 0) + 1
        owners = {**cut.parts, **cut.sink_parts}
        refs = [(owner, name, ref_list[0]) for owner, named in sorted(owners.items())
                for name, ref_list in sorted(named.items())]
        blobs = ray.get([ref for _, _, ref in refs]) if refs else []
        parts: list[PartRef] = []
        for (operator, name, _), data in zip(refs, blobs, strict=True):
            stage, instance = operator.split(".")
            parts.append(self.store.write_part(k, f"stage{stage}/{instance}/{name}.arrow", data))
            self.bytes_written += len(data)
        positions: dict[str, dict[str, Any]] = {}
        for reader, position in sorted(cut.positions.items()):
            if position is not None and not isinstance(position, dict):
                raise TypeError(f"source {readers[reader]}: position() returned "
                                f"{type(position).__name__} {position!r}; it must return a "
                                "dict of partition id -> position (connectors/base.py)")
            positions.setdefault(readers[reader], {}).update(position or {})
        manifest = Manifest(
            pipeline_id=self.store.pipeline_id, k=k, frontier=cut.frontier, clock=cut.clock,
            structure=structure_of(self.plan), positions=positions, parts=tuple(parts),
            sinks={sink: state for sink, state in sorted(cut.sink_states.items())})
        self.store.commit(manifest)
        self.latest = manifest
        self.written += 1
        self.last_write_s = _time.monotonic() - started
        return manifest

    # -- reading ---------------------------------------------------------------

    def restore(self) -> Restore:
        """What a rollback to the newest checkpoint gives each current actor."""
        manifest = self.latest
        if manifest is None:
            return Restore()
        # a final (END) cut: everything read was processed; the next run's times and
        # frontiers start just above every time handed out before
        frontier = manifest.frontier if manifest.frontier < END else manifest.clock + 1
        restore = Restore(frontier=frontier, clock=manifest.clock,
                          sources={k: dict(v) for k, v in manifest.positions.items()},
                          sink_states=dict(manifest.sinks), number=manifest.k)
        tables = self._stage_tables(manifest)
        for stage in self.plan.stages:
            if isinstance(stage, OperatorStage) and stage.id in tables:
                for instance in range(stage.parallelism):
                    restore.operator_state[channel_id(stage.id, instance)] = {
                        name: filter_groups(table, instance, stage.parallelism)
                        for name, table in tables[stage.id].items()}
            elif isinstance(stage, SinkStage) and stage.id in tables:
                restore.sink_parts[channel_id(stage.id, 0)] = tables[stage.id]
            elif isinstance(stage, ReaderStage):
                for instance, group in enumerate(stage.groups):
                    restore.positions[channel_id(stage.id, instance)] = \
                        restore.reader_positions(stage, group)
        return restore

    def _stage_tables(self, manifest: Manifest) -> dict[int, dict[str, pa.Table]]:
        """Every stateful stage's tables, concatenated over the instances that wrote them."""
        pieces: dict[int, dict[str, list[pa.Table]]] = {}
        for part in manifest.parts:
            match = _PART.match(part.name)
            if match is None:
                continue
            stage, name = int(match.group(1)), match.group(3)
            table = ipc_to_table(self.store.read_part(part), self.store.location(part.path))
            pieces.setdefault(stage, {}).setdefault(name, []).append(table)
        return {stage: {name: pa.concat_tables(ts, promote_options="permissive")
                        for name, ts in named.items()}
                for stage, named in pieces.items()}

    def sink_ids(self) -> list[str]:
        """The plan's sink ids."""
        return [channel_id(s.id, 0) for s in self.plan.stages if isinstance(s, SinkStage)]
