"""noida-db (PyPI ``noida-db``): a one-binary broker speaking the modern Kafka protocol.

Unlike the 0.9 test broker it has transactions (aborted records hidden from
``read_committed`` consumers, fencing by ``transactional.id``), headers,
timestamps and the admin API, so clients need no special settings. The binary
inside the ``noida_db`` package is run directly (not the ``noida-db`` Python
wrapper, which would put a second process in between), in its own session,
and stopped by that PID only.

Facts this module relies on (noida-db 0.2.3, checked here):

- It keeps all Kafka data in ``<data-dir>/kafka.json``, rewritten (atomically,
  by rename) about once a second when something changed. A ``kill -9`` loses
  what was acknowledged since the last write: :meth:`NoidaBroker.restart`
  waits for that write first.
- ``<data-dir>/noida.control.json`` names the serving PID: readiness is "our
  PID is in it and a metadata request answers" (a second server on a busy port
  exits, while the port answers for the first one).
- SIGTERM does not stop it within 2 s; it is killed after a short grace period.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.services._proc import (
    INSTALL_HINT,
    ServiceNotInstalled,
    ServiceStartError,
    free_port,
    group_alive,
    spawn,
    start_time,
    stop_group,
    tail,
    wait_until,
)

PERSIST_INTERVAL_S = 1.0
"""How often noida-db rewrites ``kafka.json`` when its state changed."""
_STOP_GRACE_S = 2.0


def noida_binary() -> Path:
    """The ``noida-db`` executable shipped in the ``noida_db`` package.

    Raises:
        ServiceNotInstalled: The package is not installed.
    """
    spec = importlib.util.find_spec("noida_db")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceNotInstalled(f"noida-db (PyPI noida-db==0.2.3) is not installed: "
                                  f"{INSTALL_HINT}")
    binary = Path(next(iter(spec.submodule_search_locations))) / "noida-db"
    if not binary.is_file():
        raise ServiceNotInstalled(f"noida-db binary not found at {binary}: {INSTALL_HINT}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)  # what the package's own wrapper does before running it
    return binary


class NoidaBroker:
    """One noida-db server with only its Kafka service, on a free loopback port.

    Args:
        work_dir: Directory for the data dir and the log. A temporary directory
            (deleted by :meth:`stop`) when None.
        timeout: Seconds to wait for the server to become ready.
    """

    def __init__(self, work_dir: Path | None = None, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="noida-"))
        self.port = 0
        self.pid: tuple[int, int | None] | None = None
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        """The server's ``--data-dir``."""
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        """The server's stdout+stderr log."""
        return self.work_dir / "noida.log"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the Kafka listener."""
        return f"127.0.0.1:{self.port}"

    def client_config(self) -> dict[str, str]:
        """Producer/consumer settings: only the address (a modern Kafka needs nothing else)."""
        return {"bootstrap.servers": self.bootstrap_servers}

    client_settings = client_config  # the name the other test services use

    def to_state(self) -> dict[str, Any]:
        """JSON-able description of the running server (for the CLI state file)."""
        return {"work_dir": str(self.work_dir), "port": self.port,
                "pids": {"server": self.pid}, "bootstrap_servers": self.bootstrap_servers}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NoidaBroker:
        """Re-attaches to a server started by another process (see :meth:`to_state`)."""
        broker = cls(Path(state["work_dir"]))
        broker.port = state["port"]
        pid = state["pids"].get("server")
        broker.pid = (pid[0], pid[1]) if pid else None
        return broker

    def start(self) -> NoidaBroker:
        """Starts the server (on a new free port the first time) and waits until it serves.

        Raises:
            ServiceNotInstalled: noida-db is not installed.
            ServiceStartError: It did not become ready (with its log tail).
        """
        binary = noida_binary()
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self._proc = spawn([str(binary), "start", "--data-dir", str(self.data_dir),
                            "--only", "kafka", "--kafka-port", str(self.port)], self.log_path)
        self.pid = (self._proc.pid, start_time(self._proc.pid))
        proc = self._proc
        try:
            wait_until(self._ready, self.timeout, f"noida-db on port {self.port}",
                       alive=lambda: proc.poll() is None, interval=0.02)
        except TimeoutError as exc:
            self._kill()
            raise ServiceStartError(f"{exc}\n{tail(self.log_path)}") from None
        self.startup_seconds = time.monotonic() - started
        return self

    def _ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        control = json.loads((self.data_dir / "noida.control.json").read_text())
        if self.pid is None or control.get("pid") != self.pid[0]:
            return False
        admin = AdminClient({**self.client_config(), "log_level": 0})
        return bool(admin.list_topics(timeout=2).brokers)

    def wait_persisted(self, timeout: float = 15.0) -> None:
        """Waits until what the server acknowledged so far is in its data file.

        noida-db rewrites ``kafka.json`` within :data:`PERSIST_INTERVAL_S` of a
        change (and not at all when nothing changed). A write that lands after
        this call began may still hold a snapshot taken before the last change,
        and then a second write follows: so this waits for a write after the
        call began and then for the file to stay unchanged for a while.

        Args:
            timeout: Seconds to wait in all (a loaded machine delays the writes).

        Raises:
            TimeoutError: No write came, or the file kept changing.
        """
        path = self.data_dir / "kafka.json"
        since = time.time()
        deadline = time.monotonic() + timeout
        quiet_s = 1.5 * PERSIST_INTERVAL_S
        last_write, last_seen = None, time.monotonic()
        while time.monotonic() < deadline:
            mtime = path.stat().st_mtime if path.exists() else None
            if mtime is not None and mtime > since and mtime != last_write:
                last_write, last_seen = mtime, time.monotonic()
            if last_write is not None and time.monotonic() - last_seen >= quiet_s:
                return
            time.sleep(0.05)
        raise TimeoutError(f"noida-db did not persist {path} within {timeout:.0f} s")

    def restart(self, *, wait_persisted: bool = True) -> None:
        """``kill -9`` then start again on the same port and data directory.

        Args:
            wait_persisted: First wait for the data file to hold everything
                acknowledged (else the last second of writes may be lost,
                which a real broker would keep).
        """
        if wait_persisted:
            self.wait_persisted()
        self._kill()
        self.start()

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Creates ``name`` with the admin API (auto-created topics get 1 partition)."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({**self.client_config(), "log_level": 0})
        futures = admin.create_topics([NewTopic(name, partitions, 1)],
                                      operation_timeout=self.timeout)
        futures[name].result(self.timeout)
        wait_until(lambda: len(getattr(admin.list_topics(name, timeout=5).topics.get(name),
                                       "partitions", {})) == partitions,
                   self.timeout, f"topic {name} with {partitions} partitions")

    def stop(self) -> None:
        """Stops the server by PID (SIGTERM, SIGKILL after a grace period), drops a temp dir."""
        if self.pid is not None:
            stop_group(*self.pid, timeout=_STOP_GRACE_S, proc=self._proc)
        self.pid, self._proc = None, None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _kill(self) -> None:
        """SIGKILL at once (no SIGTERM first: a crash, not a shutdown)."""
        if self.pid is not None and start_time(self.pid[0]) in (self.pid[1], None):
            try:
                os.killpg(self.pid[0], signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until(lambda: not group_alive(self.pid[0]) if self.pid else True, 10.0,
                       "noida-db to die after SIGKILL")
            if self._proc is not None:
                self._proc.wait(5)
        self.pid, self._proc = None, None
