"""Checkpoint cuts: when they start, what each one waits for, when it is ready (no Ray).

A *cut* is a consistent snapshot of the whole dataflow at a frontier ``D``:
every reader's source position after its last time below ``D``, every stateful
operator's state after applying exactly the times below ``D``, and every sink's
state after writing and flushing exactly the times below ``D``. The protocol
that produces one is described in :mod:`raystream.actors.protocol`; this
module is its bookkeeping:

* :meth:`CutTracker.maybe_start` reserves a new frontier ``D`` from the commit
  clock (no reader ever leases it) when the previous cut is done, enough time
  passed, and rows were read since;
* readers *cross* ``D`` when they close the time they held when ``D`` was
  reserved (:meth:`CutTracker.crossed`): their position at that close is their
  part of the cut, and they send ``Progress(D, checkpoint=True)`` downstream
  before their next frontier;
* operators and sinks add their parts when their frontier lands on ``D``
  (:meth:`CutTracker.add_part`, :meth:`CutTracker.add_sink`);
* :meth:`CutTracker.take_ready` hands complete cuts out, oldest first.

``END`` is a cut frontier too: the final cut, started when every reader
finished, so a finished (or stopped) pipeline restarts where it ended.

A branch of the dataflow whose readers all finished before a cut ``D`` was
reserved never sees ``D``: its operators and sinks jump straight to ``END``.
Every row they ever got has a time below ``D`` (a reader still running when
``D`` was reserved sends ``D`` first), so their ``END`` contribution is also
their state at ``D``: like a finished reader's final position, it counts for
every cut that still misses it, pending or started later. (A transactional
sink's ``END`` epoch then stands in for ``D``: its staged rows are in the
cut, and a rollback to ``D`` commits them when it reopens the sink.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raystream.actors.messages import END


@dataclass
class Cut:
    """One checkpoint in progress at frontier ``frontier``.

    Attributes:
        frontier: ``D``: the cut holds exactly the effects of times below it.
        clock: The last commit time handed out when the cut was reserved.
        readers: Readers whose positions the cut needs.
        positions: Reader -> its source position at ``D``.
        operators: Stateful operator instances whose state the cut needs.
        parts: Operator instance -> its state parts (opaque references).
        sinks: Sinks whose state the cut needs.
        sink_states: Sink -> its JSON state at ``D``.
        sink_parts: Sink -> its parts (e.g. staged output), if any.
    """

    frontier: int
    clock: int
    readers: set[str]
    operators: set[str]
    sinks: set[str]
    positions: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sink_states: dict[str, dict] = field(default_factory=dict)
    sink_parts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True once every reader, stateful operator and sink contributed."""
        return (self.readers <= self.positions.keys() and self.operators <= self.parts.keys()
                and self.sinks <= self.sink_states.keys())

    def missing(self) -> list[str]:
        """Who has not contributed yet (for status and errors)."""
        return sorted((self.readers - self.positions.keys()) |
                      (self.operators - self.parts.keys()) |
                      (self.sinks - self.sink_states.keys()))


class CutTracker:
    """Starts cuts and collects their parts.

    Args:
        operators: Ids of the stateful operator instances.
        sinks: Ids of the sinks.
        interval_ms: Least time between the starts of two cuts (0: as often as
            the previous one completes, at most once per commit time).
    """

    def __init__(self, operators: set[str], sinks: set[str], interval_ms: int = 0) -> None:
        self.operators = set(operators)
        self.sinks = set(sinks)
        self.interval_ms = interval_ms
        self.pending: dict[int, Cut] = {}
        self.final_positions: dict[str, Any] = {}
        self.final_parts: dict[str, dict[str, Any]] = {}
        self.final_sinks: dict[str, tuple[dict, dict[str, Any]]] = {}
        self.last_start_ms: float | None = None
        self.rows_since_start = 0
        self.started = 0

    # -- starting ------------------------------------------------------------

    def note_rows(self, rows: int) -> None:
        """Counts rows closed since the last cut started (an idle stream needs no cut)."""
        self.rows_since_start += rows

    def due(self, now_ms: float) -> bool:
        """True if a new cut may start now."""
        if self.pending or self.rows_since_start == 0:
            return False
        return self.last_start_ms is None or now_ms - self.last_start_ms >= self.interval_ms

    def start(self, frontier: int, clock: int, readers: set[str], now_ms: float) -> Cut:
        """Starts a cut at ``frontier`` (reserved from the clock, or ``END``)."""
        if frontier in self.pending:
            return self.pending[frontier]
        if any(frontier <= d for d in self.pending):
            raise ValueError(f"cut frontier {frontier} is not above the pending cuts")
        cut = Cut(frontier, clock, set(readers), set(self.operators), set(self.sinks))
        self._fill_from_finals(cut)
        self.pending[frontier] = cut
        self.last_start_ms = now_ms
        self.rows_since_start = 0
        self.started += 1
        return cut

    # -- readers -------------------------------------------------------------

    def crossed(self, reader: str, opened: int, next_time: int, position: Any) -> list[int]:
        """A reader closed time ``opened`` and will continue at ``next_time``.

        Returns:
            The cut frontiers it crossed (``opened < D < next_time``), in order;
            its ``position`` is recorded for each.
        """
        barriers = [d for d in sorted(self.pending) if opened < d < next_time and d < END]
        for frontier in barriers:
            cut = self.pending[frontier]
            if reader in cut.readers:
                cut.positions.setdefault(reader, position)
        return barriers

    def finished(self, reader: str, opened: int, position: Any) -> list[int]:
        """A reader closed its last time: its final position counts for every later cut."""
        self.final_positions[reader] = position
        barriers = self.crossed(reader, opened, END, position)
        end_cut = self.pending.get(END)
        if end_cut is not None and reader in end_cut.readers:
            end_cut.positions.setdefault(reader, position)
        return barriers

    def leased(self, reader: str, time: int, position: Any) -> list[int]:
        """A reader took its first time; cuts reserved before it get its start position.

        Returns:
            Those cuts' frontiers: the reader sends them as barriers before its
            first frontier, so that its channel too visits every cut.
        """
        barriers = []
        for frontier, cut in sorted(self.pending.items()):
            if frontier < time and reader in cut.readers:
                cut.positions.setdefault(reader, position)
                barriers.append(frontier)
        return barriers

    # -- operators and sinks -------------------------------------------------

    def add_part(self, frontier: int, operator: str, parts: dict[str, Any]) -> None:
        """A stateful operator's state as of ``frontier`` (ignored for unknown cuts).

        An ``END`` part is the operator's final state: it also counts for every
        cut that misses it (see the module docstring).
        """
        if frontier >= END:
            self.final_parts[operator] = dict(parts)
            self._fill_pending_from_finals()
            return
        cut = self.pending.get(frontier)
        if cut is not None and operator in cut.operators:
            cut.parts[operator] = dict(parts)

    def add_sink(self, frontier: int, sink: str, state: dict,
                 parts: dict[str, Any] | None = None) -> None:
        """A sink's state as of ``frontier`` (ignored for unknown cuts; ``END``: final)."""
        if frontier >= END:
            self.final_sinks[sink] = (dict(state), dict(parts or {}))
            self._fill_pending_from_finals()
            return
        cut = self.pending.get(frontier)
        if cut is not None and sink in cut.sinks:
            cut.sink_states[sink] = dict(state)
            if parts:
                cut.sink_parts[sink] = dict(parts)

    def _fill_pending_from_finals(self) -> None:
        for cut in self.pending.values():
            self._fill_from_finals(cut)

    def _fill_from_finals(self, cut: Cut) -> None:
        """Gives ``cut`` the final contributions of readers, operators and sinks it misses."""
        for reader, position in self.final_positions.items():
            if reader in cut.readers:
                cut.positions.setdefault(reader, position)
        for operator, parts in self.final_parts.items():
            if operator in cut.operators:
                cut.parts.setdefault(operator, dict(parts))
        for sink, (state, parts) in self.final_sinks.items():
            if sink in cut.sinks and sink not in cut.sink_states:
                cut.sink_states[sink] = dict(state)
                if parts:
                    cut.sink_parts[sink] = dict(parts)

    # -- handing out -----------------------------------------------------------

    def take_ready(self) -> list[Cut]:
        """Removes and returns the complete cuts that have no incomplete cut before them."""
        ready = []
        for frontier in sorted(self.pending):
            cut = self.pending[frontier]
            if not cut.complete:
                break
            ready.append(self.pending.pop(frontier))
        return ready

    def status(self) -> dict[str, Any]:
        """Pending cuts and who they wait for."""
        return {"checkpoints_started": self.started,
                "pending_checkpoints": {d: c.missing() for d, c in self.pending.items()}}
