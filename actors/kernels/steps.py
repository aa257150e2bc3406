"""Stateless steps and the chain kernel that runs them in one actor.

Each step maps one dataflow batch (``_key``, ``_diff``, columns) to another,
with whole-column pyarrow operations.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.actors.kernels.base import Emitted, Kernel, KernelSpec, KernelState
from raystream.actors.kernels.cells import (
    FILTER_MESSAGE,
    FLATTEN_MESSAGE,
    KEY_MESSAGE,
    cell_values,
    flags_for,
    record_error,
)
from raystream.actors.kernels.errors import guarded
from raystream.connectors.base import RecordError
from raystream.connectors.batch import DIFF, KEY, error_flag, flag_of, no_errors
from raystream.connectors.hashing import hash_columns, splitmix64

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
            batch = _skip(batch, inherited, FILTER_MESSAGE, self.label, errors)
        mask = self.predicate.column(batch)
        if mask.null_count:
            mask = pc.fill_null(mask, False)
        return batch.filter(mask)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Keeps the batch's rows where the predicate holds."""
        return self.run(batch, [])


def _skip(batch: pa.RecordBatch, mask: pa.Array, message: str, label: str,
          errors: list[RecordError] | None) -> pa.RecordBatch:
    """Skips the rows set in ``mask`` (error values where Pathway skips rows), logging each."""
    bad = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if errors is None:
        raise ValueError(f"{message} in {label}")
    errors.extend(record_error(label, batch.slice(int(i), 1), message) for i in bad)
    return batch.filter(pc.invert(mask))


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
        masks = [m for m in (e.error_mask(batch) for e in self.key) if m is not None]
        if masks:
            bad = masks[0]
            for m in masks[1:]:
                bad = pc.or_(bad, m)
            if pc.any(bad).as_py():
                batch = _skip(batch, bad, KEY_MESSAGE, self.label, errors)
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


@dataclass(frozen=True)
class FlattenStep:
    """One row per item; the item's key mixes the row key and its index.

    Attributes:
        column: The column to flatten.
        mode: How its values are stored: ``list`` (Arrow lists), ``str`` (one
            item per character), ``json`` (JSON arrays as text), ``pickle``
            (Python objects: tuples, numpy arrays).
        item_arrow: The items' Arrow type when ``pickle`` items are stored plainly
            (None: they stay pickled).
        origin_id: Name of a new column holding the original row key, if any.
        label: The operator and user's line (for errors).
    """

    column: str
    mode: str = "list"
    item_arrow: pa.DataType | None = None
    origin_id: str | None = None
    label: str = ""

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Flattens the column of a batch (rows skipped for errors are not logged)."""
        return self.run(batch, [])

    def run(self, batch: pa.RecordBatch, errors: list[RecordError] | None) -> pa.RecordBatch:
        """Flattens the column of a batch; a row whose column is an error is skipped."""
        flags = flag_of(batch, self.column)
        if flags is not None:
            if pc.any(flags).as_py():
                batch = _skip(batch, flags, FLATTEN_MESSAGE, self.label, errors)
            batch = batch.drop_columns([error_flag(self.column)])
        lists = self._lists(batch.column(self.column))
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        parents = np.repeat(np.arange(batch.num_rows), lengths)
        starts = np.cumsum(lengths) - lengths
        index = np.arange(len(parents)) - np.repeat(starts, lengths)
        taken = batch.take(pa.array(parents, pa.int64()))
        keys = taken.column(KEY).to_numpy(zero_copy_only=False)
        with np.errstate(over="ignore"):
            new_keys = splitmix64(keys ^ splitmix64(index.astype(np.uint64) + np.uint64(1)))
        arrays, names = [], list(batch.schema.names)
        for name in batch.schema.names:
            if name == KEY:
                arrays.append(pa.array(new_keys, pa.uint64()))
            elif name == self.column:
                arrays.append(self._items(pc.list_flatten(lists)))
            else:
                arrays.append(taken.column(name))
        if self.origin_id is not None:
            arrays.append(taken.column(KEY))
            names.append(self.origin_id)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _lists(self, column: pa.Array) -> pa.Array:
        """The column as an Arrow list array."""
        if self.mode == "str":
            return pa.array([None if v is None else list(v) for v in column.to_pylist()],
                            pa.list_(pa.string()))
        if self.mode == "json":
            items = [None if v is None else [json.dumps(x) for x in json.loads(v)]
                     for v in column.to_pylist()]
            return pa.array(items, pa.list_(pa.string()))
        if self.mode == "pickle":
            values = [None if v is None else pickle.loads(v)  # noqa: S301 - our own rows
                      for v in column.to_pylist()]
            return pa.array([None if v is None else [pickle.dumps(x) for x in v]
                             for v in values], pa.list_(pa.binary()))
        return column

    def _items(self, items: pa.Array) -> pa.Array:
        if self.mode == "pickle" and self.item_arrow is not None:
            values = [pickle.loads(v) for v in items.to_pylist()]  # noqa: S301
            return pa.array([v.item() if hasattr(v, "item") else v for v in values],
                            self.item_arrow)
        return items


@dataclass(frozen=True)
class ProjectStep:
    """Reorders (and casts) columns so that every concat input has one layout.

    Attributes:
        names: The columns, in order.
        types: Their Arrow types (None: unchanged).
        flags: Columns that get error flags (all false where the input has none).
    """

    names: tuple[str, ...]
    types: tuple[pa.DataType | None, ...]
    flags: tuple[str, ...] = ()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Reorders and casts the batch's columns."""
        arrays = [batch.column(KEY), batch.column(DIFF)]
        for name, typ in zip(self.names, self.types, strict=False):
            column = batch.column(name)
            arrays.append(column.cast(typ) if typ is not None and column.type != typ else column)
        arrays += flags_for(batch, self.flags)
        return pa.RecordBatch.from_arrays(
            arrays, names=[KEY, DIFF, *self.names, *(error_flag(f) for f in self.flags)])


@dataclass(frozen=True)
class SignStep:
    """Sets each row's change from a bool column: true +1 (upsert), false -1 (delete)."""

    column: str

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with ``_diff`` from ``column`` (None counts as false)."""
        upsert = pc.fill_null(batch.column(self.column), False).to_numpy(zero_copy_only=False)
        diffs = pa.array(np.where(upsert, 1, -1).astype(np.int64))
        return batch.set_column(batch.schema.get_field_index(DIFF), DIFF, diffs)


@dataclass(frozen=True)
class EnsureFlags:
    """Adds all-false error flags for the columns that have none (a combine's inputs)."""

    columns: tuple[str, ...]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with a flag for every one of ``columns``."""
        for name in self.columns:
            if error_flag(name) not in batch.schema.names:
                batch = batch.append_column(error_flag(name), no_errors(batch.num_rows))
        return batch


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
