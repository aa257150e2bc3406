"""Input and output connectors (``pw.io.*``)."""

from raystream.io import csv, jsonlines, null, plaintext
from raystream.io import kinesis  # noqa: F401 - pw.io.kinesis
from raystream.io import kafka  # noqa: F401 - pw.io.kafka
from raystream.io import redpanda  # noqa: F401 - pw.io.redpanda
from raystream.io.subscribe import subscribe

__all__ = ["csv", "jsonlines", "null", "plaintext", "subscribe"]
