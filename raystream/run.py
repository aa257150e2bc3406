"""``pw.run()``: plan every output, deploy it on Ray, wait until it ends."""

from __future__ import annotations

import enum
import logging
import uuid
from typing import Any

from raystream.actors.runtime import Pipeline, cluster_cpus
from raystream.engine.planner import PlanOptions, Planner
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
        **options: ``reduce_parallelism``, ``fuse_into_readers``, ``name``,
            ``resources`` (Ray options per actor kind).
    """
    if persistence_config is not None:
        raise api_error(ApiValueError, "persistence_config is not supported; source positions "
                                       "are committed to the source system instead")
    pipeline = start(terminate_on_error=terminate_on_error,
                     monitoring=monitoring_level != MonitoringLevel.NONE, **options)
    run_pipeline(pipeline, timeout_s)


def run_pipeline(pipeline: Pipeline, timeout_s: float | None = None) -> None:
    """Waits for a started pipeline; Ctrl-C or the timeout stop it cleanly."""
    try:
        try:
            pipeline.wait(timeout=timeout_s)
        except (KeyboardInterrupt, TimeoutError):
            log.warning("stopping pipeline %s: finishing the last commit", pipeline.plan.name)
            pipeline.stop()
            pipeline.wait(timeout=60)
    finally:
        pipeline.shutdown()


def run_all(**kwargs: Any) -> None:
    """Same as :func:`run`."""
    run(**kwargs)
