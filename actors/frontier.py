"""An actor's input frontier over its channels (no Ray); see :mod:`raystream.actors.protocol`."""

from __future__ import annotations

from raystream.actors.messages import END


class FrontierTracker:
    """An operator's input frontier: the minimum over its input channels.

    A channel is ``(port, sender)``. Channels can be added while running
    (a new Kinesis shard reader); the coordinator's :meth:`CommitProtocol.add_reader`
    bound guarantees that the new channel's start never lies below the
    current frontier, which this class checks.
    """

    def __init__(self, channels: list[tuple[int, str]], start: int = 0) -> None:
        self.channels: dict[tuple[int, str], int] = {c: start for c in channels}
        self.frontier = start if channels else END

    def add_channel(self, port: int, sender: str, start: int) -> None:
        """Adds a channel whose first message will have time ``>= start``."""
        if (port, sender) in self.channels:
            return
        if self.channels and start < self.frontier:
            raise ValueError(f"channel {sender!r} starts at {start}, "
                             f"below frontier {self.frontier}")
        self.channels[(port, sender)] = start
        self.frontier = min(self.channels.values())

    def update(self, port: int, sender: str, frontier: int) -> int | None:
        """Records a channel's new frontier; returns the new minimum if it advanced."""
        key = (port, sender)
        if key not in self.channels:
            raise ValueError(f"progress from unknown channel {key}")
        if frontier < self.channels[key]:
            raise ValueError(f"channel {key} frontier went back: {frontier} < {self.channels[key]}")
        self.channels[key] = frontier
        new = min(self.channels.values())
        if new > self.frontier:
            self.frontier = new
            return new
        return None

    def reset(self, frontier: int) -> None:
        """Restarts every channel at ``frontier`` (a rollback to a cut)."""
        self.channels = {c: frontier for c in self.channels}
        self.frontier = frontier if self.channels else END
