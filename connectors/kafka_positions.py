"""Kafka reader positions: what one partition needs to resume exactly.

A partition's position is a JSON object::

    {"offset": 1200}                                   # streaming
    {"offset": 1200, "end": 5000}                      # static: read up to offset 5000
    {"offset": 1200, "header": {"names": ["id", "v"], "offset": 0}}   # csv

``offset`` is the next offset to read. ``end`` (static mode) is the high
watermark the static read stops at, fixed when the read first started: a
resumed static read ends at the same place, and a partition read to its end
stays exhausted (drop ``end`` to read up to the current high watermark
instead; a streaming reader ignores it). ``header`` (csv, once known) is
the CSV header and the offset of the message in partition 0 that carried it;
every partition's position holds it, so a reader of any partitions resumes
with the same header, even after the header message was deleted by retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raystream.connectors.base import Position, ResumeError, position_field


@dataclass(frozen=True)
class CsvHeaderState:
    """A CSV header read from partition 0.

    Attributes:
        names: The column names.
        offset: Offset of the header message in partition 0 (skipped as data).
    """

    names: tuple[str, ...]
    offset: int


@dataclass(frozen=True)
class KafkaPosition:
    """One partition's position (see the module docstring).

    Attributes:
        offset: The next offset to read.
        end: Static mode: the offset the read stops at.
        header: The CSV header, when the format is csv and it is known.
    """

    offset: int
    end: int | None = None
    header: CsvHeaderState | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in a checkpoint."""
        value: dict[str, Any] = {"offset": self.offset}
        if self.end is not None:
            value["end"] = self.end
        if self.header is not None:
            value["header"] = {"names": list(self.header.names), "offset": self.header.offset}
        return value

    @classmethod
    def from_json(cls, value: Position, where: str) -> KafkaPosition:
        """Parses :meth:`to_json`'s output.

        Raises:
            ResumeError: The value is malformed (``where`` names the partition).
        """
        offset = position_field(value, "offset", int, where)
        end = position_field(value, "end", (int, type(None)), where, None)
        header = position_field(value, "header", (dict, type(None)), where, None)
        if offset < 0 or (end is not None and end < 0):
            raise ResumeError(f"{where}: malformed checkpoint entry {value!r}: negative offset")
        if header is not None:
            names = position_field(header, "names", list, f"{where} (csv header)")
            header = CsvHeaderState(tuple(str(n) for n in names),
                                    position_field(header, "offset", int, f"{where} (csv header)"))
        return cls(offset, end, header)


def decode_positions(positions: dict[str, Position] | None, partitions: list[int],
                     topic: str, name: str) -> dict[int, KafkaPosition]:
    """The positions of ``partitions`` found in ``positions`` (others are ignored)."""
    found = {}
    for partition in partitions:
        value = (positions or {}).get(str(partition))
        if value is not None:
            where = f"{name}: kafka topic={topic} partition={partition}"
            found[partition] = KafkaPosition.from_json(value, where)
    return found


def restored_header(positions: dict[int, KafkaPosition], name: str) -> CsvHeaderState | None:
    """The CSV header carried by the positions, if any.

    Raises:
        ResumeError: Two positions carry different headers.
    """
    headers = {p.header for p in positions.values() if p.header is not None}
    if len(headers) > 1:
        raise ResumeError(f"{name}: the checkpointed positions carry different CSV headers: "
                          f"{sorted(h.names for h in headers)}")
    return next(iter(headers), None)


def check_in_range(partition: int, position: KafkaPosition, low: int, high: int,
                   topic: str, name: str) -> None:
    """Refuses to resume at an offset the partition no longer holds.

    Args:
        partition: The partition.
        position: Where it resumes.
        low: Its low watermark now (first offset still stored).
        high: Its high watermark now.
        topic: The topic, for the message.
        name: The source name, for the message.

    Raises:
        ResumeError: The offset is below ``low`` (records deleted by retention:
            they would be lost) or above ``high`` (the topic was recreated or
            lost data).
    """
    if position.end is not None and position.offset >= position.end:
        return  # read to its static end: nothing more is read
    where = f"{name}: cannot resume kafka topic={topic} partition={partition} at offset " \
        f"{position.offset}"
    if position.offset < low:
        raise ResumeError(f"{where}: the partition now starts at offset {low} (records "
                          f"{position.offset}..{low - 1} were deleted, by retention?)")
    if position.offset > high:
        raise ResumeError(f"{where}: the partition ends at offset {high} (was the topic "
                          "deleted and created again?)")
