"""The commit protocol state machine (no Ray): leases, closes, durability, backlog."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raystream.actors.protocol import END, CommitClock, CommitProtocol, FrontierTracker


def fixed_clock(start: int = 1000) -> CommitClock:
    now = iter(range(start, start + 10**6))
    return CommitClock(lambda: next(now))


def test_leases_are_even_and_increase_across_readers() -> None:
    protocol = CommitProtocol({"a": "s", "b": "s"}, ["k"], clock=fixed_clock())
    times = [protocol.lease("a").next_time, protocol.lease("b").next_time]
    times.append(protocol.close("a", times[0], 5, {"o": 5}).next_time)
    times.append(protocol.close("b", times[1], 1, {"o": 1}).next_time)
    assert times == sorted(set(times))
    assert all(t % 2 == 0 for t in times)


def test_clock_never_goes_back_even_if_wall_clock_does() -> None:
    readings = iter([5000, 4000, 4000, 9000])
    clock = CommitClock(lambda: next(readings))
    assert [clock.next() for _ in range(4)] == [5000, 5002, 5004, 9000]


def test_durable_frontier_is_the_minimum_over_sinks_and_reported_when_it_advances() -> None:
    protocol = CommitProtocol({"r": "s"}, ["k1", "k2"], clock=fixed_clock())
    t1 = protocol.lease("r").next_time
    t2 = protocol.close("r", t1, 10, "pos-after-t1").next_time
    t3 = protocol.close("r", t2, 10, "pos-after-t2").next_time
    assert protocol.sink_flushed("k1", t3) is None  # k2 has made nothing durable yet
    assert protocol.sink_flushed("k2", t2) == t2
    assert protocol.durable_frontier == t2
    assert protocol.sink_flushed("k2", t2) is None  # nothing new
    assert protocol.sink_flushed("k2", t3) == t3


def test_end_of_stream_is_done_once_every_sink_reaches_end() -> None:
    protocol = CommitProtocol({"a": "s", "b": "s"}, ["k"], clock=fixed_clock())
    ta, tb = protocol.lease("a").next_time, protocol.lease("b").next_time
    assert protocol.close("a", ta, 1, "A", finished=True).next_time == END
    assert not protocol.done
    assert protocol.close("b", tb, 0, "B", finished=True).next_time == END
    protocol.sink_flushed("k", END)
    assert protocol.done


def test_misuse_is_rejected() -> None:
    protocol = CommitProtocol({"r": "s"}, ["k"], clock=fixed_clock())
    t = protocol.lease("r").next_time
    with pytest.raises(ValueError, match="holds"):
        protocol.close("r", t + 2, 0, None)
    protocol.sink_flushed("k", t + 10)
    with pytest.raises(ValueError, match="went back"):
        protocol.sink_flushed("k", t)
    with pytest.raises(ValueError, match="unknown reader"):
        protocol.lease("nobody")


def test_backlog_allowances_never_exceed_the_limit_and_idle_readers_give_room() -> None:
    protocol = CommitProtocol({"a": "s", "b": "s", "c": "t"}, ["k"], {"s": 100, "t": None})
    assert protocol.rebalance("a", 0, hungry=True) == 50
    assert protocol.rebalance("b", 0, hungry=True) == 50
    assert protocol.rebalance("a", 50, hungry=True) == 50  # b holds the rest
    assert protocol.rebalance("b", 0, hungry=False) == 0  # b idle: shrinks
    assert protocol.rebalance("a", 50, hungry=True) == 100  # a may use the room
    assert protocol.rebalance("c", 10**9, hungry=True) is None  # no limit


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 60), st.booleans()),
                max_size=60), st.integers(1, 120))
def test_allowance_invariant_holds_for_any_call_sequence(calls, limit) -> None:
    protocol = CommitProtocol({r: "s" for r in "abc"}, ["k"], {"s": limit})
    allowance = {r: 0 for r in "abc"}
    for reader, wanted_in_flight, hungry in calls:
        in_flight = min(wanted_in_flight, allowance[reader])  # a reader never exceeds it
        allowance[reader] = protocol.rebalance(reader, in_flight, hungry)
        assert allowance[reader] >= in_flight
        assert sum(allowance.values()) <= limit


def test_frontier_is_the_minimum_over_channels_and_never_goes_back() -> None:
    tracker = FrontierTracker([(0, "a"), (0, "b")])
    assert tracker.update(0, "a", 10) is None  # b still at 0
    assert tracker.update(0, "b", 6) == 6
    assert tracker.update(0, "b", 20) == 10
    tracker.add_channel(0, "c", 12)
    assert tracker.frontier == 10
    with pytest.raises(ValueError, match="below frontier"):
        tracker.add_channel(0, "d", 4)
    with pytest.raises(ValueError, match="went back"):
        tracker.update(0, "a", 2)
    assert tracker.update(0, "a", END) == 12


def test_a_reader_added_while_running_starts_above_every_frontier() -> None:
    protocol = CommitProtocol({"r": "s"}, ["k"], clock=fixed_clock())
    t = protocol.lease("r").next_time
    next_time = protocol.close("r", t, 0, None).next_time
    bound = protocol.add_reader("new", "s")
    assert bound >= next_time  # receivers' frontiers are <= the clock
    assert protocol.lease("new").next_time > bound
