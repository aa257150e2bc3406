"""Peak memory of a process tree, sampled from /proc (Linux, no psutil needed).

A background thread wakes every ``interval`` seconds, collects the root process
and all its descendants (via ``/proc/<pid>/task/<tid>/children``), plus any
process whose command line contains one of ``extra_cmdline`` and that started
after the sampler did (e.g. ``"ray::"`` for Ray workers of an already running
cluster that are not our descendants), and records the peak of the summed
memory. ``metric="rss"`` (cheap, from ``statm``) double-counts shared pages
such as Ray's object store mapped by several processes; ``metric="pss"`` (from
``smaps_rollup``) splits them fairly but costs more per sample.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except (OSError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        text = _read(f"/proc/{pid}/task/{tid}/children")
        if text:
            out.extend(int(c) for c in text.split())
    return out


def process_tree(root: int) -> set[int]:
    """Return ``root`` and all its live descendants."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(_children(pid))
    return seen


def _start_ticks(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    return int(text[text.rindex(")") + 2 :].split()[19])  # field 22: starttime


def _uptime_ticks() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * _TICKS)


def _memory_bytes(pid: int, metric: str) -> int:
    if metric == "rss":
        text = _read(f"/proc/{pid}/statm")
        return int(text.split()[1]) * _PAGE if text else 0
    text = _read(f"/proc/{pid}/smaps_rollup")
    for line in (text or "").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Peak:
    """Peak memory seen by a sampler, in bytes."""

    tree: int = 0
    total: int = 0
    max_processes: int = 0


class TreeSampler:
    """Samples the summed memory of a process tree in a background thread.

    Args:
        root: pid of the process whose tree is measured.
        extra_cmdline: substrings; matching processes started during the run count too.
        interval: seconds between samples.
        metric: ``"rss"`` or ``"pss"``.
    """

    def __init__(
        self,
        root: int,
        extra_cmdline: tuple[str, ...] = (),
        interval: float = 0.05,
        metric: str = "rss",
    ) -> None:
        self.root = root
        self.extra_cmdline = tuple(s.encode() for s in extra_cmdline)
        self.interval = interval
        self.metric = metric
        self.peak = Peak()
        self._since = _uptime_ticks() - 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _extra_pids(self) -> set[int]:
        found: set[int] = set()
        if not self.extra_cmdline:
            return found
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if any(s in cmdline for s in self.extra_cmdline):
                start = _start_ticks(int(name))
                if start is not None and start >= self._since:
                    found.add(int(name))
        return found

    def sample(self) -> None:
        """Take one sample and update the peaks."""
        tree = process_tree(self.root)
        everything = tree | self._extra_pids()
        mem = {pid: _memory_bytes(pid, self.metric) for pid in everything}
        self.peak.tree = max(self.peak.tree, sum(mem[p] for p in tree))
        self.peak.total = max(self.peak.total, sum(mem.values()))
        self.peak.max_processes = max(self.peak.max_processes, len(everything))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
