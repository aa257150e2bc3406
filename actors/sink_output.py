"""What a sink actor writes through: a plain writer, or one transaction per checkpoint.

* :class:`PlainOutput` wraps a connector's :class:`SinkWriter`. Its state at a
  cut is the writer's ``state()`` (a file's length): files are cut back to it
  on a rollback (exactly-once); Kafka without transactions and Kinesis are
  at-least-once (rows written after the last checkpoint may be written again).
* :class:`EpochOutput` wraps a transactional writer (Kafka on a broker with
  transactions). Rows of the times between two cuts go into one transaction;
  at a cut ``C`` the output is flushed and its rows are handed over as a
  checkpoint part (a write-ahead copy); the transaction is committed, with
  the marker "epoch ``C``", only once the checkpoint's manifest is written.
  Restoring a checkpoint at ``C`` whose transaction never committed (a crash
  between the manifest and the commit) produces the staged rows again and
  commits them: every row lands exactly once.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import ray
from raystream.actors.checkpoint import table_to_ipc
from raystream.actors.messages import END
from raystream.connectors.base import RecordError, SinkSpec
from raystream.connectors.batch import OUT_TIME, concat_batches
from raystream.connectors.kafka_sink import KafkaSinkSpec
from raystream.connectors.kafka_txn import transactional_writer

log = logging.getLogger("raystream.sink")

STAGED = "rows"
"""Name of the checkpoint part holding an epoch's staged output rows."""


class Output(Protocol):
    """The sink actor's view of its writer."""

    epochs: bool
    """True if cuts must be committed (:meth:`commit`) after their manifest."""

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Writes output rows; returns the rows refused."""
        ...

    def flush(self) -> None:
        """Makes everything written durable (for epochs: flushed into the transaction)."""
        ...

    def at_cut(self, frontier: int) -> tuple[dict, dict[str, list[Any]]]:
        """The state and parts of a cut at ``frontier`` (after :meth:`flush`)."""
        ...

    def commit(self, frontier: int) -> None:
        """The cut at ``frontier`` is checkpointed: make its rows visible."""
        ...

    def close(self) -> None:
        """Releases the writer."""
        ...


class PlainOutput:
    """A connector writer: durable at flush, rolled back (or not) through its state."""

    epochs = False

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Writes output rows."""
        return list(self.writer.write(batch))

    def flush(self) -> None:
        """Flushes the writer."""
        self.writer.flush()

    def at_cut(self, frontier: int) -> tuple[dict, dict[str, list[Any]]]:
        """The writer's state (a file's length), no parts."""
        state = getattr(self.writer, "state", None)
        return (dict(state()) if callable(state) else {}), {}

    def commit(self, frontier: int) -> None:
        """Nothing to commit: written rows are already visible."""

    def close(self) -> None:
        """Closes the writer."""
        self.writer.close()


class EpochOutput:
    """A transactional writer: one transaction per checkpoint epoch, with staged rows."""

    epochs = True

    def __init__(self, writer: Any, last_epoch: int = 0) -> None:
        self.writer = writer
        self.staged: list[pa.RecordBatch] = []
        self.last_epoch = last_epoch
        self.epoch: int | None = None

    def write(self, batch: pa.RecordBatch) -> list[RecordError]:
        """Produces rows inside the open transaction and keeps a copy for the checkpoint."""
        refused = self.writer.write(batch)
        self.staged.append(batch)
        if OUT_TIME in batch.schema.names and batch.num_rows:
            self.last_epoch = max(self.last_epoch, int(pc.max(batch.column(OUT_TIME)).as_py()))
        return list(refused)

    def flush(self) -> None:
        """Flushes into the transaction (rows are not visible yet)."""
        self.writer.prepare()

    def at_cut(self, frontier: int) -> tuple[dict, dict[str, list[Any]]]:
        """The epoch's number and its staged rows (the write-ahead copy).

        The epoch is the cut's frontier; for the final (``END``) cut it is one
        above every time and epoch before, so that the epochs of a later run
        (its cut frontiers are above every earlier time) still increase.
        """
        parts: dict[str, list[Any]] = {}
        if self.staged:
            parts[STAGED] = [ray.put(table_to_ipc(pa.Table.from_batches(
                [concat_batches(self.staged)])))]
        self.staged = []
        self.epoch = frontier if frontier < END else self.last_epoch + 1
        self.last_epoch = max(self.last_epoch, self.epoch)
        return {"epoch": self.epoch}, parts

    def commit(self, frontier: int) -> None:
        """Commits the transaction with the marker of the epoch prepared at cut ``frontier``."""
        self.writer.commit(self.epoch if self.epoch is not None else frontier)
        self.epoch = None

    def close(self) -> None:
        """Aborts anything uncommitted and releases the clients."""
        self.writer.close()


def open_output(spec: SinkSpec, state: dict | None, staged: dict[str, pa.Table] | None,
                identity: str | None, name: str) -> Output:
    """Opens a sink's output in ``state`` (None: fresh), recovering a lost epoch commit.

    Args:
        spec: The connector's sink spec.
        state: The sink's state at the restored cut, or None.
        staged: The cut's parts of this sink (staged rows), if any.
        identity: The sink's persistent identity (its ``transactional.id``), or
            None for no transactions.
        name: The sink's name, for logs.
    """
    kafka = isinstance(spec, KafkaSinkSpec) and identity is not None
    writer = transactional_writer(spec, identity) if kafka else None  # type: ignore[arg-type]
    if writer is None:
        if kafka:
            log.warning("%s: the Kafka broker has no transactions: this output is "
                        "at-least-once across failures (rows written after the last "
                        "checkpoint may be written again after a recovery)", name)
        opened = spec.open(state) if state else spec.open()  # type: ignore[call-arg]
        return PlainOutput(opened)
    writer.open()
    epoch = (state or {}).get("epoch")
    if epoch is not None:
        committed = writer.committed_epoch()
        if committed is None or committed < epoch:
            rows = (staged or {}).get(STAGED)
            count = 0 if rows is None else rows.num_rows
            log.warning("%s: the transaction of checkpoint epoch %d was not committed before "
                        "the failure: producing its %d staged rows again", name, epoch, count)
            for batch in rows.to_batches() if rows is not None else []:
                writer.write(batch)
            writer.commit(epoch)
    return EpochOutput(writer, last_epoch=epoch or 0)
