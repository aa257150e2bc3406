"""``pw.io.redpanda``: Redpanda speaks the Kafka protocol; same functions as ``pw.io.kafka``."""

from raystream.io.kafka import read, write

__all__ = ["read", "write"]
