"""The physical plan: stages of actors and the channels between them.

raystream's planner builds a :class:`PhysicalPlan`; :mod:`raystream.actors.runtime`
deploys it. Stages are listed in topological order (inputs first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from raystream.actors.messages import Kernel
from raystream.connectors.base import ParsedBatch, SinkSpec, SourceSpec

DATA = "data"
ERRORS = "errors"


@dataclass(frozen=True)
class Channel:
    """An input of a stage: the output of another stage, routed somehow.

    Attributes:
        stage: The upstream stage id.
        port: The input port number on this stage.
        routing: ``forward``, ``hash``, ``gather`` or ``broadcast``.
        hash_columns: Columns for ``hash`` routing (default: the row key).
        output: Which output of the upstream stage (``data`` or ``errors``).
    """

    stage: int
    port: int
    routing: str
    hash_columns: tuple[str, ...] = ()
    output: str = DATA


Prepare = Callable[[ParsedBatch, str], pa.RecordBatch]
"""Turns a parsed source batch into a dataflow batch (``_key``, ``_diff``, columns)."""


@dataclass(frozen=True)
class ReaderStage:
    """One reader actor per partition group of a source.

    Attributes:
        id: Stage id.
        name: Readable name, e.g. ``kafka:events``.
        source: The connector's source spec.
        groups: Partition ids per reader instance.
        prepare: Builds dataflow batches from parsed batches (keys, diffs).
        autocommit_ms: Maximum minibatch duration.
        max_backlog_size: Row limit in flight for the whole source, or None.
        max_batch_rows: Largest batch read per poll.
        dynamic: True if partitions may appear while running (Kinesis shards).
    """

    id: int
    name: str
    source: SourceSpec
    groups: list[list[str]]
    prepare: Prepare
    autocommit_ms: int = 1500
    max_backlog_size: int | None = None
    max_batch_rows: int = 65536
    dynamic: bool = False

    @property
    def parallelism(self) -> int:
        """Number of reader actors."""
        return len(self.groups)


@dataclass(frozen=True)
class OperatorStage:
    """``parallelism`` actors hosting one kernel each.

    Attributes:
        id: Stage id.
        name: Readable name, e.g. ``reduce``.
        kernel: Builds the kernel for an instance number.
        inputs: Input channels.
        parallelism: Number of actors.
    """

    id: int
    name: str
    kernel: Callable[[int], Kernel]
    inputs: list[Channel]
    parallelism: int = 1


@dataclass(frozen=True)
class SinkStage:
    """One sink actor writing one output.

    Attributes:
        id: Stage id.
        name: Readable name.
        sink: The connector's sink spec, or None for a driver-side sink
            (subscribe callbacks, debug capture) whose rows the driver drains.
        format: Turns ``(time, dataflow batch)`` into the output batch.
        inputs: Input channels (always ``gather``).
        callbacks: For driver-side sinks: object with ``on_batch(time, batch)``
            and ``on_end()``, called in the driver process.
    """

    id: int
    name: str
    sink: SinkSpec | None
    format: Callable[[int, pa.RecordBatch], pa.RecordBatch]
    inputs: list[Channel]
    callbacks: Any = None

    @property
    def parallelism(self) -> int:
        """Sinks have one actor."""
        return 1


Stage = ReaderStage | OperatorStage | SinkStage


@dataclass(frozen=True)
class PhysicalPlan:
    """A pipeline ready to deploy.

    Attributes:
        name: Pipeline name, used in actor names and metrics.
        stages: Stages in topological order.
        terminate_on_error: Stop at the first bad record instead of logging it.
        options: Runtime options (resources per actor kind, status interval).
    """

    name: str
    stages: list[Stage]
    terminate_on_error: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def stage(self, stage_id: int) -> Stage:
        """Returns the stage with ``stage_id``."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def consumers(self, stage_id: int) -> list[tuple[Stage, Channel]]:
        """Returns the stages reading an output of ``stage_id``, with their channel."""
        found = []
        for stage in self.stages:
            for channel in getattr(stage, "inputs", []):
                if channel.stage == stage_id:
                    found.append((stage, channel))
        return found


def channel_id(stage_id: int, instance: int) -> str:
    """The sender id of one actor instance, as used in frontiers."""
    return f"{stage_id}.{instance}"
