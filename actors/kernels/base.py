"""The contract of what runs inside an operator actor: kernels and their specs.

A :class:`KernelSpec` is the compiled plan of one operator stage: a small
picklable description built by raystream's planner. Each operator actor calls
:meth:`KernelSpec.build` once with its instance number and then drives the
:class:`Kernel` it got:

* :meth:`Kernel.on_data` with every batch of a commit time as it arrives;
* :meth:`Kernel.on_frontier` when the actor's input frontier advances: every
  time below it is complete;
* :meth:`Kernel.snapshot` right after an ``on_frontier``: the state as of that
  frontier (what a checkpoint stores), and :meth:`Kernel.restore` with the
  state of a checkpoint before any data arrives.

Stateless kernels answer ``on_data`` at once, return nothing from
``on_frontier`` and have an empty state. Stateful kernels (reduce, upsert)
hold rows per time and emit a time's changes from ``on_frontier``.

State is a dict of named Arrow tables. Every table carries a ``_kg`` column
(:data:`raystream.actors.routing.KEY_GROUP`): the key group of each state row,
computed from the same routing columns that send input rows to the instance.
Restoring into another number of instances gives each instance the rows of
its own key groups (from every old instance's tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa
from raystream.connectors.batch import concat_batches

Emitted = list[tuple[int, pa.RecordBatch]]
"""What a kernel returns: ``(time, batch)`` pairs in time order."""

KernelState = dict[str, pa.Table]
"""A kernel's state: named tables, each with a ``_kg`` (key group) column."""


class HeldTimes:
    """A stateful kernel's input, held per commit time until the time is complete."""

    def __init__(self) -> None:
        self.batches: dict[int, list[pa.RecordBatch]] = {}

    def hold(self, time: int, batch: pa.RecordBatch) -> None:
        """Keeps a batch of ``time`` (empty ones are dropped)."""
        if batch.num_rows:
            self.batches.setdefault(time, []).append(batch)

    def complete(self, frontier: int) -> Iterator[tuple[int, pa.RecordBatch]]:
        """Each held time below ``frontier``, in order, as one batch (forgotten once given)."""
        for time in sorted(t for t in self.batches if t < frontier):
            yield time, concat_batches(self.batches.pop(time))

    def clear(self) -> None:
        """Forgets every held batch (a restore)."""
        self.batches.clear()


class Kernel(Protocol):
    """The computation hosted by one operator actor."""

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Consumes rows of ``time`` arriving on input ``port``."""
        ...

    def on_frontier(self, frontier: int) -> Emitted:
        """Emits the changes of every buffered time below ``frontier``."""
        ...

    def snapshot(self) -> KernelState:
        """Returns the state as of the last frontier (times above it excluded)."""
        ...

    def restore(self, state: KernelState) -> None:
        """Replaces the state by ``state`` (this instance's key groups only)."""
        ...


class KernelSpec(Protocol):
    """A picklable description of a kernel; built once per operator actor."""

    def build(self, instance: int) -> Kernel:
        """Builds the kernel of actor ``instance``."""
        ...
