"""Kinesis resume positions: per-shard checkpoint files and stable record ids.

A checkpoint is one small JSON file per shard, ``<directory>/<shard id>.json``,
holding the sequence number of the last record whose rows every sink made
durable, and whether the (closed) shard was read to its end. Files are
replaced atomically (write, fsync, rename), so a crash leaves either the old
or the new checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.base import ResumeError, position_field

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_DIGITS_PER_WORD = 19  # 10**19 < 2**64


@dataclass(frozen=True)
class ShardCheckpoint:
    """A committed position of one shard.

    Attributes:
        sequence: Sequence number of the last durable record (None: nothing yet).
        end: True if the shard is closed and was read to its end.
    """

    sequence: str | None = None
    end: bool = False


class CheckpointStore:
    """Reads and atomically writes the checkpoint files of one stream.

    Args:
        directory: Where the files live (created on first write).
        stream: The stream the checkpoints belong to; a directory holding
            another stream's checkpoints is refused.
    """

    def __init__(self, directory: str, stream: str) -> None:
        self.directory = directory
        self.stream = stream

    def _path(self, shard: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", shard):
            raise ValueError(f"unexpected shard id {shard!r}")
        return os.path.join(self.directory, f"{shard}.json")

    def load(self, shard: str) -> ShardCheckpoint:
        """Returns the shard's checkpoint (an empty one if none was written)."""
        try:
            with open(self._path(shard), encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return ShardCheckpoint()
        if data.get("stream") != self.stream:
            raise ValueError(
                f"the Kinesis positions in {self.directory!r} belong to stream "
                f"{data.get('stream')!r}, not {self.stream!r}: pass another state_dir")
        return ShardCheckpoint(data.get("sequence"), bool(data.get("end", False)))

    def save(self, shard: str, checkpoint: ShardCheckpoint) -> None:
        """Writes the shard's checkpoint durably (fsync, atomic rename)."""
        os.makedirs(self.directory, exist_ok=True)
        path = self._path(shard)
        temp = f"{path}.tmp"
        body = {"stream": self.stream, "shard": shard, "sequence": checkpoint.sequence,
                "end": checkpoint.end}
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_dir(self.directory)

    def load_all(self) -> dict[str, ShardCheckpoint]:
        """Returns every shard checkpoint in the directory."""
        if not os.path.isdir(self.directory):
            return {}
        names = [n[:-5] for n in os.listdir(self.directory) if n.endswith(".json")]
        return {shard: self.load(shard) for shard in sorted(names)}


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_position(shards: dict[str, ShardCheckpoint]) -> dict[str, Any]:
    """A reader position as JSON: shard id -> ``{"sequence": ..., "end": ...}``."""
    return {s: {"sequence": c.sequence, "end": c.end} for s, c in shards.items()}


def decode_position(position: dict[str, Any]) -> dict[str, ShardCheckpoint]:
    """Inverse of :func:`encode_position`."""
    return {s: decode_shard(v, f"kinesis shard={s}") for s, v in position.items()}


def decode_shard(value: Any, where: str) -> ShardCheckpoint:
    """One shard's position (``{"sequence": str | None, "end": bool}``) as a checkpoint.

    Raises:
        ResumeError: The value is malformed (``where`` names the shard).
    """
    sequence = position_field(value, "sequence", (str, type(None)), where)
    if sequence is not None and not sequence.isdigit():
        raise ResumeError(f"{where}: malformed checkpoint entry {value!r}: 'sequence' must "
                          "be a decimal sequence number")
    return ShardCheckpoint(sequence, position_field(value, "end", bool, where))


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 over a uint64 array."""
    with np.errstate(over="ignore"):
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def shard_seed(stream: str, shard: str) -> int:
    """A 64-bit number distinguishing one shard's record ids from the others'."""
    return (zlib.crc32(stream.encode()) << 32) | zlib.crc32(shard.encode())


def sequence_ids(seed: int, sequences: pa.Array) -> np.ndarray:
    """Stable uint64 ids for records from their decimal sequence numbers (vectorised).

    The numbers (up to 129 digits) are left-padded, cut into 19-digit words
    that fit a uint64, and folded into ``seed`` with splitmix64 from the first
    non-zero word on: a record's id does not depend on the other numbers in
    the batch.

    Args:
        seed: :func:`shard_seed` of the records' shard.
        sequences: The sequence numbers as a string array.
    """
    n = len(sequences)
    ids = np.full(n, np.uint64(seed), dtype=np.uint64)
    if n == 0:
        return ids
    longest = pc.max(pc.utf8_length(sequences)).as_py()
    words = -(-longest // _DIGITS_PER_WORD)
    padded = pc.utf8_lpad(sequences, words * _DIGITS_PER_WORD, "0")
    started = np.zeros(n, dtype=bool)
    for w in range(words):
        part = pc.utf8_slice_codeunits(padded, w * _DIGITS_PER_WORD, (w + 1) * _DIGITS_PER_WORD)
        values = pc.cast(part, pa.uint64()).to_numpy(zero_copy_only=False)
        started |= values != 0  # leading zero words (padding) leave the id unchanged,
        ids = np.where(started, _mix(ids ^ values), ids)  # so it never depends on the batch
    return ids
