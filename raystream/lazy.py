"""Lazy operators: ``pw.if_else``, ``pw.coalesce``, ``&`` and ``|``.

They evaluate an argument only on the rows that need it (as in Pathway).

``pw.if_else(t.b != 0, t.a // t.b, -1)`` computes ``t.a // t.b`` only where
``t.b != 0``, so a zero divisor never raises. Each argument is evaluated on
the sub-batch of rows that need it, and the pieces are put back in row order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raystream.ops import LAZY, Value, fill_to_length


def _rows(mask: pa.Array) -> np.ndarray:
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _scatter(n: int, pieces: list[tuple[np.ndarray, pa.Array]], typ: pa.DataType) -> pa.Array:
    """Puts pieces computed on row subsets back into one array of ``n`` rows."""
    pieces = [(rows, values) for rows, values in pieces if len(rows)]
    if not pieces:
        return pa.nulls(n, typ)
    order = np.concatenate([rows for rows, _ in pieces])
    values = pa.concat_arrays([v.cast(typ) if v.type != typ else v for _, v in pieces])
    if len(order) < n:
        missing = np.setdiff1d(np.arange(n), order)
        order = np.concatenate([order, missing])
        values = pa.concat_arrays([values, pa.nulls(len(missing), typ)])
    inverse = np.empty(n, np.int64)
    inverse[order] = np.arange(n)
    return values.take(pa.array(inverse))


def _on(expr: Any, batch: pa.RecordBatch, rows: np.ndarray) -> pa.Array:
    sub = batch.take(pa.array(rows, pa.int64()))
    return expr.column(sub)


def _target(call: Any, arrays: list[pa.Array]) -> pa.DataType:
    if not call.dtype.is_any:
        return call.dtype.arrow
    types = [a.type for a in arrays if not pa.types.is_null(a.type)]
    return types[0] if types else pa.null()


def lazy_if_else(call: Any, batch: pa.RecordBatch) -> Value:
    """``then`` on the rows where the condition holds, ``otherwise`` on the others."""
    cond, then, otherwise = call.args
    mask = pc.fill_null(cond.column(batch), False)
    yes = _rows(mask)
    no = _rows(pc.invert(mask))
    pieces = [(yes, _on(then, batch, yes) if len(yes) else pa.array([])),
              (no, _on(otherwise, batch, no) if len(no) else pa.array([]))]
    return _scatter(batch.num_rows, pieces, _target(call, [p for _, p in pieces]))


def lazy_coalesce(call: Any, batch: pa.RecordBatch) -> Value:
    """Each argument only on the rows all earlier arguments left None."""
    n = batch.num_rows
    pending = np.arange(n)
    pieces: list[tuple[np.ndarray, pa.Array]] = []
    for arg in call.args:
        if not len(pending):
            break
        values = _on(arg, batch, pending) if len(pending) < n else arg.column(batch)
        present = values.is_valid().to_numpy(zero_copy_only=False)
        pieces.append((pending[present], values.filter(pa.array(present))))
        pending = pending[~present]
    return _scatter(n, pieces, _target(call, [p for _, p in pieces]))


def _lazy_logic(stop_on: bool) -> Any:
    def kernel(call: Any, batch: pa.RecordBatch) -> Value:
        left, right = call.args
        a = fill_to_length(left.evaluate(batch), batch.num_rows, left.dtype)
        decided = pc.fill_null(pc.equal(a, pa.scalar(stop_on)), False)
        rest = _rows(pc.invert(decided))
        if not len(rest):
            return a
        b = _on(right, batch, rest)
        sub = a.take(pa.array(rest, pa.int64()))
        combined = pc.or_kleene(sub, b) if stop_on else pc.and_kleene(sub, b)
        done = _rows(decided)
        return _scatter(batch.num_rows, [(done, a.take(pa.array(done, pa.int64()))),
                                         (rest, combined)], pa.bool_())
    return kernel


LAZY.update({"if_else": lazy_if_else, "coalesce": lazy_coalesce,
             "and": _lazy_logic(False), "or": _lazy_logic(True)})
