"""Sending records: PutRecords calls within the limits, several in flight, each lane in order.

Records are split into *lanes* by a hash of their partition key. Each lane
sends its calls one after another on its own thread, so records with the same
partition key (the same shard) keep their order across calls, while the
lanes' calls overlap (the encoding of one call with the service's work on
another). A call holds at most 500 records and 5 MiB. Entries that fail inside
a call, and calls that are throttled or fail transiently, are retried with
exponential backoff and jitter until ``retry_timeout_s``; then the sender
raises (on the next :meth:`RecordSender.add` or :meth:`RecordSender.flush`).
Within one call Kinesis may store a retried entry after later ones: strict
per-key order across retries would need one PutRecord per record.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from raystream.connectors.kinesis_client import Backoff, KinesisError, error_code, is_retryable

log = logging.getLogger("raystream.kinesis")

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
_QUEUED_CALLS_PER_LANE = 2

PutRecords = Callable[[Any, str, list[bytes], list[str]], list["str | None"]]
"""``put(client, stream, data, keys)`` -> each entry's error code (None: written)."""


def key_lanes(keys: pa.Array, lanes: int) -> np.ndarray:
    """The lane of each partition key: crc32 of the key (computed once per distinct key)."""
    if lanes <= 1:
        return np.zeros(len(keys), dtype=np.int64)
    encoded = pc.dictionary_encode(keys)
    per_key = np.array([zlib.crc32(k.encode()) % lanes for k in encoded.dictionary.to_pylist()],
                       dtype=np.int64)
    return per_key[encoded.indices.to_numpy(zero_copy_only=False)]


@dataclass
class _Queue:
    """Records of one (stream, lane) not yet handed to a call."""

    data: list[bytes] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    bytes: int = 0
    calls: deque = field(default_factory=deque)


class RecordSender:
    """Batches records into PutRecords calls; see the module docstring.

    Args:
        client: The boto3 client.
        put: How to make one PutRecords call.
        name: Sink name for messages.
        lanes: Calls in flight at most (one per lane).
        retry_timeout_s: How long failed records are retried.
        sleep: Sleep between retries (injectable for tests).
    """

    def __init__(self, client: Any, put: PutRecords, name: str, lanes: int,
                 retry_timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.put = put
        self.name = name
        self.lanes = max(lanes, 1)
        self.retry_timeout_s = retry_timeout_s
        self.sleep = sleep
        self.queues: dict[tuple[str, int], _Queue] = {}
        self.executors = [ThreadPoolExecutor(1, thread_name_prefix=f"kinesis-lane-{i}")
                          for i in range(self.lanes)]
        self.lock = threading.Lock()
        self.records_sent = 0
        self.retries = 0

    def add(self, stream: str, lane: int, data: list[bytes], keys: list[str],
            sizes: np.ndarray) -> None:
        """Queues records of one stream and lane; full calls go out at once."""
        queue = self.queues.setdefault((stream, lane), _Queue())
        queue.data.extend(data)
        queue.keys.extend(keys)
        queue.sizes.extend(sizes.tolist())
        queue.bytes += int(sizes.sum())
        while len(queue.data) >= MAX_RECORDS_PER_CALL or queue.bytes >= MAX_BYTES_PER_CALL:
            self._submit(stream, lane, queue)

    def flush(self) -> None:
        """Sends every queued record and waits until Kinesis acknowledged all of them."""
        for (stream, lane), queue in self.queues.items():
            while queue.data:
                self._submit(stream, lane, queue)
        for queue in self.queues.values():
            while queue.calls:
                queue.calls.popleft().result()  # re-raises a call's KinesisError

    def close(self) -> None:
        """Flushes and stops the lane threads."""
        try:
            self.flush()
        finally:
            for executor in self.executors:
                executor.shutdown(wait=True)

    def _submit(self, stream: str, lane: int, queue: _Queue) -> None:
        """Hands the oldest records that fit one call to the lane's thread."""
        head = np.cumsum(queue.sizes[:MAX_RECORDS_PER_CALL])
        count = max(int(np.searchsorted(head, MAX_BYTES_PER_CALL, side="right")), 1)
        data, keys = queue.data[:count], queue.keys[:count]
        queue.bytes -= int(head[count - 1])
        del queue.data[:count], queue.keys[:count], queue.sizes[:count]
        while len(queue.calls) >= _QUEUED_CALLS_PER_LANE or (queue.calls and queue.calls[0].done()):
            queue.calls.popleft().result()  # back-pressure; re-raises a failed call
        future: Future = self.executors[lane].submit(self._put, stream, data, keys)
        queue.calls.append(future)

    def _put(self, stream: str, data: list[bytes], keys: list[str]) -> None:
        """One call, retrying throttled calls and failed entries until the deadline."""
        backoff = Backoff(base_s=0.1, cap_s=5.0)
        deadline = time.monotonic() + self.retry_timeout_s
        while data:
            try:
                codes = self.put(self.client, stream, data, keys)
            except Exception as exc:
                if not is_retryable(exc) or time.monotonic() >= deadline:
                    raise KinesisError(f"{self.name}: PutRecords to stream {stream!r} "
                                       f"failed: {exc}") from exc
                self._wait(backoff, stream, error_code(exc) or type(exc).__name__, len(data))
                continue
            failed = [i for i, code in enumerate(codes) if code is not None]
            with self.lock:
                self.records_sent += len(data) - len(failed)
            if not failed:
                return
            counts = Counter(codes[i] for i in failed)
            data, keys = [data[i] for i in failed], [keys[i] for i in failed]
            if time.monotonic() >= deadline:
                raise KinesisError(f"{self.name}: {len(data)} records for stream {stream!r} "
                                   f"still failing after {self.retry_timeout_s:.0f} s: "
                                   f"{dict(counts)}")
            self._wait(backoff, stream, ", ".join(str(c) for c in counts), len(data))

    def _wait(self, backoff: Backoff, stream: str, why: str, count: int) -> None:
        delay = backoff.next_delay()
        with self.lock:
            self.retries += 1
        log.info("%s: %d records for %s: %s; retrying in %.2f s", self.name, count, stream,
                 why, delay)
        self.sleep(delay)
