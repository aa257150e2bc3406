"""Error values in cells, as Pathway keeps them.

When an expression fails on a row (a division by zero, a UDF that raised, a
bad cast), Pathway does not drop the row: the failing cell holds an error
value, reported once to ``pw.global_error_log()``, and the row goes on.

Representation (:mod:`raystream.connectors.batch`): a column ``x`` that can
hold errors is followed by its error flag ``_err:x`` (bool), true where the
cell is an error, whose value is then null. Which columns have flags is
decided when planning, so every batch of one stream has one schema.

Rules, operator by operator (each as Pathway does):
    * select / with_columns: a cell is an error if computing it fails, or if
      it reads an error cell (``pw.if_else`` reads only the branch it takes);
      only the failure is logged, not the cells it spreads to;
    * ``pw.fill_error`` replaces errors, ``is_error`` tests for them and
      ``remove_errors`` drops rows holding any;
    * filter: a row whose condition is an error is skipped and logged;
    * flatten, ``with_id_from``: a row whose flattened column or new key is an
      error is skipped and logged;
    * groupby: a row with an error in a grouping column is skipped and logged;
      an error in a reducer's argument is skipped by that reducer (its value
      is null) while ``count`` still counts the row;
    * outputs: a row with an error in any column is skipped and logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.base import RecordError
from raystream.connectors.batch import (
    DIFF,
    KEY,
    error_flag,
    flag_of,
    is_error_flag,
    no_errors,
    pointer_repr,
)

_RAW_LIMIT = 500

FILTER_MESSAGE = "Error value encountered in filter condition, skipping the row"
GROUPING_MESSAGE = "Error value encountered in grouping columns, skipping the row"
OUTPUT_MESSAGE = "Error value encountered in output, skipping the row"
KEY_MESSAGE = "Error value encountered in the row key, skipping the row"
FLATTEN_MESSAGE = "Error value encountered in the flattened column, skipping the row"


class CellProgram(Protocol):
    """A compiled column expression that knows where its inputs hold errors."""

    def column(self, batch: pa.RecordBatch) -> pa.Array:
        """Computes the expression for every row of ``batch``."""
        ...

    def error_mask(self, batch: pa.RecordBatch) -> pa.Array | None:
        """Rows whose value is an error because an input cell is one (None: none)."""
        ...


def reason(exc: BaseException) -> str:
    """The error log's reason for a user's exception."""
    cause = exc.__cause__ if exc.__cause__ is not None and str(exc) == "" else exc
    return f"{type(cause).__name__}: {cause}"


def record_error(label: str, row: pa.RecordBatch, why: str) -> RecordError:
    """The error-log record of one row (``row`` has one row)."""
    names = row.schema.names
    values = {n: "Error" if error_flag(n) in names and row.column(error_flag(n))[0].as_py()
              else row.column(n)[0].as_py()
              for n in names if n not in (KEY, DIFF) and not is_error_flag(n)}
    key = pointer_repr(row.column(KEY)[0].as_py()) if KEY in row.schema.names else "?"
    return RecordError(label, f"id={key}", why, repr(values)[:_RAW_LIMIT])


def cell_values(expr: CellProgram, batch: pa.RecordBatch, label: str = "",
                errors: list[RecordError] | None = None, *, log: bool = False
                ) -> tuple[pa.Array, pa.Array]:
    """Computes an expression's cells; returns their values and error flags.

    Error cells are null. Rows whose inputs are errors are not computed; rows
    that fail are computed one by one to find them, and with ``log`` each new
    failure goes to ``errors`` (None: the first failure raises; the caller,
    :func:`raystream.actors.kernels.errors.guarded`, notes the operator).
    """
    n = batch.num_rows
    inherited = expr.error_mask(batch)
    if inherited is not None and not pc.any(inherited).as_py():
        inherited = None
    rows = batch if inherited is None else batch.filter(pc.invert(inherited))
    try:
        values, failed = expr.column(rows), None
    except Exception:  # noqa: BLE001 - find the rows that fail
        if log and errors is None:
            raise
        values, failed = _row_by_row(expr, rows, label, errors if log else None)
    if inherited is None and failed is None:
        return values, no_errors(n)
    return _scatter(values, n, inherited, failed)


def _row_by_row(expr: CellProgram, batch: pa.RecordBatch, label: str,
                errors: list[RecordError] | None) -> tuple[pa.Array, np.ndarray]:
    pieces: list[pa.Array | None] = []
    failed = np.zeros(batch.num_rows, np.bool_)
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            pieces.append(expr.column(row))
        except Exception as exc:  # noqa: BLE001 - this cell is an error
            failed[i] = True
            pieces.append(None)
            if errors is not None:
                errors.append(record_error(label, row, reason(exc)))
    typ = next((p.type for p in pieces if p is not None), None)
    if typ is None:
        typ = getattr(getattr(expr, "dtype", None), "arrow", None) or pa.null()
    arrays = [pa.nulls(1, typ) if p is None else (p if p.type == typ else p.cast(typ))
              for p in pieces]
    return (pa.concat_arrays(arrays) if arrays else pa.array([], typ)), failed


def _scatter(values: pa.Array, n: int, inherited: pa.Array | None,
             failed: np.ndarray | None) -> tuple[pa.Array, pa.Array]:
    """Puts values computed on the rows without inherited errors back in place."""
    errors = np.zeros(n, np.bool_) if inherited is None else \
        inherited.to_numpy(zero_copy_only=False).copy()
    computed = np.flatnonzero(~errors)
    if failed is not None:
        errors[computed[failed]] = True
    index = np.full(n, -1, np.int64)
    index[computed] = np.arange(len(computed))
    index[errors] = -1
    taken = values.take(pa.array(index, mask=index < 0))
    return taken, pa.array(errors)


def drop_error_rows(batch: pa.RecordBatch, columns: Sequence[str] | None, message: str,
                    label: str, errors: list[RecordError] | None) -> pa.RecordBatch:
    """Skips rows with an error in ``columns`` (None: any column), logging each.

    With ``errors`` None (``terminate_on_error``) the first such row raises.
    """
    if columns is None:
        columns = [n.removeprefix(error_flag("")) for n in batch.schema.names
                   if is_error_flag(n)]
    mask = any_of([flag_of(batch, column) for column in columns])
    if mask is None or not pc.any(mask).as_py():
        return batch
    return skip_rows(batch, mask, message, label, errors)


def skip_rows(batch: pa.RecordBatch, mask: pa.Array, message: str, label: str,
              errors: list[RecordError] | None) -> pa.RecordBatch:
    """Skips the rows set in ``mask`` (error values where Pathway skips rows), logging each.

    With ``errors`` None (``terminate_on_error``) the first such row raises.
    """
    bad = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if errors is None:
        row = record_error(label, batch.slice(int(bad[0]), 1), message)
        raise ValueError(f"{message} in {label} ({row.position})")
    errors.extend(record_error(label, batch.slice(int(i), 1), message) for i in bad)
    return batch.filter(pc.invert(mask))


def any_of(masks: Sequence[pa.Array | None]) -> pa.Array | None:
    """The rows set in any of the masks (None: in none)."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    result = present[0]
    for mask in present[1:]:
        result = pc.or_(result, mask)
    return result


def strip_flags(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch without error flags."""
    keep = [i for i, n in enumerate(batch.schema.names) if not is_error_flag(n)]
    if len(keep) == batch.num_columns:
        return batch
    return batch.select(keep)


@dataclass(frozen=True)
class ErrorGate:
    """Skips rows with errors where Pathway skips them (before a reduce or an output).

    Attributes:
        columns: Columns whose errors skip the row (None: any column).
        message: The error log's reason.
        strip: Drop the error flags afterwards (the next operator holds no errors).
        label: The operator and user's line.
    """

    columns: tuple[str, ...] | None
    message: str
    strip: bool = True
    label: str = ""

    def run(self, batch: pa.RecordBatch, errors: list[RecordError] | None) -> pa.RecordBatch:
        """Skips (and logs) the rows with errors; drops the flags if asked."""
        batch = drop_error_rows(batch, self.columns, self.message, self.label, errors)
        return strip_flags(batch) if self.strip else batch

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Runs the gate, discarding what it would log."""
        return self.run(batch, [])


def flags_for(batch: pa.RecordBatch, names: Sequence[str]) -> list[pa.Array]:
    """Each column's error flags; all false for a column without them."""
    out = []
    for name in names:
        flags = flag_of(batch, name)
        out.append(flags if flags is not None else no_errors(batch.num_rows))
    return out
