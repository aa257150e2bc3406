"""The combine kernel: rows of several tables matched by row key.

Used for columns of another table over the same rows (``t.select(b=u.b)``,
a zip), and for the key set operations (``intersect``, ``difference``,
``restrict``, ``update_rows``, ``update_cells``, ``with_universe_of``).
Inputs are hash-routed by row key; for every key the kernel keeps each
input's current row. When a commit time is complete, each key that changed
emits its old output row (``diff=-1``) and its new one (``diff=+1``).

A key has an output row when every ``required`` input has it, no
``forbidden`` input has it, and at least one input has it. Each output
column takes the value of its first candidate ``(input, column)`` whose
input has the key.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pyarrow as pa
from raystream.actors.kernels.base import Emitted, KernelState
from raystream.actors.protocol import END
from raystream.actors.routing import KEY_GROUP, key_groups
from raystream.connectors.batch import DIFF, KEY, pointer_repr

Candidates = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class CombineSpec:
    """What the kernel combines (picklable; built by the planner).

    Attributes:
        outputs: Per output column, its name and candidates.
        types: Arrow type of each output column.
        ports: Number of inputs.
        required: Inputs that must have the key.
        forbidden: Inputs that must not have the key.
    """

    outputs: tuple[tuple[str, Candidates], ...]
    types: tuple[pa.DataType, ...]
    ports: int
    required: tuple[int, ...] = ()
    forbidden: tuple[int, ...] = ()
    check_subset: bool = False
    label: str = ""

    def build(self, instance: int) -> CombineKernel:
        """Builds the kernel of actor ``instance``."""
        return CombineKernel(self)


class CombineKernel:
    """Matches rows of its inputs by key (see the module docstring)."""

    def __init__(self, spec: CombineSpec) -> None:
        self.spec = spec
        self.needed: list[list[str]] = [[] for _ in range(spec.ports)]
        for _, candidates in spec.outputs:
            for port, column in candidates:
                if column not in self.needed[port]:
                    self.needed[port].append(column)
        self.rows: list[dict[int, tuple]] = [{} for _ in range(spec.ports)]
        self.output: dict[int, tuple] = {}
        self.pending: dict[int, list[tuple[int, pa.RecordBatch]]] = {}

    def on_data(self, port: int, time: int, batch: pa.RecordBatch) -> Emitted:
        """Holds rows until their time is complete."""
        if batch.num_rows:
            self.pending.setdefault(time, []).append((port, batch))
        return []

    def on_frontier(self, frontier: int) -> Emitted:
        """Applies every held time below ``frontier`` in order."""
        out = []
        for time in sorted(t for t in self.pending if t < frontier):
            batch = self._apply(self.pending.pop(time))
            if batch.num_rows:
                out.append((time, batch))
        if frontier >= END and self.spec.check_subset:
            self._check_subset()
        return out

    def _check_subset(self) -> None:
        """At the end of the input: every key of the other inputs is a key of the first.

        (Inputs reach their times independently, so only the final state is checked.)
        """
        for state in self.rows[1:]:
            for key in state:
                if key not in self.rows[0]:
                    raise KeyError(f"{self.spec.label}: key {pointer_repr(key)} of another "
                                   "table is not a key of this table (a broken universe "
                                   "promise)")

    def snapshot(self) -> KernelState:
        """Each input's current rows, as table ``rows`` (``_key``, ``_kg``, port, pickled row)."""
        keys, ports, rows = [], [], []
        for port, state in enumerate(self.rows):
            for key, row in state.items():
                keys.append(key)
                ports.append(port)
                rows.append(pickle.dumps(row))
        table = pa.table({KEY: pa.array(keys, pa.uint64()), "port": pa.array(ports, pa.int32()),
                          "row": pa.array(rows, pa.binary())})
        return {"rows": table.append_column(KEY_GROUP, pa.array(key_groups(table), pa.uint16()))}

    def restore(self, state: KernelState) -> None:
        """Replaces the rows by a snapshot's (and recomputes the output rows)."""
        self.rows = [{} for _ in range(self.spec.ports)]
        self.output.clear()
        self.pending.clear()
        table = state.get("rows")
        if table is None:
            return
        for key, port, row in zip(table.column(KEY).to_pylist(), table.column("port").to_pylist(),
                                  table.column("row").to_pylist(), strict=True):
            self.rows[port][key] = pickle.loads(row)  # noqa: S301 - our own checkpoint
        for key in {k for state_rows in self.rows for k in state_rows}:
            row = self._row(key)
            if row is not None:
                self.output[key] = row

    def _apply(self, parts: list[tuple[int, pa.RecordBatch]]) -> pa.RecordBatch:
        changed: dict[int, None] = {}
        for retract in (True, False):  # a time's retractions first, then its insertions
            for port, batch in parts:
                names = self.needed[port]
                values = list(zip(*(batch.column(c).to_pylist() for c in names), strict=True)) \
                    if names else [()] * batch.num_rows
                state = self.rows[port]
                for key, diff, row in zip(batch.column(KEY).to_pylist(),
                                          batch.column(DIFF).to_pylist(), values, strict=True):
                    if (diff < 0) != retract:
                        continue
                    if diff < 0:
                        state.pop(key, None)
                    else:
                        state[key] = row
                    changed[key] = None
        return self._emit(changed)

    def _row(self, key: int) -> tuple | None:
        present = [key in state for state in self.rows]
        if not any(present) or not all(present[p] for p in self.spec.required) \
                or any(present[p] for p in self.spec.forbidden):
            return None
        row = []
        for _, candidates in self.spec.outputs:
            for port, column in candidates:
                if present[port]:
                    row.append(self.rows[port][key][self.needed[port].index(column)])
                    break
            else:
                row.append(None)
        return tuple(row)

    def _emit(self, changed: dict[int, None]) -> pa.RecordBatch:
        keys: list[int] = []
        diffs: list[int] = []
        rows: list[tuple] = []
        for key in changed:
            new, old = self._row(key), self.output.get(key)
            if new == old:
                continue
            for row, diff in ((old, -1), (new, 1)):
                if row is not None:
                    keys.append(key)
                    diffs.append(diff)
                    rows.append(row)
            if new is None:
                self.output.pop(key, None)
            else:
                self.output[key] = new
        names = [name for name, _ in self.spec.outputs]
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [pa.array(list(c), t) for c, t in zip(columns, self.spec.types, strict=True)]
        return pa.RecordBatch.from_arrays(
            [pa.array(keys, pa.uint64()), pa.array(diffs, pa.int64()), *arrays],
            names=[KEY, DIFF, *names])
