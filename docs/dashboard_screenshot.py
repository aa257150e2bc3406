"""Takes docs/dashboard-actors.png: the Ray dashboard's actor view for a running pipeline.

Run from the repository root (needs ``bash scripts/install.sh`` and Debian's
``chromium``):

    python -m docs.dashboard_screenshot

It starts a private two-node Ray cluster and the test Kafka broker, submits
``examples/cluster/kafka_totals.py`` over a 4-partition topic, waits until the
job runs, screenshots ``/#/actors`` in headless Chromium, then stops everything
it started (by PID).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer

from tests.services.kafka import COMPAT, KafkaBroker
from tests.services.ray_cluster import LocalRayCluster

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "dashboard-actors.png"
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--hide-scrollbars", "--window-size=1600,1000"]


def produce(broker: KafkaBroker, topic: str, n: int) -> None:
    """Produces ``n`` JSON messages round-robin over the 4 partitions."""
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, **COMPAT, "log_level": 3})
    for i in range(n):
        producer.produce(topic, json.dumps({"key": i % 30, "value": i}).encode(), partition=i % 4)
    producer.flush(30)


def running(cluster: LocalRayCluster, output: Path) -> bool:
    """True once the 12 pipeline actors are alive and a commit was written."""
    actors = cluster.actors("kafka-totals:")
    alive = len(actors) == 12 and all(a["state"] == "ALIVE" for a in actors)
    return alive and output.exists() and output.stat().st_size > 0


def screenshot(url: str, out: Path, budget_ms: int = 20000) -> None:
    """Renders ``url`` in headless Chromium (fresh profile) and saves a PNG."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([*CHROMIUM, f"--user-data-dir={profile}",
                        f"--virtual-time-budget={budget_ms}", f"--screenshot={out}", url],
                       check=True, timeout=180, capture_output=True)


def main() -> None:
    """Starts the services, submits the job, takes the screenshot, stops everything."""
    work = Path(tempfile.mkdtemp(prefix="rs-shot-"))
    broker = KafkaBroker().start()
    cluster = LocalRayCluster().start()
    try:
        broker.create_topic("events", partitions=4)
        produce(broker, "events", 20_000)
        (work / "job").mkdir()
        shutil.copy(REPO / "examples" / "cluster" / "kafka_totals.py", work / "job")
        settings = [f"--setting={k}={v}" for k, v in COMPAT.items()]
        submitted = cluster.ray_cli(
            "job", "submit", "--no-wait", "--submission-id=kafka-totals",
            f"--working-dir={work / 'job'}", "--", "python", "kafka_totals.py",
            f"--bootstrap={broker.bootstrap_servers}", "--topic=events", "--group=totals",
            f"--output={work / 'totals.jsonl'}", "--name=kafka-totals",
            "--setting=auto.offset.reset=earliest", *settings)
        assert submitted.returncode == 0, submitted.stderr
        cluster.wait_job("kafka-totals", lambda: running(cluster, work / "totals.jsonl"), 300,
                         "every actor alive and the first commit written")
        time.sleep(3)
        screenshot(f"{cluster.dashboard_url}/#/actors", OUT)
        print(f"wrote {OUT}", file=sys.stderr)
        cluster.ray_cli("job", "stop", "kafka-totals")
    finally:
        cluster.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
