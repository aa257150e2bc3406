"""One script, three ways to run and stop it: ``ray job submit``/``ray job stop``,
plain ``python`` on local Ray with Ctrl-C, and a second signal that kills at once.

The submitted script is ``examples/cluster/streaming_totals.py``, copied into a
directory of its own (a working dir must not shadow the installed raystream).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from raystream.run import HardStop, StopSignals
from tests.helpers import fold_jsonl
from tests.services._proc import stop_group, wait_until
from tests.services.ray_cluster import LocalRayCluster

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "cluster" / "streaming_totals.py"
LONG_COMMIT_MS = "600000"  # nothing is written before the stop closes the commit


def rows(seed: int, n: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randrange(20), rng.randrange(1000)) for _ in range(n)]


def write_rows(path: Path, data: list[tuple[int, int]], mode: str = "w") -> None:
    with path.open(mode) as handle:
        handle.writelines(json.dumps({"key": k, "value": v}) + "\n" for k, v in data)


def totals(data: list[tuple[int, int]]) -> dict[tuple, int]:
    result: dict[int, list[int]] = {}
    for key, value in data:
        total = result.setdefault(key, [0, 0])
        total[0] += value
        total[1] += 1
    return {(k, t, n): 1 for k, (t, n) in result.items()}


def output_state(path: Path) -> dict[tuple, int]:
    return dict(fold_jsonl(path, ["key", "total", "n"])) if path.exists() else {}


def job_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "job"
    directory.mkdir()
    shutil.copy(EXAMPLE, directory / EXAMPLE.name)
    return directory


def alive_actors(cluster: LocalRayCluster, name: str) -> list[str]:
    return [a["name"] for a in cluster.actors(f"{name}:") if a["state"] != "DEAD"]


# -- unit: the signal rules ------------------------------------------------------------

class FakePipeline:
    def __init__(self) -> None:
        self.hooks: list = []
        self.stops = 0
        self.plan = type("Plan", (), {"name": "p"})()

    def stop(self) -> None:
        self.stops += 1


def test_first_signal_stops_gracefully_once_and_second_raises_hard_stop() -> None:
    pipeline = FakePipeline()
    with StopSignals(pipeline) as signals:
        assert pipeline.hooks == [signals.tick]
        signals.tick()
        assert pipeline.stops == 0
        signals._handle(signal.SIGTERM, None)
        signals.tick()
        signals.tick()
        assert pipeline.stops == 1
        with pytest.raises(HardStop):
            signals._handle(signal.SIGINT, None)
    assert pipeline.hooks == []
    assert signal.getsignal(signal.SIGINT) is not signals._handle


# -- ray job submit / ray job stop ----------------------------------------------------

def test_ray_job_stop_flushes_the_last_commit_and_leaves_no_actor(
        ray_cluster: LocalRayCluster, tmp_path: Path) -> None:
    name = f"job-{uuid.uuid4().hex[:8]}"
    source, output = tmp_path / "in", tmp_path / "totals.jsonl"
    source.mkdir()
    first, second = rows(1, 3000), rows(2, 2000)
    write_rows(source / "a.jsonl", first)
    env = json.dumps({"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": "120"}})
    submitted = ray_cluster.ray_cli(
        "job", "submit", "--no-wait", f"--submission-id={name}",
        f"--working-dir={job_dir(tmp_path)}", f"--runtime-env-json={env}", "--",
        "python", EXAMPLE.name, str(source), str(output), f"--name={name}",
        "--status-interval=1", f"--autocommit-ms={LONG_COMMIT_MS}")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    try:
        ray_cluster.wait_job(name, lambda: "in 3,000 rows" in ray_cluster.job_logs(name), 240,
                             "the job reads the first file")
        write_rows(source / "b.jsonl", second)
        ray_cluster.wait_job(name, lambda: "in 5,000 rows" in ray_cluster.job_logs(name), 120,
                             "the job reads the second file")
        assert not output_state(output), "nothing is durable before the stop closes the commit"
        assert alive_actors(ray_cluster, name), "the pipeline's actors run on the cluster"
    except BaseException:
        ray_cluster.ray_cli("job", "stop", "--no-wait", name)
        raise
    stopped = ray_cluster.ray_cli("job", "stop", name, timeout=240)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert ray_cluster.job_status(name) == "STOPPED"
    logs = ray_cluster.job_logs(name)
    assert "SIGTERM: stopping pipeline" in logs and f"pipeline {name} stopped cleanly" in logs
    assert output_state(output) == totals(first + second)
    wait_until(lambda: not alive_actors(ray_cluster, name), 60, "every actor is dead")


# -- plain python, Ctrl-C -------------------------------------------------------------

def spawn_driver(args: list[str], env: dict[str, str], cwd: Path,
                 log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen([sys.executable, *args], env=env, cwd=cwd, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_plain_python_on_local_ray_prints_status_and_stops_cleanly_on_ctrl_c(
        tmp_path: Path) -> None:
    source, output, log = tmp_path / "in.jsonl", tmp_path / "totals.jsonl", tmp_path / "log"
    data = rows(3, 4000)
    write_rows(source, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    driver = spawn_driver([EXAMPLE.name, str(source), str(output), "--name=local",
                           "--status-interval=1", f"--autocommit-ms={LONG_COMMIT_MS}"],
                          env, job_dir(tmp_path), log)
    try:
        wait_until(lambda: "in 4,000 rows" in log.read_text(), 240, "status line with all rows",
                   alive=lambda: driver.poll() is None)
        assert not output_state(output)
        os.killpg(driver.pid, signal.SIGINT)  # like Ctrl-C: the whole foreground group
        assert driver.wait(timeout=180) == 0, log.read_text()
    finally:
        stop_group(driver.pid, timeout=10, proc=driver)
    text = log.read_text()
    assert "SIGINT: stopping pipeline local" in text and "pipeline local stopped cleanly" in text
    assert output_state(output) == totals(data)


# -- a second signal --------------------------------------------------------------------

STUCK = """
import sys, time
import raystream as pw

class S(pw.Schema):
    key: int
    value: int

t = pw.io.jsonlines.read(sys.argv[1], schema=S, autocommit_duration_ms=200)
def stuck(time_, batch):
    print("callback entered", flush=True)
    time.sleep(3600)
pw.io.subscribe(t, on_batch=stuck)
pw.run(name=sys.argv[2], status_interval_s=3600)
"""


def test_second_signal_kills_a_pipeline_that_cannot_stop(ray_cluster: LocalRayCluster,
                                                         tmp_path: Path) -> None:
    name = f"stuck-{uuid.uuid4().hex[:8]}"
    source, script, log = tmp_path / "in.jsonl", tmp_path / "job" / "stuck.py", tmp_path / "log"
    write_rows(source, rows(4, 10))
    script.parent.mkdir()
    script.write_text(STUCK)
    driver = spawn_driver([script.name, str(source), name], ray_cluster.env(),
                          script.parent, log)
    try:
        wait_until(lambda: "callback entered" in log.read_text(), 180, "the stuck callback",
                   alive=lambda: driver.poll() is None)
        driver.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert driver.poll() is None, "the first signal waits for a graceful stop"
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=60) == 0, log.read_text()
    finally:
        stop_group(driver.pid, timeout=10, proc=driver)
    assert f"second SIGTERM: killing the actors of pipeline {name}" in log.read_text()
    wait_until(lambda: not alive_actors(ray_cluster, name), 60, "every actor is dead")
