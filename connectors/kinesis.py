"""Kinesis connector: the public names of the ``kinesis_*`` modules.

* :mod:`kinesis_client`: connection settings captured in the driver, boto3
  clients, error classes, backoff with jitter.
* :mod:`kinesis_source`: shard listing with pagination and a reader per shard.
* :mod:`kinesis_positions`: per-shard checkpoint files and stable record ids.
* :mod:`kinesis_sink`: PutRecords within the service limits, with retries.
"""

from raystream.connectors.kinesis_client import (
    Backoff,
    ConnectionSettings,
    KinesisError,
    capture_settings,
    make_client,
)
from raystream.connectors.kinesis_positions import CheckpointStore, ShardCheckpoint
from raystream.connectors.kinesis_sink import KinesisSinkSpec, KinesisWriter
from raystream.connectors.kinesis_source import KinesisReader, KinesisSourceSpec, list_shards

__all__ = [
    "Backoff", "CheckpointStore", "ConnectionSettings", "KinesisError", "KinesisReader",
    "KinesisSinkSpec", "KinesisSourceSpec", "KinesisWriter", "ShardCheckpoint",
    "capture_settings", "list_shards", "make_client",
]
