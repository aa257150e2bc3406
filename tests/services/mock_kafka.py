"""librdkafka's built-in mock Kafka cluster, reachable from other processes.

Any confluent-kafka client configured with ``test.mock.num.brokers`` starts an
in-process mock cluster (modern protocol: headers, timestamps, consumer-group
commits) listening on random 127.0.0.1 ports, and lives exactly as long as that
client object. :class:`MockKafkaCluster` keeps such an owner client and reads
the brokers' addresses from its metadata, so other processes (Ray actors,
subprocesses) can use them as ``bootstrap.servers``.

Limits: topics are auto-created with 4 partitions (``create_topics`` fails),
``offsets_for_times`` answers -1, and old messages are dropped after a few MB
per partition.

Run ``python -m tests.services.mock_kafka`` to hold a cluster in a foreground
process (used by ``python -m tests.services start mock-kafka``).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.services._proc import (
    REPO_ROOT,
    ServiceStartError,
    spawn,
    start_time,
    stop_group,
    tail,
    wait_until,
)

MOCK_PARTITIONS = 4


class MockKafkaCluster:
    """A librdkafka mock cluster owned by this object.

    Args:
        num_brokers: Number of mock brokers.
    """

    def __init__(self, num_brokers: int = 1) -> None:
        self.num_brokers = num_brokers
        self._owner: Any = None
        self._bootstrap = ""

    def start(self) -> MockKafkaCluster:
        """Creates the owner client (and with it the cluster); returns self."""
        from confluent_kafka import Producer

        # log_level 4 hides the "Mock cluster enabled" notice printed at startup.
        self._owner = Producer({"test.mock.num.brokers": self.num_brokers, "log_level": 4})
        brokers = self._owner.list_topics(timeout=10).brokers.values()
        self._bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)
        if len(brokers) != self.num_brokers:
            raise RuntimeError(f"mock cluster reported brokers {self._bootstrap!r}")
        return self

    def stop(self) -> None:
        """Destroys the owner client, which shuts the mock cluster down."""
        self._owner = None  # rd_kafka_destroy runs when the last reference goes
        self._bootstrap = ""

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``127.0.0.1:port`` of every mock broker."""
        if not self._bootstrap:
            raise RuntimeError("mock cluster is not running")
        return self._bootstrap

    def client_settings(self) -> dict[str, str]:
        """confluent-kafka settings for a client in any local process."""
        return {"bootstrap.servers": self.bootstrap_servers}

    def __enter__(self) -> MockKafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MockKafkaProcess:
    """A :class:`MockKafkaCluster` held by a separate background process.

    Args:
        work_dir: Directory for the ready file and the log.
        num_brokers: Number of mock brokers.
        timeout: Seconds to wait for the cluster.
    """

    def __init__(self, work_dir: Path, num_brokers: int = 1, timeout: float = 60.0) -> None:
        self.work_dir, self.num_brokers, self.timeout = Path(work_dir), num_brokers, timeout
        self.bootstrap_servers = ""
        self.pid: tuple[int, int | None] | None = None
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MockKafkaProcess:
        """Starts the holder process and waits for its ready file."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ready, log = self.work_dir / "ready.json", self.work_dir / "mock-kafka.log"
        ready.unlink(missing_ok=True)
        started = time.monotonic()
        proc = spawn(
            [
                sys.executable,
                "-m",
                "tests.services.mock_kafka",
                "--brokers",
                str(self.num_brokers),
                "--ready-file",
                str(ready),
            ],
            log,
            cwd=REPO_ROOT,
        )
        self.pid, self._proc = (proc.pid, start_time(proc.pid)), proc
        try:
            info = wait_until(
                lambda: ready.exists() and json.loads(ready.read_text()),
                self.timeout,
                "mock-kafka",
                alive=lambda: proc.poll() is None,
            )
        except TimeoutError as exc:
            self.stop()
            raise ServiceStartError(f"{exc}\n{tail(log)}") from None
        self.bootstrap_servers = info["bootstrap_servers"]
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stops the holder process by its PID."""
        if self.pid is not None:
            stop_group(*self.pid, proc=self._proc)
        self.pid = self._proc = None

    def to_state(self) -> dict[str, Any]:
        """JSON-able description for the CLI state file."""
        return {
            "work_dir": str(self.work_dir),
            "pids": {"holder": self.pid},
            "bootstrap_servers": self.bootstrap_servers,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MockKafkaProcess:
        """Re-attaches to a holder process started elsewhere."""
        holder = cls(Path(state["work_dir"]))
        holder.bootstrap_servers = state["bootstrap_servers"]
        pid = state["pids"]["holder"]
        holder.pid = (pid[0], pid[1]) if pid else None
        return holder


def main(argv: list[str] | None = None) -> None:
    """Holds a mock cluster until SIGTERM/SIGINT; writes its address to a file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", type=int, default=1)
    parser.add_argument(
        "--ready-file",
        type=Path,
        required=True,
        help="JSON file written once the cluster accepts connections",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with MockKafkaCluster(args.brokers) as cluster:
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"bootstrap_servers": cluster.bootstrap_servers}))
        tmp.replace(args.ready_file)
        while not stop.wait(1.0):
            pass


if __name__ == "__main__":
    main()
