"""Runs the Kinesis API page's examples against a fresh local kinesalite, and checks them.

One command, from the repository root (after ``bash scripts/install.sh``)::

    python examples/kinesis_examples.py

It starts kinesalite (``.services/``) and one Ray instance shared by the
examples, then runs each example as its own process in a temporary directory,
with only ``AWS_*`` variables pointing at kinesalite, exactly as the page says:

1. ``kinesis_write.py``: plaintext records with ``partition_key``, read back with boto3.
2. ``kinesis_write_json.py``: the whole table as JSON (with ``time`` and ``diff``).
3. ``kinesis_write_streams.py``: a stream per row (``testing`` and ``other``).
4. ``kinesis_read.py``: reads ``testing`` into ``output.jsonl`` until interrupted
   (it gets Ctrl-C once every record arrived), then once more to show that a
   second run continues after the saved positions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent


def run_script(name: str, env: dict[str, str], workdir: Path, timeout: float = 180) -> str:
    """Runs one example to its end; returns its stdout (raises with its output on failure)."""
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def run_until(name: str, env: dict[str, str], workdir: Path, ready: Callable[[], bool],
              timeout: float = 180) -> None:
    """Runs a never-ending example until ``ready()``, then interrupts it like Ctrl-C."""
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name)], env=env, cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{name} ended or timed out early:\n{proc.communicate()[0]}")
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=120)[0]
        if proc.returncode != 0:
            raise RuntimeError(f"{name} did not stop cleanly ({proc.returncode}):\n{output}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def output_rows(path: Path) -> list[dict]:
    """Complete lines of a JSON-lines output."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1] if line]


def run_examples(env: dict[str, str], workdir: Path, say: Callable[[str], None] = print) -> None:
    """Runs and checks every example; ``env`` points at the endpoint (and maybe a Ray)."""
    printed = run_script("kinesis_write.py", env, workdir).splitlines()
    # rows of one commit time have no order (as in Pathway); several calls are in flight
    assert sorted(printed) == [f"Partition key: {k}; Value: {v!r}" for k, v in
                               (("1", b"one"), ("2", b"two"), ("3", b"three"))], printed
    say("kinesis_write.py: 3 plaintext records, partition keys 1-3, read back with boto3")
    run_script("kinesis_write_json.py", env, workdir)
    say("kinesis_write_json.py: 3 JSON records")
    run_script("kinesis_write_streams.py", env, workdir)
    say("kinesis_write_streams.py: 2 records to 'testing', 1 to 'other'")

    output = workdir / "output.jsonl"
    expected = ["one", "two", "three", "Hello, world!"]  # the plaintext ones, then the JSON
    run_until("kinesis_read.py", env, workdir, lambda: len(output_rows(output)) >= 9)
    texts = sorted(row["data"] for row in output_rows(output))
    json_texts = [t for t in texts if t.startswith("{")]
    assert sorted(t for t in texts if not t.startswith("{")) == sorted(expected), texts
    values = sorted(json.loads(t)["value"] for t in json_texts)
    assert values == ["one", "one", "three", "three", "two"], values
    say(f"kinesis_read.py: {len(texts)} rows in output.jsonl (4 texts, 5 JSON records)")

    output.unlink()
    run_until("kinesis_read.py", env, workdir, lambda: len(output_rows(output)) >= 1)
    again = [row["data"] for row in output_rows(output)]
    assert again == ["Hello, world!"], again
    say("kinesis_read.py again: only the new record (resumed after the saved positions)")


def main() -> None:
    """Starts kinesalite and Ray, runs the examples, stops both."""
    sys.path.insert(0, str(ROOT))
    import ray

    from tests.services.kinesis import Kinesalite

    server = Kinesalite().start()
    here = os.getcwd()
    try:
        with tempfile.TemporaryDirectory(prefix="kinesis-examples-") as workdir:
            # Ray workers keep the directory Ray started in, and the examples write
            # relative paths ("output.jsonl"): start Ray where the examples run.
            os.chdir(workdir)
            ray.init(include_dashboard=False, configure_logging=False)
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(server.env(), RAY_ADDRESS=ray.get_runtime_context().gcs_address)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT),
                                                              env.get("PYTHONPATH")]))
            run_examples(env, Path(workdir))
        print("all Kinesis examples ran and their outputs are as the page describes")
    finally:
        os.chdir(here)
        ray.shutdown()
        server.stop()


if __name__ == "__main__":
    main()
