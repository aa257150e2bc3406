"""Process plumbing shared by the test services: ports, PIDs, readiness.

Every service process is started in its own session (``start_new_session``),
so its PID is also its process-group id. Processes are stopped only through
that recorded PID: SIGTERM to the group, then SIGKILL after a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO_ROOT / ".services"
NODE_MODULES = SERVICES_DIR / "node_modules"
INSTALL_HINT = "run `bash scripts/install.sh` from the repository root"


class ServiceNotInstalled(RuntimeError):
    """A service binary is missing: ``scripts/install.sh`` has not been run."""


class ServiceStartError(RuntimeError):
    """A service did not become ready; the message carries its log tail."""


def require_file(path: Path, what: str) -> Path:
    """Returns ``path`` or raises ServiceNotInstalled naming the install command."""
    if not path.exists():
        raise ServiceNotInstalled(f"{what} not found at {path}: {INSTALL_HINT}")
    return path


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that are free right now.

    All are held at once while they are picked: one :func:`free_port` after
    another may return the same port twice (the first one is released at once),
    which made a Ray node refuse to start ("trying to use a port number ...
    that is used by other components").
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Returns True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """Returns the last ``lines`` lines of a log file (or a note if absent)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<no log at {path}>"
    return f"--- {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.1,
) -> T:
    """Polls ``check`` until it returns a non-None, truthy value.

    Args:
        check: Returns the result when ready, None/False otherwise. Exceptions
            count as "not ready yet".
        timeout: Seconds before giving up.
        what: Description used in the error message.
        alive: Returns False when the service died, to fail fast.
        interval: Seconds between polls.

    Returns:
        The first truthy result of ``check``.

    Raises:
        TimeoutError: Not ready within ``timeout`` or the process died.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            last_error = exc
        if not alive():
            raise TimeoutError(f"{what}: process exited (last error: {last_error!r})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s ({last_error!r})")
        time.sleep(interval)


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Starts ``argv`` in a new session with stdout+stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )


def start_time(pid: int) -> int | None:
    """Returns the kernel start time of ``pid`` (None if gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def group_alive(pgid: int) -> bool:
    """Returns True while any non-zombie process is left in group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def stop_group(
    pid: int,
    expected_start: int | None = None,
    timeout: float = 20.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Stops the process group led by ``pid``: SIGTERM, then SIGKILL.

    Args:
        pid: PID of a process started with ``start_new_session=True``.
        expected_start: Start time recorded at launch; if the PID now belongs
            to another process (reused), nothing is signalled.
        timeout: Seconds to wait after SIGTERM before SIGKILL.
        proc: The Popen object when we are the parent, to reap the child.
    """
    if expected_start is not None and start_time(pid) not in (expected_start, None):
        return  # the PID was recycled by an unrelated process
    if not group_alive(pid):
        _reap(proc)
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(proc)
            if not group_alive(pid):
                _reap(proc)
                return
            time.sleep(0.05)
    _reap(proc)


def _reap(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.poll()
