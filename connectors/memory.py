"""An in-memory source: rows given up front (``pw.debug.table_from_markdown``).

One partition, ``"0"``; its position is ``{"0": {"offset": rows returned}}``.
A stream (markdown with ``__time__`` / ``__diff__``) also gives each row its
commit time and change; rows are sorted by time and a batch never mixes times.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.base import (
    ParsedBatch,
    PartitionInfo,
    Position,
    ResumeError,
    position_field,
)


@dataclass(frozen=True)
class MemorySourceSpec:
    """Rows known when the pipeline is defined.

    Attributes:
        name: Source name.
        batch: The rows.
        record_ids: A stable uint64 id per row (becomes the row key).
        times: Each row's commit time (a stream), sorted; None: one time.
        diffs: Each row's change (+1/-1), for a stream.
    """

    name: str
    batch: pa.RecordBatch
    record_ids: pa.Array
    times: pa.Array | None = None
    diffs: pa.Array | None = None

    def list_partitions(self) -> list[PartitionInfo]:
        """One partition."""
        return [PartitionInfo("0")]

    def open(self, partitions: list[str],
             positions: dict[str, Position] | None = None) -> MemoryReader:
        """Opens the reader, after the rows ``positions["0"]`` counts if given.

        Raises:
            ResumeError: The position is malformed or beyond the rows.
        """
        position = (positions or {}).get("0")
        if position is None:
            return MemoryReader(self)
        offset = position_field(position, "offset", int, f"{self.name} partition 0")
        if not 0 <= offset <= self.batch.num_rows:
            raise ResumeError(f"{self.name} partition 0: cannot resume after {offset} rows: "
                              f"the source has {self.batch.num_rows}")
        return MemoryReader(self, offset)


class MemoryReader:
    """Returns the rows in batches of at most ``max_records``, then is exhausted."""

    def __init__(self, spec: MemorySourceSpec, offset: int = 0) -> None:
        self.spec = spec
        self.offset = offset

    def read_batch(self, max_records: int, timeout_s: float) -> ParsedBatch | None:
        """Returns the next ``max_records`` rows."""
        if self.exhausted() or max_records <= 0:
            return None
        start = self.offset
        end = min(start + max_records, self.spec.batch.num_rows)
        time = None
        if self.spec.times is not None:
            time = self.spec.times[start].as_py()
            same = pc.equal(self.spec.times.slice(start, end - start), time)
            end = start + int(pc.sum(same.cast(pa.int64())).as_py())  # times are sorted
        self.offset = end
        rows = self.spec.batch.slice(start, end - start)
        diffs = None if self.spec.diffs is None else self.spec.diffs.slice(start, end - start)
        return ParsedBatch(rows, self.spec.record_ids.slice(start, end - start),
                           records=rows.num_rows, diffs=diffs, time=time)

    def position(self) -> dict[str, Position]:
        """``{"0": {"offset": rows returned so far}}``."""
        return {"0": {"offset": self.offset}}

    def exhausted(self) -> bool:
        """True after every row was returned."""
        return self.offset >= self.spec.batch.num_rows

    def pause(self) -> None:
        """No effect."""

    def resume(self) -> None:
        """No effect."""

    def commit(self, position: dict[str, Position]) -> None:
        """No effect."""

    def close(self) -> None:
        """No effect."""
