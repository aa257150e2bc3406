"""Driver-side follower of sources whose partitions change while running.

Two kinds (:attr:`ReaderStage.dynamic`, :attr:`ReaderStage.grows`):
    * dynamic (Kinesis): one reader per partition; a child starts once its
      parents are read to their end, a parent's reader ends once its children
      have readers (:func:`raystream.actors.discovery.decide`);
    * growing (Kafka, streaming): partitions only appear. The partitions that
      appeared since the last listing get one new reader together, reading
      from their first record.
"""

from __future__ import annotations

import time as _time
from typing import Protocol

from raystream.actors.discovery import DiscoveryState, decide
from raystream.actors.plan import ReaderStage
from raystream.actors.routing import channel_id


class ReaderHost(Protocol):
    """What :class:`DynamicSources` needs from the running pipeline."""

    def start_reader(self, stage: ReaderStage, instance: int, partitions: list[str]) -> str:
        """Creates, registers and starts a reader of ``partitions``; returns its id."""
        ...

    def release_reader(self, reader_id: str) -> None:
        """Lets an exhausted reader end."""
        ...

    def exhausted_readers(self) -> list[str]:
        """Readers that read their partition to the end and wait to be released."""
        ...


class DynamicSources:
    """Re-lists the partitions of dynamic and growing reader stages; starts/releases readers.

    Args:
        host: The running pipeline.
        stages: Every reader stage of the pipeline (non-dynamic ones are ignored).
        interval_s: Seconds between two listings.
    """

    def __init__(self, host: ReaderHost, stages: list[ReaderStage],
                 interval_s: float = 2.0) -> None:
        self.host = host
        self.interval_s = interval_s
        self.stages = [s for s in stages if s.followed]
        self.states: dict[int, DiscoveryState] = {}
        self.partition_of: dict[str, tuple[int, str]] = {}
        self.reader_of: dict[tuple[int, str], str] = {}
        self.instances: dict[int, int] = {}
        self.last = 0.0
        for stage in self.stages:
            state = self.states[stage.id] = DiscoveryState()
            self.instances[stage.id] = stage.parallelism
            for instance, group in enumerate(stage.groups):
                for partition in group:
                    self._remember(stage.id, partition, channel_id(stage.id, instance))
                    state.assigned.add(partition)

    def stop(self) -> None:
        """Starts no more readers (the pipeline is stopping)."""
        self.stages = []

    def rollback(self) -> None:
        """After a rollback every reader reads again: exhausted partitions are re-learnt."""
        for state in self.states.values():
            state.exhausted.clear()
            state.released.clear()

    def _remember(self, stage_id: int, partition: str, reader_id: str) -> None:
        self.partition_of[reader_id] = (stage_id, partition)
        self.reader_of[(stage_id, partition)] = reader_id

    def poll(self, force: bool = False) -> None:
        """Lists partitions (at most every ``interval_s``) and acts on changes."""
        if not self.stages or (not force and _time.monotonic() - self.last < self.interval_s):
            return
        self.last = _time.monotonic()
        for reader_id in self.host.exhausted_readers():
            if reader_id in self.partition_of:
                stage_id, partition = self.partition_of[reader_id]
                self.states[stage_id].exhausted.add(partition)
        for stage in self.stages:
            self._follow(stage)

    def _follow(self, stage: ReaderStage) -> None:
        state = self.states[stage.id]
        to_start, to_release = decide(stage.source.list_partitions(), state)
        groups = [to_start] if stage.grows and to_start else [[p] for p in to_start]
        for group in groups:
            instance = self.instances[stage.id]
            self.instances[stage.id] += 1
            reader_id = self.host.start_reader(stage, instance, group)
            for partition in group:
                self._remember(stage.id, partition, reader_id)
                state.assigned.add(partition)
        for partition in to_release:
            self.host.release_reader(self.reader_of[(stage.id, partition)])
            state.released.add(partition)
