"""The local Ray that raystream starts: stopped at exit, every process of it, and
its actor processes import only what actors need.

Each case runs a driver in its own process (the suite's shared Ray must not be
touched) and checks, from outside, that no process of that driver's Ray is
left: the GCS, the raylet, the dashboard, and what runs under the raylet
(actor workers, agents), which a killed raylet would otherwise leave behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services._proc import start_time

ROOT = Path(__file__).resolve().parents[1]

_DRIVER = """
import json, sys
import ray
from raystream.actors.ray_session import descendants, ensure_ray

ensure_ray()

@ray.remote(num_cpus=0)
class Probe:
    def pid(self):
        import os
        return os.getpid()

    def loads_the_api(self):
        import raystream.actors.operator, raystream.actors.reader  # noqa: F401
        return "raystream._api" in sys.modules or "raystream.table" in sys.modules

probe = Probe.remote()
actor_pid = ray.get(probe.pid.remote())
api_in_actor = ray.get(probe.loads_the_api.remote())
node = ray._private.worker._global_node
pids = [info.process.pid for infos in node.all_processes.values() for info in infos]
raylet = node.all_processes["raylet"][0].process.pid
below = descendants([raylet])
json.dump({"node": pids, "below_raylet": below, "actor": actor_pid,
           "api_in_actor": api_in_actor, "api_in_driver": "raystream._api" in sys.modules},
          open(sys.argv[1], "w"))
"""


def _alive(pid: int) -> bool:
    return start_time(pid) is not None  # None: gone, or a zombie


def _run_driver(tmp_path: Path, source: str) -> dict:
    out = tmp_path / "pids.json"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run([sys.executable, "-c", source, str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.timeout(180)
def test_the_local_ray_raystream_started_leaves_no_process_at_exit(tmp_path: Path) -> None:
    pids = _run_driver(tmp_path, _DRIVER)
    assert pids["actor"] in pids["below_raylet"]
    everything = [*pids["node"], *pids["below_raylet"]]
    assert len(everything) >= 4  # gcs, raylet, dashboard, ..., the actor's worker
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in everything):
        time.sleep(0.1)
    assert [p for p in everything if _alive(p)] == []


def test_actor_processes_do_not_load_the_public_api(tmp_path: Path) -> None:
    pids = _run_driver(tmp_path, _DRIVER)
    assert pids["api_in_driver"] and not pids["api_in_actor"]


def test_a_ray_the_user_started_is_left_to_the_user(tmp_path: Path) -> None:
    source = """
import atexit, json, sys
import ray
from raystream.actors.ray_session import ensure_ray

ray.init(include_dashboard=False)
before = atexit._ncallbacks()
ensure_ray()  # already running: joins it and registers no exit handler
json.dump({"handlers_added": atexit._ncallbacks() - before}, open(sys.argv[1], "w"))
"""
    assert _run_driver(tmp_path, source) == {"handlers_added": 0}
