"""Shared helpers of the ``test_kinesis_*`` files (no tests here).

Kept in a ``test_kinesis_`` file so the Kinesis tests depend on nothing but
their own files and the service fixtures.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest


def point_env_at(monkeypatch: pytest.MonkeyPatch, server: Any) -> None:
    """Sets AWS_* in this (driver) process only; Ray workers keep their own environment."""
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)


def put_records(client: Any, stream: str, payloads: Iterable[bytes | str],
                keys: Iterable[str] | None = None) -> int:
    """Puts payloads in PutRecords calls of 500; returns how many were put."""
    entries = [{"Data": p.encode() if isinstance(p, str) else p, "PartitionKey": k}
               for p, k in zip(payloads, keys if keys is not None else _counting(),
                                   strict=False)]
    for start in range(0, len(entries), 500):
        response = client.put_records(StreamName=stream, Records=entries[start:start + 500])
        assert response["FailedRecordCount"] == 0
    return len(entries)


def _counting() -> Iterable[str]:
    i = 0
    while True:
        yield f"k{i}"
        i += 1


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition",
             interval: float = 0.1) -> Any:
    """Polls ``predicate`` until it returns something truthy; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def jsonl_rows(path: str | Path) -> list[dict[str, Any]]:
    """The complete lines of a JSON-lines file (none if it does not exist yet)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line]


def fold(rows: list[dict[str, Any]], columns: list[str]) -> Counter:
    """Folds changelog rows (with ``diff``) into a multiset of value tuples."""
    state: Counter = Counter()
    for row in rows:
        state[tuple(row[c] for c in columns)] += row["diff"]
    return +state


def stop_pipeline(pipeline: Any) -> None:
    """Stops a pipeline cleanly (final commit included) and removes its actors."""
    try:
        pipeline.stop()
        pipeline.wait(timeout=60)
    finally:
        pipeline.shutdown()


def shard_records(client: Any, stream: str) -> dict[str, list[dict[str, Any]]]:
    """Every record of every shard of ``stream``, read with plain boto3."""
    result: dict[str, list[dict[str, Any]]] = {}
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=10000)
            records.extend(response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
        result[shard["ShardId"]] = records
    return result
