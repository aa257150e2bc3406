"""``pw.run()``: plan every output, deploy it on Ray, wait until it ends."""

from __future__ import annotations

import enum
import inspect
import logging
import os
import signal
import threading
import time as _time
import uuid
from types import FrameType
from typing import Any

from raystream.actors.local import run_local
from raystream.actors.placement import SPREAD, check_options
from raystream.actors.runtime import CheckpointSettings, Pipeline, PipelineError
from raystream.connectors.memory import MemorySourceSpec
from raystream.errors import ApiValueError, api_error, warn_at_user
from raystream.graph import G, Node, SinkNode, SourceNode
from raystream.persistence import Config
from raystream.planner import Planner, PlanOptions

log = logging.getLogger("raystream")

DEFAULT_MAX_RESTARTS = 10
DEFAULT_INTERVAL_MS = 0
"""In-run checkpoints (no persistence_config): one per commit time, as persistence's default."""


class MonitoringLevel(enum.Enum):
    """How much the driver prints while running (``pw.MonitoringLevel``)."""

    AUTO = 0
    AUTO_ALL = 1
    NONE = 2
    IN_OUT = 3
    ALL = 4


def build_plan(sinks: list[SinkNode], *, terminate_on_error: bool = False,
               reduce_parallelism: int | None = None, fuse_into_readers: bool = False,
               name: str | None = None, combine_partials: bool = True, **runtime: Any) -> Any:
    """Plans ``sinks`` into a PhysicalPlan (pure: no Ray, no source is contacted)."""
    if not sinks:
        raise api_error(ApiValueError, "nothing to run: define an output (pw.io.*.write, "
                                       "pw.io.subscribe) before pw.run()")
    runtime.pop("runtime", None)
    options = PlanOptions(name=name or f"rs-{uuid.uuid4().hex[:6]}",
                          reduce_parallelism=reduce_parallelism,
                          fuse_into_readers=fuse_into_readers,
                          combine_partials=combine_partials,
                          terminate_on_error=terminate_on_error, runtime=runtime)
    return Planner(options).plan(sinks)


def start(sinks: list[SinkNode] | None = None, *, persistence_config: Any = None,
          max_restarts: int = DEFAULT_MAX_RESTARTS, **options: Any) -> Pipeline:
    """Starts the pipeline of ``sinks`` (default: every output) and returns it running."""
    plan = build_plan(list(G.sinks) if sinks is None else sinks, **options)
    settings = checkpoint_settings(persistence_config, max_restarts, options.get("name"))
    return Pipeline(plan, settings).start()


def checkpoint_settings(persistence_config: Any, max_restarts: int,
                        name: str | None) -> CheckpointSettings:
    """Checkpoint storage and interval from ``pw.run``'s arguments.

    Without a ``persistence_config`` checkpoints are kept in the driver's memory:
    a failed actor is recovered within the run, but nothing survives the driver.
    With one, the pipeline's persistent id is ``name`` (``pw.run(name=...)``),
    default ``"pipeline"``: one storage root holds one pipeline unless named.
    """
    if not isinstance(max_restarts, int) or isinstance(max_restarts, bool) or max_restarts < 0:
        raise api_error(ApiValueError, f"pw.run: max_restarts must be an int >= 0, "
                                       f"got {max_restarts!r}")
    if persistence_config is None:
        return CheckpointSettings(None, DEFAULT_INTERVAL_MS, max_restarts)
    if not isinstance(persistence_config, Config):
        raise api_error(ApiValueError, "pw.run: persistence_config must be a "
                                       f"pw.persistence.Config, got "
                                       f"{type(persistence_config).__name__}")
    store = persistence_config.open_store(_persistent_id(name))
    return CheckpointSettings(store, persistence_config.snapshot_interval_ms, max_restarts)


def _persistent_id(name: str | None) -> str:
    if name is None:
        return "pipeline"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return safe or "pipeline"


def _all_static(sinks: list[SinkNode]) -> bool:
    """True if every source the sinks read is an in-memory table."""
    seen: set[int] = set()
    todo: list[Node] = list(sinks)
    while todo:
        node = todo.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        if isinstance(node, SourceNode) and not isinstance(node.source.spec, MemorySourceSpec):
            return False
        todo.extend(node.inputs)
    return True


def execute(sinks: list[SinkNode], timeout_s: float | None = None, **options: Any) -> None:
    """Runs the pipeline of ``sinks`` to its end.

    Pipelines of static tables only run in this process with the same kernels
    (no actors to start) unless ``runtime="ray"`` (or ``RAYSTREAM_RUNTIME=ray``)
    or a ``persistence_config`` is given; every other pipeline is deployed on Ray.
    """
    runtime = options.pop("runtime", None) or os.environ.get("RAYSTREAM_RUNTIME", "auto")
    if runtime not in ("auto", "local", "ray"):
        raise api_error(ApiValueError, f"runtime must be 'auto', 'local' or 'ray', got "
                                       f"{runtime!r}")
    G.mark_computed(list(sinks))
    static = _all_static(sinks)
    if options.get("terminate_on_error") is None:  # streams go on, batch computations stop
        options["terminate_on_error"] = static
    if runtime != "ray" and static and options.get("persistence_config") is None:
        options["reduce_parallelism"] = 1
        options.pop("persistence_config", None)
        options.pop("max_restarts", None)
        run_local(build_plan(sinks, **options))
        return
    if runtime == "local":
        raise api_error(ApiValueError, "runtime='local' needs static sources only")
    run_pipeline(start(sinks, **options), timeout_s)


def run(*, monitoring_level: MonitoringLevel = MonitoringLevel.AUTO,
        with_http_server: bool = False, default_logging: bool = True,
        persistence_config: Any = None, terminate_on_error: bool | None = None,
        timeout_s: float | None = None, max_restarts: int = DEFAULT_MAX_RESTARTS,
        **options: Any) -> None:
    """Runs every output defined so far until the sources end (or Ctrl-C).

    Args:
        monitoring_level: ``MonitoringLevel.NONE`` turns the status line off.
        with_http_server: Accepted for compatibility (use the Ray dashboard).
        default_logging: Accepted for compatibility.
        persistence_config: ``pw.persistence.Config``: checkpoints go to its
            backend, and a run started again with the same storage continues
            exactly where the last checkpoint left off. Without it,
            checkpoints stay in the driver's memory (recovery within the run).
        terminate_on_error: Stop at the first bad record or failing row,
            raising an error that names its source and position (or operator
            and line). False: log it to ``pw.global_error_log()`` and go on.
            Default (None): False when any source streams, so a bad row never
            stops a streaming pipeline; True when every source is a static
            table (a batch computation fails loudly, as in Pathway).
        timeout_s: Stop the pipeline cleanly after this many seconds.
        max_restarts: Consecutive recoveries (rollbacks to the last checkpoint
            after an actor died or failed) with no checkpoint completed in
            between that end the run with an error; 0 turns recovery off.
        **options: ``reduce_parallelism``, ``fuse_into_readers``, ``name``
            (pipeline name in actor names and metrics), ``resources`` (Ray
            actor options per kind: ``reader``, ``operator``, ``sink``,
            ``coordinator``), ``placement`` (``"spread"``: readers round-robin
            over nodes, forward chains next to their reader; ``"ray"``: leave it
            to Ray), ``status_interval_s`` (console status line, default 10),
            ``metrics`` (False: no Ray metrics).

    Without any output it warns and returns.

    The first Ctrl-C (SIGINT) or SIGTERM (``ray job stop``) stops the pipeline
    cleanly: readers end their stream, sinks write and flush the last commit
    time, source positions are committed. A second signal kills the actors at once.
    """
    try:
        check_options(options.get("resources"), options.get("placement", SPREAD))
    except ValueError as exc:
        raise api_error(ApiValueError, f"pw.run: {exc}") from None
    extra = options.pop("_extra_sinks", [])
    if not G.sinks and not extra:  # as in Pathway: nothing to do is not an error
        warn_at_user("pw.run(): there is nothing to run: no output is defined "
                     "(pw.io.<connector>.write, pw.io.subscribe)")
        return
    execute(list(G.sinks) + extra, timeout_s, terminate_on_error=terminate_on_error,
            monitoring=monitoring_level != MonitoringLevel.NONE,
            persistence_config=persistence_config, max_restarts=max_restarts, **options)


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
    """Runs every output and evaluates every table defined so far (``pw.run_all``).

    Unlike :func:`run`, tables without an output are computed too, so an error
    in any of them surfaces (as in Pathway).
    """
    from raystream.connectors.file_sink import NullSinkSpec  # noqa: PLC0415
    from raystream.io._base import SinkDescriptor  # noqa: PLC0415

    leaves = G.leaves()
    extra = [SinkNode(leaves, {}, sink=SinkDescriptor("null", "run_all", NullSinkSpec()))] \
        if leaves else []
    run(_extra_sinks=extra, **kwargs)


run_all.__signature__ = inspect.signature(run)  # type: ignore[attr-defined] # same options
