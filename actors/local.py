"""Runs a plan of static sources in the driver process, without starting actors.

For pipelines whose sources are all fixed in-memory tables (``pw.debug``
tables, ``pw.Table.empty``): every input is known, so every stage can run to
completion in topological order, with the same kernels the actors host.
Static tables have one commit time; in-memory streams (``__time__``) give
each row theirs, and stateful kernels apply the times in order.
Starting actors costs ~0.4 s of CPU each; this costs milliseconds.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
from raystream.actors.plan import OperatorStage, PhysicalPlan, ReaderStage, SinkStage
from raystream.actors.protocol import END
from raystream.actors.reader import BadInputError, error_batch
from raystream.actors.routing import Output, channel_id
from raystream.actors.supervisor import PipelineError
from raystream.connectors.memory import MemorySourceSpec

DATA, ERRORS = Output.DATA, Output.ERRORS

_TIME = 2
Outputs = dict[tuple[int, Output], list[tuple[int, pa.RecordBatch]]]


def is_local(plan: PhysicalPlan) -> bool:
    """True if every source of the plan is an in-memory table."""
    return all(isinstance(s.source, MemorySourceSpec) for s in plan.stages
               if isinstance(s, ReaderStage))


def run_local(plan: PhysicalPlan) -> None:
    """Computes every stage in order; sinks write (or call back) in this process."""
    outputs: Outputs = defaultdict(list)
    groups = {s.id: [[p.id] for p in s.source.list_partitions()] for s in plan.stages
              if isinstance(s, ReaderStage)}
    plan = plan.resolved(groups, default_parallelism=1)
    for stage in plan.stages:
        if isinstance(stage, ReaderStage):
            _read(stage, outputs, plan.terminate_on_error)
        elif isinstance(stage, OperatorStage):
            _operate(stage, outputs)
        elif isinstance(stage, SinkStage):
            _sink(stage, outputs)


def _read(stage: ReaderStage, outputs: Outputs, terminate_on_error: bool) -> None:
    for instance, partitions in enumerate(stage.groups):
        client = stage.source.open(list(partitions))
        reader_id = channel_id(stage.id, instance)
        while not client.exhausted():
            parsed = client.read_batch(stage.max_batch_rows, 0.0)
            if parsed is None:
                continue
            time = _TIME if parsed.time is None else parsed.time
            if parsed.errors:
                if terminate_on_error:
                    raise BadInputError(parsed.errors[0].describe())
                outputs[(stage.id, ERRORS)].append((time, error_batch(parsed.errors)))
            rows = stage.prepare(parsed, reader_id)
            failed: list = getattr(stage.prepare, "take_errors", list)()
            if failed:
                outputs[(stage.id, ERRORS)].append((time, error_batch(failed)))
            outputs[(stage.id, DATA)].append((time, rows))
        client.close()


def _operate(stage: OperatorStage, outputs: Outputs) -> None:
    kernel = stage.kernel.build(0)
    produced = outputs[(stage.id, DATA)]
    for channel in stage.inputs:
        for time, batch in outputs[(channel.stage, channel.output)]:
            produced.extend(kernel.on_data(channel.port, time, batch))
            _errors(stage, kernel, outputs)
    produced.extend(kernel.on_frontier(END))
    _errors(stage, kernel, outputs)


def _errors(stage: OperatorStage, kernel: object, outputs: Outputs) -> None:
    take = getattr(kernel, "take_errors", None)
    if take is not None:
        for time, errors in take():
            outputs[(stage.id, ERRORS)].append((time, error_batch(errors)))


def _sink(stage: SinkStage, outputs: Outputs) -> None:
    """Writes one sink's rows; a connector's failure is a :class:`PipelineError`, as on Ray."""
    if stage.sink is None:
        _write(stage, outputs)
        return
    try:
        _write(stage, outputs)
    except Exception as error:
        raise PipelineError(f"{stage.name}: {type(error).__name__}: {error}") from error


def _write(stage: SinkStage, outputs: Outputs) -> None:
    writer = stage.sink.open() if stage.sink is not None else None
    by_time: dict[int, list[pa.RecordBatch]] = defaultdict(list)
    for channel in stage.inputs:
        for time, batch in outputs[(channel.stage, channel.output)]:
            by_time[time].append(batch)
    for time in sorted(by_time):
        batches = [b for b in by_time[time] if b.num_rows]
        if not batches:
            continue
        batch = pa.Table.from_batches(batches).combine_chunks().to_batches()[0] \
            if len(batches) > 1 else batches[0]
        output = stage.format(time, batch)
        if writer is not None:
            writer.write(output)
        elif stage.callbacks is not None:
            stage.callbacks.on_batch(time, output)
    if writer is not None:
        writer.flush()
        writer.close()
    elif stage.callbacks is not None:
        stage.callbacks.on_frontier(END)
