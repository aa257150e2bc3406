"""Turning parsed source batches into dataflow batches: row keys and diffs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from raystream.connectors.base import ParsedBatch
from raystream.connectors.batch import DIFF, KEY
from raystream.connectors.hashing import hash_array, hash_columns, splitmix64


@dataclass(frozen=True)
class PrepareRows:
    """Adds ``_key`` and ``_diff`` to parsed rows.

    Keys, in order of preference: the hash of the primary key columns (equal
    values give equal keys, across sources too, as in Pathway); the hash of
    the record's own key (Kafka message key) when ``use_message_key``; else a
    hash of the source's stable record id, so a re-read record keeps its key.

    Attributes:
        columns: Parsed columns to keep, in order.
        primary_key: Primary key columns, if any.
        use_message_key: Use the records' own keys as row keys.
        seed: Distinguishes the record ids of different sources.
        raw_ids: Use the record ids themselves as keys (ids given by the user).
    """

    columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    use_message_key: bool = False
    seed: int = 0
    raw_ids: bool = False

    def __call__(self, parsed: ParsedBatch, reader_id: str) -> pa.RecordBatch:
        """Returns the dataflow batch of a parsed batch."""
        batch = parsed.batch
        n = batch.num_rows
        record_ids = parsed.record_ids.to_numpy(zero_copy_only=False).astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = record_ids if self.raw_ids else splitmix64(record_ids ^ np.uint64(self.seed))
        if self.primary_key:
            keys = hash_columns(batch, self.primary_key)
        elif self.use_message_key and parsed.message_keys is not None:
            message_keys = parsed.message_keys
            hashed = hash_array(message_keys)
            keys = np.where(message_keys.is_valid().to_numpy(zero_copy_only=False), hashed, keys)
        diffs = parsed.diffs if parsed.diffs is not None else pa.array(np.ones(n, np.int64))
        arrays = [pa.array(keys, pa.uint64()), diffs]
        arrays += [batch.column(c) for c in self.columns]
        return pa.RecordBatch.from_arrays(arrays, names=[KEY, DIFF, *self.columns])
