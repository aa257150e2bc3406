"""Shared pytest fixtures. Service fixtures live in ``tests/services/fixtures.py``."""

from tests.services.fixtures import (  # noqa: F401 - re-exported fixtures
    kafka_broker,
    kinesalite,
    mock_kafka,
    moto_server,
    unique_name,
)
