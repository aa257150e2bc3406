"""Input and output connectors (``pw.io.*``)."""

from raystream.io import csv, jsonlines, null, plaintext
from raystream.io import kinesis  # noqa: F401 - pw.io.kinesis
from raystream.io.subscribe import subscribe

__all__ = ["csv", "jsonlines", "null", "plaintext", "subscribe"]
