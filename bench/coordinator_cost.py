"""The coordinator's cost per commit time, at 8 to 1,024 readers, and its projected ceiling.

Every autocommit interval each reader closes its minibatch with one call to the
coordinator; when the sinks' durable frontier advances, the coordinator tells
every reader (one ``commit`` message each). This benchmark drives the real
:class:`raystream.actors.coordinator.CoordinatorActor` class in this process,
with cheap stand-in readers whose handles count the messages sent to them, so
it measures the coordinator's own work per commit round (protocol, backlog,
cuts, fan-out), not Ray's. It then measures what Ray adds per call on this
machine (an actor receiving no-op calls; submitting ``.remote`` calls) and
projects the number of readers one coordinator serves per autocommit interval.

Usage:
    python bench/coordinator_cost.py [--readers 8 64 256 1024] [--rounds 50]
        [--interval-ms 1500] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from raystream.actors.coordinator import CoordinatorActor, CoordinatorConfig  # noqa: E402


class _Counting:
    """A stand-in actor method: ``.remote(...)`` only counts."""

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter

    def remote(self, *args: object) -> None:
        self.counter[0] += 1


class _StandInReader:
    """A stand-in reader handle (the coordinator calls ``commit.remote``)."""

    def __init__(self, counter: list[int]) -> None:
        self.commit = _Counting(counter)


def coordinator_round_cost(readers: int, rounds: int, checkpoints: bool) -> dict[str, float]:
    """Seconds of coordinator work per commit round with ``readers`` readers.

    One round: every reader closes its minibatch (``close_minibatch``, with
    the backlog rebalance), the sink reports the new durable frontier
    (``sink_flushed``, which fans out one commit to every reader) and, with
    checkpoints, the two stateful operators and the sink hand in their parts
    of every cut that started.
    """
    ids = {f"1.{i}": "kafka:events#1" for i in range(readers)}
    operators = frozenset({"2.0", "2.1"})
    config = CoordinatorConfig(ids, ["3.0"], {"kafka:events#1": 1_000_000}, operators,
                               0 if checkpoints else None)
    coordinator = CoordinatorActor(config)
    sent = [0]
    coordinator.attach({r: _StandInReader(sent) for r in ids})
    held = {r: coordinator.lease(0, r, {"0": {"offset": 0}}).next_time for r in ids}
    offset, handed = 0, set()
    started = time.perf_counter()
    for _ in range(rounds):
        offset += 100
        for reader in ids:
            closed, _ = coordinator.close_minibatch(0, reader, held[reader], 100,
                                                    {"0": {"offset": offset}}, False, 100, True)
            held[reader] = closed.next_time
        coordinator.sink_flushed(0, "3.0", min(held.values()))
        if checkpoints:
            for frontier in set(coordinator.protocol.cuts.pending) - handed:
                handed.add(frontier)
                for operator in operators:
                    coordinator.checkpoint_part(0, frontier, operator, {"state": []})
                coordinator.checkpoint_sink(0, frontier, "3.0", {})
            coordinator.take_ready_cuts()
    elapsed = time.perf_counter() - started
    return {"readers": readers, "round_ms": 1000 * elapsed / rounds,
            "per_close_us": 1e6 * elapsed / rounds / readers,
            "messages_per_round": sent[0] / rounds}


def ray_call_costs(calls: int = 20_000) -> dict[str, float]:
    """Microseconds per no-op call received by one actor, and per ``.remote`` submitted."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        @ray.remote
        class Sink:
            def noop(self, *args: object) -> None:
                return None

            def count(self) -> int:
                return 0

        actor = Sink.remote()
        ray.get(actor.count.remote())
        started = time.perf_counter()
        for _ in range(calls):
            actor.noop.remote(0, "1.0", 1, 100, None, False, 100, True)
        submit = time.perf_counter() - started
        ray.get(actor.count.remote())  # actor calls run in order: every noop is done
        total = time.perf_counter() - started
        return {"submit_us": 1e6 * submit / calls, "received_us": 1e6 * total / calls}
    finally:
        ray.shutdown()


def main() -> None:
    """Prints the cost table and the projection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, nargs="+", default=[8, 64, 256, 1024])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--interval-ms", type=float, default=1500.0,
                        help="autocommit_duration_ms of the projection (Pathway's default)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray call costs")
    args = parser.parse_args()
    ray_costs = {"submit_us": 0.0, "received_us": 0.0} if args.no_ray else ray_call_costs()
    print(f"ray, this machine: {ray_costs['received_us']:.0f} us per call an actor receives, "
          f"{ray_costs['submit_us']:.0f} us per .remote() it sends")
    print(f"{'readers':>8} {'ckpt':>5} {'round ms':>9} {'us/close':>9} {'msgs/round':>11} "
          f"{'+ray ms':>8} {'busy @interval':>15}")
    for checkpoints in (False, True):
        for readers in args.readers:
            cost = coordinator_round_cost(readers, args.rounds, checkpoints)
            ray_ms = (readers * ray_costs["received_us"]
                      + cost["messages_per_round"] * ray_costs["submit_us"]) / 1000
            busy = (cost["round_ms"] + ray_ms) / args.interval_ms
            print(f"{readers:>8} {'yes' if checkpoints else 'no':>5} {cost['round_ms']:>9.2f} "
                  f"{cost['per_close_us']:>9.1f} {cost['messages_per_round']:>11.0f} "
                  f"{ray_ms:>8.1f} {100 * busy:>14.1f}%")
    per_reader_us = ray_costs["received_us"] + ray_costs["submit_us"]
    if per_reader_us:
        print(f"projection: one coordinator is saturated at about "
              f"{int(args.interval_ms * 1000 / per_reader_us):,} readers per "
              f"{args.interval_ms:.0f} ms interval (Ray's cost only; add the protocol's "
              "us/close above)")


if __name__ == "__main__":
    main()
