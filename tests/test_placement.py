"""Placement rules (pure): readers spread over nodes, forward chains follow their reader."""

from __future__ import annotations

import pytest
from raystream.actors.placement import (
    Node,
    Placement,
    check_options,
    eligible,
    placement_requests,
)
from raystream.actors.plan import Channel, OperatorStage, PhysicalPlan, ReaderStage, SinkStage
from raystream.actors.routing import Routing

A, B, C = "aa" * 28, "bb" * 28, "cc" * 28  # node ids are 28-byte hex strings
HEAD = Node(A, {"CPU": 2, "head_node": 1})
WORKER = Node(B, {"CPU": 2, "worker_node": 1})


def plan(readers: int = 4, reduce_parallelism: int = 2, **options) -> PhysicalPlan:
    stages = [
        ReaderStage(0, "kafka:t", None, None,
                    groups=tuple((str(i),) for i in range(readers))),
        OperatorStage(1, "filter+select", None, [Channel(0, 0, Routing.FORWARD)], readers),
        OperatorStage(2, "reduce(k)", None, [Channel(1, 0, Routing.HASH, ("k",))],
                      reduce_parallelism),
        SinkStage(3, "jsonlines:out", None, None, [Channel(2, 0, Routing.GATHER)]),
    ]
    return PhysicalPlan("p", stages, options=options)


def test_requests_follow_forward_partners_in_topological_order() -> None:
    assert placement_requests(plan(readers=2, reduce_parallelism=1)) == [
        ("reader", "0.0", None), ("reader", "0.1", None),
        ("operator", "1.0", "0.0"), ("operator", "1.1", "0.1"),
        ("operator", "2.0", None), ("sink", "3.0", None),
    ]


def test_readers_round_robin_and_chains_stay_with_their_reader() -> None:
    placement = Placement.for_plan(plan(), [WORKER, HEAD])
    readers = [placement.node_of[f"0.{i}"] for i in range(4)]
    assert readers == [A, B, A, B]
    assert [placement.node_of[f"1.{i}"] for i in range(4)] == readers
    assert {placement.node_of["2.0"], placement.node_of["2.1"]} == {A, B}
    assert "3.0" not in placement.node_of  # sinks: Ray decides


def test_options_are_soft_node_affinity_with_zero_cpus_by_default() -> None:
    placement = Placement.for_plan(plan(), [HEAD, WORKER])
    options = placement.options("reader", "0.1")
    assert options["num_cpus"] == 0
    strategy = options["scheduling_strategy"]
    assert (strategy.node_id, strategy.soft) == (B, True)
    assert options["memory"] == 1, "a non-empty request, else Ray ignores the affinity"
    assert placement.options("sink", "3.0") == {"num_cpus": 0}
    assert "scheduling_strategy" not in placement.options("coordinator", "coordinator")


def test_single_node_and_ray_mode_leave_placement_to_ray() -> None:
    assert Placement.for_plan(plan(), [HEAD]).node_of == {}
    assert Placement.for_plan(plan(placement="ray"), [HEAD, WORKER]).node_of == {}


def test_user_resources_restrict_the_nodes_and_pass_through() -> None:
    resources = {"reader": {"resources": {"worker_node": 0.01}, "memory": 10}}
    third = Node(C, {"CPU": 1, "worker_node": 1, "memory": 100})
    placement = Placement.for_plan(plan(resources=resources),
                                   [HEAD, Node(B, {**WORKER.resources, "memory": 100}),
                                    third])
    assert {placement.node_of[f"0.{i}"] for i in range(4)} == {B, C}
    options = placement.options("reader", "0.0")
    assert options["resources"] == {"worker_node": 0.01} and options["memory"] == 10


def test_user_strategy_wins_and_dynamic_readers_continue_the_round() -> None:
    placement = Placement.for_plan(
        plan(readers=1, resources={"operator": {"scheduling_strategy": "SPREAD"}}),
        [HEAD, WORKER])
    assert placement.options("operator", "2.0")["scheduling_strategy"] == "SPREAD"
    assert placement.node_of["0.0"] == A
    new_reader = placement.options("reader", "0.7")["scheduling_strategy"]
    assert new_reader.node_id == B


def test_eligible_checks_cpus_and_custom_resources() -> None:
    assert eligible([HEAD, WORKER], {"num_cpus": 0}) == [HEAD, WORKER]
    assert eligible([HEAD, WORKER], {"num_cpus": 3}) == []
    assert eligible([HEAD, WORKER], {"resources": {"head_node": 1}}) == [HEAD]


@pytest.mark.parametrize("resources, placement, message", [
    ({"readers": {}}, "spread", "unknown actor kind 'readers'"),
    ({"reader": 1}, "spread", "must be a dict of Ray actor options"),
    (None, "pack", "placement must be"),
])
def test_bad_options_are_named(resources, placement, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_options(resources, placement)


def test_pw_run_reports_bad_resources_at_the_users_line(tmp_path) -> None:
    import raystream as pw
    from raystream.errors import ApiValueError

    class S(pw.Schema):
        k: int

    (tmp_path / "in.jsonl").write_text('{"k": 1}\n')
    t = pw.io.jsonlines.read(tmp_path / "in.jsonl", schema=S, mode="static")
    pw.io.jsonlines.write(t, tmp_path / "out.jsonl")
    with pytest.raises(ApiValueError, match="unknown actor kind 'sinks'"):
        pw.run(resources={"sinks": {"num_cpus": 1}})
