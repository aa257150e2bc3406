"""The Ray that a pipeline runs on: joined, or started (and stopped fast) by raystream.

:func:`ensure_ray` joins ``RAY_ADDRESS`` when it is set, else starts a local
Ray. A local Ray that raystream started itself is stopped at interpreter exit
by :func:`fast_local_shutdown`, which takes about 0.3 s where Ray's own
``ray.shutdown()`` takes 1.2-1.9 s: Ray stops its processes one after another
and gives each a second to exit on SIGTERM (the GCS, the raylet and the
autoscaler monitor never make it in time, so each costs the full second).
Nothing of that Ray outlives the run (its GCS is in memory), so there is
nothing a graceful stop would save.

A Ray the user started (``ray.init`` before ``pw.run``) or joined is left to
the user and to Ray's own exit handler.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import time
from typing import Any

import ray

log = logging.getLogger("raystream.ray")

__all__ = ["descendants", "ensure_ray", "fast_local_shutdown"]

_TERM_GRACE_S = 0.2
"""How long the node's processes get to exit on SIGTERM before SIGKILL."""


def ensure_ray() -> None:
    """Connects to ``RAY_ADDRESS`` if set, else starts (or reuses) a local Ray."""
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS") or None
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True,
             configure_logging=False)
    if address is None:
        atexit.register(fast_local_shutdown)  # runs before Ray's own atexit shutdown


def fast_local_shutdown() -> None:
    """Stops the local Ray this process started, all its processes at once.

    Ray's ``ray.shutdown()`` still runs (it disconnects the driver and clears
    Ray's state), but finds the node's processes already stopped: each got
    SIGTERM together, SIGKILL after :data:`_TERM_GRACE_S`, and every process
    under the raylet (workers and agents, which outlive a killed raylet
    otherwise) got SIGKILL. Falls back to plain ``ray.shutdown()`` when Ray's
    internals are not as expected or there is no ``/proc``.
    """
    if not ray.is_initialized():
        return
    node = getattr(ray._private.worker, "_global_node", None)  # noqa: SLF001
    processes = getattr(node, "all_processes", None)
    if (node is None or not isinstance(processes, dict) or not node.is_head()
            or not os.path.isdir("/proc")):
        ray.shutdown()
        return
    original = node.kill_all_processes

    def kill_all_at_once(*_args: Any, wait: bool = False, **_kwargs: Any) -> None:
        _stop_together(processes)
        original(check_alive=False, allow_graceful=False, wait=wait)  # bookkeeping only

    node.kill_all_processes = kill_all_at_once
    try:
        ray.shutdown()
    finally:
        node.kill_all_processes = original


def _stop_together(processes: dict[str, list[Any]]) -> None:
    """SIGTERM to every process, SIGKILL to what is left after the grace period."""
    procs: list[subprocess.Popen[Any]] = [info.process for kind, infos in processes.items()
                                          if kind != "reaper" for info in infos
                                          if getattr(info, "process", None) is not None]
    below = descendants([info.process.pid for info in processes.get("raylet", [])])
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + _TERM_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            log.warning("Ray process %s did not exit after SIGKILL", proc.pid)


def descendants(pids: list[int]) -> list[int]:
    """PIDs of every process below ``pids``, read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(pids)
    while todo:
        below = children.get(todo.pop(), [])
        found.extend(below)
        todo.extend(below)
    return found
