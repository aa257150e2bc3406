"""What the benchmark runs: engines, cases (one configuration each) and the suites.

A :class:`Case` is one engine on one workload, source, input size and
measurement kind:

* ``throughput``: the bulk input is handed over at once while the engine is
  suspended; rows/s = input rows / (last output - hand-over);
* ``latency``: rows injected at a fixed rate, each stamped with its injection
  time; latency = arrival at the sink - stamp.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PATHWAY_PY = BENCH / ".venv-pathway" / "bin" / "python"
PIPELINE = BENCH / "pipelines" / "stream_pipeline.py"
FLOOR = BENCH / "floor" / "stream_floor.py"
ENGINES = ("raystream", "pathway", "floor")


@dataclass(frozen=True)
class Case:
    """One measured configuration.

    Attributes:
        group: Table section (``main``, ``scaling``, ``memory``).
        source: ``files``, ``kafka`` or ``kinesis``.
        workload: ``filter_select``, ``groupby``, ``global_sum`` or ``filter_groupby``.
        rows: Bulk input rows (throughput) or rows/s (latency).
        engine: ``raystream``, ``pathway`` or ``floor``.
        kind: ``throughput`` or ``latency``.
        partitions: Kafka partitions / Kinesis shards of the input.
        readers: raystream ``parallel_readers`` (0: the default).
        read_opts: Extra raystream read options (``k=v``).
        run_opts: Extra raystream ``pw.run`` options (``k=v``).
        label: Short description of the variant (scaling, memory).
    """

    group: str
    source: str
    workload: str
    rows: int
    engine: str
    kind: str = "throughput"
    partitions: int = 4
    readers: int = 0
    read_opts: tuple[str, ...] = ()
    run_opts: tuple[str, ...] = ()
    kafka_opts: tuple[str, ...] = ()
    label: str = ""

    @property
    def key(self) -> str:
        """A unique, file-name-safe id of the case."""
        parts = [self.group, self.source, self.workload, str(self.rows), self.kind,
                 self.engine, f"p{self.partitions}"]
        if self.readers:
            parts.append(f"r{self.readers}")
        if self.label:
            parts.append(re.sub(r"[^A-Za-z0-9]", "", self.label)[:40])
        return "_".join(parts)

    def argv(self, commit_ms: int) -> list[str]:
        """The engine's command line, without the channel's arguments."""
        common = ["--source", self.source, "--workload", self.workload,
                  "--commit-ms", str(commit_ms)]
        if self.kind == "latency":
            common.append("--latency")
        if self.engine == "floor":
            return [sys.executable, str(FLOOR), *common]
        python = str(PATHWAY_PY) if self.engine == "pathway" else sys.executable
        argv = [python, str(PIPELINE), "--engine", self.engine, *common]
        if self.readers:
            argv += ["--readers", str(self.readers)]
        for opt in self.read_opts:
            argv += ["--read-opt", opt]
        for opt in self.run_opts:
            argv += ["--run-opt", opt]
        for opt in self.kafka_opts:
            argv += ["--kafka-opt", opt]
        return argv


@dataclass
class Suite:
    """Sizes and rates of one suite.

    Attributes:
        file_rows: Bulk sizes of the files workloads.
        kafka_rows: Bulk size of the Kafka workloads (and scaling).
        kinesis_rows: Bulk size of the Kinesis workload.
        rate: Latency runs' input rate, rows/s (files, Kafka).
        kinesis_rate: Latency runs' input rate on Kinesis, rows/s.
        latency_s: Seconds of fixed-rate input per latency run.
        memory_rows: Kafka input sizes of the memory check.
        backlog: ``max_backlog_size`` of the memory check.
        sections: What to run (``files``, ``kafka``, ``kinesis``, ``scaling``,
            ``memory``, ``knobs``).
    """

    file_rows: tuple[int, ...] = (1_000_000, 5_000_000)
    kafka_rows: int = 1_000_000
    kinesis_rows: int = 100_000
    rate: int = 5_000
    kinesis_rate: int = 1_000
    latency_s: float = 20.0
    memory_rows: tuple[int, ...] = (1_000_000, 3_000_000, 10_000_000)
    backlog: int = 200_000
    sections: tuple[str, ...] = ("files", "kafka", "kinesis", "scaling", "memory", "knobs")


SUITES = {
    "full": Suite(),
    "quick": Suite(file_rows=(50_000,), kafka_rows=50_000, kinesis_rows=5_000, rate=1_000,
                   kinesis_rate=200, latency_s=6.0, memory_rows=(50_000, 100_000),
                   backlog=20_000),
}


def _trio(engines: tuple[str, ...], **kw: object) -> list[Case]:
    return [Case(engine=e, **kw) for e in engines]  # type: ignore[arg-type]


def build_cases(suite: Suite, engines: tuple[str, ...]) -> list[Case]:
    """Every case of the suite, for the engines asked for."""
    cases: list[Case] = []
    if "files" in suite.sections:
        for workload in ("filter_select", "groupby"):
            for rows in suite.file_rows:
                cases += _trio(engines, group="main", source="files", workload=workload,
                               rows=rows, partitions=1)
            cases += _trio(engines, group="main", source="files", workload=workload,
                           rows=suite.rate, kind="latency", partitions=1)
        # issue 2's pipeline (the README's first example), at the smallest file size
        cases += _trio(engines, group="main", source="files", workload="filter_groupby",
                       rows=min(suite.file_rows), partitions=1)
    if "kafka" in suite.sections:
        for workload in ("filter_select", "groupby", "global_sum"):
            cases += _trio(engines, group="main", source="kafka", workload=workload,
                           rows=suite.kafka_rows)
            cases += _trio(engines, group="main", source="kafka", workload=workload,
                           rows=suite.rate, kind="latency")
    kinesis_engines = tuple(e for e in engines if e != "pathway")  # Pathway's needs a licence
    if "kinesis" in suite.sections:
        cases += _trio(kinesis_engines, group="main", source="kinesis", workload="groupby",
                       rows=suite.kinesis_rows)
        cases += _trio(kinesis_engines, group="main", source="kinesis", workload="groupby",
                       rows=suite.kinesis_rate, kind="latency")
    if "scaling" in suite.sections and "raystream" in engines:
        cases += [Case("scaling", "kafka", "groupby", suite.kafka_rows, "raystream",
                       partitions=8, readers=n, label=f"{n} readers") for n in (1, 2, 4)]
    if "memory" in suite.sections and "raystream" in engines:
        backlog = f"max_backlog_size={suite.backlog}"
        # The benchmark's reader setting queued.min.messages=1000000 lets librdkafka prefetch
        # up to a million messages per consumer, outside any backlog limit; the last variant
        # runs with librdkafka's default (100000), as a user who set nothing has.
        default_fetch = ("queued.min.messages=100000",)
        for rows in suite.memory_rows:
            cases += [Case("memory", "kafka", "groupby", rows, "raystream", label="no limit"),
                      Case("memory", "kafka", "groupby", rows, "raystream", read_opts=(backlog,),
                           label=backlog),
                      Case("memory", "kafka", "groupby", rows, "raystream", read_opts=(backlog,),
                           kafka_opts=default_fetch,
                           label=f"{backlog}, librdkafka's default prefetch")]
    if "knobs" in suite.sections and "raystream" in engines:
        cases += knob_cases(suite)
    return cases


def knob_cases(suite: Suite) -> list[Case]:
    """raystream's tuning options on the workloads they are meant for (vs its defaults)."""
    big = max(suite.file_rows)
    fused = ("fuse_into_readers=true",)
    variants = [("files", "filter_select", big, 1, (), fused, "fuse_into_readers=True"),
                ("kafka", "filter_select", suite.kafka_rows, 4, (), fused,
                 "fuse_into_readers=True"),
                ("files", "groupby", big, 1, ("max_batch_rows=262144",),
                 ("reduce_parallelism=1",), "reduce_parallelism=1,max_batch_rows=262144"),
                ("kafka", "groupby", suite.kafka_rows, 4, (), ("reduce_parallelism=1",),
                 "reduce_parallelism=1")]
    cases = []
    for source, workload, rows, parts, read, run, label in variants:
        cases += [Case("knobs", source, workload, rows, "raystream", partitions=parts,
                       label="defaults"),
                  Case("knobs", source, workload, rows, "raystream", partitions=parts,
                       read_opts=read, run_opts=run, label=label)]
    return cases


@dataclass
class Settings:
    """Run-wide settings.

    Attributes:
        runs: Runs per case (figures are medians).
        commit_ms: ``autocommit_duration_ms`` of every engine and every run.
        work: Directory for per-run inputs, outputs and logs.
        ready_timeout_s: Longest wait for the warm-up row's output.
        end_timeout_s: Longest wait for the final output after the input.
        max_load: Wait before a run while the 1-minute load average is above this.
        max_load_wait_s: Longest such wait.
        suspend: Hand the bulk input over while the engine is suspended (else the
            window starts when the injection starts and includes it).
        trace: Run raystream with its batch trace on and, after each latency
            run, break its late rows down by stage (``bench/latency_trace.py``).
    """

    runs: int = 3
    commit_ms: int = 200
    work: Path = BENCH / "results" / "work"
    ready_timeout_s: float = 180.0
    end_timeout_s: float = 300.0
    max_load: float = 99.0
    max_load_wait_s: float = 600.0
    suspend: bool = True
    trace: bool = False
    extra: dict[str, object] = field(default_factory=dict)
