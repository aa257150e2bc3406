"""Where the input goes in and the output comes out: files, Kafka, Kinesis.

A *channel* is an input (a watched directory, a topic, a stream) with an
injector, and an output (a JSON-lines file or a topic) with an observer. The
harness talks only to channels, so every engine is fed and watched the same
way:

* ``inject(table)`` hands rows to the input: a new file renamed into the
  watched directory (atomic), messages produced round-robin over the
  partitions (then flushed), or PutRecords calls (then acknowledged);
* ``inject_prepared()`` does the same with the bulk input prepared beforehand
  (``prepare(table)``), so that the timed part is only the hand-over;
* ``poll(timeout)`` returns the output that arrived since the last call, as
  complete JSON lines, stamped with the observer's clock when it was seen.

:class:`Observed` reads a channel's output on a thread of its own, so the
arrival stamps do not wait for the injector (a Kafka flush takes up to a
quarter of a second at 230k rows/s) or for the memory sampler.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from workloads import jsonl_bytes, payloads


class Channel(Protocol):
    """An engine's input and output (see the module docstring)."""

    def engine_args(self) -> list[str]:
        """Arguments telling the engine script where to read and write."""

    def prepare(self, table: pa.Table) -> None:
        """Encodes the bulk input ahead of :meth:`inject_prepared`."""

    def inject(self, table: pa.Table) -> None:
        """Hands ``table``'s rows to the input now."""

    def inject_prepared(self) -> None:
        """Hands the prepared bulk input to the input now."""

    def poll(self, timeout: float) -> tuple[float, bytes] | None:
        """Output that arrived (JSON lines) with its arrival time, or None."""

    def close(self) -> None:
        """Releases clients."""


class Observed:
    """A channel whose output is read and stamped on a thread of its own.

    Args:
        channel: The channel; only this thread calls its ``poll`` from now on.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.arrived: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._observe, name="observer", daemon=True)
        self._thread.start()

    def _observe(self) -> None:
        try:
            while not self._stop.is_set():
                got = self.channel.poll(0.005)
                if got is not None:
                    self.arrived.put(got)
        except BaseException as exc:  # noqa: BLE001 - handed to the harness thread
            self.failure = exc

    def engine_args(self) -> list[str]:  # noqa: D102
        return self.channel.engine_args()

    def prepare(self, table: pa.Table) -> None:  # noqa: D102
        self.channel.prepare(table)

    def inject(self, table: pa.Table) -> None:  # noqa: D102
        self.channel.inject(table)

    def inject_prepared(self) -> None:  # noqa: D102
        self.channel.inject_prepared()

    def poll(self, timeout: float) -> tuple[float, bytes] | None:
        """The next output chunk seen by the thread (with its arrival time), if any."""
        if self.failure is not None:
            raise RuntimeError(f"the output observer failed: {self.failure!r}") from self.failure
        try:
            return self.arrived.get(timeout=timeout) if timeout > 0 else \
                self.arrived.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stops the thread, then closes the channel."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.channel.close()


class FileTail:
    """Follows a JSON-lines file that an engine appends to.

    Args:
        path: The output file (it may not exist yet).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self._file: Any = None

    def poll(self, timeout: float) -> tuple[float, bytes] | None:
        """New complete lines, waiting up to ``timeout`` for them."""
        deadline = time.monotonic() + timeout
        while True:
            chunk = self._read()
            if chunk:
                return time.time(), chunk
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.002)

    def _read(self) -> bytes:
        if self._file is None:
            if not self.path.exists():
                return b""
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        data = self._file.read()
        if not data:
            return b""
        data = self.partial + data
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        return data[:end]

    def close(self) -> None:
        """Closes the file."""
        if self._file is not None:
            self._file.close()


class FilesChannel:
    """Input: a directory the engine watches; output: a JSON-lines file.

    Args:
        work: A fresh directory for this run.
    """

    def __init__(self, work: Path) -> None:
        self.input = work / "in"
        self.staging = work / "staging"
        self.output = work / "out.jsonl"
        self.input.mkdir(parents=True)
        self.staging.mkdir()
        self.tail = FileTail(self.output)
        self.count = 0
        self.prepared: Path | None = None

    def engine_args(self) -> list[str]:  # noqa: D102
        return ["--input", str(self.input), "--output", str(self.output)]

    def _next_name(self) -> str:
        self.count += 1
        return f"part-{self.count:06d}.jsonl"

    def prepare(self, table: pa.Table) -> None:  # noqa: D102
        self.prepared = self.staging / "bulk.jsonl"
        self.prepared.write_bytes(jsonl_bytes(table))

    def prepare_file(self, source: Path) -> None:
        """Uses an existing JSON-lines file as the bulk input (copied to staging)."""
        self.prepared = self.staging / "bulk.jsonl"
        shutil.copyfile(source, self.prepared)

    def inject(self, table: pa.Table) -> None:  # noqa: D102
        staged = self.staging / "next.jsonl"
        staged.write_bytes(jsonl_bytes(table))
        os.rename(staged, self.input / self._next_name())

    def inject_prepared(self) -> None:  # noqa: D102
        assert self.prepared is not None
        os.rename(self.prepared, self.input / self._next_name())

    def poll(self, timeout: float) -> tuple[float, bytes] | None:  # noqa: D102
        return self.tail.poll(timeout)

    def close(self) -> None:  # noqa: D102
        self.tail.close()


def produce_round_robin(producer: Any, topic: str, messages: list[bytes], partitions: int,
                        first: int = 0) -> None:
    """Queues message ``first + i`` on partition ``(first + i) % partitions``, waiting when full."""
    produce = producer.produce
    for i, value in enumerate(messages, start=first):
        while True:
            try:
                produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.01)


class KafkaChannel:
    """Input: a topic with ``partitions`` partitions; output: a one-partition topic.

    Args:
        settings: confluent-kafka settings for the broker.
        topic_in: Input topic (created by the caller).
        topic_out: Output topic (created by the caller).
        partitions: Partitions of the input topic.
    """

    def __init__(self, settings: dict[str, Any], topic_in: str, topic_out: str,
                 partitions: int) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition

        self.settings = settings
        self.topic_in, self.topic_out, self.partitions = topic_in, topic_out, partitions
        quiet = {**settings, "log_level": 3}
        self.producer = Producer({**quiet, "linger.ms": 2, "batch.num.messages": 10000,
                                  "queue.buffering.max.messages": 2_000_000,
                                  "queue.buffering.max.kbytes": 1 << 21})
        # librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) whenever its local
        # queue holds queued.min.messages (100k): the observer must never be the one
        # that makes output arrive late.
        self.consumer = Consumer({**quiet, "group.id": f"observer-{topic_out}",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 5,
                                  "fetch.error.backoff.ms": 5, "fetch.queue.backoff.ms": 0,
                                  "queued.min.messages": 10_000_000,
                                  "max.partition.fetch.bytes": 16 << 20})
        self.consumer.assign([TopicPartition(topic_out, 0, 0)])
        self.sent = 0
        self.prepared: list[bytes] = []

    def engine_args(self) -> list[str]:  # noqa: D102
        return ["--input", self.topic_in, "--output", self.topic_out,
                "--bootstrap", self.settings["bootstrap.servers"]]

    def prepare(self, table: pa.Table) -> None:  # noqa: D102
        self.prepared = payloads(table)

    def _produce(self, messages: list[bytes]) -> None:
        produce_round_robin(self.producer, self.topic_in, messages, self.partitions, self.sent)
        self.sent += len(messages)
        if self.producer.flush(120) != 0:
            raise RuntimeError("the injector's producer did not flush")

    def inject(self, table: pa.Table) -> None:  # noqa: D102
        self._produce(payloads(table))

    def inject_prepared(self) -> None:  # noqa: D102
        self._produce(self.prepared)

    def poll(self, timeout: float) -> tuple[float, bytes] | None:  # noqa: D102
        messages = self.consumer.consume(100_000, timeout)
        if not messages:
            return None
        seen = time.time()
        values = [m.value() for m in messages if m.error() is None]
        return (seen, b"\n".join(values) + b"\n") if values else None

    def close(self) -> None:  # noqa: D102
        self.consumer.close()


class KinesisChannel:
    """Input: a Kinesis stream (PutRecords); output: a JSON-lines file.

    Args:
        client: A boto3 Kinesis client.
        stream: The input stream (created by the caller).
        work: A fresh directory for this run.
    """

    def __init__(self, client: Any, stream: str, work: Path) -> None:
        self.client = client
        self.stream = stream
        self.output = work / "out.jsonl"
        self.state = work / "state"
        self.tail = FileTail(self.output)
        self.sent = 0
        self.prepared: list[bytes] = []

    def engine_args(self) -> list[str]:  # noqa: D102
        return ["--input", self.stream, "--output", str(self.output),
                "--state-dir", str(self.state)]

    def prepare(self, table: pa.Table) -> None:  # noqa: D102
        self.prepared = payloads(table)

    def _put(self, chunk: list[tuple[str, bytes]]) -> None:
        entries = [{"Data": data, "PartitionKey": key} for key, data in chunk]
        while entries:
            response = self.client.put_records(StreamName=self.stream, Records=entries)
            entries = [e for e, r in zip(entries, response["Records"], strict=True)
                       if "ErrorCode" in r]
            if entries:
                time.sleep(0.05)

    def _send(self, messages: list[bytes], lanes: int = 1) -> None:
        keyed = [(str(i), m) for i, m in enumerate(messages, start=self.sent)]
        chunks = [keyed[i:i + 500] for i in range(0, len(keyed), 500)]
        if lanes == 1:
            for chunk in chunks:
                self._put(chunk)
        else:
            with ThreadPoolExecutor(lanes) as pool:
                list(pool.map(self._put, chunks))
        self.sent += len(messages)

    def inject(self, table: pa.Table) -> None:  # noqa: D102
        self._send(payloads(table))

    def inject_prepared(self) -> None:  # noqa: D102
        self._send(self.prepared, lanes=4)

    def poll(self, timeout: float) -> tuple[float, bytes] | None:  # noqa: D102
        return self.tail.poll(timeout)

    def close(self) -> None:
        """Closes the output and deletes the stream.

        kinesalite keeps every record of every stream in its heap: over a
        bench session it grew past 1.6 GB, and its GetRecords calls then took
        up to 1.6 s at times (garbage collection), for every engine.
        """
        self.tail.close()
        try:
            self.client.delete_stream(StreamName=self.stream, EnforceConsumerDeletion=True)
        except Exception as exc:  # noqa: BLE001 - a leftover stream only costs memory
            print(f"could not delete stream {self.stream}: {exc}", flush=True)
