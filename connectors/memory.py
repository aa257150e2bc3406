"""An in-memory source: rows given up front (``pw.debug.table_from_markdown``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from raystream.connectors.base import ParsedBatch, PartitionInfo


@dataclass(frozen=True)
class MemorySourceSpec:
    """Rows known when the pipeline is defined.

    Attributes:
        name: Source name.
        batch: The rows.
        record_ids: A stable uint64 id per row (becomes the row key).
    """

    name: str
    batch: pa.RecordBatch
    record_ids: pa.Array

    def list_partitions(self) -> list[PartitionInfo]:
        """One partition."""
        return [PartitionInfo("0")]

    def open(self, partitions: list[str]) -> MemoryReader:
        """Opens the reader."""
        return MemoryReader(self)


class MemoryReader:
    """Returns all rows in one batch, then is exhausted."""

    def __init__(self, spec: MemorySourceSpec) -> None:
        self.spec = spec
        self.offset = 0

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        """Returns the next ``max_records`` rows."""
        if self.exhausted() or max_records <= 0:
            return None
        start, self.offset = self.offset, min(self.offset + max_records, self.spec.batch.num_rows)
        rows = self.spec.batch.slice(start, self.offset - start)
        return ParsedBatch(rows, self.spec.record_ids.slice(start, self.offset - start),
                           records=rows.num_rows)

    def position(self) -> Any:
        """Rows read so far."""
        return {"offset": self.offset}

    def exhausted(self) -> bool:
        """True after every row was returned."""
        return self.offset >= self.spec.batch.num_rows

    def pause(self) -> None:
        """No effect."""

    def resume(self) -> None:
        """No effect."""

    def commit(self, position: Any) -> None:
        """No effect."""

    def close(self) -> None:
        """No effect."""
