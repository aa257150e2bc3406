"""Stateless steps (map, filter, new keys) and the chain kernel that runs steps in one actor.

Each step maps one dataflow batch (``_key``, ``_diff``, columns) to another,
with whole-column pyarrow operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
from raystream.actors.kernels.base import Emitted, Kernel, KernelSpec, KernelState
from raystream.actors.kernels.cells import (
    FILTER_MESSAGE,
    KEY_MESSAGE,
    any_of,
    cell_values,
    skip_rows,
)
from raystream.actors.kernels.errors import guarded
from raystream.connectors.base import RecordError
from raystream.connectors.batch import DIFF, KEY, error_flag
from raystream.connectors.hashing import hash_columns

Step = Callable[[pa.RecordBatch], pa.RecordBatch]


class ColumnProgram(Protocol):
    """A compiled column expression: computes one column of a batch.

    raystream's resolved expressions (``raystream.expressions``) are the
    compiled form; kernels depend only on this protocol.
    """

    def column(self, batch: pa.RecordBatch) -> pa.Array:
        """Computes the column for every row of ``batch``."""
        ...

    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        """Rows whose value is an error because an input cell is one (None: none)."""
        ...


Outputs = tuple[tuple[str, ColumnProgram], ...]


def compute_outputs(outputs: Outputs, flagged: frozenset[str], batch: pa.RecordBatch,
                    label: str, errors: list[RecordError] | None
                    ) -> tuple[list[pa.Array], list[str]]:
    """Computes output columns; those in ``flagged`` keep error cells (with their flags)."""
    arrays, names, flags, flag_names = [], [], [], []
    for name, expr in outputs:
        if name in flagged:
            values, errs = cell_values(expr, batch, label, errors, log=True)
            flags.append(errs)
            flag_names.append(error_flag(name))
        else:
            values = expr.column(batch)
        arrays.append(values)
        names.append(name)
    return arrays + flags, names + flag_names


@dataclass(frozen=True)
class MapStep:
    """Computes the output columns (``select``, ``with_columns``, ``rename``...).

    Attributes:
        outputs: Each output column's name and expression.
        label: The operator and user's line (for errors).
        flagged: Outputs that can hold error values (they get error flags).
    """

    outputs: Outputs
    label: str = ""
    flagged: frozenset[str] = frozenset()

    def run(self, batch: pa.RecordBatch, errors: list[RecordError] | None) -> pa.RecordBatch:
        """Computes the output columns; failing cells go to ``errors`` (None: raise)."""
        arrays, names = compute_outputs(self.outputs, self.flagged, batch, self.label, errors)
        return pa.RecordBatch.from_arrays([batch.column(KEY), batch.column(DIFF), *arrays],
                                          names=[KEY, DIFF, *names])

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Computes the output columns of a batch (failing cells are not logged)."""
        return self.run(batch, [])


@dataclass(frozen=True)
class FilterStep:
    """Keeps rows where the predicate is true (None counts as false).

    A row whose predicate is an error is skipped and logged.
    """

    predicate: ColumnProgram
    label: str = ""

    def run(self, batch: pa.RecordBatch, errors: list[RecordError] | None) -> pa.RecordBatch:
        """Keeps the batch's rows where the predicate holds."""
        inherited = self.predicate.error_mask(batch)
        if inherited is not None and pc.any(inherited).as_py():
            batch = skip_rows(batch, inherited, FILTER_MESSAGE, self.label, errors)
        mask = self.predicate.column(batch)
        if mask.null_count:
            mask = pc.fill_null(mask, False)
        return batch.filter(mask)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Keeps the batch's rows where the predicate holds."""
        return self.run(batch, [])


@dataclass(frozen=True)
class RekeyStep:
    """Computes the output columns and new row keys (``with_id_from``, ``with_id``).

    Keys are the hash of the ``key`` values (as ``pointer_from`` computes them),
    or with ``raw_key`` the single ``key`` column's pointers themselves.
    """

    outputs: Outputs
    key: tuple[ColumnProgram, ...]
    raw_key: bool = False
    label: str = ""
    flagged: frozenset[str] = frozenset()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Computes the output columns and keys of a batch (failing cells are not logged)."""
        return self.run(batch, [])

    def run(self, batch: pa.RecordBatch, errors: list[RecordError] | None) -> pa.RecordBatch:
        """Computes the output columns and keys; rows whose key is an error are skipped."""
        bad = any_of([e.error_mask(batch) for e in self.key])
        if bad is not None and pc.any(bad).as_py():
            batch = skip_rows(batch, bad, KEY_MESSAGE, self.label, errors)
        values = [expr.column(batch) for expr in self.key]
        if self.raw_key:
            keys = pc.cast(values[0], pa.uint64())
        else:
            names = [f"k{i}" for i in range(len(values))]
            keys = pa.array(hash_columns(pa.record_batch(values, names=names), names),
                            pa.uint64())
        arrays, names = compute_outputs(self.outputs, self.flagged, batch, self.label, errors)
        return pa.RecordBatch.from_arrays([keys, batch.column(DIFF), *arrays],
                                          names=[KEY, DIFF, *names])


def run_steps(steps: Sequence[Step], batch: pa.RecordBatch,
              errors: list[RecordError] | None = None) -> pa.RecordBatch:
    """Applies steps in order, stopping early on an empty batch.

    Rows a step fails on are dropped into ``errors`` (None: the failure raises).
    """
    for step in steps:
        if batch.num_rows == 0:
            break
        batch = guarded(step, batch, errors)
    return batch


@dataclass
class ChainKernel:
    """A stateful head (optional) followed by stateless steps, in one actor.

    Attributes:
        steps: Steps applied to every batch (after the head, if any).
        head: A stateful kernel (reduce, upsert) whose output the steps transform.
        port_steps: Per input port, steps applied first (concat projections).
    """

    steps: list[Step]
    head: Kernel | None = None
    port_steps: dict[int, list[Step]] | None = None
    terminate_on_error: bool = False
    errors: list[tuple[int, RecordError]] = field(default_factory=list)

    def take_errors(self) -> list[tuple[int, list[RecordError]]]:
        """Rows the steps (and head) failed on since the last call, per commit time."""
        by_time: dict[int, list[RecordError]] = {}
        head_errors = getattr(self.head, "take_errors", None)
        for time, errors in head_errors() if head_errors is not None else []:
            by_time.setdefault(time, []).extend(errors)
        for time, error in self.errors:
            by_time.setdefault(time, []).append(error)
        self.errors.clear()
        return sorted(by_time.items())

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Transforms the batch (or feeds the head)."""
        if self.port_steps and port in self.port_steps:
            errors: list[RecordError] | None = None if self.terminate_on_error else []
            batch = run_steps(self.port_steps[port], batch, errors)
            self.errors.extend((time, e) for e in errors or [])
        if self.head is not None:
            return self._tail(self.head.on_data(port, time, batch))
        return self._tail([(time, batch)])

    def on_frontier(self, frontier: int) -> Emitted:
        """Emits the head's completed times through the steps."""
        if self.head is None:
            return []
        return self._tail(self.head.on_frontier(frontier))

    def snapshot(self) -> KernelState:
        """The head's state (stateless chains have none)."""
        return self.head.snapshot() if self.head is not None else {}

    def restore(self, state: KernelState) -> None:
        """Restores the head's state."""
        if self.head is not None:
            self.head.restore(state)
        elif state:
            raise ValueError(f"a stateless chain got state parts {sorted(state)}")

    def _tail(self, emitted: Emitted) -> Emitted:
        out = []
        for time, batch in emitted:
            errors: list[RecordError] | None = None if self.terminate_on_error else []
            batch = run_steps(self.steps, batch, errors)
            self.errors.extend((time, e) for e in errors or [])
            if batch.num_rows:
                out.append((time, batch))
        return out


@dataclass(frozen=True)
class ChainSpec:
    """The compiled plan of one operator stage: an optional stateful head, then steps.

    Attributes:
        steps: Stateless steps applied to every batch (after the head, if any).
        head: Spec of the stateful kernel (reduce, upsert), or None.
        port_steps: Per input port, steps applied first (concat projections).
    """

    steps: tuple[Step, ...] = ()
    head: KernelSpec | None = None
    port_steps: tuple[tuple[int, tuple[Step, ...]], ...] = ()
    terminate_on_error: bool = False

    @property
    def stateful(self) -> bool:
        """True if the stage holds state (a checkpoint stores it)."""
        return self.head is not None

    def build(self, instance: int) -> ChainKernel:
        """Builds the kernel of actor ``instance``."""
        head = self.head.build(instance) if self.head is not None else None
        ports = {port: list(steps) for port, steps in self.port_steps} or None
        return ChainKernel(list(self.steps), head, ports, self.terminate_on_error)


@dataclass(frozen=True)
class ReaderSteps:
    """Turns a parsed source batch into a dataflow batch, then runs fused steps.

    Attributes:
        prepare: Adds row keys and diffs (:class:`PrepareRows`).
        steps: Stateless steps fused into the reader.
    """

    prepare: Callable[..., pa.RecordBatch]
    steps: tuple[Step, ...] = ()
    terminate_on_error: bool = False
    errors: list[RecordError] = field(default_factory=list, compare=False)

    def __call__(self, parsed: object, reader_id: str) -> pa.RecordBatch:
        """Prepares a parsed batch, then runs the fused steps."""
        errors: list[RecordError] | None = None if self.terminate_on_error else []
        batch = run_steps(self.steps, self.prepare(parsed, reader_id), errors)
        self.errors.extend(errors or [])
        return batch

    def take_errors(self) -> list[RecordError]:
        """Rows the fused steps failed on since the last call (for the error log)."""
        errors = list(self.errors)
        self.errors.clear()
        return errors
