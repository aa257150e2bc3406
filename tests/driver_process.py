"""Runs a pipeline script as its own driver process (its own local Ray), to crash it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class DriverProcess:
    """A ``python -m <module> args...`` driver in its own session, with its own Ray.

    Args:
        module: The pipeline module (``tests.pipelines.files_upsert``).
        args: Its arguments.
        log: Where its output goes.
        env: Extra environment (e.g. a cluster's ``RAY_ADDRESS``).
    """

    def __init__(self, module: str, args: list[str], log: Path,
                 env: dict[str, str] | None = None) -> None:
        # its own short Ray temp dir (Unix socket paths are limited to 107 bytes), so the
        # driver never joins another Ray on the machine (unless ``env`` names a cluster)
        self.ray_dir = Path(tempfile.mkdtemp(prefix="rs-ray-", dir="/tmp"))
        env = {**os.environ, "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled",
               "RAY_TMPDIR": str(self.ray_dir), "PYTHONWARNINGS": "ignore::DeprecationWarning",
               **(env or {})}
        self.log_path = log
        self.log = log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def session_pids(self) -> list[int]:
        """Every live process of the driver's session (its Ray processes included)."""
        sid, found = self.process.pid, []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
        return found

    def crash(self) -> None:
        """SIGKILLs the driver and every process of its session: a crash, mid-stream."""
        for pid in self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while self.session_pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.log.close()
        shutil.rmtree(self.ray_dir, ignore_errors=True)

    def stop(self, timeout_s: float = 120) -> int:
        """A clean stop (SIGTERM: the last commit is written); returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None or self.session_pids():
                self.crash()
        self.log.close()
        shutil.rmtree(self.ray_dir, ignore_errors=True)
        return code

    def running(self) -> bool:
        """True while the driver runs; raises with its output if it exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"the driver exited with {self.process.returncode}:\n"
                               f"{self.output()[-4000:]}")
        return True

    def alive(self) -> bool:
        """True while the driver runs."""
        return self.process.poll() is None

    def output(self) -> str:
        """The driver's output so far."""
        return self.log_path.read_text(errors="replace")
