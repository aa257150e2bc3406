"""pytest fixtures for the test services; imported by ``tests/conftest.py``.

Session fixtures start their service lazily (on first request) and stop it at
session end. A missing binary fails the test with the install command: the
services are part of the project, so tests never skip for lack of them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.services._proc import INSTALL_HINT, ServiceNotInstalled
from tests.services.kafka import KafkaBroker
from tests.services.kinesis import Kinesalite, MotoServer
from tests.services.mock_kafka import MockKafkaCluster
from tests.services.noida import NoidaBroker

S = TypeVar("S")


def _start(factory: Callable[[], S]) -> S:
    try:
        return factory()
    except ServiceNotInstalled as exc:
        pytest.fail(f"test service unavailable: {exc}", pytrace=False)
    except ImportError as exc:
        pytest.fail(f"test service unavailable: {exc}: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """Apache Kafka 0.9.0.1 + ZooKeeper; use ``kafka_broker.client_settings()``."""
    broker = _start(lambda: KafkaBroker().start())
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def noida_broker() -> Iterator[NoidaBroker]:
    """noida-db: modern Kafka protocol with real transactions; ``.client_config()``."""
    broker = _start(lambda: NoidaBroker().start())
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kinesalite() -> Iterator[Kinesalite]:
    """kinesalite Kinesis endpoint; ``.client()``, ``.env()``, ``.create_stream()``."""
    server = _start(lambda: Kinesalite().start())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto server Kinesis endpoint; same interface as :func:`kinesalite`."""
    server = _start(lambda: MotoServer().start())
    yield server
    server.stop()


@pytest.fixture
def mock_kafka() -> Iterator[MockKafkaCluster]:
    """A fresh librdkafka mock cluster (modern protocol) for one test."""
    cluster = _start(lambda: MockKafkaCluster().start())
    yield cluster
    cluster.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic/stream name unique to this test run: ``<test name>-<uuid hex>``."""
    base = re.sub(r"[^a-zA-Z0-9_.-]+", "-", request.node.name)[:60].strip("-")
    return f"{base}-{uuid.uuid4().hex[:12]}"
