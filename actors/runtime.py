"""Deploys a :class:`PhysicalPlan` as Ray actors and drives it from the driver process.

The driver loop (:meth:`Pipeline.wait`) runs the hooks (status line, stop
signals), the supervisor (failures and rollbacks), dynamic sources, writes
complete checkpoints and drains driver-side sinks.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayError
from raystream.actors.checkpoint import CheckpointStore
from raystream.actors.checkpointer import Checkpointer, Restore
from raystream.actors.coordinator import CoordinatorConfig
from raystream.actors.deploy import Deployer, Deployment
from raystream.actors.discovery import assign_partitions, default_operator_parallelism
from raystream.actors.driver_sinks import DriverSinks
from raystream.actors.dynamic import DynamicSources
from raystream.actors.metrics import ActorMetrics
from raystream.actors.placement import Placement, alive_nodes
from raystream.actors.plan import OperatorStage, PhysicalPlan, ReaderStage, SinkStage, Stage
from raystream.actors.ray_session import ensure_ray
from raystream.actors.routing import Routing, channel_id, forward_partner, source_key
from raystream.actors.status import StatusLine
from raystream.actors.supervisor import Failed, PipelineError, Supervisor
from raystream.connectors.checkpoint_storage import MemoryStorage

log = logging.getLogger("raystream.runtime")

__all__ = ["CheckpointSettings", "Pipeline", "PipelineError", "cluster_cpus", "ensure_ray"]


def cluster_cpus() -> int:
    """Number of CPUs in the Ray cluster (starting a local Ray if needed)."""
    ensure_ray()
    return int(ray.cluster_resources().get("CPU", 1))


@dataclass(frozen=True)
class CheckpointSettings:
    """Where checkpoints go and how often.

    Attributes:
        store: The checkpoint store, or None for an in-memory one (in-run
            recovery only: nothing survives the driver).
        interval_ms: Least time between two checkpoint starts (0: one per
            commit time once the previous one is complete).
        max_restarts: Consecutive rollbacks without a completed checkpoint
            that end the run (0: no recovery, the first failure ends it).
    """

    store: CheckpointStore | None = None
    interval_ms: int = 0
    max_restarts: int = 10


class Pipeline:
    """A running pipeline: its actors, and the loop that waits for it.

    Args:
        plan: What to run.
        checkpoints: Checkpoint storage, interval and restart limit.
    """

    def __init__(self, plan: PhysicalPlan, checkpoints: CheckpointSettings | None = None) -> None:
        self.plan = plan
        self.settings = checkpoints or CheckpointSettings()
        self.deployed = Deployment()
        self.coordinator: Any = None
        self.placement = Placement([])
        self.hooks: list[Callable[[], None]] = []
        self.dynamic = DynamicSources(self, [])
        self.driver_sinks = DriverSinks()
        self.runs: dict[str, Any] = {}
        self.incarnation = 0
        self.source_of: dict[str, str] = {}
        self.finished_readers: set[str] = set()
        self.appeared: dict[str, tuple[ReaderStage, tuple[str, ...]]] = {}
        self.added_channels: list[tuple[int, int, int, str]] = []
        self.supervisor = Supervisor(self, max_restarts=self.settings.max_restarts)
        self.driver_metrics = ActorMetrics(None)
        self.checkpointer: Checkpointer
        self.restored = Restore()

    # -- deploy --------------------------------------------------------------

    def start(self) -> Pipeline:
        """Lists partitions, restores the latest checkpoint if any, creates the actors, starts.

        Raises:
            CheckpointError: The latest checkpoint is corrupt, incomplete, or
                was taken by a pipeline of another structure.
            StorageError: The checkpoint storage cannot be written.
        """
        ensure_ray()
        self.plan = plan = with_partitions(self.plan)
        store = self.settings.store or CheckpointStore(MemoryStorage(), "in-run")
        store.storage.probe()
        self.checkpointer = Checkpointer(store, plan)
        self.checkpointer.start()
        restore = self.restored = self.checkpointer.restore()
        self.placement = Placement.for_plan(plan, alive_nodes())
        deployer = Deployer(plan, self.placement, self.deployed, self._identity(store))
        self.driver_metrics = ActorMetrics(deployer.tags(f"{plan.name}:driver", "driver"))
        self.source_of = {rid: source_key(s.name, s.id) for s in plan.stages
                          if isinstance(s, ReaderStage) for rid in self._ids(s)}
        self.coordinator = deployer.coordinator(self._coordinator_config())
        for stage in reversed(plan.stages):
            self.deployed.handles[stage.id] = deployer.stage(stage, restore.sink_states,
                                                             restore.sink_parts)
            if isinstance(stage, SinkStage) and stage.sink is None:
                self.driver_sinks.add(stage, self.deployed.handles[stage.id][0])
        self._restore_operators(restore)
        ray.get(self.coordinator.reset.remote(0, dict(self.source_of), restore.frontier,
                                              restore.clock, dict(self.deployed.readers),
                                              self._sink_handles()))
        for reader_id, handle in self.deployed.readers.items():
            self.runs[reader_id] = handle.run.remote(0, restore.positions.get(reader_id))
        self.dynamic = DynamicSources(
            self, [s for s in plan.stages if isinstance(s, ReaderStage)])
        if plan.options.get("monitoring"):
            self.hooks.append(self._status_line().tick)
        if restore.number:
            log.warning("pipeline %s: restored checkpoint %d (frontier %d) from %s",
                        plan.name, restore.number, restore.frontier,
                        store.location(store.manifest_path(restore.number)))
        return self

    def _identity(self, store: CheckpointStore) -> str:
        """The pipeline's persistent identity (this run's name without persistence)."""
        return store.pipeline_id if self.settings.store is not None else self.plan.name

    def _sink_handles(self) -> dict[str, Any]:
        return {channel_id(s.id, 0): self.deployed.handles[s.id][0] for s in self.plan.stages
                if isinstance(s, SinkStage)}

    def _coordinator_config(self) -> CoordinatorConfig:
        plan = self.plan
        limits = {source_key(s.name, s.id): s.max_backlog_size for s in plan.stages
                  if isinstance(s, ReaderStage)}
        sinks = [channel_id(s.id, 0) for s in plan.stages if isinstance(s, SinkStage)]
        stateful = frozenset(channel_id(s.id, i) for s in plan.stages
                             if isinstance(s, OperatorStage) and getattr(s.kernel, "stateful",
                                                                         False)
                             for i in range(s.parallelism))
        return CoordinatorConfig(dict(self.source_of), sinks, limits, stateful,
                                 self.settings.interval_ms)

    def _restore_operators(self, restore: Restore, incarnation: int = 0) -> None:
        pending = []
        for stage in reversed(self.plan.stages):
            if isinstance(stage, OperatorStage):
                for i, handle in enumerate(self.deployed.handles[stage.id]):
                    state = restore.operator_state.get(channel_id(stage.id, i))
                    pending.append(handle.reset.remote(incarnation, restore.frontier, state))
        ray.get(pending)

    def _status_line(self) -> StatusLine:
        sinks = [self.deployed.handles[s.id][0] for s in self.plan.stages
                 if isinstance(s, SinkStage)]
        return StatusLine(self.plan.name, self.deployed.readers, sinks, self.coordinator,
                          interval_s=self.plan.options.get("status_interval_s", 10.0),
                          supervisor=self.supervisor)

    def _ids(self, stage: Stage) -> list[str]:
        return [channel_id(stage.id, i) for i in range(stage.parallelism)]

    def named_actors(self) -> dict[str, Any]:
        """Every actor by a readable name (liveness checks, rollbacks)."""
        named = {f"{self.plan.stage(stage_id).name}[{i}]": h
                 for stage_id, handles in self.deployed.handles.items()
                 for i, h in enumerate(handles)}
        return {**named, "coordinator": self.coordinator}

    # -- drive ---------------------------------------------------------------

    def wait(self, timeout: float | None = None, poll_s: float = 0.05) -> None:
        """Blocks until the pipeline ends, recovering from failures meanwhile.

        Raises:
            PipelineError: If an actor failed fatally or failures repeated (the
                pipeline is shut down first).
            TimeoutError: If ``timeout`` passed first (the pipeline keeps running).
        """
        deadline = None if timeout is None else _time.monotonic() + timeout
        try:
            while not self._step(poll_s):
                if deadline is not None and _time.monotonic() > deadline:
                    raise TimeoutError("pipeline still running")
        except PipelineError:
            self.shutdown()
            raise

    def _step(self, poll_s: float) -> bool:
        """One round of the driver loop; True when the pipeline is over."""
        for hook in self.hooks:
            hook()
        try:
            self.supervisor.check(self._finished_runs(poll_s))
            self.dynamic.poll()
            self._write_checkpoints()
            self.driver_sinks.drain()
            return len(self.finished_readers) == len(self.runs) and \
                ray.get(self.coordinator.is_done.remote()) and self.driver_sinks.finished
        except RayError as exc:  # an actor the driver called died: roll back
            self.supervisor.check(Failed("pipeline", f"an actor died: {type(exc).__name__}: "
                                                     f"{str(exc).strip()[:300]}"))
            return False

    def _finished_runs(self, poll_s: float) -> Any:
        """Waits up to ``poll_s`` for reader loops to return; a failure if one raised."""
        pending = {ref: reader for reader, ref in self.runs.items()
                   if reader not in self.finished_readers}
        if not pending:
            _time.sleep(poll_s)
            return None
        ready, _ = ray.wait(list(pending), timeout=poll_s, num_returns=len(pending))
        for ref in ready:
            reader = pending[ref]
            failure = self.supervisor.reader_finished(reader, ref)
            if failure is not None:
                return failure
            stats = ray.get(ref)
            if stats.get("incarnation", 0) == self.incarnation:
                self.finished_readers.add(reader)
            else:  # it ended under an older incarnation, before its rewind arrived
                self.runs[reader] = self.deployed.readers[reader].run.remote(
                    self.incarnation, self._start_positions(reader))
        return None

    def _write_checkpoints(self) -> None:
        """Writes every complete cut, then lets the sources and driver sinks commit."""
        for cut in ray.get(self.coordinator.take_ready_cuts.remote()):
            manifest = self.checkpointer.write(cut, self.source_of)
            self.coordinator.cut_committed.remote(self.incarnation, cut.frontier,
                                                  cut.positions)
            self.driver_sinks.deliver(cut.frontier)
            self.supervisor.progressed()
            self.driver_metrics.count(checkpoints=1)
            log.debug("pipeline %s: checkpoint %d at frontier %d (%d parts)", self.plan.name,
                      manifest.k, manifest.frontier, len(manifest.parts))

    def rollback(self, restore: Restore) -> None:
        """Restores ``restore`` in every actor (see :mod:`raystream.actors.protocol`)."""
        self.incarnation += 1
        self.restored = restore
        incarnation = self.incarnation
        sinks = [(channel_id(s.id, 0), self.deployed.handles[s.id][0]) for s in self.plan.stages
                 if isinstance(s, SinkStage)]
        ray.get([h.reset.remote(incarnation, restore.frontier, restore.sink_states.get(sid),
                                restore.sink_parts.get(sid)) for sid, h in sinks])
        self._restore_operators(restore, incarnation)
        self._add_channels_again(restore.frontier)
        ray.get(self.coordinator.reset.remote(incarnation, dict(self.source_of),
                                              restore.frontier, restore.clock,
                                              dict(self.deployed.readers), self._sink_handles()))
        self.driver_sinks.rollback(restore.frontier)
        self.dynamic.rollback()
        self.finished_readers.clear()
        ready, _ = ray.wait(list(self.runs.values()), num_returns=len(self.runs), timeout=0)
        ended = set(ready)
        for reader, handle in self.deployed.readers.items():
            positions = self._start_positions(reader)
            if self.runs.get(reader) in ended or reader not in self.runs:
                self.runs[reader] = handle.run.remote(incarnation, positions)
            else:
                handle.rewind.remote(incarnation, positions)

    def stop(self) -> None:
        """Asks every reader to end its stream (the rest follows the normal end)."""
        self.dynamic.stop()
        for handle in self.deployed.readers.values():
            handle.stop.remote()

    def status(self) -> dict[str, Any]:
        """Returns the coordinator's status, with recoveries and checkpoints."""
        status = ray.get(self.coordinator.status.remote())
        return dict(status, recoveries=self.supervisor.recoveries,
                    last_recovery_s=self.supervisor.last_recovery_s,
                    checkpoints_written=self.checkpointer.written)

    # -- readers started while running (DynamicSources calls these) ------------

    def _add_channels_again(self, frontier: int) -> None:
        """Gives the channels of readers started while running to actors Ray restarted.

        A restarted actor reran ``__init__`` with the channels it was created
        with; the others keep theirs (``add_channel`` ignores a known channel).
        Runs after the resets, before any reader resumes.
        """
        ray.get([self.deployed.handles[stage_id][instance].add_channel.remote(
            port, reader_id, frontier)
            for stage_id, instance, port, reader_id in self.added_channels])

    def _start_positions(self, reader_id: str) -> dict[str, Any] | None:
        """Where a reader starts after the last restore (None: as a fresh reader)."""
        if reader_id in self.appeared:
            stage, partitions = self.appeared[reader_id]
            return self.restored.reader_positions(stage, partitions, appeared=True) or None
        return self.restored.positions.get(reader_id)

    def start_reader(self, stage: ReaderStage, instance: int, partitions: list[str]) -> str:
        """Creates a reader for ``partitions``, registers its channel everywhere, starts it.

        It starts at the restored checkpoint's positions, if it has them, else
        (a growing source) at the partitions' first records, else as a fresh reader.

        Returns:
            The new reader's id.
        """
        deployer = Deployer(self.plan, self.placement, self.deployed)
        handle = deployer.reader(stage, instance, partitions)
        reader_id = channel_id(stage.id, instance)
        self.appeared[reader_id] = (stage, tuple(partitions))
        log.warning("pipeline %s: partitions %s of %s appeared: reader %s reads them",
                 self.plan.name, ", ".join(partitions), stage.name, reader_id)
        self.source_of[reader_id] = source_key(stage.name, stage.id)
        start = ray.get(self.coordinator.add_reader.remote(
            reader_id, source_key(stage.name, stage.id), handle))
        pending: list[Any] = []
        for consumer, channel in self.plan.consumers(stage.id):
            targets = self.deployed.handles[consumer.id]
            partners = [forward_partner(instance, len(targets))] \
                if channel.routing is Routing.FORWARD else range(len(targets))
            for target in partners:
                self.added_channels.append((consumer.id, target, channel.port, reader_id))
                pending.append(targets[target].add_channel.remote(channel.port, reader_id,
                                                                  start))
        ray.get(pending)
        self.runs[reader_id] = handle.run.remote(self.incarnation,
                                                 self._start_positions(reader_id))
        self.deployed.handles[stage.id].append(handle)
        return reader_id

    def release_reader(self, reader_id: str) -> None:
        """Lets a dynamic reader end once its partition is read (its children have readers)."""
        self.deployed.readers[reader_id].release.remote()

    def exhausted_readers(self) -> list[str]:
        """Dynamic readers that read their partition to the end and wait to be released."""
        return ray.get(self.coordinator.exhausted_readers.remote())

    def shutdown(self) -> None:
        """Kills every actor of the pipeline."""
        for handles in self.deployed.handles.values():
            for handle in handles:
                ray.kill(handle, no_restart=True)
        if self.coordinator is not None:
            ray.kill(self.coordinator, no_restart=True)
        self.deployed.handles.clear()


def with_partitions(plan: PhysicalPlan) -> PhysicalPlan:
    """The plan with every reader stage's partitions listed and grouped.

    This is where the runtime first talks to the sources (never while planning).
    """
    cpus, nodes = cluster_cpus(), len(alive_nodes())
    groups = {stage.id: assign_partitions(stage.source.list_partitions(),
                                          stage.parallel_readers, stage.dynamic, cpus, nodes)
              for stage in plan.stages if isinstance(stage, ReaderStage) and not stage.groups}
    return plan.resolved(groups, default_parallelism=default_operator_parallelism(cpus))

