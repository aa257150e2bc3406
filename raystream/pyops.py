"""Operations computed on Python values, for columns Arrow cannot compute on.

numpy arrays (``pw.Array``), tuples of mixed types and comparisons of tuples
are stored as Python objects or Arrow lists; their operators (``+``, ``@``,
``<``, ``[i]``...) run on the Python values of the whole column at once.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from typing_extensions import override

from raystream import dtypes as dt
from raystream.dtypes import DType
from raystream.errors import ApiTypeError, api_error, warn_at_user
from raystream.expressions import ColumnExpression, Const, Resolver, wrap
from raystream.ops import HOOKS, Value

PY_OPS: dict[str, Callable[..., Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
    "pow": operator.pow, "matmul": operator.matmul, "neg": operator.neg, "abs": abs,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge, "getitem": operator.getitem,
}


def _get(value: Any, index: Any, default: Any) -> Any:
    try:
        if isinstance(index, int) and not isinstance(value, dict) and index < 0 \
                and -index > len(value):
            return default
        return value[index]
    except (IndexError, KeyError, TypeError):
        return default


PY_OPS["get"] = _get
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}


def needs_python(op: str, types: list[DType]) -> bool:
    """True if ``op`` on these argument types must run on Python values."""
    if op not in PY_OPS:
        return False
    if any(t.pyobject for t in types):
        return True
    return op in _COMPARISONS and any(pa.types.is_list(t.arrow) for t in types)


def result_type(op: str, types: list[DType], params: tuple) -> DType:
    """The type of a Python-computed operation."""
    if op in _COMPARISONS:
        return dt.BOOL
    if op == "get":
        item = result_type("getitem", types[:2], params)
        index = params[0] if params else None
        fixed = types[0].name.startswith("tuple[") and isinstance(index, int) and \
            -len(types[0].args) <= index < len(types[0].args)
        if (types[0].name.startswith("Array") or fixed) and types[2].name == "None":
            return item  # as Pathway types it: the item type
        return (dt.unify(item, types[2]) or item).with_optional(types[2].optional or
                                                                 types[2].name == "None")
    if op == "getitem":
        first = types[0]
        index = params[0] if params else None
        if first.name.startswith("tuple[") and isinstance(index, int) and first.args \
                and -len(first.args) <= index < len(first.args):
            return first.args[index]
        if first.name.startswith("tuple[") and first.args and len(set(first.args)) == 1:
            return first.args[0]
        if first.name.startswith("list[") and first.args:
            return first.args[0]
        if first.name.startswith("Array"):
            return dt.array_item(first)
        return dt.ANY
    arrays = [t for t in types if t.name.startswith("Array")]
    if arrays:
        if op == "matmul":
            return dt.ARRAY
        wrapped = {t.args[1].name if t.name.startswith("Array") else t.name for t in types}
        if op == "truediv" or "float" in wrapped:
            return dt.array_dtype(arrays[0].args[0], dt.FLOAT)
        return arrays[0]
    return dt.ANY


class PyCall(ColumnExpression):
    """An operator applied to the Python values of its arguments, row by row."""

    def __init__(self, op: str, args: list[ColumnExpression], params: tuple = (),
                 dtype: DType = dt.ANY) -> None:
        self.op = op
        self.args = args
        self.params = params
        self.dtype = dtype

    @override
    def children(self) -> list[ColumnExpression]:
        return list(self.args)

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        args = [a.resolve(resolver) for a in self.args]
        params = self.params
        if self.op in ("getitem", "get") and isinstance(args[1], Const):
            params = (args[1].value,)
            if _out_of_range(args[0].dtype, args[1].value):
                message = (f"Index {args[1].value} out of range for a tuple of type "
                           f"{args[0].dtype}.")
                if self.op == "getitem":
                    raise api_error(IndexError, message)  # type: ignore[arg-type]
                warn_at_user(f"{message} It refers to the default value. Consider using "
                             "just the default value without .get().")
                return args[2]
        return PyCall(self.op, args, self.params,
                      result_type(self.op, [a.dtype for a in args], params))

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        fn = PY_OPS[self.op]
        columns = [dt.to_python(a.column(batch), a.dtype) for a in self.args]
        out = []
        for values in zip(*columns, strict=True):
            if self.op == "get" and values[0] is None:
                out.append(values[2])
            elif any(v is None for v in values[:2]) and self.op not in ("eq", "ne", "get"):
                out.append(None)
            else:
                out.append(fn(*values))
        return dt.to_arrow(out, self.dtype if not self.dtype.is_any else dt.PYOBJECT)


def _out_of_range(dtype: DType, index: Any) -> bool:
    """True for a constant index beyond a fixed-length tuple type."""
    if not dtype.name.startswith("tuple[") or not isinstance(index, int):
        return False
    return not -len(dtype.args) <= index < len(dtype.args)


class MakeTuple(ColumnExpression):
    """``pw.make_tuple(*args)``: a tuple per row."""

    fallible = False

    def __init__(self, args: list[Any]) -> None:
        self.args = [wrap(a) for a in args]

    @override
    def children(self) -> list[ColumnExpression]:
        return list(self.args)

    @override
    def resolve(self, resolver: Resolver) -> ColumnExpression:
        resolved = MakeTuple([a.resolve(resolver) for a in self.args])
        try:
            dt.check_no_future([a.dtype for a in resolved.args], "make_tuple")
        except TypeError as exc:
            raise api_error(ApiTypeError, str(exc)) from None
        resolved.dtype = dt.tuple_dtype([a.dtype for a in resolved.args])
        return resolved

    @override
    def evaluate(self, batch: pa.RecordBatch) -> Value:
        columns = [dt.to_python(a.column(batch), a.dtype) for a in self.args]
        rows = [tuple(v) for v in zip(*columns, strict=True)] if columns \
            else [()] * batch.num_rows
        return dt.to_arrow(rows, self.dtype)


def make_tuple(*args: Any) -> ColumnExpression:
    """A tuple of the arguments' values per row (``pw.make_tuple``)."""
    return MakeTuple(list(args))


HOOKS.update({"python_call": PyCall, "needs_python": needs_python, "make_tuple": make_tuple})
