"""Creating a resolved plan's actors: names, Ray options, routes and input channels.

Every actor is created with ``max_restarts=-1`` and ``max_task_retries=0``:
when its process dies, Ray recreates it (rerunning ``__init__``; on another
node if its node is gone) and calls in flight fail at once. The driver's
supervisor then rolls the dataflow back (:mod:`raystream.actors.supervisor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ray
from raystream.actors.coordinator import CoordinatorActor, CoordinatorConfig
from raystream.actors.metrics import MetricTags
from raystream.actors.operator import OperatorActor
from raystream.actors.outbox import Route
from raystream.actors.placement import COORDINATOR, Placement
from raystream.actors.plan import OperatorStage, PhysicalPlan, ReaderStage, SinkStage, Stage
from raystream.actors.reader import ReaderActor, ReaderConfig
from raystream.actors.routing import Output, Routing, channel_id
from raystream.actors.sink import SinkActor

_READER_GROUPS = {"loop": 1, "control": 1}
RESTARTABLE = {"max_restarts": -1, "max_task_retries": 0}
"""Ray options of every pipeline actor (recreated by Ray when its process dies)."""


@dataclass
class Deployment:
    """The actors of one pipeline.

    Attributes:
        handles: Stage id -> actor handles, by instance.
        readers: Reader id -> handle.
        coordinator: The coordinator's handle.
    """

    handles: dict[int, list[Any]] = field(default_factory=dict)
    readers: dict[str, Any] = field(default_factory=dict)
    coordinator: Any = None


class Deployer:
    """Creates the actors of ``plan`` into ``deployment``.

    Args:
        plan: The resolved plan.
        placement: Where each actor goes.
        deployment: Filled with the handles.
    """

    def __init__(self, plan: PhysicalPlan, placement: Placement, deployment: Deployment,
                 identity: str | None = None) -> None:
        self.plan = plan
        self.placement = placement
        self.deployment = deployment
        self.identity = identity or plan.name

    def tags(self, actor: str, role: str, partition: str = "") -> MetricTags:
        """Metric tags of one actor (``pw.run(metrics=False)`` turns metrics off)."""
        return MetricTags(self.plan.name, actor, role, partition,
                          enabled=self.plan.options.get("metrics", True))

    def coordinator(self, config: CoordinatorConfig) -> Any:
        """Creates the coordinator (first: every other actor gets its handle)."""
        name = f"{self.plan.name}:coordinator"
        handle = ray.remote(CoordinatorActor).options(
            name=name, **RESTARTABLE, **self.placement.options(COORDINATOR, COORDINATOR),
        ).remote(config, metrics=self.tags(name, COORDINATOR))
        self.deployment.coordinator = handle
        return handle

    def stage(self, stage: Stage, sink_states: dict[str, dict],
              sink_parts: dict[str, dict] | None = None) -> list[Any]:
        """Creates a stage's actors (their downstream stages must exist already)."""
        if isinstance(stage, SinkStage):
            sink_id = channel_id(stage.id, 0)
            return [self.sink(stage, sink_states.get(sink_id), (sink_parts or {}).get(sink_id))]
        if isinstance(stage, OperatorStage):
            return [self.operator(stage, i) for i in range(stage.parallelism)]
        return [self.reader(stage, i, stage.groups[i]) for i in range(stage.parallelism)]

    def sink_identity(self, stage: SinkStage) -> str:
        """The sink's persistent identity (its Kafka ``transactional.id``)."""
        return f"raystream.{self.identity}.sink{stage.id}"

    def sink(self, stage: SinkStage, state: dict | None, staged: dict | None = None) -> Any:
        """Creates a sink actor (its output opened in ``state``, or fresh)."""
        name = f"{self.plan.name}:sink{stage.id}:{stage.name}"
        sink_id = channel_id(stage.id, 0)
        return ray.remote(SinkActor).options(
            name=name, **RESTARTABLE, **self.placement.options("sink", sink_id)).remote(
            name, sink_id, stage.sink, stage.format, self.channels(stage, 0),
            self.deployment.coordinator, stream_writes=getattr(stage.format, "streamable", True),
            metrics=self.tags(name, "sink", "0"), state=state, staged=staged,
            identity=self.sink_identity(stage))

    def operator(self, stage: OperatorStage, instance: int) -> Any:
        """Creates one operator actor."""
        name = f"{self.plan.name}:op{stage.id}:{stage.name}:{instance}"
        sender = channel_id(stage.id, instance)
        return ray.remote(OperatorActor).options(
            name=name, **RESTARTABLE, **self.placement.options("operator", sender)).remote(
            name, sender, instance, stage.kernel, self.channels(stage, instance),
            self.routes(stage, Output.DATA), metrics=self.tags(name, "operator", str(instance)),
            coordinator=self.deployment.coordinator,
            stateful=bool(getattr(stage.kernel, "stateful", False)),
            error_routes=self.routes(stage, Output.ERRORS))

    def reader(self, stage: ReaderStage, instance: int,
               partitions: tuple[str, ...] | list[str]) -> Any:
        """Creates one reader actor (not started) for ``partitions``."""
        reader_id = channel_id(stage.id, instance)
        name = f"{self.plan.name}:reader{stage.id}:{stage.name}:{'+'.join(partitions)}"
        config = ReaderConfig(
            reader_id=reader_id, name=name, partitions=list(partitions),
            autocommit_ms=stage.autocommit_ms, max_batch_rows=stage.max_batch_rows,
            backlog_limited=stage.max_backlog_size is not None,
            terminate_on_error=self.plan.terminate_on_error, dynamic=stage.dynamic,
            metrics=self.tags(name, "reader", "+".join(partitions)), instance=instance,
            source=stage.name)
        actor_class = ray.remote(  # type: ignore[call-overload]
            concurrency_groups=_READER_GROUPS)(ReaderActor)
        handle = actor_class.options(name=name, **RESTARTABLE,
                                     **self.placement.options("reader", reader_id)).remote(
            config, stage.source, stage.prepare, self.routes(stage, Output.DATA),
            self.routes(stage, Output.ERRORS), self.deployment.coordinator)
        self.deployment.readers[reader_id] = handle
        return handle

    def routes(self, stage: Stage, output: Output) -> list[Route]:
        """Where a stage's ``output`` goes: one route per consuming channel."""
        routes = []
        for consumer, channel in self.plan.consumers(stage.id):
            if channel.output != output:
                continue
            targets = tuple(self.deployment.handles[consumer.id])
            routes.append(Route(targets, channel.port, channel.routing, channel.hash_columns))
        return routes

    def channels(self, stage: OperatorStage | SinkStage, instance: int) -> list[tuple[int, str]]:
        """The input channels ``(port, sender)`` of one instance."""
        channels = []
        for channel in stage.inputs:
            upstream = self.plan.stage(channel.stage)
            if channel.routing is Routing.FORWARD:
                channels.append((channel.port, channel_id(upstream.id, instance)))
            else:
                channels.extend((channel.port, channel_id(upstream.id, j))
                                for j in range(upstream.parallelism))
        return channels
