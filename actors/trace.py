"""Per-batch timing events, for finding where a late row waited (off unless asked for).

With ``RAYSTREAM_TRACE_DIR`` set in the environment of the Ray workers, every
reader, operator and sink appends one CSV line per event to its own file in
that directory, ``<kind>-<actor>-<pid>.csv``::

    wall_time_s,event,commit_time,rows

Events (``commit_time`` is the minibatch's time, or the new frontier):

- ``read``: a reader handed a parsed batch of its open minibatch downstream;
- ``close``: the coordinator closed a reader's minibatch;
- ``frontier``: an operator's input frontier advanced (its output for every
  earlier time is sent);
- ``flushed``: a sink wrote and flushed every time below the frontier.

``bench/latency_trace.py`` joins them with the late output rows of a latency
run. Events are per batch, never per row, and a disabled trace costs one
attribute test.
"""

from __future__ import annotations

import os
import time
from typing import IO

TRACE_DIR_ENV = "RAYSTREAM_TRACE_DIR"


class BatchTrace:
    """Appends this actor's events to its trace file, if tracing is on.

    Args:
        kind: ``reader``, ``operator`` or ``sink`` (the file's prefix).
        actor: The actor's readable name.
        directory: Where to write (default: ``$RAYSTREAM_TRACE_DIR``; None or
            empty: tracing is off).
    """

    def __init__(self, kind: str, actor: str, directory: str | None = None) -> None:
        directory = directory if directory is not None else os.environ.get(TRACE_DIR_ENV)
        self.file: IO[str] | None = None
        if directory:
            os.makedirs(directory, exist_ok=True)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in actor)
            path = os.path.join(directory, f"{kind}-{safe}-{os.getpid()}.csv")
            # Line-buffered: the engine may be killed, and events are a few per batch.
            self.file = open(path, "a", buffering=1)  # noqa: SIM115 - closed in close()

    def event(self, name: str, commit_time: int, rows: int = 0) -> None:
        """Records one event now."""
        if self.file is not None:
            self.file.write(f"{time.time():.6f},{name},{commit_time},{rows}\n")

    def close(self) -> None:
        """Flushes and closes the file."""
        if self.file is not None:
            self.file.close()
            self.file = None
