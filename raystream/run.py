"""``pw.run()``: plan every output, deploy it on Ray, wait until it ends."""

from __future__ import annotations

import enum
import logging
import signal
import threading
import time as _time
import uuid
from types import FrameType
from typing import Any

from raystream.actors.placement import SPREAD, check_options
from raystream.actors.runtime import Pipeline, PipelineError, cluster_cpus
from raystream.engine.planner import Planner, PlanOptions
from raystream.errors import ApiValueError, api_error
from raystream.graph import G, SinkNode

log = logging.getLogger("raystream")


class MonitoringLevel(enum.Enum):
    """How much the driver prints while running (``pw.MonitoringLevel``)."""

    AUTO = 0
    AUTO_ALL = 1
    NONE = 2
    IN_OUT = 3
    ALL = 4


def build_plan(sinks: list[SinkNode], *, terminate_on_error: bool = False,
               reduce_parallelism: int | None = None, fuse_into_readers: bool = False,
               name: str | None = None, **runtime: Any) -> Any:
    """Plans ``sinks`` into a PhysicalPlan (exposed for tests and tools)."""
    if not sinks:
        raise api_error(ApiValueError, "nothing to run: define an output (pw.io.*.write, "
                                       "pw.io.subscribe) before pw.run()")
    parallelism = reduce_parallelism or max(1, min(cluster_cpus(), 4))
    options = PlanOptions(name=name or f"rs-{uuid.uuid4().hex[:6]}",
                          reduce_parallelism=parallelism, fuse_into_readers=fuse_into_readers,
                          terminate_on_error=terminate_on_error, runtime=runtime)
    return Planner(options).plan(sinks)


def start(sinks: list[SinkNode] | None = None, **options: Any) -> Pipeline:
    """Starts the pipeline of ``sinks`` (default: every output) and returns it running."""
    plan = build_plan(list(G.sinks) if sinks is None else sinks, **options)
    return Pipeline(plan).start()


def run(*, monitoring_level: MonitoringLevel = MonitoringLevel.AUTO,
        with_http_server: bool = False, default_logging: bool = True,
        persistence_config: Any = None, terminate_on_error: bool = False,
        timeout_s: float | None = None, **options: Any) -> None:
    """Runs every output defined so far until the sources end (or Ctrl-C).

    Args:
        monitoring_level: ``MonitoringLevel.NONE`` turns the status line off.
        with_http_server: Accepted for compatibility (use the Ray dashboard).
        default_logging: Accepted for compatibility.
        persistence_config: Not supported yet; must be None.
        terminate_on_error: Stop at the first bad record, raising an error
            that names its source and position (default: log it to
            ``pw.global_error_log()`` and go on).
        timeout_s: Stop the pipeline cleanly after this many seconds.
        **options: ``reduce_parallelism``, ``fuse_into_readers``, ``name``
            (pipeline name in actor names and metrics), ``resources`` (Ray
            actor options per kind: ``reader``, ``operator``, ``sink``,
            ``coordinator``), ``placement`` (``"spread"``: readers round-robin
            over nodes, forward chains next to their reader; ``"ray"``: leave it
            to Ray), ``status_interval_s`` (console status line, default 10),
            ``metrics`` (False: no Ray metrics).

    The first Ctrl-C (SIGINT) or SIGTERM (``ray job stop``) stops the pipeline
    cleanly: readers end their stream, sinks write and flush the last commit
    time, source positions are committed. A second signal kills the actors at once.
    """
    if persistence_config is not None:
        raise api_error(ApiValueError, "persistence_config is not supported; source positions "
                                       "are committed to the source system instead")
    try:
        check_options(options.get("resources"), options.get("placement", SPREAD))
    except ValueError as exc:
        raise api_error(ApiValueError, f"pw.run: {exc}") from None
    pipeline = start(terminate_on_error=terminate_on_error,
                     monitoring=monitoring_level != MonitoringLevel.NONE, **options)
    run_pipeline(pipeline, timeout_s)


class HardStop(BaseException):
    """A second stop signal arrived: kill the pipeline's actors now."""


class StopSignals:
    """SIGINT/SIGTERM handling while a pipeline runs (main thread only).

    The first signal asks for a graceful stop, carried out by :meth:`tick` from
    ``Pipeline.wait``'s loop (never in the middle of a driver-side callback);
    the second raises :class:`HardStop`. The previous handlers (Python's
    KeyboardInterrupt, Ray's SIGTERM exit) are restored on exit.

    Args:
        pipeline: The running pipeline.
        stop_timeout_s: Longest graceful stop before giving up with an error.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, pipeline: Pipeline, stop_timeout_s: float = 120.0) -> None:
        self.pipeline = pipeline
        self.stop_timeout_s = stop_timeout_s
        self.received: list[int] = []
        self.stopping_since: float | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        self.pipeline.hooks.append(self.tick)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()
        if self.tick in self.pipeline.hooks:
            self.pipeline.hooks.remove(self.tick)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            raise HardStop(f"second {signal.Signals(signum).name}")

    def tick(self) -> None:
        """Starts the graceful stop once a signal arrived; bounds its duration."""
        if not self.received:
            return
        if self.stopping_since is None:
            name = signal.Signals(self.received[0]).name
            log.warning("%s: stopping pipeline %s (readers end their stream, the last commit "
                        "is written and committed; signal again to kill it now)",
                        name, self.pipeline.plan.name)
            self.stopping_since = _time.monotonic()
            self.pipeline.stop()
        elif _time.monotonic() - self.stopping_since > self.stop_timeout_s:
            raise PipelineError(f"pipeline did not stop within {self.stop_timeout_s:.0f} s")


def run_pipeline(pipeline: Pipeline, timeout_s: float | None = None) -> None:
    """Waits for a started pipeline; signals or the timeout stop it cleanly.

    A first SIGINT/SIGTERM (or ``timeout_s``) stops it gracefully, a second
    signal kills its actors at once; either way no actor is left behind.
    """
    with StopSignals(pipeline) as signals:
        try:
            try:
                pipeline.wait(timeout=timeout_s)
            except (KeyboardInterrupt, TimeoutError):
                log.warning("stopping pipeline %s: finishing the last commit",
                            pipeline.plan.name)
                pipeline.stop()
                pipeline.wait(timeout=signals.stop_timeout_s)
            if signals.received:
                log.warning("pipeline %s stopped cleanly", pipeline.plan.name)
        except HardStop as exc:
            log.warning("%s: killing the actors of pipeline %s", exc, pipeline.plan.name)
        finally:
            pipeline.shutdown()


def run_all(**kwargs: Any) -> None:
    """Same as :func:`run`."""
    run(**kwargs)
