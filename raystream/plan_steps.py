"""What one logical node compiles to: its stateless step (for the planner).

Also the planner's graph walks that need no planner state: the nodes in
topological order, and which UDF results a map keeps for retractions.
"""

from __future__ import annotations

from raystream import dtypes as dt
from raystream.actors.kernels.reshape import FlattenStep, SignStep
from raystream.actors.kernels.steps import FilterStep, MapStep, RekeyStep, Step
from raystream.graph import FilterNode, FlattenNode, MapNode, Node, RekeyNode, SignNode, SinkNode


def step_of(node: Node, flagged: frozenset[str]) -> Step:
    """The step of a stateless node (``flagged``: its outputs that carry error flags)."""
    if isinstance(node, RekeyNode):
        return RekeyStep(tuple(node.outputs), node.key, node.raw_key, node.label, flagged)
    if isinstance(node, MapNode):
        return MapStep(tuple(node.outputs), node.label, flagged)
    if isinstance(node, FilterNode):
        return FilterStep(node.predicate, node.label)  # type: ignore[arg-type]
    if isinstance(node, FlattenNode):
        return flatten_step(node)
    if isinstance(node, SignNode):
        return SignStep(node.column)
    raise TypeError(type(node).__name__)


def remember_results(node: MapNode) -> None:
    """Non-deterministic UDFs of a map over retractions keep each row's result."""
    todo = [e for _, e in node.outputs] + list(getattr(node, "key", ()))
    while todo:
        expr = todo.pop()
        if getattr(expr, "deterministic", True) is False and hasattr(expr, "remembered"):
            expr.remembered = {}
        todo.extend(expr.children())


def topological(sinks: list[SinkNode]) -> list[Node]:
    """Every node the sinks depend on, inputs before the nodes that read them."""
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


def flatten_step(node: FlattenNode) -> FlattenStep:
    """How the kernel reads the column (list, str, Json or pickled objects) and its items."""
    source = node.source_dtype or dt.ANY
    item = node.item_dtype or dt.ANY
    if source.name == "str":
        mode = "str"
    elif source.is_json:
        mode = "json"
    elif source.pyobject:
        mode = "pickle"
    else:
        mode = "list"
    item_arrow = None if item.pyobject else item.arrow
    return FlattenStep(node.column, mode, item_arrow, node.origin_id, node.label)
