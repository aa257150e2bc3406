"""``pw.reducers``: aggregations usable inside ``reduce()``.

Each reducer is an expression node; the planner extracts it from the
``reduce`` arguments and hands the reduce kernel a plain :class:`AggSpec`.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from raystream import dtypes as dt
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, api_error
from raystream.expressions import ColumnExpression, Resolver, wrap
from raystream.ops import HOOKS
from raystream.udfs import Apply


class ReducerExpression(ColumnExpression):
    """``pw.reducers.<kind>(expr)`` inside a ``reduce``."""

    def __init__(self, kind: str, arg: Any = None, skip_nones: bool = False,
                 post: Any = None, post_dtype: DType | None = None) -> None:
        self.kind = kind
        self.arg = None if arg is None else wrap(arg)
        self.skip_nones = skip_nones
        self.post = post
        self.post_dtype = post_dtype
        self.post_type: Any = None

    @override
    def children(self) -> list[ColumnExpression]:
        return [] if self.arg is None else [self.arg]

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        arg = None if self.arg is None else self.arg.resolve(resolver)
        if arg is not None and dt.is_future(arg.dtype):
            raise api_error(ApiTypeError, f"Cannot perform pathway.reducers.{self.kind} when "
                                          f"column of type {dt.pathway_repr(arg.dtype)} is "
                                          "involved. Consider applying `await_futures()` to "
                                          "the table used here")
        resolved = ReducerExpression(self.kind, arg, self.skip_nones, self.post, self.post_dtype)
        resolved.dtype = _result_type(self.kind, None if arg is None else arg.dtype,
                                      self.skip_nones)
        if arg is not None and dt.is_future(arg.dtype):
            raise api_error(ApiTypeError, f"Cannot perform pathway.reducers.{self.kind} when "
                                          f"column of type {dt.pathway_repr(arg.dtype)} is "
                                          "involved. Consider applying `await_futures()` to "
                                          "the table used here")
        return resolved

    def final_dtype(self, resolved: DType, arg: DType | None) -> DType:
        """The reducer's type as users see it (after ``post``, if any)."""
        if self.post_dtype is not None:
            return self.post_dtype
        if self.post_type is not None:
            return self.post_type(arg)
        return resolved


def _result_type(kind: str, arg: DType | None, skip_nones: bool = False) -> DType:
    if kind in ("count", "count_distinct"):
        return dt.INT
    assert arg is not None
    if kind == "exact_sum":
        return arg
    if kind == "sum":
        if not dt.is_numeric(arg) and arg.name != "Duration" and not arg.is_any:
            raise api_error(ApiTypeError, f"pw.reducers.sum needs numbers, got {arg}")
        return arg
    if kind == "avg":
        if not dt.is_numeric(arg) and not arg.is_any:
            raise api_error(ApiTypeError, f"pw.reducers.avg needs numbers, got {arg}")
        return dt.FLOAT
    if kind in ("tuple", "sorted_tuple"):
        return dt.list_dtype(arg.with_optional(False) if skip_nones else arg)
    if kind in ("argmin", "argmax"):
        return dt.POINTER
    return arg


def sum(expr: Any, strict: bool = False) -> ReducerExpression:  # noqa: A001 - Pathway's name
    """Sum of the values (of numbers, durations or numpy arrays, element-wise).

    With ``strict``, a float sum is exact (correctly rounded, whatever the
    order and the retractions), computed from the group's values at each
    change: slower, and it keeps every distinct value of the group.
    """
    return _ArraySum("sum", expr, strict)


class _ArraySum(ReducerExpression):
    """``sum`` that adds numpy arrays element-wise (via the group's values).

    ``strict`` float sums are exact (the ``exact_sum`` reducer of the kernel).
    """

    def __init__(self, kind: str, arg: Any, strict: bool = False) -> None:
        super().__init__(kind, arg)
        self.strict = strict

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        arg = self.arg.resolve(resolver) if self.arg is not None else None
        if arg is not None and self.strict and arg.dtype.with_optional(False) == dt.FLOAT:
            self.kind = "exact_sum"
            return ReducerExpression("exact_sum", self.arg).resolve(resolver)
        if arg is not None and arg.dtype.name.startswith("Array"):
            import functools  # noqa: PLC0415
            import operator  # noqa: PLC0415
            summed = ReducerExpression("tuple", self.arg,
                                       post=lambda v: functools.reduce(operator.add, v),
                                       post_dtype=arg.dtype)
            self.kind, self.post, self.post_dtype = "tuple", summed.post, arg.dtype
            return summed.resolve(resolver)
        return ReducerExpression.resolve(self, resolver)


def count(*args: Any) -> ReducerExpression:
    """Number of rows in the group."""
    return ReducerExpression("count")


def min(expr: Any) -> ReducerExpression:  # noqa: A001
    """Smallest value."""
    return ReducerExpression("min", expr)


def max(expr: Any) -> ReducerExpression:  # noqa: A001
    """Largest value."""
    return ReducerExpression("max", expr)


def avg(expr: Any) -> ReducerExpression:
    """Arithmetic mean (float)."""
    return ReducerExpression("avg", expr)


def any(expr: Any) -> ReducerExpression:  # noqa: A001
    """Some value of the group (deterministic: the one of the smallest row key)."""
    return ReducerExpression("any", expr)


def unique(expr: Any) -> ReducerExpression:
    """The group's single value (an error if the group has several)."""
    return ReducerExpression("unique", expr)


def earliest(expr: Any) -> ReducerExpression:
    """Value of the row that arrived first (earliest commit time)."""
    return ReducerExpression("earliest", expr)


def latest(expr: Any) -> ReducerExpression:
    """Value of the row that arrived last (latest commit time)."""
    return ReducerExpression("latest", expr)


def tuple(expr: Any, *, skip_nones: bool = False) -> ReducerExpression:  # noqa: A001
    """All values of the group, ordered by row key."""
    return ReducerExpression("tuple", expr, skip_nones)


def sorted_tuple(expr: Any, *, skip_nones: bool = False) -> ReducerExpression:
    """All values of the group, sorted."""
    return ReducerExpression("sorted_tuple", expr, skip_nones)


def count_distinct(*args: Any) -> ReducerExpression:
    """Number of distinct values (of one expression, or of tuples of several)."""
    return ReducerExpression("count_distinct", _one(args))


def _one(args: Any) -> Any:
    if len(args) == 1:
        return args[0]
    make_tuple = HOOKS["make_tuple"]
    return make_tuple(*args).to_string()  # distinct tuples have distinct texts


def argmin(expr: Any, id: Any = None) -> ReducerExpression:  # noqa: A002 - Pathway's name
    """Row key (or ``id`` value) of the row with the smallest value."""
    if id is None:
        return ReducerExpression("argmin", expr)
    return _picking(expr, id, "min")


def argmax(expr: Any, id: Any = None) -> ReducerExpression:  # noqa: A002 - Pathway's name
    """Row key (or ``id`` value) of the row with the largest value."""
    if id is None:
        return ReducerExpression("argmax", expr)
    return _picking(expr, id, "max")


def _picking(expr: Any, value: Any, choose_name: str) -> ReducerExpression:
    import builtins  # noqa: PLC0415 - min/max are reducers in this module
    choose = getattr(builtins, choose_name)
    make_tuple = HOOKS["make_tuple"]

    def pick(rows: Any) -> Any:
        present = [r for r in rows if r[0] is not None]  # ties: by the returned value
        return choose(present, key=lambda r: (r[0], r[1]))[1] if present else None
    reducer = ReducerExpression("tuple", make_tuple(expr, value), post=pick)
    reducer.post_type = lambda arg: arg.args[1] if arg is not None and arg.args else dt.ANY
    return reducer


def ndarray(expr: Any, *, skip_nones: bool = False) -> ReducerExpression:
    """All values of the group as a numpy array (ordered by row key)."""
    import numpy as np  # noqa: PLC0415
    reducer = ReducerExpression("tuple", expr, skip_nones, post=lambda v: np.array(list(v)))
    reducer.post_type = lambda arg: dt.ndarray_dtype(
        [np.array([0 if arg.name == "int" else 0.0 if arg.name == "float" else None])]) \
        if arg is not None else dt.ARRAY
    return reducer


def count_distinct_approximate(*args: Any, precision: int = 12) -> ReducerExpression:
    """Number of distinct values (computed exactly)."""
    return ReducerExpression("count_distinct", _one(args))


def udf_reducer(accumulator: Any) -> Any:
    """A reducer from a ``pw.BaseCustomAccumulator`` subclass (``pw.reducers.udf_reducer``).

    The group's rows are folded with ``from_row`` and ``update``, in the order
    of the accumulator's ``sort_by(row)`` if it has one.
    """
    import inspect  # noqa: PLC0415
    import typing  # noqa: PLC0415

    sort_by = getattr(accumulator, "sort_by", None)

    def fold(rows: Any) -> Any:
        state = None
        rows = [list(row) for row in rows]
        if sort_by is not None:
            rows.sort(key=sort_by)
        for row in rows:
            one = accumulator.from_row(row)
            if state is None:
                state = one
            else:
                state.update(one)
        if state is None:
            state = accumulator.neutral()
        return state.compute_result()

    hint = typing.get_type_hints(accumulator.compute_result).get("return",
                                                                 inspect.Signature.empty)
    result = dt.ANY if hint is inspect.Signature.empty else dt.dtype_of(hint)

    def reducer(*args: Any) -> ReducerExpression:  # the group's rows as a multiset
        rows = Apply(_row_tuple, args, {}, dt.ANY)  # Python objects: any values, hashable
        return ReducerExpression("sorted_tuple", rows, post=fold, post_dtype=result)
    return reducer


def _row_tuple(*values: Any) -> Any:
    """A row's values as one Python tuple."""
    return values


def stateful_many(combine: Any) -> Any:
    """A reducer folding the group's rows with ``combine(state, [(row, count)...])``."""
    def reducer(*args: Any) -> ReducerExpression:
        make_tuple = HOOKS["make_tuple"]
        return ReducerExpression("tuple", make_tuple(*args),
                                 post=lambda rows: combine(None, [(list(r), 1) for r in rows]),
                                 post_dtype=_state_type(combine))
    return reducer


def stateful_single(combine: Any) -> Any:
    """A reducer folding the group's rows with ``combine(state, *row)``."""
    def fold(rows: Any) -> Any:
        state = None
        for row in rows:
            state = combine(state, *row)
        return state

    def reducer(*args: Any) -> ReducerExpression:
        make_tuple = HOOKS["make_tuple"]
        return ReducerExpression("tuple", make_tuple(*args), post=fold,
                                 post_dtype=_state_type(combine))
    return reducer


def _state_type(combine: Any) -> DType:
    import typing  # noqa: PLC0415
    try:
        hint = typing.get_type_hints(combine).get("return")
        return dt.dtype_of(hint) if hint is not None else dt.ANY
    except Exception:  # noqa: BLE001
        return dt.ANY


def find_reducers(expr: ColumnExpression) -> list[ReducerExpression]:
    """Returns the reducer calls inside an expression, outermost first."""
    if isinstance(expr, ReducerExpression):
        return [expr]
    found: list[ReducerExpression] = []
    for child in expr.children():
        found.extend(find_reducers(child))
    return found
