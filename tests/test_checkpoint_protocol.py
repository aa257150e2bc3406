"""Checkpoint cuts in the commit protocol (no Ray): barriers, consistency, completion."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.actors.fence import CheckpointMarks
from raystream.actors.frontier import FrontierTracker
from raystream.actors.messages import END
from raystream.actors.protocol import CommitClock, CommitProtocol


def fixed_clock(start: int = 1000) -> CommitClock:
    now = iter(range(start, start + 10**6))
    return CommitClock(lambda: next(now))


def protocol(readers: str = "ab", interval_ms: int = 0, operators: set[str] | None = None,
             now: list[float] | None = None) -> CommitProtocol:
    clock_now = now if now is not None else [0.0]
    return CommitProtocol({r: "s" for r in readers}, ["k"], clock=fixed_clock(),
                          operators=operators or {"op.0"}, checkpoint_interval_ms=interval_ms,
                          now_ms=lambda: clock_now[0])


def test_a_cut_is_reserved_at_a_close_after_rows_and_every_reader_crosses_it() -> None:
    p = protocol()
    ta, tb = p.lease("a", {"0": 0}).next_time, p.lease("b", {"1": 0}).next_time
    closed = p.close("a", ta, 5, {"0": 5})  # rows were read: a cut starts here
    assert len(closed.barriers) == 1
    cut_frontier = closed.barriers[0]
    assert ta < cut_frontier < closed.next_time and cut_frontier % 2 == 0
    assert p.close("b", tb, 0, {"1": 0}).barriers == (cut_frontier,)
    assert p.take_ready_cuts() == []  # the operator and the sink have not reported
    p.cuts.add_part(cut_frontier, "op.0", {"state": ["ref"]})
    p.cuts.add_sink(cut_frontier, "k", {"length": 10})
    [cut] = p.take_ready_cuts()
    assert cut.frontier == cut_frontier
    assert cut.positions == {"a": {"0": 5}, "b": {"1": 0}}
    assert cut.parts == {"op.0": {"state": ["ref"]}} and cut.sink_states == {"k": {"length": 10}}


def test_no_cut_without_rows_and_one_at_a_time() -> None:
    p = protocol("a")
    t = p.lease("a", {"0": 0}).next_time
    closed = p.close("a", t, 0, {"0": 0})
    assert closed.barriers == ()  # nothing read: no cut
    closed = p.close("a", closed.next_time, 3, {"0": 3})
    assert len(closed.barriers) == 1
    closed = p.close("a", closed.next_time, 3, {"0": 6})
    assert closed.barriers == ()  # the first cut is not done yet


def test_snapshot_interval_spaces_cut_starts() -> None:
    now = [0.0]
    p = protocol("a", interval_ms=1000, now=now)
    t = p.lease("a", None).next_time
    first = p.close("a", t, 1, "p1")
    p.cuts.add_part(first.barriers[0], "op.0", {})
    p.cuts.add_sink(first.barriers[0], "k", {})
    assert len(p.take_ready_cuts()) == 1
    now[0] = 500.0
    assert p.close("a", first.next_time, 1, "p2").barriers == ()  # too soon
    now[0] = 1000.0
    assert len(p.close("a", p.readers["a"].open_time, 1, "p3").barriers) == 1


def test_readers_not_yet_leased_give_their_start_position() -> None:
    p = protocol("ab")
    ta = p.lease("a", {"0": 0}).next_time
    cut_frontier = p.close("a", ta, 1, {"0": 1}).barriers[0]
    tb = p.lease("b", {"1": 7}).next_time  # b leases after the cut was reserved
    assert tb > cut_frontier
    assert p.cuts.pending[cut_frontier].positions["b"] == {"1": 7}


def test_finished_readers_count_for_later_cuts_and_end_is_the_final_cut() -> None:
    p = protocol("ab")
    ta, tb = p.lease("a", {"0": 0}).next_time, p.lease("b", {"1": 0}).next_time
    closed = p.close("a", ta, 2, {"0": 2}, finished=True)
    assert closed.next_time == END
    cut_frontier = closed.barriers[0]
    assert p.cuts.pending[cut_frontier].positions["a"] == {"0": 2}
    closed = p.close("b", tb, 1, {"1": 1}, finished=True)
    assert closed.barriers == (cut_frontier,)
    assert set(p.cuts.pending) == {cut_frontier, END}
    assert p.cuts.pending[END].positions == {"a": {"0": 2}, "b": {"1": 1}}
    for frontier in (cut_frontier, END):
        p.cuts.add_part(frontier, "op.0", {})
        p.cuts.add_sink(frontier, "k", {})
    assert [c.frontier for c in p.take_ready_cuts()] == [cut_frontier, END]


def test_cuts_are_handed_out_oldest_first_only() -> None:
    p = protocol("a")
    t = p.lease("a", None).next_time
    first = p.close("a", t, 1, "p1").barriers[0]
    p.cuts.add_sink(first, "k", {})
    assert p.take_ready_cuts() == []  # the operator is missing
    assert p.cuts.pending[first].missing() == ["op.0"]


def test_stale_and_unknown_parts_are_ignored() -> None:
    p = protocol("a")
    p.cuts.add_part(12345, "op.0", {"x": []})  # no such cut
    p.cuts.add_part(12345, "nobody", {})
    assert p.cuts.pending == {}


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.integers(2, 12), st.integers(0, 10**6))
def test_every_channel_visits_each_cut_so_the_operator_lands_on_it(readers: int, closes: int,
                                                                   seed: int) -> None:
    """Readers close in any order, their messages reach an operator in any interleaving
    (FIFO per channel): the operator's frontier lands exactly on every reserved cut."""
    rng = random.Random(seed)
    names = [f"r{i}" for i in range(readers)]
    p = CommitProtocol({n: "s" for n in names}, ["k"], clock=fixed_clock(),
                       operators={"op.0"}, checkpoint_interval_ms=0, now_ms=lambda: 0.0)
    queues: dict[str, list[tuple[int, bool]]] = {n: [] for n in names}
    held: dict[str, int | None] = {}
    reserved: list[int] = []

    def lease(n: str) -> None:  # readers lease lazily: some only after cuts were reserved
        leased = p.lease(n, {n: 0})
        queues[n] += [(b, True) for b in leased.barriers] + [(leased.next_time, False)]
        held[n] = leased.next_time

    lease(names[0])
    for step in range(closes * readers):
        for waiting in [r for r in names if r not in held]:
            if rng.random() < 0.3:
                lease(waiting)
        open_readers = [r for r in held if held[r] is not None]
        if not open_readers:
            break
        n = rng.choice(open_readers)
        finished = step >= (closes - 1) * readers and rng.random() < 0.5
        closed = p.close(n, held[n], rng.randint(0, 3), {n: step}, finished=finished)
        reserved += [b for b in closed.barriers if b not in reserved]
        queues[n] += [(b, True) for b in closed.barriers] + [(closed.next_time, False)]
        held[n] = None if closed.next_time >= END else closed.next_time
        if len(held) == readers and all(h is None for h in held.values()):
            break
    for waiting in [r for r in names if r not in held]:
        lease(waiting)
    tracker = FrontierTracker([(0, n) for n in names])
    marks = CheckpointMarks()
    landed: list[int] = []
    while any(queues.values()):
        n = rng.choice([r for r in names if queues[r]])
        frontier, is_cut = queues[n].pop(0)
        if is_cut:
            marks.announce(frontier)
        advanced = tracker.update(0, n, frontier)
        if advanced is not None and marks.landed(advanced) and advanced < END:
            landed.append(advanced)
    reached = tracker.frontier
    assert [d for d in reserved if d < reached and d < END] == \
        [d for d in landed if d in reserved]
    for d in reserved:
        if d < reached:
            assert d in landed


def test_end_parts_of_a_branch_that_ended_first_are_kept_for_the_final_cut() -> None:
    p = protocol("ab")
    ta, tb = p.lease("a", {"0": 0}).next_time, p.lease("b", {"1": 0}).next_time
    p.close("a", ta, 0, {"0": 0}, finished=True)
    p.cuts.add_part(END, "op.0", {"state": ["ref"]})  # op.0 reads only a: it ended
    p.cuts.add_sink(END, "k", {"length": 3})
    assert END not in p.cuts.pending
    p.close("b", tb, 0, {"1": 0}, finished=True)
    [cut] = p.take_ready_cuts()
    assert cut.frontier == END and cut.parts == {"op.0": {"state": ["ref"]}}
    assert cut.sink_states == {"k": {"length": 3}}


def test_a_branch_that_ended_before_a_cut_gives_it_its_final_state() -> None:
    """op.0 and sink k read only a, which ended before the cut: their END state is the cut's."""
    p = CommitProtocol({"a": "s", "b": "s"}, ["k", "j"], clock=fixed_clock(),
                       operators={"op.0", "op.1"}, checkpoint_interval_ms=0, now_ms=lambda: 0)
    ta, tb = p.lease("a", {"0": 0}).next_time, p.lease("b", {"1": 0}).next_time
    assert p.close("a", ta, 0, {"0": 3}, finished=True).barriers == ()
    p.cuts.add_part(END, "op.0", {"state": ["final"]})  # before the cut is reserved
    closed = p.close("b", tb, 5, {"1": 5})
    [cut_frontier] = closed.barriers
    assert cut_frontier < END
    p.cuts.add_sink(END, "k", {"length": 7})  # after it was reserved
    p.cuts.add_part(cut_frontier, "op.1", {"state": ["b"]})
    assert p.take_ready_cuts() == []  # sink j (fed by b) has not landed on the cut yet
    p.cuts.add_sink(cut_frontier, "j", {"length": 5})
    [cut] = p.take_ready_cuts()
    assert cut.frontier == cut_frontier
    assert cut.positions == {"a": {"0": 3}, "b": {"1": 5}}
    assert cut.parts == {"op.0": {"state": ["final"]}, "op.1": {"state": ["b"]}}
    assert cut.sink_states == {"k": {"length": 7}, "j": {"length": 5}}
    p.close("b", closed.next_time, 0, {"1": 5}, finished=True)
    p.cuts.add_part(END, "op.1", {"state": ["b-end"]})
    p.cuts.add_sink(END, "j", {"length": 5})
    [end] = p.take_ready_cuts()
    assert end.frontier == END and end.parts["op.0"] == {"state": ["final"]}
