"""Shared pytest fixtures. Service fixtures live in ``tests/services/fixtures.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.services.fixtures import (  # noqa: F401 - re-exported fixtures
    kafka_broker,
    kinesalite,
    mock_kafka,
    moto_server,
    noida_broker,
    unique_name,
)
from tests.services.ray_cluster import ray_cluster  # noqa: F401 - re-exported fixture


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole test session (``ray.init`` takes seconds)."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=False, object_store_memory=1 << 30)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _fresh_graph() -> Iterator[None]:
    """Each test defines its own pipeline: forget outputs of earlier tests."""
    from raystream.graph import G

    G.clear()
    yield
    G.clear()
