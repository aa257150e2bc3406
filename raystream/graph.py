"""The logical graph a pipeline definition builds, and the global registry of outputs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from raystream.dtypes import DType
from raystream.expressions import ColumnExpression

_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class ColumnInfo:
    """A column of a table: its type and its lineage (same lineage = same values)."""

    dtype: DType
    lineage: object = field(default_factory=object)


@dataclass(eq=False)
class Node:
    """A logical operator; ``columns`` are its output columns in order."""

    inputs: list[Node]
    columns: dict[str, ColumnInfo]
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
class FlattenNode(Node):
    """One row per item of a list column."""

    column: str = ""


@dataclass(eq=False)
class ConcatNode(Node):
    """The union of tables with the same columns."""


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
    """Every output defined so far; ``pw.run()`` runs them all."""

    def __init__(self) -> None:
        self.sinks: list[SinkNode] = []

    def add_sink(self, node: SinkNode) -> None:
        """Registers an output."""
        self.sinks.append(node)

    def clear(self) -> None:
        """Forgets every output (between independent pipelines, e.g. in tests)."""
        self.sinks.clear()


G = ParseGraph()
