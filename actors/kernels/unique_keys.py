"""The unique-keys kernel: a concat's inputs must not share a row id.

``Table.concat`` needs inputs with disjoint ids; users may only *promise* it
(``pw.universes.promise_are_pairwise_disjoint``). This kernel, hash-routed by
row key after the concat, keeps the ids alive and checks every insertion:
an id that is already alive is a broken promise. As in Pathway, with
``terminate_on_error`` that raises ``KeyError("duplicated entries for key
...")``; otherwise the duplicate row is skipped and logged ("duplicate key").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.base import Emitted, HeldTimes, KernelState
from raystream.actors.kernels.cells import record_error
from raystream.actors.routing import KEY_GROUP, key_groups
from raystream.connectors.base import RecordError
from raystream.connectors.batch import DIFF, KEY, pointer_repr

KEYS = "keys"


@dataclass(frozen=True)
class UniqueKeysSpec:
    """Checks that a concat's row ids are unique.

    Attributes:
        terminate_on_error: A duplicate raises instead of being logged.
        label: The operator and user's line.
    """

    terminate_on_error: bool = False
    label: str = ""

    def build(self, instance: int) -> UniqueKeysKernel:
        """Builds the kernel (every instance starts with no id)."""
        return UniqueKeysKernel(self)


class UniqueKeysKernel:
    """Passes rows through, in time order, skipping insertions of live ids."""

    def __init__(self, spec: UniqueKeysSpec) -> None:
        self.spec = spec
        self.live: dict[int, int] = {}  # id -> rows inserted (more than 1: duplicates)
        self.held = HeldTimes()
        self.errors: list[tuple[int, RecordError]] = []

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Holds rows until their time is complete."""
        self.held.hold(time, batch)
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Checks and emits every held time below ``frontier``, in order."""
        out = []
        for time, rows in self.held.complete(frontier):
            batch = self._check(time, rows)
            if batch.num_rows:
                out.append((time, batch))
        return out

    def take_errors(self) -> list[tuple[int, list[RecordError]]]:
        """Duplicates skipped since the last call, per commit time."""
        by_time: dict[int, list[RecordError]] = {}
        for time, error in self.errors:
            by_time.setdefault(time, []).append(error)
        self.errors.clear()
        return sorted(by_time.items())

    def snapshot(self) -> KernelState:
        """The live ids, as table ``keys`` (``_key``, ``_kg``)."""
        keys = sorted(self.live)
        table = pa.table({KEY: pa.array(keys, pa.uint64()),
                          "rows": pa.array([self.live[k] for k in keys], pa.int64())})
        return {KEYS: table.append_column(KEY_GROUP, pa.array(key_groups(table), pa.uint16()))}

    def restore(self, state: KernelState) -> None:
        """Replaces the live ids by a snapshot's."""
        self.held.clear()
        table = state.get(KEYS)
        self.live = {} if table is None else dict(zip(
            table.column(KEY).to_pylist(), table.column("rows").to_pylist(), strict=True))

    def _check(self, time: int, batch: pa.RecordBatch) -> pa.RecordBatch:
        keys = batch.column(KEY).to_pylist()
        diffs = batch.column(DIFF).to_pylist()
        keep = np.ones(len(keys), np.bool_)
        for i in np.argsort(np.array(diffs), kind="stable"):  # a time's retractions first
            key = keys[i]
            count = self.live.get(key, 0)
            if diffs[i] < 0:  # with duplicates alive, a retraction removes one of them
                keep[i] = count <= 1
                if count <= 1:
                    self.live.pop(key, None)
                else:
                    self.live[key] = count - 1
                continue
            self.live[key] = count + 1
            if count:
                self._duplicate(time, batch, int(i))
                keep[i] = False
        return batch if keep.all() else batch.filter(pa.array(keep))

    def _duplicate(self, time: int, batch: pa.RecordBatch, row: int) -> None:
        key = pointer_repr(batch.column(KEY)[row].as_py())
        if self.spec.terminate_on_error:
            raise KeyError(f"duplicated entries for key {key} in {self.spec.label} (its "
                           "inputs were promised to have disjoint ids)")
        self.errors.append((time, record_error(self.spec.label, batch.slice(row, 1),
                                               f"duplicate key: {key}")))
