"""Summarises py-spy raw profiles (``bench/profile_case.py``) per actor role.

Each input directory holds ``<Role>-<pid>.txt`` files (``py-spy record --format
raw --idle --threads``: one line per distinct stack, ``thread (tid): name;frame;...
count``). Per role (all pids and all directories given, summed) it prints:

* samples per thread name, split into *busy* and *idle* (the leaf frame waits:
  futex, condition variable, epoll, sleep, lock acquire...);
* busy samples by category: the innermost frame of the stack that matches a
  category (Ray serialization, Ray object store and core worker, task
  submission, pyarrow compute, JSON parse, Kafka client, GC, raystream Python,
  other Python, native other);
* the top functions by self (leaf) and total (anywhere in the stack) busy samples.

Usage:
    python bench/flame_summary.py bench/results/profile/<case>-profile-0 [...] [--top 12]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

IDLE_LEAF = re.compile(
    r"pthread_cond_(timed)?wait|epoll_wait|epoll_pwait|__poll|^poll |ppoll|^select |"
    r"nanosleep|sem_(timed)?wait|PyThread_acquire_lock|futex|__lll_lock_wait|"
    r"time_sleep|condition_variable::wait|^recv |recvmsg|accept|FutexWaiter|PerThreadSemWait|"
    r"Condition\.wait|Event\.wait|SimpleQueue\.get|select \(selectors")
SCAFFOLD = re.compile(
    r"boost::asio|EventTracker|std::_Function_handler|_Function_handler|TaskReceiver|"
    r"OrderedActorTaskExecutionQueue|run_task_loop|RunTaskExecutionLoop|"
    r"RunWorkerTaskExecutionLoop|CoreWorker::ExecuteTask|_raylet_task_execution_handler|"
    r"execute_native_thread_routine|^0x[0-9a-f]+ \(libc|actor_method_executor|"
    r"Thread\._bootstrap|thread_run|default_worker\.py|main_loop|<module>|"
    r"tracing_helper\.py|auto_init_hook|client_mode_hook|std::thread::_State_impl|"
    r"executor_op|instrumented_io_context|BoundedExecutor|function_manager\.py|"
    r"execute_task|task_execution_handler")
# innermost match wins; order only breaks ties within one frame
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("gc", re.compile(r"gc_collect|collect_generations|gc\.collect|_PyGC_Collect|"
                      r"gc_collect_main|PythonGCThread")),
    ("ray serialization", re.compile(
        r"serialization\.py|pickle|Pickle|cloudpickle|SerializedObject|serialize|"
        r"deserialize|MessagePack|msgpack|_reconstruct|arrow::ipc|RecordBatch\.__reduce__|"
        r"__reduce__|__setstate__|_restore_")),
    ("ray object store/core worker", re.compile(
        r"plasma|Plasma|CoreWorker::(Put|Get|Seal|Create)|store_task_output|get_objects|"
        r"ObjectStore|CreateAndSeal|memory_store|MemoryStore|object_manager|put_object|"
        r"_raylet\.pyx.*(get|put)|ray::core::(ReferenceCounter|TaskManager)")),
    ("ray task submit", re.compile(
        r"ActorMethod|_actor_method_call|submit_actor_task|SubmitActorTask|ray/actor\.py|"
        r"ray::core::.*(Submit|Push)|prepare_args")),
    ("numpy", re.compile(r"_multiarray_umath|numpy/")),
    ("pyarrow compute", re.compile(
        r"pyarrow/compute\.py|_compute|arrow::compute|acero|TableGroupBy|group_by|"
        r"pyarrow/table\.pxi|pyarrow/array\.pxi|arrow::(Take|Filter|Concatenate|"
        r"RecordBatch|Table|Array|internal)|libarrow|pyarrow/lib")),
    ("json parse", re.compile(r"arrow::json|_json|read_json|parse\.py|simdjson|rapidjson")),
    ("kafka client", re.compile(r"confluent_kafka|rd_kafka|librdkafka|kafka_client\.py|"
                                r"kafka_records\.py|kafka\.py")),
    ("raystream python", re.compile(r"raystream/|actors/|connectors/|engine/")),
    ("other python", re.compile(r"\.py:\d+\)")),
    ("ray core (C++: task execution, rpc, bookkeeping)", re.compile(r"ray::|_raylet\.so|grpc")),
]


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    """``(thread name, frames root-first, count)`` for every stack line of one file."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0].split(":", 1)[-1].strip() if frames[0].startswith("thread") \
            else "?"
        names = frames[1:] if frames[0].startswith("thread") else frames
        if names and not names[0].startswith(("0x", "<module>", "Thread.", "thread_run",
                                               "clone")) and "(" not in names[0]:
            thread, names = names[0], names[1:]
        out.append((thread, names, int(count)))
    return out


def _thread_kind(name: str) -> str:
    return re.sub(r"[-_ ]?\d+$", "", name) or name


def category(frames: list[str]) -> str:
    """The innermost matching category of a busy stack."""
    for frame in reversed(frames):
        for name, pattern in CATEGORIES:
            if pattern.search(frame):
                return name
    return "native other"


def is_idle(frames: list[str]) -> bool:
    """True when one of the stack's three innermost frames is a wait."""
    return any(IDLE_LEAF.search(f) for f in frames[-3:])


def wait_site(frames: list[str]) -> str:
    """Where an idle stack waits: its innermost raystream frame, else innermost Python."""
    ours = [f for f in frames if re.search(r"(raystream|actors|connectors|engine)/", f)]
    python = [f for f in frames if re.search(r"\.py:\d+\)", f) and not SCAFFOLD.search(f)]
    site = ours[-1] if ours else (python[-1] if python else frames[-1] if frames else "?")
    leaf = next((f for f in reversed(frames) if re.search(r"\.py:\d+\)", f)), "")
    return short(site) + (f" > {short(leaf)[:50]}" if leaf and leaf != site else "")


def short(frame: str) -> str:
    """A frame without its address noise."""
    frame = re.sub(r"/work/[^ ]*?/(raystream|actors|connectors)/", r"\1/", frame)
    frame = re.sub(r"\(/root/.pyenv/[^)]*?site-packages/", "(", frame)
    return frame[:110]


def summarise(dirs: list[Path], top: int) -> str:
    """The text summary of every role found in ``dirs``."""
    stacks: dict[str, list[tuple[str, list[str], int]]] = defaultdict(list)
    pids: dict[str, set[str]] = defaultdict(set)
    for d in dirs:
        for f in sorted(d.glob("*.txt")):
            role, _, pid = f.stem.rpartition("-")
            stacks[role].extend(parse(f))
            pids[role].add(f"{d.name}:{pid}")
    lines = []
    for role in sorted(stacks):
        entries = stacks[role]
        total = sum(c for _, _, c in entries)
        threads: dict[str, Counter] = defaultdict(Counter)
        cats: Counter = Counter()
        selfs: Counter = Counter()
        totals: Counter = Counter()
        busy = 0
        waits: Counter = Counter()
        for thread, frames, count in entries:
            kind = _thread_kind(thread)
            idle = is_idle(frames)
            threads[kind]["idle" if idle else "busy"] += count
            if idle:
                if any(re.search(r"(raystream|actors|connectors|engine)/|ray\.get|worker\.py",
                                 f) for f in frames):
                    waits[wait_site(frames)] += count
                continue
            busy += count
            cats[category(frames)] += count
            if frames:
                selfs[short(frames[-1])] += count
            for frame in {short(f) for f in frames if not SCAFFOLD.search(f)}:
                totals[frame] += count
        lines.append(f"\n=== {role}: {len(pids[role])} process(es), {total} samples, "
                     f"{busy} busy ({100 * busy / max(total, 1):.0f}%)")
        lines.append("  threads (busy/idle samples): " + ", ".join(
            f"{k} {v['busy']}/{v['idle']}" for k, v in sorted(
                threads.items(), key=lambda kv: -sum(kv[1].values()))))
        lines.append("  busy by category: " + ", ".join(
            f"{k} {100 * v / max(busy, 1):.0f}%" for k, v in cats.most_common()))
        lines.append("  top self (busy %):")
        lines.extend(f"    {100 * v / max(busy, 1):5.1f}  {k}" for k, v in selfs.most_common(top))
        lines.append("  top total (busy %):")
        lines.extend(f"    {100 * v / max(busy, 1):5.1f}  {k}" for k, v in
                     totals.most_common(top))
        lines.append("  idle waits in our code or ray.get (% of all samples):")
        lines.extend(f"    {100 * v / max(total, 1):5.1f}  {k}" for k, v in waits.most_common(6))
    return "\n".join(lines)


def main() -> None:
    """Prints the summary of the directories given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(summarise(args.dirs, args.top))


if __name__ == "__main__":
    main()
