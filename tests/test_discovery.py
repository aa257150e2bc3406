"""Dynamic partitions (no Ray): parents are read before children, readers end in order."""

from __future__ import annotations

from raystream.actors.discovery import DiscoveryState, decide, initial_partitions
from raystream.connectors.base import PartitionInfo as P


def test_only_roots_start_at_first() -> None:
    shards = [P("0", closed=True), P("1", ("0",)), P("2", ("0",)), P("9", ("gone",))]
    assert initial_partitions(shards) == ["0", "9"]


def test_split_children_start_after_the_parent_is_exhausted_then_parent_is_released() -> None:
    shards = [P("0", closed=True), P("1", ("0",)), P("2", ("0",))]
    state = DiscoveryState(assigned={"0"})
    assert decide(shards, state) == ([], [])  # parent still being read
    state.exhausted.add("0")
    to_start, to_release = decide(shards, state)
    assert to_start == ["1", "2"]
    assert to_release == ["0"]  # children are started in the same step


def test_merge_child_waits_for_both_parents() -> None:
    shards = [P("1", closed=True), P("2", closed=True), P("3", ("1", "2"))]
    state = DiscoveryState(assigned={"1", "2"}, exhausted={"1"})
    assert decide(shards, state) == ([], [])  # 3 waits for 2; 1 waits for its child
    state.exhausted.add("2")
    assert decide(shards, state) == (["3"], ["1", "2"])


def test_exhausted_shard_without_children_is_released() -> None:
    state = DiscoveryState(assigned={"0"}, exhausted={"0"})
    assert decide([P("0", closed=True)], state) == ([], ["0"])
    state.released.add("0")
    assert decide([P("0", closed=True)], state) == ([], [])
