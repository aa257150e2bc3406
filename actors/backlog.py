"""Per-source backlog limits shared among readers (no Ray); see :mod:`raystream.actors.protocol`."""

from __future__ import annotations


class BacklogLedger:
    """Splits each source's ``max_backlog_size`` into per-reader allowances.

    Invariant: for every source, the sum of its readers' allowances is at
    most the limit. An allowance changes only inside the reader's own call,
    so the reader always knows its exact allowance. A hungry reader (one that
    is blocked, or read something lately) gets its in-flight rows plus a fair
    chunk (``limit // readers``), capped by what the other readers leave free;
    an idle reader shrinks to its in-flight rows, leaving room to the others.
    Each source's granted total is kept up to date, so a rebalance costs the
    same at 8 readers as at 1,000.
    """

    def __init__(self, limits: dict[str, int | None]) -> None:
        self.limits = dict(limits)
        self.readers_of: dict[str, list[str]] = {}
        self.source_of: dict[str, str] = {}
        self.allowance: dict[str, int] = {}
        self.granted: dict[str, int] = {}

    def add_reader(self, reader: str, source: str) -> None:
        """Registers a reader with a zero allowance."""
        self.readers_of.setdefault(source, []).append(reader)
        self.source_of[reader] = source
        self.allowance[reader] = 0
        self.granted.setdefault(source, 0)

    def limit_of(self, reader: str) -> int | None:
        """Returns the backlog limit of the reader's source (None: unlimited)."""
        return self.limits.get(self.source_of[reader])

    def rebalance(self, reader: str, in_flight: int, hungry: bool) -> int | None:
        """Returns the reader's new allowance (None when its source is unlimited).

        Args:
            reader: The calling reader.
            in_flight: Its rows read at times not yet durable (at most its allowance).
            hungry: True if it is blocked or has been reading.
        """
        limit = self.limit_of(reader)
        if limit is None:
            return None
        source = self.source_of[reader]
        free = limit - (self.granted[source] - self.allowance[reader])
        chunk = max(limit // len(self.readers_of[source]), 1) if hungry else 0
        new = max(min(in_flight + chunk, free), 0)
        self._set(reader, new)
        return new

    def release(self, reader: str) -> None:
        """Returns a finished reader's allowance to its source's pool."""
        self._set(reader, 0)

    def _set(self, reader: str, allowance: int) -> None:
        self.granted[self.source_of[reader]] += allowance - self.allowance[reader]
        self.allowance[reader] = allowance
