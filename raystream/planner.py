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
    * with ``combine_partials``, a reduce whose aggregates are all combinable
      (no keyed reducer) gets its combiner (:class:`PartialAggregate`) fused
      into the stage that feeds it, when that stage's output has no other
      consumer: each batch is pre-aggregated per group before the hash
      shuffle, which then carries groups instead of rows;
    * every output is a sink stage with one actor;
    * columns that can hold error values carry error flags
      (:mod:`raystream.actors.kernels.cells`): which ones is decided here, per
      table; an :class:`ErrorGate` skips rows with errors before a reduce
      (errors in grouping columns) and before an output (errors anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from raystream.actors.kernels.aggs import combinable
from raystream.actors.kernels.base import KernelSpec
from raystream.actors.kernels.cells import GROUPING_MESSAGE, OUTPUT_MESSAGE, ErrorGate
from raystream.actors.kernels.combine import CombineSpec
from raystream.actors.kernels.output import OutputFormat
from raystream.actors.kernels.partial import PartialAggregate, PartialLayout
from raystream.actors.kernels.prepare import PrepareRows
from raystream.actors.kernels.reduce import ReduceSpec
from raystream.actors.kernels.reshape import EnsureFlags, ProjectStep
from raystream.actors.kernels.steps import (
    ChainSpec,
    ReaderSteps,
    Step,
)
from raystream.actors.kernels.to_stream import ToStreamSpec
from raystream.actors.kernels.unique_keys import UniqueKeysSpec
from raystream.actors.kernels.upsert import UpsertSpec
from raystream.actors.plan import (
    AUTO,
    Channel,
    OperatorStage,
    PhysicalPlan,
    ReaderStage,
    SinkStage,
    Stage,
)
from raystream.actors.routing import Output, Routing
from raystream.connectors.batch import KEY, dataflow_schema, error_flag
from raystream.graph import (
    CombineNode,
    ConcatNode,
    ErrorLogNode,
    FilterNode,
    FlattenNode,
    MapNode,
    Node,
    ReduceNode,
    SignNode,
    SinkNode,
    SourceNode,
    ToStreamNode,
    UpsertNode,
    is_append_only,
)
from raystream.plan_steps import remember_results, step_of, topological


@dataclass(frozen=True)
class PlanOptions:
    """Planner settings.

    Attributes:
        name: Pipeline name (actor names, metrics).
        reduce_parallelism: Actors per keyed reduce or upsert (None: decided
            when the pipeline starts, from the cluster's CPUs).
        fuse_into_readers: Run stateless chains inside the reader actors.
        combine_partials: Pre-aggregate a reduce's input per batch upstream of
            its shuffle (when every aggregate is combinable).
        terminate_on_error: Stop at the first bad record.
        runtime: Options passed through to the runtime (resources, monitoring).
    """

    name: str = "pipeline"
    reduce_parallelism: int | None = None
    fuse_into_readers: bool = False
    combine_partials: bool = True
    terminate_on_error: bool = False
    runtime: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Builder:
    id: int
    kind: str
    names: list[str]
    parallelism: int
    inputs: list[Channel] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    head: KernelSpec | None = None
    port_steps: dict[int, list[Step]] | None = None
    source: Any = None
    follows: int | None = None
    sink: Any = None
    sink_columns: tuple[str, ...] = ()
    fed_by_node: int | None = None


class Planner:
    """Turns sink nodes into a :class:`PhysicalPlan`."""

    def __init__(self, options: PlanOptions) -> None:
        self.options = options
        self.builders: list[_Builder] = []
        self.output_of: dict[int, _Builder] = {}
        self.uses: dict[int, int] = {}
        self.next_id = 0
        self.error_logs: list[_Builder] = []
        self.flags: dict[int, frozenset[str]] = {}

    def plan(self, sinks: list[SinkNode]) -> PhysicalPlan:
        """Plans every node the sinks depend on."""
        order = topological(sinks)
        for node in order:
            for parent in node.inputs:
                self.uses[parent.id] = self.uses.get(parent.id, 0) + 1
        for node in order:
            if isinstance(node, SourceNode):
                self._reader(node)
        for node in order:
            if not isinstance(node, SourceNode):
                self._place(node)
        self._connect_error_logs()
        stages = [self._stage(b) for b in self._ordered()]
        return PhysicalPlan(self.options.name, stages, self.options.terminate_on_error,
                            dict(self.options.runtime))

    # -- placing nodes ---------------------------------------------------------
    def _new(self, kind: str, name: str, parallelism: int) -> _Builder:
        builder = _Builder(self.next_id, kind, [name], parallelism)
        self.next_id += 1
        self.builders.append(builder)
        return builder

    def _reader(self, node: SourceNode) -> None:
        """A reader stage; its partitions are listed when the pipeline starts."""
        source = node.source
        builder = self._new("reader", source.name, 0)
        builder.source = source
        self.output_of[node.id] = builder
        self.flags[node.id] = frozenset()

    def _place(self, node: Node) -> None:
        self.flags[node.id] = self._flags_of(node)
        if isinstance(node, (MapNode, FilterNode, FlattenNode, SignNode)):
            self._stateless(node)
        elif isinstance(node, ConcatNode):
            self._concat(node)
        elif isinstance(node, ReduceNode):
            self._keyed(node, "reduce", self._reduce_spec(node), list(node.group_columns))
        elif isinstance(node, UpsertNode):
            self._keyed(node, "upsert", UpsertSpec(_dataflow_schema(node)), [KEY])
        elif isinstance(node, ToStreamNode):
            self._keyed(node, "to_stream", ToStreamSpec(), [KEY])
        elif isinstance(node, CombineNode):
            self._combine(node)
        elif isinstance(node, ErrorLogNode):
            self._error_log(node)
        elif isinstance(node, SinkNode):
            self._sink(node)
        else:
            raise TypeError(f"cannot plan {type(node).__name__}")

    def _flags_of(self, node: Node) -> frozenset[str]:
        """The node's columns that can hold error values."""
        if isinstance(node, (ReduceNode, UpsertNode, ErrorLogNode, SinkNode, ToStreamNode)):
            return frozenset()
        inputs = frozenset().union(*(self.flags[p.id] for p in node.inputs))
        if isinstance(node, MapNode):
            return frozenset(n for n, e in node.outputs if e.may_be_error(inputs))
        if isinstance(node, FlattenNode):
            return (inputs - {node.column}) & set(node.columns)
        if isinstance(node, CombineNode):
            return frozenset(name for name, candidates in zip(node.columns, node.outputs,
                                                             strict=True)
                             if any(c in self.flags[node.inputs[i].id] for i, c in candidates))
        return inputs & set(node.columns)

    def _gate(self, parent: Node, gate: ErrorGate) -> _Builder:
        """The stage whose output is ``parent``'s rows after ``gate``.

        The gate joins the parent's stage when nothing else reads its output,
        else it gets a stage of its own that follows it.
        """
        upstream = self.output_of[parent.id]
        if self.uses.get(parent.id, 0) == 1 and upstream.kind in ("reader", "operator"):
            upstream.steps.append(gate)
            upstream.names.append("errors")
            return upstream
        builder = self._new("operator", "errors", upstream.parallelism)
        builder.follows = upstream.id
        builder.inputs.append(Channel(upstream.id, 0, _follow(upstream)))
        builder.steps.append(gate)
        return builder

    def _stateless(self, node: Node) -> None:
        if isinstance(node, MapNode) and not is_append_only(node.inputs[0]):
            remember_results(node)
        step = step_of(node, self.flags[node.id])
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
        builder.follows = upstream.id
        builder.inputs.append(Channel(upstream.id, 0, _follow(upstream)))
        builder.fed_by_node = parent.id
        builder.steps.append(step)
        self.output_of[node.id] = builder

    def _concat(self, node: ConcatNode) -> None:
        upstreams = [self.output_of[p.id] for p in node.inputs]
        builder = self._new("operator", "concat", upstreams[0].parallelism)
        builder.follows = upstreams[0].id
        names = tuple(node.columns)
        types = tuple(c.dtype.arrow if not c.dtype.is_any else None
                      for c in node.columns.values())
        builder.port_steps = {}
        flags = tuple(n for n in names if n in self.flags[node.id])
        for port, upstream in enumerate(upstreams):
            # FORWARD becomes HASH at start if the parallelisms differ (PhysicalPlan.resolved)
            builder.inputs.append(Channel(upstream.id, port, _follow(upstream)))
            builder.port_steps[port] = [ProjectStep(names, types, flags)]
        self.output_of[node.id] = builder
        if node.check_keys:
            checker = self._new("operator", "unique_keys", self.options.reduce_parallelism or AUTO)
            checker.inputs.append(Channel(builder.id, 0, Routing.HASH, (KEY,)))
            checker.head = UniqueKeysSpec(self.options.terminate_on_error, node.label)
            self.output_of[node.id] = checker

    def _keyed(self, node: Node, kind: str, head: KernelSpec, key_columns: list[str]) -> None:
        parent = node.inputs[0]
        upstream = self.output_of[parent.id]
        if self.flags[parent.id] and not (isinstance(head, ReduceSpec) and head.partial_input):
            columns = [c for c in key_columns if c != KEY]
            gate = ErrorGate(tuple(columns), GROUPING_MESSAGE, strip=False, label=node.label) \
                if kind == "reduce" else ErrorGate(None, OUTPUT_MESSAGE, label=node.label)
            upstream = self._gate(parent, gate)
        global_reduce = isinstance(node, ReduceNode) and not node.group_columns
        parallelism = 1 if global_reduce else (self.options.reduce_parallelism or AUTO)
        name = f"{kind}({','.join(c for c in key_columns if c != KEY)})"
        builder = self._new("operator", name, parallelism)
        routing = Routing.GATHER if parallelism == 1 else Routing.HASH
        builder.inputs.append(Channel(upstream.id, 0, routing, tuple(key_columns)))
        builder.head = head
        self.output_of[node.id] = builder

    def _reduce_spec(self, node: ReduceNode) -> ReduceSpec:
        """The reduce's kernel spec; fuses its combiner upstream where it can.

        The combiner goes into the upstream stage (reader or operator) as its
        last step, so only when the reduce is the sole consumer of that
        stage's output; keyed reducers (``any``, ``tuple``, ``earliest``...)
        need raw rows, so a reduce with any of them is left as it is.
        """
        parent = node.inputs[0]
        spec = replace(_reduce_spec(node), flagged=tuple(sorted(
            {a.column for a in node.aggs if a.column in self.flags[parent.id]})))
        upstream = self.output_of[parent.id]
        if not (self.options.combine_partials and combinable(spec.aggs)
                and self.uses.get(parent.id, 0) == 1
                and upstream.kind in ("reader", "operator")):
            return spec
        upstream = self._into_reader(upstream)
        if self.flags[parent.id]:
            upstream.steps.append(ErrorGate(tuple(spec.group_columns), GROUPING_MESSAGE,
                                            strip=False, label=node.label))
        upstream.steps.append(PartialAggregate(PartialLayout(spec.group_columns, spec.aggs,
                                                             spec.flagged)))
        upstream.names.append("partial")
        self.output_of[parent.id] = upstream
        return replace(spec, partial_input=True)

    def _into_reader(self, upstream: _Builder) -> _Builder:
        """The reader a stateless chain follows, with the chain moved into it.

        A stateless operator stage fed one-to-one (forward) by a reader, whose
        output only the combiner reads, is cheaper inside the reader: its rows
        then never cross an actor boundary before they are aggregated. Any
        other stage is returned unchanged.
        """
        if upstream.kind != "operator" or upstream.head is not None or upstream.port_steps \
                or len(upstream.inputs) != 1 or upstream.fed_by_node is None \
                or self.uses.get(upstream.fed_by_node, 0) != 1:
            return upstream
        channel = upstream.inputs[0]
        reader = next(b for b in self.builders if b.id == channel.stage)
        if reader.kind != "reader" or channel.routing is not Routing.FORWARD \
                or upstream.follows != reader.id or any(
                    c.stage == reader.id and c.output is Output.DATA
                    for b in self.builders if b is not upstream for c in b.inputs):
            return upstream
        reader.steps.extend(upstream.steps)
        reader.names.extend(upstream.names)
        self.builders.remove(upstream)
        for node_id, builder in list(self.output_of.items()):
            if builder is upstream:
                self.output_of[node_id] = reader
        return reader

    def _combine(self, node: CombineNode) -> None:
        """Rows of several tables matched by key: every input hash-routed by ``_key``."""
        builder = self._new("operator", "combine", self.options.reduce_parallelism or AUTO)
        for port, parent in enumerate(node.inputs):
            upstream = self.output_of[parent.id]
            builder.inputs.append(Channel(upstream.id, port, Routing.HASH, (KEY,)))
        outputs = list(zip(node.columns, node.outputs, strict=True))
        types = [c.dtype.arrow for c in node.columns.values()]
        flagged: dict[int, list[str]] = {}
        for name, candidates in list(outputs):
            if name in self.flags[node.id]:
                outputs.append((error_flag(name), tuple((i, error_flag(c))
                                                        for i, c in candidates)))
                types.append(pa.bool_())
                for i, column in candidates:
                    flagged.setdefault(i, []).append(column)
        builder.port_steps = {i: [EnsureFlags(tuple(dict.fromkeys(columns)))]
                              for i, columns in flagged.items()}
        builder.head = CombineSpec(tuple(outputs), tuple(types), len(node.inputs), node.required,
                                   node.forbidden, node.check_subset, node.label)
        self.output_of[node.id] = builder

    def _error_log(self, node: ErrorLogNode) -> None:
        builder = self._new("operator", "error_log", 1)
        self.error_logs.append(builder)
        self.output_of[node.id] = builder

    def _connect_error_logs(self) -> None:
        """Every reader and operator stage (but those after an error log) feeds the logs."""
        if not self.error_logs:
            return
        after = {b.id for b in self.error_logs}
        for b in self.builders:  # builders are in topological order
            if any(c.stage in after for c in b.inputs):
                after.add(b.id)
        upstreams = [b for b in self.builders if b.kind in ("reader", "operator")
                     and b.id not in after]
        for log in self.error_logs:
            for port, upstream in enumerate(upstreams):
                log.inputs.append(Channel(upstream.id, port, Routing.GATHER,
                                          output=Output.ERRORS))

    def _ordered(self) -> list[_Builder]:
        """Builders in topological order of their channels (error logs read later stages)."""
        done: dict[int, _Builder] = {}
        by_id = {b.id: b for b in self.builders}  # ids are not indices (_into_reader)

        def visit(b: _Builder) -> None:
            if b.id in done:
                return
            for channel in b.inputs:
                visit(by_id[channel.stage])
            if b.follows is not None:
                visit(by_id[b.follows])
            done[b.id] = b

        for b in self.builders:
            visit(b)
        return list(done.values())

    def _sink(self, node: SinkNode) -> None:
        descriptor = node.sink
        builder = self._new("sink", descriptor.name or f"{descriptor.kind}:{descriptor.label}", 1)
        shown_raw = descriptor.kind == "debug"  # pw.debug shows error values as Error
        for port, parent in enumerate(node.inputs):  # run_all's null sink reads every leaf
            upstream = self.output_of[parent.id]
            if self.flags[parent.id] and len(node.inputs) == 1 and not shown_raw:
                label = node.label or f"output {descriptor.kind}:{descriptor.label}"
                upstream = self._gate(parent, ErrorGate(None, OUTPUT_MESSAGE, label=label))
            builder.inputs.append(Channel(upstream.id, port, Routing.GATHER))
        shown = [error_flag(c) for c in node.columns if shown_raw and len(node.inputs) == 1
                 and c in self.flags[node.inputs[0].id]]
        builder.sink, builder.sink_columns = descriptor, (*node.columns, *shown)

    # -- building stages -------------------------------------------------------
    def _stage(self, b: _Builder) -> Stage:
        name = "+".join(b.names)
        if b.kind == "reader":
            source = b.source
            prepare = PrepareRows(source.columns, source.primary_key,
                                  source.use_message_key, source.seed, source.raw_ids)
            return ReaderStage(
                b.id, name, source.spec,
                ReaderSteps(prepare, tuple(b.steps), self.options.terminate_on_error),
                parallel_readers=source.options.parallel_readers,
                autocommit_ms=source.options.autocommit_duration_ms,
                max_backlog_size=source.options.max_backlog_size,
                max_batch_rows=source.options.max_batch_rows, dynamic=source.dynamic,
                grows=source.grows)
        if b.kind == "sink":
            d = b.sink
            fmt = OutputFormat(b.sink_columns, d.sort_by, d.include_key)
            return SinkStage(b.id, name, d.spec, fmt, b.inputs, d.callbacks)
        ports = tuple((port, tuple(steps)) for port, steps in (b.port_steps or {}).items())
        spec = ChainSpec(tuple(b.steps), b.head, ports, self.options.terminate_on_error)
        return OperatorStage(b.id, name, spec, b.inputs, b.parallelism, follows=b.follows)


def _reduce_spec(node: ReduceNode) -> ReduceSpec:
    """What the reduce kernel needs from a ReduceNode (no logical graph inside)."""
    input_columns = node.inputs[0].columns
    types = tuple(input_columns[c].dtype.arrow for c in node.group_columns)
    return ReduceSpec(tuple(node.group_columns), tuple(node.aggs), types,
                      append_only=is_append_only(node.inputs[0]))


def _dataflow_schema(node: Node) -> pa.Schema:
    return dataflow_schema([pa.field(n, c.dtype.arrow) for n, c in node.columns.items()])


def _follow(upstream: _Builder) -> Routing:
    """Routing to a stage of the upstream's parallelism.

    Forward, unless readers of a dynamic source (Kinesis) can appear later: a
    reader per shard comes and goes, so rows are hash-routed instead. Readers
    a growing source (Kafka) adds share the first readers' followers
    (:func:`raystream.actors.routing.forward_partner`).
    """
    dynamic = upstream.kind == "reader" and upstream.source.dynamic
    return Routing.HASH if dynamic else Routing.FORWARD
