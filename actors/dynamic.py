"""Driver-side follower of dynamic sources: new partitions get readers while running."""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING, Any

import ray
from raystream.actors.discovery import DiscoveryState, decide
from raystream.actors.plan import ReaderStage, channel_id

if TYPE_CHECKING:
    from raystream.actors.runtime import Pipeline


class DynamicSources:
    """Re-lists the partitions of dynamic reader stages and starts/releases readers.

    Args:
        pipeline: The running pipeline (its actors and coordinator).
        interval_s: Seconds between two listings.
    """

    def __init__(self, pipeline: Pipeline, interval_s: float = 2.0) -> None:
        self.pipeline = pipeline
        self.interval_s = interval_s
        self.stages = [s for s in pipeline.plan.stages
                       if isinstance(s, ReaderStage) and s.dynamic]
        self.states: dict[int, DiscoveryState] = {}
        self.partition_of: dict[str, tuple[int, str]] = {}
        self.reader_of: dict[tuple[int, str], str] = {}
        self.instances: dict[int, int] = {}
        self.last = 0.0
        for stage in self.stages:
            state = self.states[stage.id] = DiscoveryState()
            self.instances[stage.id] = stage.parallelism
            for instance, group in enumerate(stage.groups):
                self._remember(stage.id, group[0], channel_id(stage.id, instance))
                state.assigned.add(group[0])

    def _remember(self, stage_id: int, partition: str, reader_id: str) -> None:
        self.partition_of[reader_id] = (stage_id, partition)
        self.reader_of[(stage_id, partition)] = reader_id

    def poll(self, force: bool = False) -> None:
        """Lists partitions (at most every ``interval_s``) and acts on changes."""
        if not self.stages or (not force and _time.monotonic() - self.last < self.interval_s):
            return
        self.last = _time.monotonic()
        exhausted = ray.get(self.pipeline.coordinator.exhausted_readers.remote())
        for reader_id in exhausted:
            if reader_id in self.partition_of:
                stage_id, partition = self.partition_of[reader_id]
                self.states[stage_id].exhausted.add(partition)
        for stage in self.stages:
            self._follow(stage)

    def _follow(self, stage: ReaderStage) -> None:
        state = self.states[stage.id]
        to_start, to_release = decide(stage.source.list_partitions(), state)
        for partition in to_start:
            self._start_reader(stage, partition)
            state.assigned.add(partition)
        for partition in to_release:
            reader_id = self.reader_of[(stage.id, partition)]
            self.pipeline.deployed.readers[reader_id].release.remote()
            state.released.add(partition)

    def _start_reader(self, stage: ReaderStage, partition: str) -> None:
        """Creates a reader, registers its channel everywhere, then starts it."""
        instance = self.instances[stage.id]
        self.instances[stage.id] += 1
        pipeline = self.pipeline
        handle = pipeline._create_reader(stage, instance, [partition])
        reader_id = channel_id(stage.id, instance)
        self._remember(stage.id, partition, reader_id)
        start = ray.get(pipeline.coordinator.add_reader.remote(
            reader_id, f"{stage.name}#{stage.id}", handle))
        pending: list[Any] = []
        for consumer, channel in pipeline.plan.consumers(stage.id):
            for target in pipeline.deployed.handles[consumer.id]:
                pending.append(target.add_channel.remote(channel.port, reader_id, start))
        ray.get(pending)
        pipeline.deployed.run_refs[handle.run.remote()] = reader_id
        pipeline.deployed.handles[stage.id].append(handle)
