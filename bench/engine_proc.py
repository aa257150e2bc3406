"""One engine under test as a subprocess: launch, suspend/resume, CPU, memory, stop.

The engine runs in its own session. Its *process tree* (the root process and
every descendant, found through ``/proc/<pid>/task/<tid>/children``) is what
gets suspended, resumed, measured and finally killed. For raystream the tree
holds the driver, the Ray system processes the driver started (``gcs_server``,
``raylet``, dashboard and agents) and every Ray worker (actors and idle pool
workers), so nothing of the pipeline escapes the measurement.

Memory is PSS (proportional set size, from ``smaps_rollup``): a page shared by
``n`` processes counts ``1/n`` in each, so Ray's shared object store and the
shared libraries are counted once in the sum rather than once per process.
Every sample splits the sum into:

* ``pipeline``: the root process (driver, or the whole engine for Pathway and
  the floor) plus the Ray workers that host the pipeline's actors (command
  line ``ray::<Actor>...``: readers, operators, sinks, the coordinator);
* ``all``: the whole tree, i.e. ``pipeline`` plus Ray's system processes
  (GCS, raylet, dashboard and its agents, log monitor, ``ray::IDLE`` pool
  workers, ``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``).

The peak of each sum over the run is kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from proc_sampler import _memory_bytes, _read, _start_ticks, _uptime_ticks, process_tree

_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process (0.0 if it is gone)."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def cmdline(pid: int) -> bytes:
    """The raw command line of ``pid`` (empty if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


RAY_SYSTEM_WORKERS = (b"ray::IDLE", b"ray::DashboardAgent", b"ray::RuntimeEnvAgent")


def is_pipeline_process(pid: int, root: int) -> bool:
    """True for the root process and the Ray workers that host the pipeline's actors."""
    if pid == root:
        return True
    line = cmdline(pid)
    return line.startswith(b"ray::") and not line.startswith(RAY_SYSTEM_WORKERS)


@dataclass
class MemoryPeak:
    """Peak summed PSS in bytes, and the most processes seen at once."""

    pipeline: int = 0
    all: int = 0
    processes: int = 0


class MemorySampler:
    """Samples the PSS of a process tree in a background thread.

    Args:
        root: pid of the engine's root process.
        interval: Seconds between samples.
    """

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak = MemoryPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        """Takes one sample and updates the peaks."""
        pids = process_tree(self.root)
        mem = {pid: _memory_bytes(pid, "pss") for pid in pids}
        pipeline = sum(m for pid, m in mem.items() if is_pipeline_process(pid, self.root))
        self.peak.pipeline = max(self.peak.pipeline, pipeline)
        self.peak.all = max(self.peak.all, sum(mem.values()))
        self.peak.processes = max(self.peak.processes, len(pids))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        """Starts sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stops sampling (one last sample first)."""
        self.sample()
        self._stop.set()
        self._thread.join()


class EngineProcess:
    """A launched engine: its process tree can be suspended, resumed and measured.

    Args:
        argv: Command line.
        log_stem: Path prefix for ``.out`` and ``.err`` logs.
        env: Extra environment variables.
        memory_interval_s: Seconds between memory samples. Each sample reads
            ``smaps_rollup`` of every process of the tree, which walks all their
            mappings under the kernel's mmap lock: every 0.2 s it stalled
            raystream's Kinesis pipeline (about 30 processes) for 1-3 s at a time.
            Latency runs therefore sample every 5 s.
    """

    def __init__(self, argv: list[str], log_stem: Path, env: dict[str, str] | None = None,
                 memory_interval_s: float = 0.2) -> None:
        self.argv = argv
        self.log_stem = log_stem
        self.launched = time.time()
        self._out = open(log_stem.with_suffix(".out"), "w")  # noqa: SIM115 - closed in stop()
        self._err = open(log_stem.with_suffix(".err"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        self._since_ticks = _uptime_ticks() - 1
        self.memory = MemorySampler(self.proc.pid, memory_interval_s)
        self.memory.start()
        self._suspended: list[int] = []

    @property
    def pid(self) -> int:
        """The root process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the root process runs."""
        return self.proc.poll() is None

    def tree(self) -> set[int]:
        """The root and its live descendants."""
        return process_tree(self.pid)

    def cpu(self) -> float:
        """CPU seconds used so far by the live processes of the tree."""
        return sum(cpu_seconds(p) for p in self.tree())

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU seconds used so far by each live process of the tree."""
        return {p: cpu_seconds(p) for p in self.tree()}

    def role(self, pid: int) -> str:
        """A short name for a process: ``driver``, ``ray::ReaderActor``, ``raylet``..."""
        if pid == self.pid:
            return "driver"
        first = cmdline(pid).split(b"\0")[0].decode(errors="replace")
        if first.startswith("ray::"):
            return first.split(".")[0].split()[0]
        words = cmdline(pid).replace(b"\0", b" ").decode(errors="replace").split()
        name = next((w for w in words if "ray" in w and "/" in w), words[0] if words else "?")
        return name.rsplit("/", 1)[-1]

    def suspend(self) -> None:
        """SIGSTOPs every process of the tree (root first, then descendants)."""
        pids = sorted(self.tree(), key=lambda p: p != self.pid)
        for pid in pids:
            _signal(pid, signal.SIGSTOP)
        self._suspended = pids

    def resume(self) -> None:
        """SIGCONTs the processes :meth:`suspend` stopped."""
        for pid in self._suspended:
            _signal(pid, signal.SIGCONT)
        self._suspended = []

    def stop(self, grace_s: float = 30.0) -> int | None:
        """Ends the engine: SIGTERM (graceful), then SIGKILL to every process left.

        Returns:
            The root's exit code, or None if it had to be killed.
        """
        self.resume()
        self.memory.stop()
        pids = self.tree()
        code: int | None = None
        if self.alive():
            _signal(self.pid, signal.SIGTERM)
            try:
                code = self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = self.proc.returncode
        for pid in pids | self.tree():
            started = _start_ticks(pid)  # a pid reused by another process since is left alone
            if started is not None and started >= self._since_ticks:
                _signal(pid, signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._out.close()
        self._err.close()
        return code

    def stderr_tail(self, lines: int = 5) -> str:
        """The last lines of the engine's stderr, joined with `` | ``."""
        text = self.log_stem.with_suffix(".err").read_text(errors="replace").strip()
        return " | ".join(text.splitlines()[-lines:])


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
