"""The combiner: the planner fuses partial aggregation upstream of a reduce's shuffle (no Ray).

Plans are checked for where the combiner goes, and executed in-process stage by
stage (rows routed as the runtime routes them) to check that combined and
uncombined plans fold to the same output.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from raystream.actors.kernels.partial import PartialAggregate
from raystream.actors.plan import OperatorStage, PhysicalPlan, ReaderStage, SinkStage
from raystream.actors.protocol import END
from raystream.actors.routing import split_by_target
from raystream.connectors.batch import DIFF

import raystream as pw
from raystream.graph import G
from raystream.planner import Planner, PlanOptions

ROWS = """
owner | pet | age
Alice | dog | 10
Bob   | cat | 9
Alice | cat | 8
Bob   | dog | 7
Carol | fish | 1
Alice | dog | 2
"""


def plan_of(table: pw.Table, **options) -> PhysicalPlan:
    pw.io.null.write(table)
    plan = Planner(PlanOptions(reduce_parallelism=3, **options)).plan(list(G.sinks))
    readers = {s.id: [["0"]] for s in plan.stages if isinstance(s, ReaderStage)}
    return plan.resolved(readers, 3)


def steps_of(stage) -> tuple:
    return stage.prepare.steps if isinstance(stage, ReaderStage) else stage.kernel.steps


def run_plan(plan: PhysicalPlan) -> Counter:
    """Runs a plan in this process; returns the folded rows its sink receives."""
    outputs: dict[int, list[list[tuple[int, pa.RecordBatch]]]] = {}
    folded: Counter = Counter()
    for stage in plan.stages:
        if isinstance(stage, ReaderStage):
            source = stage.source
            parsed = source.open(["0"]).read_batch(10**9, 0)
            outputs[stage.id] = [[(0, stage.prepare(parsed, "r0"))]]
            continue
        inbox: list[list[tuple[int, int, pa.RecordBatch]]] = [[] for _ in
                                                               range(stage.parallelism)]
        for channel in stage.inputs:
            for sender, emitted in enumerate(outputs[channel.stage]):
                for time, batch in emitted:
                    for target, part in split_by_target(batch, channel.routing,
                                                        stage.parallelism, sender,
                                                        channel.hash_columns):
                        inbox[target].append((channel.port, time, part))
        if isinstance(stage, SinkStage):
            for _, _, batch in inbox[0]:
                names = [n for n in batch.schema.names if not n.startswith("_")]
                rows = zip(*(batch.column(n).to_pylist() for n in names), strict=True)
                for row, diff in zip(rows, batch.column(DIFF).to_pylist(), strict=True):
                    folded[tuple(tuple(v) if isinstance(v, list) else v for v in row)] += diff
            continue
        assert isinstance(stage, OperatorStage)
        outputs[stage.id] = []
        for instance in range(stage.parallelism):
            kernel = stage.kernel.build(instance)
            emitted = []
            for port, time, batch in inbox[instance]:
                emitted += kernel.on_data(port, time, batch)
            emitted += kernel.on_frontier(END)
            outputs[stage.id].append(emitted)
    return +folded


def pets() -> pw.Table:
    return pw.debug.table_from_markdown(ROWS)


def test_a_combinable_reduce_gets_its_combiner_in_the_stage_feeding_it() -> None:
    t = pets()
    plan = plan_of(t.groupby(t.owner).reduce(t.owner, n=pw.reducers.count(),
                                             total=pw.reducers.sum(t.age)))
    reduce = next(s for s in plan.stages if s.name.startswith("reduce"))
    upstream = plan.stage(reduce.inputs[0].stage)
    assert isinstance(steps_of(upstream)[-1], PartialAggregate)
    assert upstream.name.endswith("+partial")
    assert reduce.kernel.head.partial_input


@pytest.mark.parametrize("fuse", [False, True])
def test_the_chain_feeding_a_combined_reduce_moves_into_the_reader(fuse) -> None:
    t = pets()
    plan = plan_of(t.reduce(total=pw.reducers.sum(t.age)), fuse_into_readers=fuse)
    reader = next(s for s in plan.stages if isinstance(s, ReaderStage))
    assert isinstance(steps_of(reader)[-1], PartialAggregate)
    assert [s.name for s in plan.stages if isinstance(s, OperatorStage)] == ["reduce()+map"]
    assert len({s.id for s in plan.stages}) == len(plan.stages)


def test_the_chain_stays_apart_when_the_reader_output_has_another_consumer() -> None:
    t = pets()
    pw.io.null.write(t)
    plan = plan_of(t.reduce(total=pw.reducers.sum(t.age)))
    reader = next(s for s in plan.stages if isinstance(s, ReaderStage))
    assert steps_of(reader) == ()
    reduce = next(s for s in plan.stages if s.name.startswith("reduce"))
    assert isinstance(steps_of(plan.stage(reduce.inputs[0].stage))[-1], PartialAggregate)


def test_keyed_reducers_keep_the_raw_row_path() -> None:
    t = pets()
    plan = plan_of(t.groupby(t.owner).reduce(t.owner, first=pw.reducers.earliest(t.pet),
                                             n=pw.reducers.count()))
    assert not any(isinstance(step, PartialAggregate)
                   for s in plan.stages if not isinstance(s, SinkStage) for step in steps_of(s))
    reduce = next(s for s in plan.stages if s.name.startswith("reduce"))
    assert not reduce.kernel.head.partial_input


def test_no_combiner_where_the_upstream_output_has_another_consumer() -> None:
    t = pets().select(owner=pw.this.owner, age=pw.this.age + 1)
    pw.io.null.write(t)
    plan = plan_of(t.groupby(t.owner).reduce(t.owner, n=pw.reducers.count()))
    reduce = next(s for s in plan.stages if s.name.startswith("reduce"))
    upstream = plan.stage(reduce.inputs[0].stage)
    assert not any(isinstance(step, PartialAggregate) for step in steps_of(upstream)[:-1])
    assert reduce.kernel.head.partial_input  # the groupby's own pre-map stage combines


def grouped(t: pw.Table) -> pw.Table:
    return t.groupby(t.owner).reduce(
        t.owner, n=pw.reducers.count(), total=pw.reducers.sum(t.age),
        mean=pw.reducers.avg(t.age), youngest=pw.reducers.min(t.age),
        pets=pw.reducers.sorted_tuple(t.pet), kinds=pw.reducers.count_distinct(t.pet),
        oldest=pw.reducers.max(t.age))


@pytest.mark.parametrize("fuse", [False, True])
def test_combined_and_raw_plans_fold_to_the_same_rows(fuse) -> None:
    results = []
    for combine in (True, False):
        G.clear()
        results.append(run_plan(plan_of(grouped(pets()), combine_partials=combine,
                                        fuse_into_readers=fuse)))
    assert results[0] == results[1]
    assert results[0][("Alice", 3, 20, 20 / 3, 2, ("cat", "dog", "dog"), 2, 10)] == 1
    assert len(results[0]) == 3


def test_global_reduce_is_combined_too() -> None:
    t = pets()
    plan = plan_of(t.reduce(total=pw.reducers.sum(t.age), n=pw.reducers.count()))
    assert run_plan(plan) == Counter({(37, 6): 1})
