"""Runs one case once: launch, warm up, measure, stop, check the output.

Every engine goes through the same steps:

1. The channel is created fresh (directory, topics or stream) and the engine
   launched (``launched``).
2. Warm-up: one row per input partition (key -1) is injected and the harness
   waits for its output (``ready``). *Start-up* = ready - launched: process
   start, imports, graph building, Ray and actor start for raystream, Kafka
   group join for Pathway, plus one row through the pipeline.
3. Throughput: the engine's whole process tree is suspended (SIGSTOP), the
   bulk input is handed over (file renamed into the watched directory,
   messages produced and flushed, records put), ``t0`` is taken and the tree
   resumed (SIGCONT). The run ends when the observer sees the output reach the
   expected final state (``t_end``: the arrival time of the output chunk that
   completed it). *Window* = t_end - t0; rows/s = bulk rows / window; *whole
   run* = start-up + window. CPU = CPU seconds of the tree during the window.
   Suspending keeps the injection's own CPU out of the engine's window, and
   makes the hand-over instantaneous from the engine's point of view.
4. Latency: rows are injected at a fixed rate for a fixed time, every row
   stamped with its injection time ``ts`` (microseconds); for each inserted
   output row, latency = arrival at the observer - ``ts`` (a reduce's row
   carries ``max(ts)`` of its group, i.e. its newest input). The first 2 s of
   rows are left out (warm-up). The output is read and stamped on a thread
   of its own (``channels.Observed``), so no row is stamped late because the
   harness was injecting, checking or sampling memory.
5. The engine is stopped (SIGTERM, then SIGKILL for every process left), and
   the whole output folded and compared with the expected result.

Peak memory (PSS, see ``engine_proc.py``) covers the whole run, launch to stop.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import latency_trace
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cases import Case, Settings
from channels import Channel, FilesChannel, KafkaChannel, KinesisChannel, Observed
from engine_proc import MB, EngineProcess
from workloads import Progress, check, compute, expected, make_rows, parse_changelog, warmup_rows

NOT_AVAILABLE_EXIT = 3
LATENCY_SKIP_S = 2.0
THROUGHPUT_MEMORY_INTERVAL_S = 0.2
LATENCY_MEMORY_INTERVAL_S = 5.0  # see EngineProcess: frequent smaps reads stall the engine
TICK_S = 0.05


@dataclass
class Result:
    """The measurements of one run (times in seconds, memory in MB)."""

    case: str
    run: int
    status: str = "ok"
    problem: str = ""
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    startup_s: float | None = None
    window_s: float | None = None
    rows_per_s: float | None = None
    whole_s: float | None = None
    cpu_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    samples: int = 0
    peak_pipeline_mb: float | None = None
    peak_all_mb: float | None = None
    processes: int = 0
    verified: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


class Failed(RuntimeError):
    """The run cannot go on; the message says why."""


@dataclass
class Output:
    """The output seen so far: every chunk with its arrival time."""

    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    latency_start: float = 0.0  # wall time the fixed-rate injection began

    def table(self) -> pa.Table | None:
        """The whole changelog parsed."""
        return parse_changelog(b"".join(c for _, c in self.chunks))


class Services:
    """The running test services (from the ``tests.services`` state files).

    Args:
        state_dir: The ``--state-dir`` the services were started with.
    """

    def __init__(self, state_dir: Path) -> None:
        import json

        self.state_dir = state_dir
        self.kafka_state = self._load(json, "kafka")
        self.kinesis_state = self._load(json, "kinesalite")

    def _load(self, json: Any, name: str) -> dict[str, Any] | None:
        path = self.state_dir / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def kafka(self) -> Any:
        """The broker (``KafkaBroker``)."""
        from tests.services.kafka import KafkaBroker

        if self.kafka_state is None:
            raise Failed("Kafka is not running (python -m tests.services start kafka)")
        return KafkaBroker.from_state(self.kafka_state)

    def kinesalite(self) -> Any:
        """The Kinesis endpoint (``Kinesalite``)."""
        from tests.services.kinesis import Kinesalite

        if self.kinesis_state is None:
            raise Failed("kinesalite is not running (python -m tests.services start kinesalite)")
        return Kinesalite.from_state(self.kinesis_state)


def make_channel(case: Case, services: Services, work: Path, name: str) -> tuple[Channel, dict]:
    """Creates the case's fresh input and output; returns the channel and engine env."""
    if case.source == "files":
        return FilesChannel(work), {}
    if case.source == "kafka":
        broker = services.kafka()
        topic_in, topic_out = f"{name}-in", f"{name}-out"
        broker.create_topic(topic_in, case.partitions)
        broker.create_topic(topic_out, 1)
        return KafkaChannel(broker.client_settings(), topic_in, topic_out, case.partitions), {}
    server = services.kinesalite()
    server.create_stream(name, case.partitions)
    return KinesisChannel(server.client(), name, work), server.env()


def _poll_until(channel: Channel, engine: EngineProcess, output: Output,
                progress: list[Progress], timeout: float, what: str) -> float:
    """Polls the output until ``progress[0]`` is done; returns the completing arrival time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = channel.poll(0.02)
        if got is not None:
            output.chunks.append(got)
            parsed = None if progress[0].workload == "filter_select" else \
                parse_changelog(got[1])
            for p in progress:
                p.feed(got[1], parsed)
            if progress[0].done():
                return got[0]
        elif not engine.alive():
            code = engine.proc.returncode
            status = "not available" if code == NOT_AVAILABLE_EXIT else "failed"
            raise Failed(f"{status}: engine exited with {code} before {what}: "
                         f"{engine.stderr_tail()}")
    raise Failed(f"timeout: no {what} within {timeout:.0f} s")


def _drain(channel: Channel, output: Output, seconds: float) -> None:
    """Keeps collecting output for ``seconds`` (late duplicates would show up here)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = channel.poll(0.05)
        if got is not None:
            output.chunks.append(got)


def _throughput(case: Case, channel: Channel, engine: EngineProcess, output: Output,
                bulk: pa.Table, warm: pa.Table, result: Result, settings: Settings) -> pa.Table:
    """Step 3; returns every injected row."""
    everything = pa.concat_tables([warm, bulk])
    progress = Progress(case.workload, compute(everything, case.workload))
    for chunk in output.chunks:
        progress.feed(chunk[1])
    if settings.suspend:
        engine.suspend()
    cpu0 = engine.cpu_by_pid()
    injecting = time.perf_counter()
    t0 = time.time()
    channel.inject_prepared()
    result.notes["inject_s"] = time.perf_counter() - injecting
    if settings.suspend:
        cpu0 = engine.cpu_by_pid()
        t0 = time.time()
        engine.resume()
    t_end = _poll_until(channel, engine, output, [progress], settings.end_timeout_s,
                        "final output")
    cpu1 = engine.cpu_by_pid()
    result.cpu_s = sum(cpu1.values()) - sum(v for p, v in cpu0.items() if p in cpu1)
    result.notes["timeline"] = [(round(at - t0, 3), chunk.count(b"\n"))
                                for at, chunk in output.chunks if at >= t0]
    by_role: dict[str, float] = {}
    for pid, seconds in cpu1.items():
        role = engine.role(pid)
        by_role[role] = by_role.get(role, 0.0) + seconds - cpu0.get(pid, 0.0)
    result.notes["cpu_by_role"] = {k: round(v, 2) for k, v in sorted(
        by_role.items(), key=lambda kv: -kv[1]) if v >= 0.01}
    result.window_s = t_end - t0
    result.rows_per_s = bulk.num_rows / result.window_s
    return everything


def _latency(case: Case, channel: Channel, engine: EngineProcess, output: Output,
             warm: pa.Table, result: Result, settings: Settings, duration: float) -> pa.Table:
    """Step 4; returns every injected row."""
    pool = make_rows(max(case.rows, 1) * int(duration + 1), seed=1)
    per_tick = max(1, round(case.rows * TICK_S))
    batches, sent = [warm], 0
    worst_inject = 0.0
    start = output.latency_start = time.time()
    next_tick = time.monotonic()
    end = next_tick + duration
    while time.monotonic() < end and sent + per_tick <= pool.num_rows:
        rows = pool.slice(sent, per_tick)
        ts = int(time.time() * 1e6)
        batch = rows.append_column("ts", pa.array(np.full(per_tick, ts, np.int64)))
        injected_at = time.monotonic()
        channel.inject(batch)
        worst_inject = max(worst_inject, time.monotonic() - injected_at)
        batches.append(batch)
        sent += per_tick
        next_tick += TICK_S
        while (left := next_tick - time.monotonic()) > 0:
            got = channel.poll(min(left, 0.01))
            if got is not None:
                output.chunks.append(got)
    result.notes["rate_rows_per_s"] = sent / max(time.time() - start, 1e-9)
    result.notes["slowest_injection_ms"] = round(worst_inject * 1e3)
    everything = pa.concat_tables(batches)
    progress = Progress(case.workload, compute(everything, case.workload))
    for chunk in output.chunks:
        progress.feed(chunk[1])
    if not progress.done():
        _poll_until(channel, engine, output, [progress], settings.end_timeout_s, "final output")
    _latencies(output, start + LATENCY_SKIP_S, result)
    return everything


def _latencies(output: Output, since: float, result: Result) -> None:
    """Fills p50/p99/max from the inserted rows stamped after ``since``."""
    values: list[np.ndarray] = []
    worst_by_second: dict[int, float] = {}
    for arrival, chunk in output.chunks:
        table = parse_changelog(chunk)
        if table is None or "ts" not in table.column_names:
            continue
        ts = table.filter(pc.and_(pc.greater(table["diff"], 0),
                                  pc.greater_equal(table["ts"], int(since * 1e6))))["ts"]
        chunk_ms = arrival * 1e3 - ts.to_numpy().astype(np.float64) / 1e3
        values.append(chunk_ms)
        if chunk_ms.size:
            second = int(arrival - since)
            worst_by_second[second] = max(worst_by_second.get(second, 0.0), float(chunk_ms.max()))
    result.notes["worst_latency_ms_by_second"] = {k: round(v) for k, v in
                                                  sorted(worst_by_second.items())}
    lat = np.concatenate(values) if values else np.array([])
    result.samples = int(lat.size)
    if lat.size:
        result.p50_ms, result.p99_ms = (float(np.percentile(lat, q)) for q in (50, 99))
        result.max_ms = float(lat.max())


def run_case(case: Case, run: int, services: Services, settings: Settings,
             bulk: pa.Table | None, bulk_file: Path | None, duration: float) -> Result:
    """Runs ``case`` once (see the module docstring) and returns its measurements."""
    name = f"{case.key}-{run}-{int(time.time())}".replace("_", "-").lower()
    work = settings.work / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result = Result(case.key, run, loadavg=os.getloadavg())
    channel, env = make_channel(case, services, work, name)
    traced = settings.trace and case.kind == "latency" and case.engine == "raystream"
    if traced:
        env = {**(env or {}), latency_trace.TRACE_DIR_ENV: str(work / "trace")}
    if case.kind == "throughput" and isinstance(channel, FilesChannel) and bulk_file:
        channel.prepare_file(bulk_file)
    elif case.kind == "throughput":
        channel.prepare(bulk)
    channel = Observed(channel)
    argv = case.argv(settings.commit_ms) + channel.engine_args()
    engine = EngineProcess(argv, work / "engine", env=env,
                           memory_interval_s=LATENCY_MEMORY_INTERVAL_S if case.kind == "latency"
                           else THROUGHPUT_MEMORY_INTERVAL_S)
    output, injected = Output(), None
    try:
        warm = warmup_rows(case.partitions, 0 if case.kind == "latency" else None)
        channel.inject(warm)
        ready = _poll_until(channel, engine, output, [Progress(case.workload, compute(
            warm, case.workload))], settings.ready_timeout_s, "warm-up output")
        result.startup_s = ready - engine.launched
        if case.kind == "throughput":
            injected = _throughput(case, channel, engine, output, bulk, warm, result, settings)
            result.whole_s = result.startup_s + result.window_s
        else:
            injected = _latency(case, channel, engine, output, warm, result, settings, duration)
        _drain(channel, output, settings.commit_ms / 1000 + 1.0)
        if traced:
            _explain_late_rows(output, work / "trace", result, settings)
    except Failed as exc:
        result.status, _, result.problem = str(exc).partition(": ")
    finally:
        code = engine.stop()
        channel.close()
        result.notes["exit_code"] = code
    peak = engine.memory.peak
    result.peak_pipeline_mb, result.peak_all_mb = peak.pipeline / MB, peak.all / MB
    result.processes = peak.processes
    if injected is not None:
        result.problem = check(output.table(), expected(injected, case.workload))
        result.verified = not result.problem
        if result.problem:
            result.status = "wrong output"
    if result.status == "ok" and not traced:  # a traced run's files stay for a closer look
        shutil.rmtree(work, ignore_errors=True)
    return result


def _explain_late_rows(output: Output, trace_dir: Path, result: Result,
                       settings: Settings) -> None:
    """Prints (and notes) where the rows later than the commit interval + 100 ms waited."""
    since_us = int((output.latency_start + LATENCY_SKIP_S) * 1e6)
    chunks = [(arrival, table) for arrival, chunk in output.chunks
              if (table := parse_changelog(chunk)) is not None and "ts" in table.column_names]
    late = latency_trace.late_rows(chunks, since_us, settings.commit_ms + 100.0)
    stages = latency_trace.breakdown(latency_trace.load_trace(trace_dir), late)
    result.notes["late_rows"] = late.num_rows
    result.notes["late_minibatches"] = stages
    print(f"{result.case} run {result.run}: {late.num_rows} rows over "
          f"{settings.commit_ms + 100} ms; where the worst minibatches waited (ms):")
    print(latency_trace.render(stages) if stages else "  (none)")


def median(results: list[Result], attr: str) -> float | None:
    """Median of one attribute over the successful runs that have it."""
    values = [getattr(r, attr) for r in results if r.status == "ok" and
              getattr(r, attr) is not None]
    return statistics.median(values) if values else None
