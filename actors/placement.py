"""Where actors run: readers spread over nodes, forward chains next to their reader.

Rules (applied only when the cluster has two or more eligible nodes):

* readers go round-robin over the alive nodes, so the partitions of a topic
  are read on every node;
* an operator fed by ``forward`` routing (a fused stateless chain) goes to the
  node of its upstream partner, so its rows never cross the network;
* other operators (keyed reduces, upserts) go round-robin too;
* sinks and the coordinator are left to Ray (the driver's node, usually).

Each choice is a *soft* ``NodeAffinitySchedulingStrategy``: if the node is
gone or full, Ray places the actor elsewhere. Ray ignores node affinity for an
actor that requests no resources at all (checked with Ray 2.60: such actors
land on random nodes), so a placed actor without any request asks for one
byte of ``memory``. A node is eligible for an actor
kind when it has the resources the user asked for that kind
(``pw.run(resources={"reader": {"resources": {"kafka_node": 0.01}}})``); a
``scheduling_strategy`` given by the user is never overridden.

Everything but :func:`alive_nodes` is pure, so the rules are unit-tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raystream.actors.plan import OperatorStage, PhysicalPlan, ReaderStage, SinkStage
from raystream.actors.routing import Routing, channel_id

KINDS = ("reader", "operator", "sink", "coordinator")
SPREAD = "spread"
RAY_DEFAULT = "ray"
COORDINATOR = "coordinator"


@dataclass(frozen=True)
class Node:
    """An alive Ray node and its total resources."""

    node_id: str
    resources: dict[str, float] = field(default_factory=dict)


def alive_nodes() -> list[Node]:
    """The alive nodes of the connected Ray cluster."""
    import ray

    return [Node(n["NodeID"], dict(n.get("Resources", {}))) for n in ray.nodes() if n["Alive"]]


def check_options(resources: dict[str, Any] | None, placement: str = SPREAD) -> None:
    """Validates ``pw.run(resources=..., placement=...)``.

    Raises:
        ValueError: With a message naming the wrong key or value.
    """
    if placement not in (SPREAD, RAY_DEFAULT):
        raise ValueError(f"placement must be {SPREAD!r} or {RAY_DEFAULT!r}, not {placement!r}")
    if resources is None:
        return
    if not isinstance(resources, dict):
        raise ValueError(f"resources must be a dict of actor kind -> Ray options, "
                         f"not {type(resources).__name__}")
    for kind, options in resources.items():
        if kind not in KINDS:
            raise ValueError(f"resources: unknown actor kind {kind!r}; use {', '.join(KINDS)}")
        if not isinstance(options, dict):
            raise ValueError(f"resources[{kind!r}] must be a dict of Ray actor options "
                             f"(num_cpus, memory, resources, ...)")


def requirements(options: dict[str, Any]) -> dict[str, float]:
    """The node resources an actor with these Ray options needs."""
    needed = {k: float(v) for k, v in (options.get("resources") or {}).items()}
    for option, resource in (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory")):
        if options.get(option):
            needed[resource] = float(options[option])
    return needed


def eligible(nodes: list[Node], options: dict[str, Any]) -> list[Node]:
    """The nodes whose total resources can host an actor with ``options``."""
    needed = requirements(options)
    return [n for n in nodes if all(n.resources.get(k, 0.0) >= v for k, v in needed.items())]


def placement_requests(plan: PhysicalPlan) -> list[tuple[str, str, str | None]]:
    """``(kind, channel, follows)`` for every actor of ``plan``, in topological order.

    ``follows`` is the channel of the upstream actor this one should sit next
    to (its ``forward`` partner), or None.
    """
    requests: list[tuple[str, str, str | None]] = []
    for stage in plan.stages:
        for instance in range(stage.parallelism):
            channel = channel_id(stage.id, instance)
            if isinstance(stage, ReaderStage):
                requests.append(("reader", channel, None))
            elif isinstance(stage, SinkStage):
                requests.append(("sink", channel, None))
            elif isinstance(stage, OperatorStage):
                forward = [c for c in stage.inputs if c.routing is Routing.FORWARD]
                follows = channel_id(forward[0].stage, instance) if forward else None
                requests.append(("operator", channel, follows))
    return requests


class Placement:
    """Chooses the Ray options of every actor of one pipeline.

    Args:
        nodes: The alive nodes.
        resources: Ray options per actor kind (``num_cpus`` defaults to 0).
        mode: ``spread`` (the rules above) or ``ray`` (leave it all to Ray).
    """

    def __init__(self, nodes: list[Node], resources: dict[str, dict[str, Any]] | None = None,
                 mode: str = SPREAD) -> None:
        check_options(resources, mode)
        self.nodes = sorted(nodes, key=lambda n: n.node_id)
        self.resources = dict(resources or {})
        self.mode = mode
        self.node_of: dict[str, str] = {}
        self.turn: dict[str, int] = {}

    @classmethod
    def for_plan(cls, plan: PhysicalPlan, nodes: list[Node]) -> Placement:
        """Places every actor of ``plan`` (dynamic readers are placed when they start)."""
        placement = cls(nodes, plan.options.get("resources"),
                        plan.options.get("placement", SPREAD))
        for kind, channel, follows in placement_requests(plan):
            placement.assign(kind, channel, follows)
        return placement

    def user_options(self, kind: str) -> dict[str, Any]:
        """The user's Ray options for ``kind``, with ``num_cpus`` defaulting to 0."""
        options = dict(self.resources.get(kind) or {})
        options.setdefault("num_cpus", 0)
        return options

    def assign(self, kind: str, channel: str, follows: str | None = None) -> str | None:
        """Picks (once) and returns the node of an actor; None leaves it to Ray."""
        if channel in self.node_of:
            return self.node_of[channel]
        node = self._choose(kind, follows)
        if node is not None:
            self.node_of[channel] = node
        return node

    def _choose(self, kind: str, follows: str | None) -> str | None:
        options = self.user_options(kind)
        if self.mode != SPREAD or "scheduling_strategy" in options:
            return None
        candidates = eligible(self.nodes, options)
        if len(candidates) < 2 or kind in ("sink", COORDINATOR):
            return None
        ids = [n.node_id for n in candidates]
        if follows is not None:
            partner = self.node_of.get(follows)
            return partner if partner in ids else None
        turn = self.turn.get(kind, 0)
        self.turn[kind] = turn + 1
        return ids[turn % len(ids)]

    def options(self, kind: str, channel: str) -> dict[str, Any]:
        """Ray actor options for the actor on ``channel`` (placing it if new)."""
        options = self.user_options(kind)
        node = self.assign(kind, channel)
        if node is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
            if not requirements(options):
                options["memory"] = 1  # an empty request would make Ray ignore the affinity
        return options
