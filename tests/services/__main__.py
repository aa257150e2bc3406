"""CLI for the test services, for examples, benchmarks and CI.

Usage (from the repository root)::

    python -m tests.services start kafka|noida|kinesalite|moto|mock-kafka [--state-dir DIR]
    python -m tests.services env NAME          # print the export lines again
    python -m tests.services stop NAME|all
    python -m tests.services create-topic NAME --partitions N [--service kafka|noida]
    python -m tests.services create-stream NAME --shards N [--service kinesalite|moto]

``start`` leaves the service running in the background, records its PIDs and
ports in ``<state-dir>/<name>.json`` (default ``.services/state``) and prints
shell ``export`` lines, so ``eval "$(python -m tests.services start moto)"``
works. ``stop`` stops exactly the recorded process groups.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.services._proc import (
    SERVICES_DIR,
    ServiceNotInstalled,
    ServiceStartError,
    group_alive,
)
from tests.services.kafka import COMPAT, KafkaBroker
from tests.services.kinesis import Kinesalite, MotoServer
from tests.services.mock_kafka import MockKafkaProcess
from tests.services.noida import NoidaBroker

SERVICES: dict[str, Any] = {
    "kafka": KafkaBroker,
    "noida": NoidaBroker,
    "kinesalite": Kinesalite,
    "moto": MotoServer,
    "mock-kafka": MockKafkaProcess,
}


def _state_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.json"


def _load(state_dir: Path, name: str) -> dict[str, Any] | None:
    path = _state_file(state_dir, name)
    return json.loads(path.read_text()) if path.exists() else None


def _running(state: dict[str, Any]) -> bool:
    return any(p and group_alive(p[0]) for p in state["pids"].values())


def _exports(name: str, state: dict[str, Any]) -> str:
    if "env" in state:
        return "\n".join(f"export {k}={v}" for k, v in state["env"].items())
    lines = [f"export KAFKA_BOOTSTRAP_SERVERS={state['bootstrap_servers']}"]
    if name == "kafka":
        lines.append(
            "# Kafka 0.9 clients also need: " + " ".join(f"{k}={v}" for k, v in COMPAT.items())
        )
    return "\n".join(lines)


def start(name: str, state_dir: Path) -> int:
    """Starts ``name`` in the background and records its state."""
    old = _load(state_dir, name)
    if old is not None and _running(old):
        print(f"{name} is already running; `stop {name}` first", file=sys.stderr)
        return 1
    work_dir = state_dir / name
    shutil.rmtree(work_dir, ignore_errors=True)
    try:
        service = SERVICES[name](work_dir).start()
    except (ServiceNotInstalled, ServiceStartError) as exc:
        print(f"{name} did not start: {exc}", file=sys.stderr)
        return 1
    state = {"name": name, **service.to_state()}
    _state_file(state_dir, name).write_text(json.dumps(state, indent=2))
    seconds = service.startup_seconds
    if isinstance(seconds, dict):
        seconds = sum(seconds.values())
    print(f"# {name} ready after {seconds:.1f}s; state in {_state_file(state_dir, name)}")
    print(_exports(name, state))
    return 0


def stop(name: str, state_dir: Path) -> int:
    """Stops the recorded processes of ``name`` (or of every service: ``all``)."""
    names = list(SERVICES) if name == "all" else [name]
    for each in names:
        state = _load(state_dir, each)
        if state is None:
            if name != "all":
                print(f"{each}: no state file, nothing to stop", file=sys.stderr)
            continue
        SERVICES[each].from_state(state).stop()
        shutil.rmtree(state["work_dir"], ignore_errors=True)
        _state_file(state_dir, each).unlink()
        print(f"# {each} stopped")
    return 0


def _require(state_dir: Path, name: str) -> dict[str, Any]:
    state = _load(state_dir, name)
    if state is None or not _running(state):
        raise SystemExit(f"{name} is not running: `python -m tests.services start {name}`")
    return state


def create_stream(stream: str, shards: int, service: str | None, state_dir: Path) -> int:
    """Creates a Kinesis stream on the running kinesalite or moto."""
    if service is None:
        up = [n for n in ("kinesalite", "moto") if (s := _load(state_dir, n)) and _running(s)]
        if len(up) != 1:
            raise SystemExit(f"running Kinesis services: {up}; pick one with --service")
        service = up[0]
    SERVICES[service].from_state(_require(state_dir, service)).create_stream(stream, shards)
    print(f"# stream {stream} ({shards} shards) ACTIVE on {service}")
    return 0


def create_topic(topic: str, partitions: int, service: str | None, state_dir: Path) -> int:
    """Creates a topic on the running Kafka 0.9 broker or noida-db."""
    if service is None:
        up = [n for n in ("kafka", "noida") if (s := _load(state_dir, n)) and _running(s)]
        if len(up) != 1:
            raise SystemExit(f"running Kafka services: {up}; pick one with --service")
        service = up[0]
    SERVICES[service].from_state(_require(state_dir, service)).create_topic(topic, partitions)
    print(f"# topic {topic} ({partitions} partitions) ready on {service}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs one command."""
    parser = argparse.ArgumentParser(prog="python -m tests.services", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=SERVICES_DIR / "state")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for cmd in ("start", "env", "stop"):
        p = sub.add_parser(cmd)
        p.add_argument("name", choices=[*SERVICES, *(["all"] if cmd == "stop" else [])])
        p.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    p = sub.add_parser("create-topic")
    p.add_argument("topic")
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--service", choices=["kafka", "noida"])
    p.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    p = sub.add_parser("create-stream")
    p.add_argument("stream")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--service", choices=["kinesalite", "moto"])
    p.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    if args.cmd == "start":
        return start(args.name, state_dir)
    if args.cmd == "stop":
        return stop(args.name, state_dir)
    if args.cmd == "env":
        print(_exports(args.name, _require(state_dir, args.name)))
        return 0
    if args.cmd == "create-topic":
        return create_topic(args.topic, args.partitions, args.service, state_dir)
    return create_stream(args.stream, args.shards, args.service, state_dir)


if __name__ == "__main__":
    sys.exit(main())
