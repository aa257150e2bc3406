"""The logical graph a pipeline definition builds, and the global registry of outputs."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

from raystream.dtypes import DType
from raystream.expressions import ColumnExpression
from raystream.universes import Universe

_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class ColumnInfo:
    """A column of a table: its type and its lineage (same lineage = same values)."""

    dtype: DType
    lineage: object = field(default_factory=object)


@dataclass(eq=False)
class Node:
    """A logical operator; ``columns`` are its output columns in order.

    ``primary_key`` names the columns a source's schema declares as its primary
    key (what ``Table.schema`` shows).
    """

    inputs: list[Node]
    columns: dict[str, ColumnInfo]
    universe: Universe = field(default_factory=Universe, kw_only=True)
    label: str = field(default="", kw_only=True)
    primary_key: tuple[str, ...] = field(default=(), kw_only=True)
    id: int = field(default_factory=lambda: next(_ids), init=False)

    @property
    def kind(self) -> str:
        """Short operator name for actor and error messages."""
        return type(self).__name__.removesuffix("Node").lower()


@dataclass(eq=False)
class SourceNode(Node):
    """An input connector; ``source`` is its :class:`raystream.io.base.SourceDescriptor`."""

    source: Any = None


@dataclass(eq=False)
class ErrorLogNode(Node):
    """``pw.global_error_log()``: the bad records of every source."""


@dataclass(eq=False)
class MapNode(Node):
    """``select`` / ``with_columns`` / ``rename`` / ``without``: computes columns."""

    outputs: list[tuple[str, ColumnExpression]] = field(default_factory=list)


@dataclass(eq=False)
class FilterNode(Node):
    """Keeps the rows where ``predicate`` is true."""

    predicate: ColumnExpression | None = None


@dataclass(eq=False)
class RekeyNode(MapNode):
    """A map that also gives rows new keys: the hash of ``key`` values (or them, ``raw_key``)."""

    key: tuple[ColumnExpression, ...] = ()
    raw_key: bool = False


@dataclass(eq=False)
class SignNode(Node):
    """Each row's change from a bool column: true inserts (+1), false retracts (-1)."""

    column: str = ""


@dataclass(eq=False)
class ToStreamNode(Node):
    """``Table.to_stream()``: each change as an upsert or deletion row (``is_upsert``)."""


@dataclass(eq=False)
class FlattenNode(Node):
    """One row per item of a list/tuple/str/Json column; ``origin_id`` keeps the old key."""

    column: str = ""
    origin_id: str | None = None
    item_dtype: DType | None = None
    source_dtype: DType | None = None


@dataclass(eq=False)
class CombineNode(Node):
    """Rows of several inputs matched by row key (see :mod:`raystream.actors.kernels.combine`).

    ``outputs`` gives, per output column (in ``columns`` order), its candidate
    ``(input, column)`` pairs; ``required``/``forbidden`` say which inputs must
    or must not have a key for it to have an output row.
    """

    outputs: list[tuple[tuple[int, str], ...]] = field(default_factory=list)
    required: tuple[int, ...] = ()
    forbidden: tuple[int, ...] = ()
    check_subset: bool = False


def zip_node(first: Node, others: list[Node], sources: list[dict[str, str]],
             columns: dict[str, ColumnInfo], universe: Universe) -> CombineNode:
    """The first input's rows with columns of the others (``sources[i]``: out -> name)."""
    outputs: list[tuple[tuple[int, str], ...]] = [((0, n),) for n in first.columns]
    outputs += [((i + 1, src),) for i, mapping in enumerate(sources) for src in mapping.values()]
    return CombineNode([first, *others], columns, outputs=outputs,
                       required=tuple(range(len(others) + 1)), universe=universe)


@dataclass(eq=False)
class ConcatNode(Node):
    """The union of tables with the same columns.

    ``check_keys``: the inputs' ids are only promised to be disjoint, so the
    plan checks them (False: disjoint by construction, as in ``concat_reindex``).
    """

    check_keys: bool = True


@dataclass(eq=False)
class ReduceNode(Node):
    """Aggregates per group: ``group_columns`` plus one column per AggSpec."""

    group_columns: list[str] = field(default_factory=list)
    aggs: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class UpsertNode(Node):
    """A row with an existing key replaces the old one (primary keys, message keys)."""


@dataclass(eq=False)
class SinkNode(Node):
    """An output connector; ``sink`` is its :class:`raystream.io.base.SinkDescriptor`."""

    sink: Any = None


class ParseGraph:
    """Every output and table defined so far; ``pw.run()`` runs the outputs.

    ``pw.run_all()`` also evaluates every table without an output, so that its
    errors surface (as Pathway does). ``static_universes`` gives static tables
    with the same row ids one universe.
    """

    def __init__(self) -> None:
        self.sinks: list[SinkNode] = []
        self.nodes: list[Node] = []
        self.static_universes: dict[Any, Universe] = {}
        self.computed: set[int] = set()

    def add_sink(self, node: SinkNode) -> None:
        """Registers an output."""
        self.sinks.append(node)

    def add_node(self, node: Node) -> None:
        """Registers a table's node (for ``run_all``)."""
        if not any(n is node for n in self.nodes[-4:]):
            self.nodes.append(node)

    def leaves(self) -> list[Node]:
        """Table nodes that no other registered node or output reads."""
        used = {p.id for n in [*self.nodes, *self.sinks] for p in n.inputs}
        leaves: dict[int, Node] = {n.id: n for n in self.nodes if n.id not in used}
        return list(leaves.values())

    def clear(self) -> None:
        """Forgets every output and table (between independent pipelines, e.g. in tests)."""
        self.sinks.clear()
        self.nodes.clear()
        self.static_universes.clear()
        self.computed.clear()

    def mark_computed(self, sinks: list[Node]) -> None:
        """Records the nodes a run computes (every ancestor of ``sinks``)."""
        todo = list(sinks)
        while todo:
            node = todo.pop()
            if node.id not in self.computed:
                self.computed.add(node.id)
                todo.extend(node.inputs)


def is_append_only(node: Node) -> bool:
    """True if the node's rows are only ever inserted (no retraction can reach it)."""
    todo, seen = [node], set()
    while todo:
        current = todo.pop()
        if current.id in seen:
            continue
        seen.add(current.id)
        if isinstance(current, ToStreamNode):  # a stream of changes only grows
            continue
        if current.kind not in ("source", "map", "rekey", "filter", "flatten", "concat"):
            return False
        if isinstance(current, SourceNode) and not getattr(current.source, "append_only", True):
            return False
        todo.extend(current.inputs)
    return True


def warn_if_some_operators_unused() -> None:
    """Warns (as Pathway does) if some tables were defined but no run computed them."""
    if any(n.id not in G.computed for n in G.nodes):
        warnings.warn("There are operators in the computation graph that haven't been used. "
                      "Use pathway.run() (or similar) to run the computation involving these "
                      "nodes.", stacklevel=2)


G = ParseGraph()
