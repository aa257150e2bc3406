"""Noticing failures while a pipeline runs, and rolling the dataflow back to a checkpoint.

Failures are: an actor that died or was restarted by Ray (every actor is
created with ``max_restarts=-1``, so Ray recreates it, on another node if its
node is gone, by rerunning ``__init__``), a reader whose loop raised, and a
sink or operator that reported an error. A *fatal* failure (the same input
would fail again: a kernel error, ``terminate_on_error``) ends the run with
the error. Any other failure rolls back (see :mod:`raystream.actors.protocol`,
rollback) to the last complete checkpoint, after a backoff that doubles with
each consecutive failure; ``max_restarts`` consecutive failures with no
checkpoint completed in between end the run with an error naming the actor
and the cause.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import ActorDiedError, RayError

if TYPE_CHECKING:
    from raystream.actors.runtime import Pipeline

log = logging.getLogger("raystream.recovery")

FATAL_ERRORS = ("BadInputError", "ReduceError")
"""Root-cause types a rollback cannot help with (the same input fails again)."""


class PipelineError(RuntimeError):
    """The pipeline failed; the message carries the failing actor's error."""


@dataclass(frozen=True)
class Failed:
    """One failure the supervisor noticed."""

    actor: str
    cause: str
    fatal: bool = False

    def describe(self) -> str:
        """``actor: cause``."""
        return self.cause if self.cause.startswith(self.actor) else f"{self.actor}: {self.cause}"


class Liveness:
    """Pings every actor every ``interval_s``; a changed boot id means a restart.

    Args:
        actors: Returns the current actor name -> handle.
        interval_s: Seconds between two rounds of pings.
    """

    def __init__(self, actors: Callable[[], dict[str, Any]], interval_s: float = 0.5) -> None:
        self.actors = actors
        self.interval_s = interval_s
        self.pending: dict[Any, str] = {}
        self.boots: dict[str, Any] = {}
        self.last = 0.0

    def check(self) -> Failed | None:
        """Collects answered pings and sends new ones; returns a failure if one is seen."""
        if self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
            for ref in ready:
                name = self.pending.pop(ref)
                try:
                    answer = ray.get(ref)
                except RayError as exc:
                    return Failed(name, f"actor {name} died: {type(exc).__name__}: "
                                        f"{_first_line(exc)}")
                boot = answer.get("boot")
                known = self.boots.setdefault(name, boot)
                if boot is not None and boot != known:
                    return Failed(name, f"actor {name} was restarted (its process died)")
        if _time.monotonic() - self.last >= self.interval_s:
            self.last = _time.monotonic()
            waiting = set(self.pending.values())
            for name, handle in self.actors().items():
                if name not in waiting:
                    self.pending[handle.ping.remote()] = name
        return None

    def wait_alive(self, timeout_s: float, dead_after_s: float = 5.0) -> None:
        """Waits until every actor answers (restarted ones included), then records boots.

        Args:
            timeout_s: Longest wait for restarted actors.
            dead_after_s: An actor that keeps answering "died" (not "restarting")
                this long is gone for good (e.g. ``ray.kill(..., no_restart=True)``).

        Raises:
            PipelineError: If an actor is gone or does not answer within ``timeout_s``.
        """
        deadline = _time.monotonic() + timeout_s
        died_since: dict[str, float] = {}
        self.pending.clear()
        while True:
            actors = self.actors()
            refs = {handle.ping.remote(): name for name, handle in actors.items()}
            ready, _ = ray.wait(list(refs), num_returns=len(refs),
                                timeout=max(min(deadline - _time.monotonic(), 2.0), 0.1))
            answers: dict[str, Any] = {}
            for ref in ready:
                name = refs[ref]
                try:
                    answers[name] = ray.get(ref)
                except ActorDiedError as exc:
                    since = died_since.setdefault(name, _time.monotonic())
                    if _time.monotonic() - since > dead_after_s:
                        raise PipelineError(f"actor {name} is dead and was not restarted: "
                                            f"{_first_line(exc)}") from exc
                except RayError:
                    pass
            if len(answers) == len(actors):
                self.boots = {name: a.get("boot") for name, a in answers.items()}
                return
            if _time.monotonic() > deadline:
                missing = sorted(set(actors) - set(answers))
                raise PipelineError(f"actors did not come back within {timeout_s:.0f} s: "
                                    f"{', '.join(missing)}")
            _time.sleep(0.2)


class Supervisor:
    """Watches one pipeline and rolls it back on failures.

    Args:
        pipeline: The running pipeline.
        max_restarts: Consecutive failures (no checkpoint completed in between)
            that end the run.
        backoff_s: Wait before the second consecutive rollback; doubles after.
        max_backoff_s: Longest wait between two rollbacks.
        alive_timeout_s: How long restarted actors may take to come back.
    """

    def __init__(self, pipeline: Pipeline, max_restarts: int = 10, backoff_s: float = 0.5,
                 max_backoff_s: float = 10.0, alive_timeout_s: float = 120.0) -> None:
        self.pipeline = pipeline
        self.max_restarts = max_restarts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.alive_timeout_s = alive_timeout_s
        self.liveness = Liveness(pipeline.named_actors)
        self.consecutive = 0
        self.recoveries = 0
        self.last_recovery_s: float | None = None
        self.last_failure: Failed | None = None

    def progressed(self) -> None:
        """A checkpoint completed: failures are no longer consecutive."""
        self.consecutive = 0

    def check(self, failure: Failed | None = None) -> None:
        """Looks for a failure (or takes ``failure``) and handles it.

        Raises:
            PipelineError: On a fatal failure, or too many consecutive ones.
        """
        failure = failure or self.liveness.check() or self._reported()
        if failure is None:
            return
        self.last_failure = failure
        if failure.fatal:
            raise PipelineError(failure.describe())
        if self.max_restarts <= 0:
            raise PipelineError(f"{failure.describe()} (recovery is off: max_restarts=0)")
        while True:
            self.consecutive += 1
            if self.consecutive > self.max_restarts:
                raise PipelineError(f"{failure.describe()}; gave up after {self.max_restarts} "
                                    "consecutive recoveries without a completed checkpoint")
            try:
                self._recover(failure)
                return
            except (RayError, TimeoutError) as exc:  # another failure while rolling back
                failure = Failed(failure.actor, f"{failure.describe()}; then during the "
                                                f"rollback: {type(exc).__name__}: {exc}")

    def _reported(self) -> Failed | None:
        reported = ray.get(self.pipeline.coordinator.failure.remote())
        if reported is None:
            return None
        return Failed(reported.actor, reported.message, reported.fatal)

    def _recover(self, failure: Failed) -> None:
        if self.consecutive > 1:
            _time.sleep(min(self.backoff_s * 2 ** (self.consecutive - 2), self.max_backoff_s))
        started = _time.monotonic()
        restore = self.pipeline.checkpointer.restore()
        log.warning("pipeline %s: %s; rolling back to %s", self.pipeline.plan.name,
                    failure.describe(), f"checkpoint {restore.number}" if restore.number
                    else "the start of the run (no checkpoint yet)")
        self.liveness.wait_alive(self.alive_timeout_s)
        self.pipeline.rollback(restore)
        self.recoveries += 1
        self.last_recovery_s = _time.monotonic() - started
        self.pipeline.driver_metrics.count(recoveries=1)
        self.pipeline.driver_metrics.gauge(last_recovery_ms=self.last_recovery_s * 1000)
        self.pipeline.driver_metrics.flush()
        log.warning("pipeline %s: recovered in %.2f s (recovery %d)", self.pipeline.plan.name,
                    self.last_recovery_s, self.recoveries)

    def reader_finished(self, reader: str, ref: Any) -> Failed | None:
        """A reader's loop returned: a failure if it raised."""
        try:
            ray.get(ref)
        except RayError as exc:
            cause = _root_cause(exc)
            fatal = cause.split(":", 1)[0] in FATAL_ERRORS
            return Failed(reader, f"{reader}: {cause}", fatal)
        return None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


def _root_cause(exc: BaseException) -> str:
    """The innermost error message of a (possibly nested) Ray task error."""
    cause = getattr(exc, "cause", None)
    while cause is not None and getattr(cause, "cause", None) is not None:
        cause = cause.cause
    target = cause or exc
    notes = "".join(f"\n  {note}" for note in getattr(target, "__notes__", []))
    return f"{type(target).__name__}: {target}{notes}"
