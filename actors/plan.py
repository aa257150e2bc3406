"""The physical plan: stages of actors and the channels between them.

raystream's planner builds a :class:`PhysicalPlan`; :mod:`raystream.actors.runtime`
deploys it. Stages are listed in topological order (inputs first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pyarrow as pa
from raystream.actors.kernels.base import KernelSpec
from raystream.actors.routing import Output, Routing
from raystream.connectors.base import ParsedBatch, SinkSpec, SourceSpec


@dataclass(frozen=True)
class Channel:
    """An input of a stage: the output of another stage, routed somehow.

    Attributes:
        stage: The upstream stage id.
        port: The input port number on this stage.
        routing: How rows reach this stage's instances.
        hash_columns: Columns for ``HASH`` routing (default: the row key).
        output: Which output of the upstream stage.
    """

    stage: int
    port: int
    routing: Routing
    hash_columns: tuple[str, ...] = ()
    output: Output = Output.DATA


Prepare = Callable[[ParsedBatch, str], pa.RecordBatch]
"""Turns a parsed source batch into a dataflow batch (``_key``, ``_diff``, columns)."""


AUTO = 0
"""An operator stage's parallelism when the runtime decides it at start (keyed reduces)."""


class DriverSink(Protocol):
    """An output consumed in the driver process (``pw.io.subscribe``, ``pw.debug``).

    The driver drains the sink actor's completed times and calls, in order:
    :meth:`on_batch` once per commit time that has rows, then
    :meth:`on_frontier` once every time below ``frontier`` is complete
    (``frontier`` reaches ``END`` when the stream is over).
    """

    def on_batch(self, time: int, batch: pa.RecordBatch) -> None:
        """One complete commit time's output rows (``time``/``diff`` columns, ``_key``)."""
        ...

    def on_frontier(self, frontier: int) -> None:
        """Every time below ``frontier`` was delivered with :meth:`on_batch`."""
        ...


@dataclass(frozen=True)
class ReaderStage:
    """The readers of one source; partitions are assigned when the pipeline starts.

    Attributes:
        id: Stage id.
        name: Readable name, e.g. ``kafka:events``.
        source: The connector's source spec.
        prepare: Builds dataflow batches from parsed batches (keys, diffs).
        parallel_readers: The user's reader count, or None for the default.
        autocommit_ms: Maximum minibatch duration.
        max_backlog_size: Row limit in flight for the whole source, or None.
        max_batch_rows: Largest batch read per poll.
        dynamic: True if partitions may appear and end while running (Kinesis
            shards; one reader per partition).
        grows: True if partitions may appear while running but never end (Kafka
            in streaming mode): those that appear get one new reader per listing.
        groups: Partition ids per reader instance; empty until
            :meth:`with_partitions` (the runtime lists partitions at start).
    """

    id: int
    name: str
    source: SourceSpec
    prepare: Prepare
    parallel_readers: int | None = None
    autocommit_ms: int = 1500
    max_backlog_size: int | None = None
    max_batch_rows: int = 65536
    dynamic: bool = False
    grows: bool = False
    groups: tuple[tuple[str, ...], ...] = ()

    @property
    def parallelism(self) -> int:
        """Number of reader actors (known once partitions are assigned)."""
        return len(self.groups)

    @property
    def followed(self) -> bool:
        """True if the driver re-lists the partitions while running (new readers join)."""
        return self.dynamic or self.grows

    def with_partitions(self, groups: list[list[str]]) -> ReaderStage:
        """This stage with its partition groups assigned."""
        return replace(self, groups=tuple(tuple(g) for g in groups))


@dataclass(frozen=True)
class OperatorStage:
    """``parallelism`` actors hosting one kernel each.

    Attributes:
        id: Stage id.
        name: Readable name, e.g. ``reduce``.
        kernel: The compiled kernel; each actor builds its own from it.
        inputs: Input channels.
        parallelism: Number of actors.
        follows: A stage whose parallelism this one copies when the pipeline
            starts (a stateless chain after a reader), or None.
    """

    id: int
    name: str
    kernel: KernelSpec
    inputs: list[Channel]
    parallelism: int = 1
    follows: int | None = None


@dataclass(frozen=True)
class SinkStage:
    """One sink actor writing one output.

    Attributes:
        id: Stage id.
        name: Readable name.
        sink: The connector's sink spec, or None for a driver-side sink
            (subscribe callbacks, debug capture) whose rows the driver drains.
        format: Turns ``(time, dataflow batch)`` into the output batch.
        inputs: Input channels (always ``GATHER``).
        callbacks: For driver-side sinks: the :class:`DriverSink` the driver
            calls with the completed times.
    """

    id: int
    name: str
    sink: SinkSpec | None
    format: Callable[[int, pa.RecordBatch], pa.RecordBatch]
    inputs: list[Channel]
    callbacks: DriverSink | None = None

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

    def resolved(self, reader_groups: dict[int, list[list[str]]],
                 default_parallelism: int) -> PhysicalPlan:
        """The plan once the sources' partitions are known (pure; at pipeline start).

        Reader stages get their partition groups, stages that follow another
        copy its parallelism, ``AUTO`` stages get ``default_parallelism``, and a
        ``FORWARD`` channel between stages of different parallelism becomes ``HASH``.

        Args:
            reader_groups: Reader stage id -> partition ids per reader.
            default_parallelism: Actors of an ``AUTO`` stage.
        """
        stages: dict[int, Stage] = {}
        for stage in self.stages:
            if isinstance(stage, ReaderStage) and stage.id in reader_groups:
                stage = stage.with_partitions(reader_groups[stage.id])
            elif isinstance(stage, OperatorStage):
                if stage.follows is not None:
                    stage = replace(stage, parallelism=stages[stage.follows].parallelism)
                elif stage.parallelism == AUTO:
                    stage = replace(stage, parallelism=default_parallelism)
                inputs = [c if c.routing is not Routing.FORWARD
                          or stages[c.stage].parallelism == stage.parallelism
                          else replace(c, routing=Routing.HASH) for c in stage.inputs]
                stage = replace(stage, inputs=inputs)
            stages[stage.id] = stage
        return replace(self, stages=list(stages.values()))

    def consumers(self, stage_id: int) -> list[tuple[Stage, Channel]]:
        """Returns the stages reading an output of ``stage_id``, with their channel."""
        found = []
        for stage in self.stages:
            for channel in getattr(stage, "inputs", []):
                if channel.stage == stage_id:
                    found.append((stage, channel))
        return found
