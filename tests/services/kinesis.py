"""Local Kinesis endpoints: kinesalite (npm) and moto's server (PyPI).

Both are plain HTTP servers on a free loopback port, started in their own
process group and stopped by that PID only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypeVar

from tests.services._proc import (
    NODE_MODULES,
    ServiceNotInstalled,
    ServiceStartError,
    free_port,
    port_open,
    require_file,
    spawn,
    start_time,
    stop_group,
    tail,
    wait_until,
)

KINESALITE_CLI = NODE_MODULES / "kinesalite" / "cli.js"
REGION = "us-east-1"
K = TypeVar("K", bound="_KinesisServer")


class _KinesisServer:
    """Base class: one HTTP process that speaks the Kinesis API."""

    name = "kinesis"

    def __init__(self, work_dir: Path | None = None, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="kinesis-"))
        self.port = 0
        self.pid: tuple[int, int | None] | None = None
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The process's stdout+stderr log."""
        return self.work_dir / f"{self.name}.log"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (in any process) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def client(self) -> Any:
        """Returns a boto3 Kinesis client for this server."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "kinesis",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10),
        )

    def create_stream(self, name: str, shards: int = 1) -> None:
        """Creates a stream and waits until it is ACTIVE."""
        client = self.client()
        client.create_stream(StreamName=name, ShardCount=shards)
        wait_stream_active(client, name, self.timeout)

    def to_state(self) -> dict[str, Any]:
        """JSON-able description of the running server (for the CLI state file)."""
        return {
            "work_dir": str(self.work_dir),
            "port": self.port,
            "pids": {"server": self.pid},
            "endpoint_url": self.endpoint_url,
            "env": self.env(),
        }

    @classmethod
    def from_state(cls: type[K], state: dict[str, Any]) -> K:
        """Re-attaches to a server started by another process (see :meth:`to_state`)."""
        server = cls(Path(state["work_dir"]))
        server.port = state["port"]
        pid = state["pids"]["server"]
        server.pid = (pid[0], pid[1]) if pid else None
        return server

    def argv(self) -> list[str]:
        """The command line of the server process."""
        raise NotImplementedError

    def start(self: K) -> K:
        """Starts the server and returns self once it answers ListStreams.

        Raises:
            ServiceNotInstalled: The server binary (or node) is missing.
            ServiceStartError: Not ready within the timeout (log tail attached).
        """
        try:
            argv = self.argv()
        except ServiceNotInstalled:
            self.stop()
            raise
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        started = time.monotonic()
        self._proc = proc = spawn(argv, self.log_path, cwd=self.work_dir)
        self.pid = (proc.pid, start_time(proc.pid))
        try:
            wait_until(
                lambda: port_open(self.port) and self.client().list_streams() is not None,
                self.timeout,
                self.name,
                alive=lambda: proc.poll() is None,
            )
        except TimeoutError as exc:
            self.stop()
            raise ServiceStartError(f"{exc}\n{tail(self.log_path)}") from None
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stops the server's process group (by PID) and removes a temp work dir."""
        if self.pid is not None:
            stop_group(*self.pid, proc=self._proc)
        self.pid = self._proc = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


class Kinesalite(_KinesisServer):
    """kinesalite (in-memory, no state delays, 100-shard limit)."""

    name = "kinesalite"

    def argv(self) -> list[str]:  # noqa: D102
        require_file(KINESALITE_CLI, "kinesalite")
        node = shutil.which("node")
        if node is None:
            raise ServiceNotInstalled("node not found: install Node.js 20")
        return [
            node,
            str(KINESALITE_CLI),
            "--port",
            "{port}",
            "--createStreamMs",
            "0",
            "--deleteStreamMs",
            "0",
            "--updateStreamMs",
            "0",
            "--shardLimit",
            "100",
        ]


class MotoServer(_KinesisServer):
    """moto's standalone server (all AWS services; used here for Kinesis)."""

    name = "moto"

    def argv(self) -> list[str]:  # noqa: D102
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            raise ServiceNotInstalled(
                "moto[server] not installed: run `bash scripts/install.sh`"
            ) from exc
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"]


def wait_stream_active(client: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Waits until ``name`` is ACTIVE and returns its StreamDescriptionSummary."""

    def active() -> dict[str, Any] | None:
        summary = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        return summary if summary["StreamStatus"] == "ACTIVE" else None

    return wait_until(active, timeout, f"stream {name} ACTIVE", interval=0.05)
