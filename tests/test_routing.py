"""Routing between stages (pure): key groups, instance ranges and batch splitting."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from raystream.actors.routing import (
    KEY_GROUP,
    KEY_GROUPS,
    Routing,
    filter_groups,
    groups_of_instance,
    instance_of_groups,
    key_groups,
    split_by_target,
)
from raystream.connectors.batch import KEY, insertions


def _batch(n: int = 1000) -> pa.RecordBatch:
    keys = np.arange(n, dtype=np.uint64) * np.uint64(2654435761)
    return insertions(keys, pa.record_batch({"k": [i % 37 for i in range(n)],
                                             "v": list(range(n))}))


@pytest.mark.parametrize("parallelism", [1, 2, 3, 7, 256])
def test_every_key_group_has_exactly_one_owner(parallelism: int) -> None:
    groups = np.arange(KEY_GROUPS, dtype=np.uint16)
    owners = instance_of_groups(groups, parallelism)
    for instance in range(parallelism):
        owned = groups_of_instance(instance, parallelism)
        assert list(np.flatnonzero(owners == instance)) == list(owned)
    assert sorted(set(owners.tolist())) == list(range(parallelism))


def test_hash_split_sends_each_row_once_and_equal_keys_together() -> None:
    batch = _batch()
    parts = split_by_target(batch, Routing.HASH, 3, instance=0, columns=("k",))
    assert sum(p.num_rows for _, p in parts) == batch.num_rows
    target_of: dict[int, int] = {}
    for target, part in parts:
        for k in part.column("k").to_pylist():
            assert target_of.setdefault(k, target) == target
    assert len({t for t, _ in parts}) == 3  # 37 distinct keys spread over the 3 targets
    expected = instance_of_groups(key_groups(batch, ["k"]), 3)
    for target, part in parts:
        assert set(instance_of_groups(key_groups(part, ["k"]), 3).tolist()) == {target}
    assert sorted(expected.tolist()) == sorted(t for t, p in parts for _ in range(p.num_rows))


def test_hash_split_defaults_to_the_row_key() -> None:
    batch = _batch(500)
    parts = split_by_target(batch, Routing.HASH, 4, instance=0)
    for target, part in parts:
        assert set(instance_of_groups(key_groups(part, [KEY]), 4).tolist()) == {target}


def test_forward_goes_to_the_partner_and_gather_to_the_single_target() -> None:
    batch = _batch(10)
    assert [t for t, _ in split_by_target(batch, Routing.FORWARD, 4, instance=2)] == [2]
    assert [t for t, _ in split_by_target(batch, Routing.GATHER, 1, instance=3)] == [0]
    assert [t for t, _ in split_by_target(batch, Routing.HASH, 1, instance=3)] == [0]


def test_filter_groups_keeps_the_instance_rows_only() -> None:
    table = pa.table({KEY_GROUP: pa.array(np.arange(KEY_GROUPS), pa.uint16()),
                      "x": list(range(KEY_GROUPS))})
    pieces = [filter_groups(table, i, 3).column("x").to_pylist() for i in range(3)]
    assert sorted(sum(pieces, [])) == list(range(KEY_GROUPS))
    assert pieces[0] == list(groups_of_instance(0, 3))


def test_readers_added_while_running_share_the_forward_partners() -> None:
    from raystream.actors.routing import forward_partner

    assert [forward_partner(i, 8) for i in range(8)] == list(range(8))
    assert [forward_partner(i, 8) for i in (8, 9, 17)] == [0, 1, 1]
    batch = pa.record_batch({"v": [1, 2]})
    assert split_by_target(batch, Routing.FORWARD, 4, 6) == [(2, batch)]
