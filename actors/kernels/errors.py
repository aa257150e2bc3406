"""Evaluating steps on batches without letting one bad row stop the pipeline.

A step (select, filter, with_id_from...) computes a whole batch at once.
Steps that keep error values in cells (:mod:`raystream.actors.kernels.cells`)
have a ``run(batch, errors)`` method and log their failing cells themselves.
If a step still raises, the batch is computed again row by row: rows that
fail are dropped from the output and reported to ``pw.global_error_log()``
with the operator, the user's line and the reason; the other rows go on.
With ``terminate_on_error`` the first failure stops the run: the user's
exception is raised again (its type unchanged), with a note naming the
operator and line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from raystream.actors.kernels.cells import reason, record_error
from raystream.connectors.base import RecordError


def _raise_with_context(step: Any, exc: BaseException) -> None:
    """Re-raises the user's exception (its type unchanged), noting the operator and line."""
    exc.add_note(f"raised while computing {label_of(step)}")
    raise exc


def _runner(step: Any) -> Callable[[pa.RecordBatch, list[RecordError] | None],
                                     pa.RecordBatch]:
    run = getattr(step, "run", None)
    return run if run is not None else (lambda batch, _errors: step(batch))


def guarded(step: Callable[[pa.RecordBatch], pa.RecordBatch], batch: pa.RecordBatch,
            errors: list[RecordError] | None) -> pa.RecordBatch:
    """Runs ``step``; on failure drops the failing rows into ``errors`` (None: raise)."""
    run = _runner(step)
    logged: list[RecordError] | None = None if errors is None else []
    try:
        out = run(batch, logged)
    except Exception as exc:  # noqa: BLE001 - an expression raised: find the bad rows
        if errors is None:
            _raise_with_context(step, exc)
        first_error = exc
    else:
        if errors is not None and logged:
            errors.extend(logged)
        return out
    assert errors is not None
    if batch.num_rows == 1:
        errors.append(record_error(label_of(step), batch, reason(first_error)))
        return _empty(step, batch)
    good = []
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            run(row, [])
            good.append(i)
        except Exception as exc:  # noqa: BLE001
            errors.append(record_error(label_of(step), row, reason(exc)))
    if not good:
        return _empty(step, batch)
    return run(batch.take(pa.array(np.array(good, np.int64))), errors)


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

