"""The planner (pure: no Ray, no source contacted): stages, fusion, routing, resolution."""

from __future__ import annotations

from raystream.actors.kernels.reduce import ReduceSpec
from raystream.actors.kernels.steps import ChainSpec, FilterStep, MapStep
from raystream.actors.kernels.upsert import UpsertSpec
from raystream.actors.plan import AUTO, OperatorStage, ReaderStage, SinkStage
from raystream.actors.routing import Output, Routing

import raystream as pw
from raystream.graph import G
from raystream.run import build_plan


def _table() -> pw.Table:
    return pw.debug.table_from_markdown("""
        k | v
        a | 1
        b | 2
    """)


def _plan(**options):
    return build_plan(list(G.sinks), name="p", **options)


def test_stateless_chain_is_fused_into_one_stage_following_the_reader() -> None:
    t = _table()
    pw.io.null.write(t.filter(t.v > 1).select(w=pw.this.v * 2))
    reader, chain, sink = _plan().stages
    assert isinstance(reader, ReaderStage) and reader.groups == ()
    assert isinstance(chain, OperatorStage) and chain.follows == reader.id
    assert chain.name == "filter+map"
    assert isinstance(chain.kernel, ChainSpec) and not chain.kernel.stateful
    assert [type(s) for s in chain.kernel.steps] == [FilterStep, MapStep]
    assert chain.inputs[0].routing is Routing.FORWARD
    assert isinstance(sink, SinkStage) and sink.inputs[0].routing is Routing.GATHER


def test_fuse_into_readers_puts_the_chain_inside_the_reader() -> None:
    t = _table()
    pw.io.null.write(t.filter(t.v > 1))
    reader, sink = _plan(fuse_into_readers=True).stages
    assert isinstance(reader, ReaderStage) and len(reader.prepare.steps) == 1
    assert sink.inputs[0].stage == reader.id


def test_keyed_reduce_is_hash_routed_on_its_group_columns_with_steps_after_it() -> None:
    t = _table()
    pw.io.null.write(t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.v)).filter(pw.this.s > 0))
    stages = _plan().stages
    reduce = next(s for s in stages if isinstance(s, OperatorStage) and s.kernel.stateful)
    assert isinstance(reduce.kernel.head, ReduceSpec)
    assert reduce.kernel.head.group_columns == ("k",)
    assert reduce.parallelism == AUTO
    assert (reduce.inputs[0].routing, reduce.inputs[0].hash_columns) == (Routing.HASH, ("k",))
    assert [type(s) for s in reduce.kernel.steps] == [MapStep, FilterStep]  # post-map, filter


def test_global_reduce_has_one_actor_fed_by_gather() -> None:
    t = _table()
    pw.io.null.write(t.reduce(s=pw.reducers.sum(t.v)))
    reduce = next(s for s in _plan().stages if isinstance(s, OperatorStage) and s.kernel.stateful)
    assert reduce.parallelism == 1 and reduce.inputs[0].routing is Routing.GATHER


def test_primary_key_source_gets_an_upsert_routed_by_row_key() -> None:
    class S(pw.Schema):
        k: str = pw.column_definition(primary_key=True)
        v: int

    pw.io.null.write(pw.io.jsonlines.read("/nowhere/in.jsonl", schema=S, mode="static"))
    upsert = next(s for s in _plan().stages if isinstance(s, OperatorStage))
    assert isinstance(upsert.kernel.head, UpsertSpec)
    assert upsert.inputs[0].routing is Routing.HASH


def test_error_log_reads_the_errors_output_of_every_reader() -> None:
    _table()
    pw.io.null.write(_table())
    pw.io.null.write(pw.global_error_log())
    stages = _plan().stages
    log = next(s for s in stages if isinstance(s, OperatorStage) and s.name == "error_log")
    readers = [s.id for s in stages if isinstance(s, ReaderStage)]
    assert [c.stage for c in log.inputs] == readers
    assert {c.output for c in log.inputs} == {Output.ERRORS}


def test_resolution_assigns_partitions_and_turns_unequal_forward_into_hash() -> None:
    a, b = _table(), _table()
    pw.universes.promise_are_pairwise_disjoint(a, b)
    pw.io.null.write(a.filter(a.v > 0).concat(b))
    plan = _plan(reduce_parallelism=3)
    reader_a, reader_b = (s for s in plan.stages if isinstance(s, ReaderStage))
    resolved = plan.resolved({reader_a.id: [["0"], ["1"]], reader_b.id: [["0"]]},
                             default_parallelism=5)
    stages = {s.id: s for s in resolved.stages}
    assert stages[reader_a.id].parallelism == 2 and stages[reader_b.id].parallelism == 1
    concat = next(s for s in resolved.stages if isinstance(s, OperatorStage)
                  and s.name == "concat")
    assert concat.parallelism == 2  # follows the filter, which follows reader a
    routings = {stages[c.stage].parallelism: c.routing for c in concat.inputs}
    assert routings == {2: Routing.FORWARD, 1: Routing.HASH}


def test_auto_parallelism_is_decided_at_resolution() -> None:
    t = _table()
    pw.io.null.write(t.groupby(t.k).reduce(t.k, n=pw.reducers.count()))
    plan = _plan()
    reader = plan.stages[0]
    resolved = plan.resolved({reader.id: [["0"]]}, default_parallelism=3)
    reduce = next(s for s in resolved.stages if isinstance(s, OperatorStage) and s.kernel.stateful)
    assert reduce.parallelism == 3


def test_a_chain_is_not_moved_into_a_reader_whose_rows_another_sink_reads() -> None:
    t = _table()
    sums = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.v))
    pw.io.null.write(sums)
    pw.io.null.write(t)  # reads the reader's raw rows: the combiner must not run in the reader
    stages = _plan().stages
    reader = next(s for s in stages if isinstance(s, ReaderStage))
    assert reader.prepare.steps == ()
    fed_by_reader = [s for s in stages
                     if any(c.stage == reader.id for c in getattr(s, "inputs", ()))]
    assert any(isinstance(s, SinkStage) for s in fed_by_reader)
    assert any(isinstance(s, OperatorStage) and not s.kernel.stateful for s in fed_by_reader)
