"""Input and output connectors (``pw.io.*``)."""

from raystream.io import (
    csv,
    jsonlines,
    kafka,  # noqa: F401 - pw.io.kafka
    kinesis,  # noqa: F401 - pw.io.kinesis
    null,
    plaintext,
    redpanda,  # noqa: F401 - pw.io.redpanda
    s3,
)
from raystream.io.subscribe import subscribe

__all__ = ["csv", "jsonlines", "null", "plaintext", "s3", "subscribe"]
