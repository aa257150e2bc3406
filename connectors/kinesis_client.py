"""Kinesis connection settings, client creation, error classes and backoff.

Connection settings are resolved once, in the driver, the way boto3 resolves
them (``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_KINESIS``, ``AWS_REGION`` or
``AWS_DEFAULT_REGION``, the credential chain) and travel inside the picklable
source and sink specs: Ray workers keep the environment they had when Ray
started, so they must not resolve the endpoint themselves.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass, field
from typing import Any

THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "LimitExceededException",
    "ThrottlingException", "Throttling", "KMSThrottlingException",
    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown",
})
"""Error codes that mean "too fast": retried with exponential backoff."""

TRANSIENT_CODES = frozenset({
    "InternalFailure", "InternalFailureException", "InternalServerError",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
})
"""Error codes of passing service failures: retried with backoff too."""


class KinesisError(RuntimeError):
    """A Kinesis call failed for a reason retrying will not fix; the message says which."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and as whom to connect, resolved in the driver.

    Attributes:
        region: AWS region name.
        endpoint_url: Endpoint URL as boto3 resolved it (a local kinesalite or
            moto URL, or AWS's regional endpoint); None lets boto3 decide.
        access_key: Static access key id, or None to let each process use its
            own credential chain (instance roles, SSO: credentials that refresh).
        secret_key: Secret of ``access_key``.
        session_token: Session token of temporary static credentials.
        profile: ``AWS_PROFILE`` when credentials are left to each process.
        connect_timeout_s: TCP connect timeout per call.
        read_timeout_s: Response timeout per call.
    """

    region: str
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    def describe(self) -> str:
        """Returns ``endpoint (region)`` for error messages."""
        return f"{self.endpoint_url or 'AWS'} (region {self.region})"


def capture_settings(where: str) -> ConnectionSettings:
    """Resolves the connection settings from this process's environment.

    Args:
        where: The API call, for error messages (``"kinesis.read"``).

    Raises:
        KinesisError: If no region or no credentials can be found.
    """
    import boto3
    from botocore.credentials import RefreshableCredentials

    profile = os.environ.get("AWS_PROFILE") or None
    session = boto3.Session(profile_name=profile)
    region = os.environ.get("AWS_REGION") or session.region_name
    if not region:
        raise KinesisError(f"{where}: no AWS region: set AWS_REGION (e.g. us-east-1)")
    endpoint = session.client("kinesis", region_name=region).meta.endpoint_url
    credentials = session.get_credentials()
    if credentials is None:
        raise KinesisError(
            f"{where}: no AWS credentials found: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (any values work for a local endpoint such as kinesalite)")
    if isinstance(credentials, RefreshableCredentials):
        return ConnectionSettings(region=region, endpoint_url=endpoint, profile=profile)
    frozen = credentials.get_frozen_credentials()
    return ConnectionSettings(region=region, endpoint_url=endpoint, access_key=frozen.access_key,
                              secret_key=frozen.secret_key, session_token=frozen.token)


_clients: dict[tuple[ConnectionSettings, int], Any] = {}
_clients_lock = threading.Lock()


def make_client(settings: ConnectionSettings, pool_size: int = 10) -> Any:
    """Returns a boto3 Kinesis client for ``settings`` (one per settings and process).

    botocore's own retries are off: the connector retries with per-shard
    backoff so that a throttled shard never blocks the others.
    """
    key = (settings, pool_size)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(settings, pool_size)
        return client


def _new_client(settings: ConnectionSettings, pool_size: int) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=settings.profile) if settings.profile \
        else boto3.Session()
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=settings.connect_timeout_s,
                    read_timeout=settings.read_timeout_s, max_pool_connections=pool_size)
    return session.client(
        "kinesis", region_name=settings.region, endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key, aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token, config=config)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError``, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, passing service failures and connection errors."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    code = error_code(exc)
    if code is not None:
        return code in THROTTLING_CODES or code in TRANSIENT_CODES
    return isinstance(exc, (BotoConnectionError, HTTPClientError))


@dataclass
class Backoff:
    """Exponential backoff with jitter ("equal jitter": half fixed, half random).

    The n-th consecutive failure waits between ``d/2`` and ``d`` with
    ``d = min(cap_s, base_s * 2**n)``; a success resets the count.

    Attributes:
        base_s: First delay bound.
        cap_s: Largest delay bound.
        attempts: Consecutive failures so far.
        rng: Random source (seedable in tests).
    """

    base_s: float = 0.05
    cap_s: float = 5.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """Returns the delay before the next attempt and counts the failure."""
        bound = min(self.cap_s, self.base_s * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return bound / 2 + self.rng.uniform(0, bound / 2)

    def reset(self) -> None:
        """Forgets the failures after a success."""
        self.attempts = 0
