"""Evaluating steps on batches without letting one bad row stop the pipeline.

A step (select, filter, with_id_from...) computes a whole batch at once. If
that raises (a division by zero, a UDF that raised, a bad cast), the batch is
computed again row by row: rows that fail are dropped from the output and
reported to ``pw.global_error_log()`` with the operator, the user's line and
the reason; the other rows go on. With ``terminate_on_error`` the first
failure stops the run: the user's exception is raised again (its type
unchanged), with a note naming the operator and line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from raystream.connectors.base import RecordError
from raystream.connectors.batch import DIFF, KEY, pointer_repr

_RAW_LIMIT = 500


def _raise_with_context(step: Any, exc: BaseException) -> None:
    """Re-raises the user's exception (its type unchanged), noting the operator and line."""
    exc.add_note(f"raised while computing {label_of(step)}")
    raise exc


def guarded(step: Callable[[pa.RecordBatch], pa.RecordBatch], batch: pa.RecordBatch,
            errors: list[RecordError] | None) -> pa.RecordBatch:
    """Runs ``step``; on failure drops the failing rows into ``errors`` (None: raise)."""
    try:
        return step(batch)
    except Exception as exc:  # noqa: BLE001 - an expression raised: find the bad rows
        if errors is None:
            _raise_with_context(step, exc)
        first_error = exc
    assert errors is not None
    if batch.num_rows == 1:
        errors.append(_record_error(step, batch, first_error))
        return _empty(step, batch)
    good = []
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            step(row)
            good.append(i)
        except Exception as exc:  # noqa: BLE001
            errors.append(_record_error(step, row, exc))
    if not good:
        return _empty(step, batch)
    return step(batch.take(pa.array(np.array(good, np.int64))))


def _empty(step: Callable[[pa.RecordBatch], pa.RecordBatch], batch: pa.RecordBatch
           ) -> pa.RecordBatch:
    """The step's output for no rows (its schema), or the input's if that fails too."""
    try:
        return step(batch.slice(0, 0))
    except Exception:  # noqa: BLE001
        return batch.slice(0, 0)


def label_of(step: Any) -> str:
    """The operator and user's line a step came from."""
    return getattr(step, "label", "") or type(step).__name__


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ if exc.__cause__ is not None and str(exc) == "" else exc
    return f"{type(cause).__name__}: {cause}"


def _record_error(step: Any, row: pa.RecordBatch, exc: BaseException) -> RecordError:
    values = {n: row.column(n)[0].as_py() for n in row.schema.names if n not in (KEY, DIFF)}
    key = pointer_repr(row.column(KEY)[0].as_py()) if KEY in row.schema.names else "?"
    return RecordError(label_of(step), f"id={key}", _reason(exc), repr(values)[:_RAW_LIMIT])
