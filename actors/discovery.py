"""Which partitions of a dynamic source (Kinesis shards) get readers, and when.

Pure rules, no Ray:
    * a partition gets a reader once every parent that is still listed has
      been read to its end (a closed parent shard before its children);
    * a reader that read its partition to the end is *released* (may end its
      channel) only once every child of its partition has a reader, so the
      downstream frontier never passes a time a child could still use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raystream.connectors.base import PartitionInfo


@dataclass
class DiscoveryState:
    """What the driver knows about one dynamic source.

    Attributes:
        assigned: Partitions that have (or had) a reader.
        exhausted: Partitions whose reader read them to the end.
        released: Exhausted partitions whose reader was allowed to end.
    """

    assigned: set[str] = field(default_factory=set)
    exhausted: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)


def initial_partitions(partitions: list[PartitionInfo]) -> list[str]:
    """Partitions to read from the start: those with no listed parent."""
    listed = {p.id for p in partitions}
    return [p.id for p in partitions if not set(p.parents) & listed]


def decide(partitions: list[PartitionInfo], state: DiscoveryState) -> tuple[list[str], list[str]]:
    """Returns ``(partitions to start, partitions whose readers to release)``.

    Args:
        partitions: The source's current listing.
        state: What already has readers, what is exhausted, what was released.
    """
    listed = {p.id for p in partitions}
    to_start = []
    for partition in partitions:
        if partition.id in state.assigned:
            continue
        parents = [p for p in partition.parents if p in listed]
        if all(p in state.exhausted for p in parents):
            to_start.append(partition.id)
    assigned = state.assigned | set(to_start)
    children: dict[str, list[str]] = {}
    for partition in partitions:
        for parent in partition.parents:
            children.setdefault(parent, []).append(partition.id)
    to_release = sorted(
        p for p in state.exhausted - state.released
        if all(child in assigned for child in children.get(p, [])))
    return to_start, to_release
