"""Deploys a :class:`PhysicalPlan` as Ray actors and drives it from the driver process."""

from __future__ import annotations

import logging
import os
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from raystream.actors.coordinator import CoordinatorActor
from raystream.actors.dynamic import DynamicSources
from raystream.actors.liveness import ActorDied, Liveness
from raystream.actors.metrics import MetricTags
from raystream.actors.operator import OperatorActor
from raystream.actors.outbox import Route
from raystream.actors.placement import COORDINATOR, Placement, alive_nodes
from raystream.actors.plan import (
    DATA,
    ERRORS,
    OperatorStage,
    PhysicalPlan,
    ReaderStage,
    SinkStage,
    Stage,
    channel_id,
)
from raystream.actors.reader import ReaderActor, ReaderConfig
from raystream.actors.sink import SinkActor
from raystream.actors.status import StatusLine

log = logging.getLogger("raystream.runtime")

_READER_GROUPS = {"loop": 1, "control": 1}
_SINK_CHECK_S = 0.5


class PipelineError(RuntimeError):
    """The pipeline failed; the message carries the failing actor's error."""


def ensure_ray() -> None:
    """Connects to ``RAY_ADDRESS`` if set, else starts (or reuses) a local Ray."""
    if ray.is_initialized():
        return
    ray.init(address=os.environ.get("RAY_ADDRESS") or None, logging_level=logging.WARNING,
             log_to_driver=True, configure_logging=False)


def cluster_cpus() -> int:
    """Number of CPUs in the Ray cluster (starting a local Ray if needed)."""
    ensure_ray()
    return int(ray.cluster_resources().get("CPU", 1))


@dataclass
class _Deployed:
    handles: dict[int, list[Any]] = field(default_factory=dict)
    readers: dict[str, Any] = field(default_factory=dict)
    run_refs: dict[Any, str] = field(default_factory=dict)
    driver_sinks: list[tuple[SinkStage, Any]] = field(default_factory=list)


class Pipeline:
    """A running pipeline: its actors, and the loop that waits for it.

    Args:
        plan: What to run.
    """

    def __init__(self, plan: PhysicalPlan) -> None:
        self.plan = plan
        self.deployed = _Deployed()
        self.coordinator: Any = None
        self.finished_sinks: set[int] = set()
        self.placement = Placement([])
        self.hooks: list[Callable[[], None]] = []

    # -- deploy --------------------------------------------------------------

    def start(self) -> Pipeline:
        """Creates every actor and starts the readers."""
        ensure_ray()
        plan = self.plan
        self.placement = Placement.for_plan(plan, alive_nodes())
        readers = {rid: f"{s.name}#{s.id}" for s in plan.stages if isinstance(s, ReaderStage)
                   for rid in self._ids(s)}
        limits = {f"{s.name}#{s.id}": s.max_backlog_size for s in plan.stages
                  if isinstance(s, ReaderStage)}
        sinks = [channel_id(s.id, 0) for s in plan.stages if isinstance(s, SinkStage)]
        name = f"{plan.name}:coordinator"
        self.coordinator = ray.remote(CoordinatorActor).options(
            name=name, **self.placement.options(COORDINATOR, COORDINATOR),
        ).remote(readers, sinks, limits, metrics=self._tags(name, COORDINATOR))
        for stage in reversed(plan.stages):
            self.deployed.handles[stage.id] = self._create(stage)
        ray.get(self.coordinator.attach.remote(self.deployed.readers))
        for reader_id, handle in self.deployed.readers.items():
            self.deployed.run_refs[handle.run.remote()] = reader_id
        self.dynamic = DynamicSources(self)
        if plan.options.get("monitoring"):
            self.hooks.append(self._status_line().tick)
        self.hooks.append(self._liveness_check())
        return self

    def _status_line(self) -> StatusLine:
        sinks = [self.deployed.handles[s.id][0] for s in self.plan.stages
                 if isinstance(s, SinkStage)]
        return StatusLine(self.plan.name, self.deployed.readers, sinks, self.coordinator,
                          interval_s=self.plan.options.get("status_interval_s", 10.0))

    def _tags(self, actor: str, role: str, partition: str = "") -> MetricTags:
        """Metric tags of one actor (``pw.run(metrics=False)`` turns metrics off)."""
        return MetricTags(self.plan.name, actor, role, partition,
                          enabled=self.plan.options.get("metrics", True))

    def _ids(self, stage: Stage) -> list[str]:
        return [channel_id(stage.id, i) for i in range(stage.parallelism)]

    def _resources(self, kind: str, channel: str) -> dict[str, Any]:
        """Ray options of one actor: the user's per kind, plus its node (placement)."""
        return self.placement.options(kind, channel)

    def _routes(self, stage: Stage, output: str) -> list[Route]:
        routes = []
        for consumer, channel in self.plan.consumers(stage.id):
            if channel.output != output:
                continue
            targets = tuple(self.deployed.handles[consumer.id])
            routes.append(Route(targets, channel.port, channel.routing, channel.hash_columns))
        return routes

    def _channels(self, stage: OperatorStage | SinkStage, instance: int) -> list[tuple[int, str]]:
        channels = []
        for channel in stage.inputs:
            upstream = self.plan.stage(channel.stage)
            if channel.routing == "forward":
                channels.append((channel.port, channel_id(upstream.id, instance)))
            else:
                channels.extend((channel.port, channel_id(upstream.id, j))
                                for j in range(upstream.parallelism))
        return channels

    def _create(self, stage: Stage) -> list[Any]:
        if isinstance(stage, SinkStage):
            return [self._create_sink(stage)]
        if isinstance(stage, OperatorStage):
            return [self._create_operator(stage, i) for i in range(stage.parallelism)]
        return [self._create_reader(stage, i, stage.groups[i]) for i in range(stage.parallelism)]

    def _create_sink(self, stage: SinkStage) -> Any:
        name = f"{self.plan.name}:sink{stage.id}:{stage.name}"
        sink_id = channel_id(stage.id, 0)
        handle = ray.remote(SinkActor).options(
            name=name, **self._resources("sink", sink_id)).remote(
            name, sink_id, stage.sink, stage.format,
            self._channels(stage, 0), self.coordinator,
            stream_writes=getattr(stage.format, "streamable", True),
            metrics=self._tags(name, "sink", "0"))
        if stage.sink is None:
            self.deployed.driver_sinks.append((stage, handle))
        return handle

    def _create_operator(self, stage: OperatorStage, instance: int) -> Any:
        name = f"{self.plan.name}:op{stage.id}:{stage.name}:{instance}"
        sender = channel_id(stage.id, instance)
        return ray.remote(OperatorActor).options(
            name=name, **self._resources("operator", sender)).remote(
            name, sender, instance, stage.kernel,
            self._channels(stage, instance), self._routes(stage, DATA),
            metrics=self._tags(name, "operator", str(instance)), coordinator=self.coordinator)

    def _create_reader(self, stage: ReaderStage, instance: int, partitions: list[str]) -> Any:
        """Creates one reader actor (not started) for ``partitions``."""
        reader_id = channel_id(stage.id, instance)
        name = f"{self.plan.name}:reader{stage.id}:{stage.name}:{'+'.join(partitions)}"
        config = ReaderConfig(
            reader_id=reader_id, name=name, partitions=partitions,
            autocommit_ms=stage.autocommit_ms, max_batch_rows=stage.max_batch_rows,
            backlog_limited=stage.max_backlog_size is not None,
            terminate_on_error=self.plan.terminate_on_error, dynamic=stage.dynamic,
            metrics=self._tags(name, "reader", "+".join(partitions)),
            instance=instance)
        actor_class = ray.remote(  # type: ignore[call-overload]
            concurrency_groups=_READER_GROUPS)(ReaderActor)
        handle = actor_class.options(name=name, **self._resources("reader", reader_id)).remote(
            config, stage.source, stage.prepare, self._routes(stage, DATA),
            self._routes(stage, ERRORS), self.coordinator)
        self.deployed.readers[reader_id] = handle
        return handle

    # -- drive ---------------------------------------------------------------

    def wait(self, timeout: float | None = None, poll_s: float = 0.05) -> None:
        """Blocks until the pipeline ends, running driver-side callbacks meanwhile.

        Raises:
            PipelineError: If an actor failed (the pipeline is shut down first).
            TimeoutError: If ``timeout`` passed first (the pipeline keeps running).
        """
        deadline = None if timeout is None else _time.monotonic() + timeout
        done: set[Any] = set()
        next_check = _time.monotonic()
        while True:
            for hook in self.hooks:
                hook()
            if _time.monotonic() >= next_check:
                self._check_sinks()
                next_check = _time.monotonic() + _SINK_CHECK_S
            self.dynamic.poll()
            pending = [r for r in self.deployed.run_refs if r not in done]
            ready, _ = ray.wait(pending, timeout=poll_s, num_returns=len(pending)) \
                if pending else ([], [])
            for ref in ready:
                self._check(ref)
                done.add(ref)
            self._drain_driver_sinks()
            if len(done) == len(self.deployed.run_refs) and \
                    ray.get(self.coordinator.is_done.remote()):
                self._check_sinks()
                self._drain_driver_sinks()
                return
            if not pending:
                _time.sleep(poll_s)
            if deadline is not None and _time.monotonic() > deadline:
                raise TimeoutError("pipeline still running")

    def _check(self, ref: Any) -> None:
        try:
            ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - re-raised with the root cause
            reader = self.deployed.run_refs.get(ref, "?")
            self.shutdown()
            raise PipelineError(f"{reader}: {_root_cause(exc)}") from exc

    def _check_sinks(self) -> None:
        """Fails the pipeline if a sink's writer raised (its times never become durable)."""
        failure = ray.get(self.coordinator.failure.remote())
        if failure is not None:
            self.shutdown()
            raise PipelineError(failure)

    def _drain_driver_sinks(self) -> None:
        for stage, handle in self.deployed.driver_sinks:
            if stage.id in self.finished_sinks:
                continue
            frontier = None
            for time, batch in ray.get(handle.drain.remote()):
                if batch is None:
                    frontier = time
                else:
                    stage.callbacks.on_batch(time, batch)
            if frontier is not None:
                stage.callbacks.on_frontier(frontier)
                ray.get(handle.ack.remote(frontier))
                if frontier >= ray.get(self.coordinator.end.remote()):
                    self.finished_sinks.add(stage.id)

    def stop(self) -> None:
        """Asks every reader to end its stream (the rest follows the normal end)."""
        self.dynamic.stages = []
        for handle in self.deployed.readers.values():
            handle.stop.remote()

    def status(self) -> dict[str, Any]:
        """Returns the coordinator's status."""
        return ray.get(self.coordinator.status.remote())

    def _liveness_check(self) -> Callable[[], None]:
        """A hook that fails the pipeline when one of its actors died."""
        def actors() -> dict[str, Any]:
            named = {f"{self.plan.stage(stage_id).name}[{i}]": h
                     for stage_id, handles in self.deployed.handles.items()
                     for i, h in enumerate(handles)}
            return {**named, "coordinator": self.coordinator}

        liveness = Liveness(actors)

        def check() -> None:
            try:
                liveness.check()
            except ActorDied as exc:
                self.shutdown()
                raise PipelineError(str(exc)) from exc
        return check

    def shutdown(self) -> None:
        """Kills every actor of the pipeline."""
        for handles in self.deployed.handles.values():
            for handle in handles:
                ray.kill(handle, no_restart=True)
        if self.coordinator is not None:
            ray.kill(self.coordinator, no_restart=True)
        self.deployed.handles.clear()


def _root_cause(exc: BaseException) -> str:
    """The innermost error message of a (possibly nested) Ray task error."""
    cause = getattr(exc, "cause", None)
    while cause is not None and getattr(cause, "cause", None) is not None:
        cause = cause.cause
    target = cause or exc
    return f"{type(target).__name__}: {target}"
