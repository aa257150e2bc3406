"""The reader actor: one per partition group; reads batches, closes minibatches, commits."""

from __future__ import annotations

import gc
import logging
import os
import queue
import time as _time
import uuid
from typing import Any

import ray
from ray.exceptions import RayError
from raystream.actors.messages import (
    END,
    CommitPosition,
    Control,
    Durable,
    ReleaseReader,
    Rewind,
    StopReading,
)
from raystream.actors.metrics import ActorMetrics
from raystream.actors.outbox import Outbox, Route
from raystream.actors.plan import Prepare
from raystream.actors.protocol import Closed
from raystream.actors.reader_parts import (
    Backlog,
    BadInputError,
    Minibatch,
    ReaderConfig,
    error_batch,
)
from raystream.actors.trace import BatchTrace
from raystream.connectors.base import (
    PartitionReader,
    RecordError,
    SourceSpec,
    reader_idle_until,
    reader_metrics,
    reader_partition_lags,
)

log = logging.getLogger("raystream.reader")

_KEEPALIVE_S = 0.05
_MAX_LOGGED_ERRORS = 20

__all__ = ["BadInputError", "ReaderActor", "ReaderConfig", "error_batch"]


class Rewound(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The driver rolled the dataflow back: restart the loop from ``rewind``."""

    def __init__(self, rewind: Rewind) -> None:
        super().__init__(f"rewind to incarnation {rewind.incarnation}")
        self.rewind = rewind


class ReaderActor:
    """Reads a source's partitions (wrapped with ``ray.remote`` by the runtime).

    :meth:`run` is a long loop on its own thread ("loop" concurrency group);
    :meth:`commit`, :meth:`stop`, :meth:`release` and :meth:`rewind` arrive on
    another ("control") and are handed to the loop through a queue, so the
    source client is used by one thread only. Every coordinator call carries
    the reader's incarnation; a stale answer (or a dead coordinator) makes the
    loop wait for the driver's :class:`Rewind`.
    """

    def __init__(self, config: ReaderConfig, spec: SourceSpec, prepare: Prepare,
                 routes: list[Route], error_routes: list[Route], coordinator: Any) -> None:
        self.config = config
        self.spec = spec
        self.prepare = prepare
        self.outbox = Outbox(config.reader_id, config.instance, routes)
        self.error_outbox = Outbox(config.reader_id, config.instance, error_routes)
        self.coordinator = coordinator
        self.control: queue.SimpleQueue = queue.SimpleQueue()
        self.incarnation = 0
        self.boot = uuid.uuid4().hex
        self.backlog = Backlog()
        self.metrics = ActorMetrics(config.metrics)
        self.trace = BatchTrace("reader", config.name)
        self.stats_: dict[str, Any] = {"rows": 0, "records": 0, "errors": 0, "bytes": 0,
                                       "commits": 0, "paused": False, "in_flight": 0,
                                       "rewinds": 0, "opens": 0}
        self.final_committed = False
        self.released = False
        self.stopping = False
        self.reported_exhausted = False
        gc.freeze()  # start-up objects (Ray, pyarrow, modules) leave the collector's scans:
        # per-batch garbage (e.g. 65536 Kafka Message objects) no longer triggers full
        # collections over them (bench: Kafka groupby 1M rows, 29% less pipeline CPU)

    # -- control (another thread) -------------------------------------------

    @ray.method(concurrency_group="control")
    def commit(self, message: CommitPosition | Durable) -> None:
        """A cut completed (commit its position) or the durable frontier advanced."""
        self.control.put(message)

    @ray.method(concurrency_group="control")
    def stop(self) -> None:
        """Finish the current minibatch, end the stream, commit, and return from run."""
        self.control.put(StopReading())

    @ray.method(concurrency_group="control")
    def release(self) -> None:
        """Dynamic readers: the partition's children have readers; this one may end."""
        self.control.put(ReleaseReader())

    @ray.method(concurrency_group="control")
    def rewind(self, incarnation: int, positions: dict[str, Any] | None) -> None:
        """Roll back: reopen the source at ``positions`` (see :class:`Rewind`)."""
        self.control.put(Rewind(incarnation, positions))

    @ray.method(concurrency_group="control")
    def stats(self) -> dict[str, Any]:
        """Returns counters for monitoring."""
        return dict(self.stats_, name=self.config.name, in_flight=self.backlog.in_flight,
                    allowance=self.backlog.allowance, incarnation=self.incarnation)

    @ray.method(concurrency_group="control")
    def ping(self) -> dict[str, Any]:
        """Answers the driver's liveness check."""
        return {"boot": self.boot, "incarnation": self.incarnation, "pid": os.getpid()}

    # -- the loop ------------------------------------------------------------

    @ray.method(concurrency_group="loop")
    def run(self, incarnation: int = 0,
            positions: dict[str, Any] | None = None) -> dict[str, Any]:
        """Reads until the source ends or :meth:`stop`, then waits for the final commit.

        Args:
            incarnation: The dataflow's incarnation to read under.
            positions: Partition id -> position to start from (None: as at the run's start).
        """
        rewind = Rewind(incarnation, positions)
        while True:
            self._restart(rewind)
            client = self.spec.open(self.config.partitions, rewind.positions) \
                if rewind.positions else self.spec.open(self.config.partitions)
            self.stats_["opens"] += 1  # the source's start positions are resolved
            try:
                self._loop(client)
                return self.stats()  # type: ignore[operator]  # a ray.method, callable locally
            except Rewound as signal:
                rewind = signal.rewind
                self.stats_["rewinds"] += 1
            finally:
                self._report(client)
                self.metrics.flush()
                client.close()

    def _restart(self, rewind: Rewind) -> None:
        """Forgets everything of the previous incarnation."""
        self.incarnation = rewind.incarnation
        self.outbox.reset(rewind.incarnation)
        self.error_outbox.reset(rewind.incarnation)
        self.backlog = Backlog()
        self.final_committed = False
        self.reported_exhausted = False

    def _loop(self, client: PartitionReader) -> None:
        me = self.config.reader_id
        leased = self._call(self.coordinator.lease, me, client.position())
        batch = Minibatch(leased.next_time, _time.monotonic())
        self._send_progress(batch.time, leased)
        if self.config.backlog_limited:
            self.backlog.allowance = self._allowance(0, True)
        while True:
            self._drain_control(client)
            room = self.backlog.room()
            blocked = room is not None and room == 0
            self._set_paused(client, blocked)
            if not blocked:
                want = self.config.max_batch_rows if room is None else \
                    min(room, self.config.max_batch_rows)
                self._read(client, batch, want, self._poll_timeout(batch))
            elif batch.rows == 0:
                client.read_batch(0, _KEEPALIVE_S)  # keep the client alive while paused
                self._ask_for_room(blocked)
            ended = self.stopping or self._source_ended(client)
            due = batch.due(_time.monotonic(), self.config.autocommit_ms / 1000,
                            reader_idle_until(client))
            if ended or due or (blocked and batch.rows > 0):
                next_time = self._close(client, batch, ended, blocked)
                if next_time >= END:
                    break
                batch = Minibatch(next_time, _time.monotonic())
        self._await_final_commit(client)

    def _call(self, method: Any, *args: Any) -> Any:
        """Calls the coordinator under this incarnation; waits for a rewind if stale or dead."""
        try:
            result = ray.get(method.remote(self.incarnation, *args))
        except RayError as exc:
            log.warning("%s: coordinator unreachable (%s); waiting for the rollback",
                        self.config.name, type(exc).__name__)
            result = None
        if result is None:
            self._await_rewind()
        return result

    def _await_rewind(self) -> None:
        """Waits for the driver's rollback (applying other control messages meanwhile)."""
        while True:
            try:
                item = self.control.get(timeout=1.0)
            except queue.Empty:
                continue
            self._apply_control(None, item)

    def _source_ended(self, client: PartitionReader) -> bool:
        """True when this reader may end its stream (dynamic readers: once released)."""
        if not client.exhausted():
            return False
        if not self.config.dynamic:
            return True
        if not self.reported_exhausted:
            self.coordinator.reader_exhausted.remote(self.incarnation, self.config.reader_id)
            self.reported_exhausted = True
        if not self.released:
            self._drain_control(client, wait=_KEEPALIVE_S)
        return self.released

    def _poll_timeout(self, batch: Minibatch) -> float:
        left = batch.opened + self.config.autocommit_ms / 1000 - _time.monotonic()
        return max(min(left, 0.1), 0.0)

    def _read(self, client: PartitionReader, batch: Minibatch, want: int,
              timeout: float) -> None:
        parsed = client.read_batch(want, timeout)
        if parsed is None:
            return
        self.stats_["records"] += parsed.records
        self.metrics.count(rows_in=parsed.batch.num_rows, bytes_in=parsed.batch.nbytes,
                           batches_in=1, parse_errors=len(parsed.errors))
        if parsed.errors:
            self._bad_records(parsed.errors, batch.time)
        if parsed.batch.num_rows:
            rows = self.prepare(parsed, self.config.reader_id)
            take_errors = getattr(self.prepare, "take_errors", None)  # steps fused in here
            failed = take_errors() if take_errors is not None else []
            if failed:
                self._bad_records(tuple(failed), batch.time)
            self.outbox.data(batch.time, rows)
            self.trace.event("read", batch.time, parsed.batch.num_rows)
            # Rows read, not rows sent: a combiner fused in here sends partial aggregates.
            batch.rows += parsed.batch.num_rows
            self.stats_["rows"] += parsed.batch.num_rows
            self.stats_["bytes"] += parsed.batch.nbytes
        counted = parsed.records or parsed.batch.num_rows
        if counted:
            self.backlog.add(batch.time, counted)
        self.outbox.flush()

    def _close(self, client: PartitionReader, batch: Minibatch, ended: bool,
               blocked: bool) -> int:
        hungry = blocked or batch.rows > 0
        closed, allowance = self._call(
            self.coordinator.close_minibatch, self.config.reader_id, batch.time, batch.rows,
            client.position(), ended, self.backlog.in_flight, hungry)
        self.trace.event("close", batch.time, batch.rows)
        if self.config.backlog_limited and not ended:
            self.backlog.allowance = allowance
        self._send_progress(closed.next_time, closed)
        self._report(client)
        return closed.next_time

    def _allowance(self, in_flight: int, hungry: bool) -> int | None:
        answer = self._call(self.coordinator.rebalance, self.config.reader_id, in_flight,
                            hungry)
        return answer[0]

    def _report(self, client: PartitionReader) -> None:
        """Updates lag, backlog and outgoing counters (stats and metrics)."""
        try:
            source = reader_metrics(client)
            lags = reader_partition_lags(client)
        except Exception as exc:  # noqa: BLE001 - a lag probe must not stop the reader
            log.debug("%s: source metrics failed: %s", self.config.name, exc)
            source, lags = {}, {}
        worst = max(lags.items(), key=lambda item: item[1], default=None)
        self.stats_["worst_lag"] = (f"{self.config.source or self.config.name}[{worst[0]}]",
                                    worst[1]) if worst is not None else None
        self.metrics.partition_gauges("partition_lag_records", lags)
        self.stats_["lag_records"] = source.get("lag_records")
        self.stats_["millis_behind_latest"] = source.get("millis_behind_latest")
        self.stats_["broker_retries"] = int(source.get("broker_retries", 0))
        self.metrics.source_gauges(source)
        self.metrics.gauge(backlog_rows=self.backlog.in_flight)
        outbox = self.outbox
        self.metrics.totals(rows_out=outbox.rows_out, bytes_out=outbox.bytes_out,
                            batches_out=outbox.batches_out, commits=self.stats_["commits"],
                            broker_retries=self.stats_["broker_retries"])

    def _send_progress(self, frontier: int, closed: Closed | None = None) -> None:
        """Sends the cut barriers crossed by a close (if any), then the new frontier."""
        for outbox in (self.outbox, self.error_outbox):
            for barrier in closed.barriers if closed is not None else ():
                outbox.progress(barrier, checkpoint=True)
            outbox.progress(frontier)
            outbox.flush()

    def _ask_for_room(self, blocked: bool) -> None:
        allowance = self._allowance(self.backlog.in_flight, blocked)
        if allowance is not None:
            self.backlog.allowance = allowance

    def _set_paused(self, client: PartitionReader, paused: bool) -> None:
        if paused != self.stats_["paused"]:
            (client.pause if paused else client.resume)()
            self.stats_["paused"] = paused

    def _drain_control(self, client: PartitionReader, wait: float = 0.0) -> None:
        """Applies queued commits, releases, stops and rewinds (which raise :class:`Rewound`)."""
        try:
            item = self.control.get(timeout=wait) if wait else self.control.get_nowait()
            while True:
                self._apply_control(client, item)
                item = self.control.get_nowait()
        except queue.Empty:
            pass

    def _apply_control(self, client: PartitionReader | None, item: Control) -> None:
        if isinstance(item, Rewind):
            if item.incarnation > self.incarnation:
                raise Rewound(item)
        elif isinstance(item, StopReading):
            self.stopping = True
        elif isinstance(item, ReleaseReader):
            self.released = True
        elif item.incarnation != self.incarnation:
            return  # a commit or durability notice of an older incarnation
        elif isinstance(item, CommitPosition):
            if item.position is not None and client is not None:
                client.commit(item.position)
                self.stats_["commits"] += 1
            self.final_committed = self.final_committed or item.final
        elif isinstance(item, Durable):
            self.backlog.durable(item.frontier)
        else:
            raise TypeError(f"unknown control message {item!r}")

    def _await_final_commit(self, client: PartitionReader) -> None:
        """After the end of stream, waits until the final cut's position is committed."""
        while not self.final_committed:
            self._drain_control(client, wait=_KEEPALIVE_S)

    # -- bad records ---------------------------------------------------------

    def _bad_records(self, errors: tuple[RecordError, ...], time: int) -> None:
        if self.config.terminate_on_error:
            raise BadInputError(errors[0].describe())
        for error in errors[: max(_MAX_LOGGED_ERRORS - self.stats_["errors"], 0)]:
            log.warning("bad record skipped: %s", error.describe())
        self.stats_["errors"] += len(errors)
        self.error_outbox.data(time, error_batch(errors))
