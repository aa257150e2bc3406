"""How many reader actors a source gets, and which partitions each reads (no Ray)."""

from __future__ import annotations

import pytest
from raystream.actors.discovery import (
    assign_partitions,
    default_operator_parallelism,
    default_reader_count,
)
from raystream.connectors.base import PartitionInfo


def listing(n: int) -> list[PartitionInfo]:
    return [PartitionInfo(str(i)) for i in range(n)]


@pytest.mark.parametrize(("partitions", "cpus", "nodes", "readers"), [
    (2, 4, 2, 2),     # few partitions: one reader each
    (4, 2, 2, 2),     # more partitions than CPUs: one reader per CPU
    (64, 4, 4, 4),    # 64 partitions on 4 one-CPU nodes: one reader per CPU
    (64, 2, 1, 2),    # this 2-core machine
    (64, 2, 6, 6),    # more nodes than CPUs: every node still gets a reader
    (1, 16, 4, 1),    # never more readers than partitions
    (0, 2, 1, 1),
])
def test_the_default_count_follows_partitions_cpus_and_nodes(partitions: int, cpus: int,
                                                              nodes: int, readers: int) -> None:
    assert default_reader_count(partitions, cpus, nodes) == readers


def test_every_partition_is_read_once_and_groups_are_even() -> None:
    groups = assign_partitions(listing(64), None, False, cpus=4, nodes=4)
    assert len(groups) == 4 and {len(g) for g in groups} == {16}
    assert sorted(int(p) for g in groups for p in g) == list(range(64))


def test_parallel_readers_overrides_the_default() -> None:
    assert len(assign_partitions(listing(64), 32, False, cpus=2, nodes=1)) == 32
    assert len(assign_partitions(listing(5), 9, False, cpus=2, nodes=1)) == 5


def test_dynamic_sources_keep_one_reader_per_root_partition() -> None:
    shards = [PartitionInfo("a"), PartitionInfo("b"), PartitionInfo("c", parents=("a",))]
    assert assign_partitions(shards, None, True, cpus=1, nodes=1) == [["a"], ["b"]]


@pytest.mark.parametrize(("cpus", "operators"), [(1, 1), (2, 1), (4, 2), (8, 4), (64, 4)])
def test_keyed_operators_get_one_actor_per_two_cpus_by_default(cpus: int,
                                                               operators: int) -> None:
    assert default_operator_parallelism(cpus) == operators
