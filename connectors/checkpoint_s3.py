"""Checkpoint storage in an S3 bucket (AWS or any S3 API: MinIO, moto, Ceph) via boto3.

A PUT replaces a whole object atomically, so :meth:`S3Storage.write` needs no
temp object. Listing pages through ``ListObjectsV2``; deleting goes in
``DeleteObjects`` batches of 1000 keys.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from raystream.connectors.storage_base import (
    StorageError,
    StorageMissing,
    StorageUnwritable,
    check_path,
    check_prefix,
    probe_storage,
)

DEFAULT_REGION = "us-east-1"
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Credentials:
    """Explicit S3 credentials (secrets are left out of ``repr``).

    Attributes:
        access_key: The access key id.
        secret_key: The secret access key.
        session_token: A session token of temporary credentials, if any.
    """

    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


def capture_credentials() -> S3Credentials | None:
    """Returns this process's AWS credentials (env, profile) frozen, if static.

    Refreshable credentials (instance roles, SSO) are not frozen: the storage
    then resolves them in each process with boto3's default chain.
    """
    import boto3
    from botocore.credentials import RefreshableCredentials

    credentials = boto3.Session().get_credentials()
    if credentials is None or isinstance(credentials, RefreshableCredentials):
        return None
    frozen = credentials.get_frozen_credentials()
    return S3Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def default_region() -> str:
    """``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's region, else us-east-1."""
    import boto3

    return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or boto3.Session().region_name or DEFAULT_REGION)


def default_endpoint() -> str | None:
    """``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (None: AWS itself)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


class S3Storage:
    """Objects under ``s3://bucket/root/``.

    Attributes:
        page_size: Keys per ``ListObjectsV2`` page (AWS's maximum: 1000).
        delete_batch: Keys per ``DeleteObjects`` call (AWS's maximum: 1000).

    Args:
        bucket: The bucket name (the bucket must exist).
        root: Key prefix of every object (``""``: the bucket's top level).
        endpoint: Endpoint URL of a non-AWS S3 service (None: AWS).
        credentials: Explicit credentials (None: boto3's default chain in the
            process that uses the storage).
        region: The bucket's region (None: boto3's default, else us-east-1).
        path_style: Path-style requests (``endpoint/bucket/key``), which most
            self-hosted services need.
    """

    page_size = 1000
    delete_batch = 1000

    def __init__(self, bucket: str, root: str = "", *, endpoint: str | None = None,
                 credentials: S3Credentials | None = None, region: str | None = None,
                 path_style: bool = False) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"bad S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.root = root.strip("/")
        if self.root:
            check_path(self.root)
        self.endpoint = endpoint
        self.credentials = credentials
        self.region = region
        self.path_style = path_style
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Storage({self.location('')!r}, endpoint={self.endpoint!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _client=None, _lock=threading.Lock())

    def client(self) -> Any:
        """The boto3 S3 client (created on first use, one per storage object)."""
        with self._lock:
            if self._client is None:
                self._client = make_client(self.endpoint, self.credentials, self.region,
                                           self.path_style)
            return self._client

    def _key(self, path: str) -> str:
        return f"{self.root}/{path}" if self.root else path

    def location(self, path: str) -> str:  # noqa: D102
        return f"s3://{self.bucket}/{self._key(path) if path else self.root}"

    def write(self, path: str, data: bytes) -> None:  # noqa: D102
        key = self._key(check_path(path))
        try:
            self.client().put_object(Bucket=self.bucket, Key=key, Body=bytes(data))
        except _errors() as exc:
            raise StorageUnwritable(self.location(path), _describe(exc)) from exc

    def read(self, path: str) -> bytes:  # noqa: D102
        key = self._key(check_path(path))
        try:
            return bytes(self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except _errors() as exc:
            if _code(exc) in _MISSING_CODES:
                raise StorageMissing(self.location(path), "no such object") from exc
            if _code(exc) == "NoSuchBucket":
                raise StorageMissing(self.location(path), "no such bucket") from exc
            raise StorageError(self.location(path), f"cannot be read: {_describe(exc)}") from exc

    def list(self, prefix: str) -> list[str]:  # noqa: D102
        prefix = check_prefix(prefix)
        start = len(self._key(""))
        try:
            return sorted(key[start:] for key in self._keys(self._key(prefix)))
        except _errors() as exc:
            raise StorageError(self.location(prefix),
                               f"cannot be listed: {_describe(exc)}") from exc

    def _keys(self, prefix: str) -> Iterator[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size})
        for page in pages:
            for entry in page.get("Contents", ()):
                yield entry["Key"]

    def delete(self, paths: Iterable[str]) -> None:  # noqa: D102
        keys = [self._key(check_path(p)) for p in paths]
        for start in range(0, len(keys), self.delete_batch):
            batch = [{"Key": key} for key in keys[start:start + self.delete_batch]]
            try:
                answer = self.client().delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except _errors() as exc:
                raise StorageUnwritable(f"s3://{self.bucket}/{batch[0]['Key']}",
                                        f"cannot be deleted: {_describe(exc)}") from exc
            for error in answer.get("Errors", ()):
                raise StorageUnwritable(f"s3://{self.bucket}/{error.get('Key')}",
                                        f"cannot be deleted: {error.get('Code')}: "
                                        f"{error.get('Message')}")

    def probe(self) -> None:  # noqa: D102
        probe_storage(self)


def make_client(endpoint: str | None, credentials: S3Credentials | None, region: str | None,
                path_style: bool) -> Any:
    """Returns a boto3 S3 client with retries (standard mode, 5 attempts) and timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path" if path_style else "auto"},
                    retries={"mode": "standard", "total_max_attempts": 5},
                    connect_timeout=5, read_timeout=60)
    creds = credentials or S3Credentials()
    return boto3.Session().client(
        "s3", endpoint_url=endpoint, region_name=region, config=config,
        aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.session_token)


def bucket_region(bucket: str, endpoint: str | None = None,
                  credentials: S3Credentials | None = None) -> str:
    """Returns the region of ``bucket`` (``GetBucketLocation``; None means us-east-1).

    Raises:
        StorageError: The bucket cannot be looked up (missing, no access).
    """
    client = make_client(endpoint, credentials, None, False)
    try:
        constraint = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except _errors() as exc:
        raise StorageError(f"s3://{bucket}", f"region lookup failed: {_describe(exc)}") from exc
    return str(constraint).split("|")[0] if constraint else DEFAULT_REGION


def _errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return ClientError, BotoCoreError


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def _describe(exc: Exception) -> str:
    return f"{_code(exc)}: {exc}" if getattr(exc, "response", None) else str(exc)
