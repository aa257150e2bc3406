"""Planning: the logical graph of a pipeline becomes stages of actors.

Rules:
    * a source becomes a reader stage, one reader per partition group;
    * a chain of stateless operators (select, filter, flatten...) whose
      intermediate results have one consumer is fused into one operator stage,
      one actor per upstream actor (forward routing, so it stays with its
      input); with ``fuse_into_readers`` the chain runs inside the readers;
    * a keyed reduce or an upsert becomes a stage of ``reduce_parallelism``
      actors fed by hash partitioning on the group (or row) key; a global
      reduce has one actor; stateless operators after it are fused into it;
    * every output is a sink stage with one actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from raystream.actors.discovery import initial_partitions
from raystream.actors.messages import DIFF, KEY, Kernel
from raystream.actors.plan import (
    ERRORS,
    Channel,
    OperatorStage,
    PhysicalPlan,
    ReaderStage,
    SinkStage,
    Stage,
)
from raystream.engine.output import OutputFormat
from raystream.engine.prepare import PrepareRows
from raystream.engine.reduce import ReduceKernel
from raystream.engine.steps import (
    ChainKernel,
    FilterStep,
    FlattenStep,
    MapStep,
    ProjectStep,
    Step,
    run_steps,
)
from raystream.engine.upsert import UpsertKernel
from raystream.graph import (
    ConcatNode,
    ErrorLogNode,
    FilterNode,
    FlattenNode,
    MapNode,
    Node,
    ReduceNode,
    SinkNode,
    SourceNode,
    UpsertNode,
)


@dataclass(frozen=True)
class PlanOptions:
    """Planner settings.

    Attributes:
        name: Pipeline name (actor names, metrics).
        reduce_parallelism: Actors per keyed reduce or upsert.
        fuse_into_readers: Run stateless chains inside the reader actors.
        terminate_on_error: Stop at the first bad record.
        runtime: Options passed through to the runtime (resources, monitoring).
    """

    name: str = "pipeline"
    reduce_parallelism: int = 2
    fuse_into_readers: bool = False
    terminate_on_error: bool = False
    runtime: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReaderPrepare:
    """Prepare rows, then run the stateless steps fused into the reader."""

    prepare: PrepareRows
    steps: list[Step]

    def __call__(self, parsed: Any, reader_id: str) -> pa.RecordBatch:
        """Prepares a parsed batch, then runs the fused steps."""
        return run_steps(self.steps, self.prepare(parsed, reader_id))


@dataclass
class KernelFactory:
    """Builds a stage's kernel in its actor (picklable)."""

    steps: list[Step]
    head: Any = None
    port_steps: dict[int, list[Step]] | None = None

    def __call__(self, instance: int) -> Kernel:
        """Builds the kernel for actor ``instance``."""
        head = self.head() if self.head is not None else None
        return ChainKernel(list(self.steps), head, self.port_steps)


@dataclass
class _Builder:
    id: int
    kind: str
    names: list[str]
    parallelism: int
    inputs: list[Channel] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    head: Any = None
    port_steps: dict[int, list[Step]] | None = None
    source: Any = None
    groups: list[list[str]] | None = None
    sink: Any = None
    sink_columns: tuple[str, ...] = ()


class Planner:
    """Turns sink nodes into a :class:`PhysicalPlan`."""

    def __init__(self, options: PlanOptions) -> None:
        self.options = options
        self.builders: list[_Builder] = []
        self.output_of: dict[int, _Builder] = {}
        self.uses: dict[int, int] = {}

    def plan(self, sinks: list[SinkNode]) -> PhysicalPlan:
        """Plans every node the sinks depend on."""
        order = _topological(sinks)
        for node in order:
            for parent in node.inputs:
                self.uses[parent.id] = self.uses.get(parent.id, 0) + 1
        for node in order:
            if isinstance(node, SourceNode):
                self._reader(node)
        for node in order:
            if not isinstance(node, SourceNode):
                self._place(node)
        stages = [self._stage(b) for b in self.builders]
        return PhysicalPlan(self.options.name, stages, self.options.terminate_on_error,
                            dict(self.options.runtime))

    # -- placing nodes ---------------------------------------------------------
    def _new(self, kind: str, name: str, parallelism: int) -> _Builder:
        builder = _Builder(len(self.builders), kind, [name], parallelism)
        self.builders.append(builder)
        return builder

    def _reader(self, node: SourceNode) -> None:
        source = node.source
        partitions = source.spec.list_partitions()
        if source.dynamic:  # one reader per partition; children start later
            groups = [[p] for p in initial_partitions(partitions)]
        else:
            count = min(source.options.parallel_readers or len(partitions), len(partitions)) or 1
            groups = [[] for _ in range(count)]
            for i, partition in enumerate(partitions):
                groups[i % count].append(partition.id)
        builder = self._new("reader", source.name, len(groups))
        builder.source, builder.groups = source, groups
        self.output_of[node.id] = builder

    def _place(self, node: Node) -> None:
        if isinstance(node, (MapNode, FilterNode, FlattenNode)):
            self._stateless(node)
        elif isinstance(node, ConcatNode):
            self._concat(node)
        elif isinstance(node, ReduceNode):
            self._keyed(node, "reduce", ReduceHead.of(node), list(node.group_columns))
        elif isinstance(node, UpsertNode):
            self._keyed(node, "upsert", UpsertHead(_dataflow_schema(node)), [KEY])
        elif isinstance(node, ErrorLogNode):
            self._error_log(node)
        elif isinstance(node, SinkNode):
            self._sink(node)
        else:
            raise TypeError(f"cannot plan {type(node).__name__}")

    def _stateless(self, node: Node) -> None:
        step = _step_of(node)
        parent = node.inputs[0]
        upstream = self.output_of[parent.id]
        fusable = upstream.kind == "operator" or (
            upstream.kind == "reader" and self.options.fuse_into_readers)
        if self.uses.get(parent.id, 0) == 1 and fusable:
            upstream.steps.append(step)
            upstream.names.append(node.kind)
            self.output_of[node.id] = upstream
            return
        builder = self._new("operator", node.kind, upstream.parallelism)
        builder.inputs.append(Channel(upstream.id, 0, _follow(upstream)))
        builder.steps.append(step)
        self.output_of[node.id] = builder

    def _concat(self, node: ConcatNode) -> None:
        upstreams = [self.output_of[p.id] for p in node.inputs]
        parallelism = upstreams[0].parallelism
        builder = self._new("operator", "concat", parallelism)
        names = tuple(node.columns)
        types = tuple(c.dtype.arrow if not c.dtype.is_any else None
                      for c in node.columns.values())
        builder.port_steps = {}
        for port, upstream in enumerate(upstreams):
            routing = _follow(upstream) if upstream.parallelism == parallelism else "hash"
            builder.inputs.append(Channel(upstream.id, port, routing))
            builder.port_steps[port] = [ProjectStep(names, types)]
        self.output_of[node.id] = builder

    def _keyed(self, node: Node, kind: str, head: Any, key_columns: list[str]) -> None:
        upstream = self.output_of[node.inputs[0].id]
        global_reduce = isinstance(node, ReduceNode) and not node.group_columns
        parallelism = 1 if global_reduce else self.options.reduce_parallelism
        name = f"{kind}({','.join(c for c in key_columns if c != KEY)})"
        builder = self._new("operator", name, parallelism)
        routing = "gather" if parallelism == 1 else "hash"
        builder.inputs.append(Channel(upstream.id, 0, routing, tuple(key_columns)))
        builder.head = head
        self.output_of[node.id] = builder

    def _error_log(self, node: ErrorLogNode) -> None:
        builder = self._new("operator", "error_log", 1)
        readers = [b for b in self.builders if b.kind == "reader"]
        for port, reader in enumerate(readers):
            builder.inputs.append(Channel(reader.id, port, "gather", output=ERRORS))
        self.output_of[node.id] = builder

    def _sink(self, node: SinkNode) -> None:
        upstream = self.output_of[node.inputs[0].id]
        descriptor = node.sink
        builder = self._new("sink", descriptor.name or f"{descriptor.kind}:{descriptor.label}", 1)
        builder.inputs.append(Channel(upstream.id, 0, "gather"))
        builder.sink, builder.sink_columns = descriptor, tuple(node.columns)

    # -- building stages -------------------------------------------------------
    def _stage(self, b: _Builder) -> Stage:
        name = "+".join(b.names)
        if b.kind == "reader":
            source = b.source
            prepare = PrepareRows(source.columns, source.primary_key,
                                  source.use_message_key, source.seed, source.raw_ids)
            return ReaderStage(
                b.id, name, source.spec, b.groups or [], ReaderPrepare(prepare, b.steps),
                autocommit_ms=source.options.autocommit_duration_ms,
                max_backlog_size=source.options.max_backlog_size,
                max_batch_rows=source.options.max_batch_rows, dynamic=source.dynamic)
        if b.kind == "sink":
            d = b.sink
            fmt = OutputFormat(b.sink_columns, d.sort_by, d.include_key)
            return SinkStage(b.id, name, d.spec, fmt, b.inputs, d.callbacks)
        return OperatorStage(b.id, name, KernelFactory(b.steps, b.head, b.port_steps),
                             b.inputs, b.parallelism)


@dataclass
class ReduceHead:
    """Builds a reduce kernel in its actor (picklable; no logical graph inside)."""

    group_columns: list[str]
    aggs: list[Any]
    group_types: list[pa.DataType]

    @classmethod
    def of(cls, node: ReduceNode) -> ReduceHead:
        """Extracts what the kernel needs from a ReduceNode."""
        input_columns = node.inputs[0].columns
        types = [input_columns[c].dtype.arrow for c in node.group_columns]
        return cls(list(node.group_columns), list(node.aggs), types)

    def __call__(self) -> ReduceKernel:
        """Builds the reduce kernel."""
        return ReduceKernel(self.group_columns, self.aggs, self.group_types)


@dataclass
class UpsertHead:
    """Builds an upsert kernel (picklable)."""

    schema: pa.Schema

    def __call__(self) -> UpsertKernel:
        """Builds the upsert kernel."""
        return UpsertKernel(self.schema)


def _dataflow_schema(node: Node) -> pa.Schema:
    fields = [pa.field(KEY, pa.uint64()), pa.field(DIFF, pa.int64())]
    fields += [pa.field(n, c.dtype.arrow) for n, c in node.columns.items()]
    return pa.schema(fields)


def _follow(upstream: _Builder) -> str:
    """Routing to a stage of the upstream's parallelism.

    Forward, unless readers of a dynamic source can appear later: they have no
    fixed partner, so rows are hash-routed instead.
    """
    dynamic = upstream.kind == "reader" and upstream.source.dynamic
    return "hash" if dynamic else "forward"


def _step_of(node: Node) -> Step:
    if isinstance(node, MapNode):
        return MapStep(tuple(node.outputs))
    if isinstance(node, FilterNode):
        return FilterStep(node.predicate)  # type: ignore[arg-type]
    if isinstance(node, FlattenNode):
        return FlattenStep(node.column)
    raise TypeError(type(node).__name__)


def _topological(sinks: list[SinkNode]) -> list[Node]:
    order: list[Node] = []
    seen: set[int] = set()

    def visit(node: Node) -> None:
        if node.id in seen:
            return
        seen.add(node.id)
        for parent in node.inputs:
            visit(parent)
        order.append(node)

    for sink in sinks:
        visit(sink)
    return order
