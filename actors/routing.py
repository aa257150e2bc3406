"""How rows travel between stages: routing modes, key groups and channel ids.

Hash routing sends a row to an instance of the downstream stage chosen by its
*key group*: a number in ``0 .. KEY_GROUPS-1`` derived from the hash of the
routing columns (the group columns of a reduce, the row key of an upsert).
Instances own contiguous ranges of key groups, so the number of key groups is
fixed while the number of instances is not: state saved by N instances (each
state row tagged with its key group) can be restored into M instances.

Everything here is pure (no Ray).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from raystream.connectors.batch import KEY
from raystream.connectors.hashing import hash_columns

KEY_GROUPS = 256
"""Fixed number of key groups (the finest unit of state redistribution)."""
KEY_GROUP = "_kg"
"""Column of snapshot tables holding each state row's key group (uint16)."""
ROUTING_SEED = 7
"""Hash family of routing (distinct from row keys' hashes)."""


class Routing(str, enum.Enum):
    """How a stage's output reaches the instances of the next stage.

    Attributes:
        FORWARD: Instance ``i`` sends to instance ``i`` (same parallelism; a reader
            started while running, ``i`` beyond it, to ``i`` modulo the parallelism:
            :func:`forward_partner`).
        HASH: By key group of the routing columns (default: the row key).
        GATHER: Everything to the single instance of the next stage.
    """

    FORWARD = "forward"
    HASH = "hash"
    GATHER = "gather"


class Output(str, enum.Enum):
    """Which output of an upstream stage a channel reads."""

    DATA = "data"
    ERRORS = "errors"


def forward_partner(instance: int, targets: int) -> int:
    """The instance a ``FORWARD`` sender ``instance`` sends to, among ``targets``.

    The same number while the stages have the same parallelism; readers
    started while running (a Kafka topic that grew) have higher numbers and
    share the stateless followers of the first ones.
    """
    return instance % targets


def channel_id(stage_id: int, instance: int) -> str:
    """The sender id of one actor instance, as used in frontiers."""
    return f"{stage_id}.{instance}"


def source_key(name: str, stage_id: int) -> str:
    """The coordinator's name for one source (backlog limits are per source)."""
    return f"{name}#{stage_id}"


def key_groups_of_hashes(hashes: np.ndarray) -> np.ndarray:
    """Maps routing hashes (uint64) to key groups (uint16)."""
    return ((hashes >> np.uint64(33)) % np.uint64(KEY_GROUPS)).astype(np.uint16)


def key_groups(batch: pa.RecordBatch | pa.Table, columns: Sequence[str] = ()) -> np.ndarray:
    """The key group of every row, from its routing columns (default: the row key)."""
    return key_groups_of_hashes(hash_columns(batch, list(columns) or [KEY], seed=ROUTING_SEED))


def instance_of_groups(groups: np.ndarray, parallelism: int) -> np.ndarray:
    """The instance owning each key group: contiguous ranges of groups per instance."""
    return (groups.astype(np.int64) * parallelism) // KEY_GROUPS


def groups_of_instance(instance: int, parallelism: int) -> range:
    """The key groups instance ``instance`` of ``parallelism`` owns."""
    first = -(-instance * KEY_GROUPS // parallelism)
    last = -(-(instance + 1) * KEY_GROUPS // parallelism)
    return range(first, last)


def split_by_target(batch: pa.RecordBatch, mode: Routing, targets: int, instance: int,
                    columns: Sequence[str] = ()) -> list[tuple[int, pa.RecordBatch]]:
    """Splits a batch among the instances of the next stage.

    Args:
        batch: The rows to send.
        mode: The channel's routing.
        targets: Number of instances of the next stage.
        instance: The sender's own instance number (its ``FORWARD`` partner).
        columns: Routing columns for ``HASH`` (default: the row key).

    Returns:
        ``(target instance, rows)`` pairs; every row appears exactly once.
    """
    if mode is Routing.FORWARD:
        return [(forward_partner(instance, targets), batch)]
    if mode is Routing.GATHER or targets == 1:
        return [(0, batch)]
    parts = instance_of_groups(key_groups(batch, columns), targets)
    order = np.argsort(parts, kind="stable")
    counts = np.bincount(parts, minlength=targets)
    sorted_batch = batch.take(pa.array(order))
    out, start = [], 0
    for target, count in enumerate(counts):
        if count:
            out.append((target, sorted_batch.slice(start, int(count))))
        start += int(count)
    return out


def filter_groups(table: pa.Table, instance: int, parallelism: int) -> pa.Table:
    """The rows of a snapshot table whose key group belongs to ``instance``."""
    owned = groups_of_instance(instance, parallelism)
    groups = table.column(KEY_GROUP).to_numpy(zero_copy_only=False)
    mask = (groups >= owned.start) & (groups < owned.stop)
    return table.filter(pa.array(mask))
