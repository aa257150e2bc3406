"""py-spy profiles of raystream's actor processes while a command runs, and their summary.

Runs ``COMMAND`` (e.g. one ``bench/run_bench.py`` case), attaches ``py-spy
record --format raw`` to every Ray actor process (``ray::ReaderActor``,
``ray::OperatorActor``, ``ray::SinkActor``) that appears in the command's own
process tree (``--idle``, so that threads inside pyarrow, which release the
GIL, are sampled too), and when the command ends prints, per profiled
process, the share of its busy samples (threads waiting for a call, a lock
or I/O left out) spent in the functions that dominate it: self time, and
inclusive time of raystream frames. An operator's role shows in its frames
(a reduce runs ``ReduceKernel``).

Usage:
    python bench/profile_actors.py --out bench/results/profile/after -- \\
        python bench/run_bench.py --sections files --engines raystream --runs 1 \\
        --only main_files_groupby_1000000_throughput
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ACTOR_TITLES = ("ray::ReaderActor", "ray::OperatorActor", "ray::SinkActor")
WAITING = {"main_loop", "wait", "_wait_for_tstate_lock", "select", "sleep", "poll", "acquire"}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree[int(fields[1])].append(int(entry))
    return tree


def _descendants(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def record(command: list[str], out: Path, rate: int) -> list[Path]:
    """Runs ``command``, profiling its actor processes; returns the raw profile files."""
    out.mkdir(parents=True, exist_ok=True)
    main = subprocess.Popen(command)
    spies: dict[int, tuple[subprocess.Popen, Path]] = {}
    while main.poll() is None:
        for pid in _descendants(main.pid):
            title = _title(pid)
            if pid not in spies and title.startswith(ACTOR_TITLES):
                path = out / f"{title.split('.')[0].removeprefix('ray::')}-{pid}.txt"
                spy = subprocess.Popen(["py-spy", "record", "--format", "raw", "--rate", str(rate),
                                        "--idle", "--nonblocking", "-p", str(pid),
                                        "-o", str(path)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                spies[pid] = (spy, path)
        time.sleep(0.5)
    for spy, _ in spies.values():
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)
    for spy, _ in spies.values():
        try:
            spy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            spy.kill()
    return [path for _, path in spies.values() if path.exists()]


def summarise(path: Path, top: int) -> str:
    """The busiest functions of one raw (collapsed-stack) profile."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1]
                  if " (" in f else f for f in stack.split(";")]
        n = int(count)
        if frames[-1].split(" (")[0].rsplit(".", 1)[-1] in WAITING:  # waiting: call, lock, I/O
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if any(k in frame for k in ("kernels/", "reduce", "partial", "outbox", "split_by",
                                        "steps.py", "files.py", "parse", "receive", "_apply")):
                inclusive[frame] += n
    if not total:
        return f"{path.name}: no samples"
    lines = [f"{path.name}: {total} busy samples (waiting for calls left out)"]
    lines += [f"  self {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += [f"  incl {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    """Profiles the command's actors, then prints a summary per process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("give the command to run after --")
    for path in sorted(record(command, args.out, args.rate)):
        print(summarise(path, args.top))


if __name__ == "__main__":
    main()
