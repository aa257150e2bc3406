"""GetRecords and PutRecords as signed HTTP calls encoded and decoded in bulk.

botocore validates, serialises and parses every record by walking the service
model (and turns each arrival timestamp into a datetime): about 30 µs per
record, more than the rest of the connector together. These functions send
the same JSON 1.1 requests, signed by the client's own signer (credentials,
refresh and region behave exactly as in boto3), through the client's own HTTP
session (same timeouts and connection pool), and encode/decode the bodies with
``json`` and ``binascii``. Service errors become the ``ClientError`` boto3
would raise, so callers classify them (throttling, expired iterator) the same
way. The ``*_boto3`` twins make the same calls through boto3 (used with
injected clients, e.g. botocore's Stubber in tests).
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

_PREFIX = "Kinesis_20131202."
_CONTENT_TYPE = "application/x-amz-json-1.1"
_STATUS_CODES = {500: "InternalFailure", 502: "ServiceUnavailable", 503: "ServiceUnavailable",
                 504: "ServiceUnavailable", 429: "ThrottlingException"}


@dataclass(frozen=True)
class Records:
    """One GetRecords response.

    Attributes:
        payloads: Record data, decoded from base64.
        sequences: Record sequence numbers, in order.
        next_iterator: ``NextShardIterator`` (None: the closed shard was read to its end).
        millis_behind: ``MillisBehindLatest``.
    """

    payloads: list[bytes]
    sequences: list[str]
    next_iterator: str | None
    millis_behind: int


def get_records_boto3(client: Any, iterator: str, limit: int) -> Records:
    """GetRecords through boto3."""
    response = client.get_records(ShardIterator=iterator, Limit=limit)
    records = response.get("Records", [])
    return Records([r["Data"] for r in records], [r["SequenceNumber"] for r in records],
                   response.get("NextShardIterator"), response.get("MillisBehindLatest") or 0)


def get_records_fast(client: Any, iterator: str, limit: int) -> Records:
    """GetRecords with the client's signer and HTTP session, decoded in bulk.

    Raises:
        botocore.exceptions.ClientError: The service answered with an error.
        botocore.exceptions.BotoCoreError: Connection failures, as in boto3.
    """
    body = json.dumps({"ShardIterator": iterator, "Limit": limit}).encode()
    document = _call(client, "GetRecords", body)
    records = document.get("Records") or []
    a2b = binascii.a2b_base64
    return Records([a2b(r["Data"]) for r in records], [r["SequenceNumber"] for r in records],
                   document.get("NextShardIterator"), document.get("MillisBehindLatest") or 0)


def put_records_boto3(client: Any, stream: str, data: list[bytes],
                      keys: list[str]) -> list[str | None]:
    """PutRecords through boto3; returns each entry's error code (None: written)."""
    entries = [{"Data": d, "PartitionKey": k} for d, k in zip(data, keys, strict=True)]
    response = client.put_records(StreamName=stream, Records=entries)
    if not response.get("FailedRecordCount"):
        return [None] * len(entries)
    return [r.get("ErrorCode") for r in response["Records"]]


def put_records_fast(client: Any, stream: str, data: list[bytes],
                     keys: list[str]) -> list[str | None]:
    """PutRecords with a body built in bulk; returns each entry's error code (None: written).

    Raises:
        botocore.exceptions.ClientError: The whole call failed (e.g. throttled).
    """
    b2a = binascii.b2a_base64
    quote = json.dumps
    entries = b",".join(b'{"Data":"%s","PartitionKey":%s}' % (b2a(d, newline=False),
                                                               quote(k).encode())
                        for d, k in zip(data, keys, strict=True))
    body = b'{"StreamName":%s,"Records":[%s]}' % (quote(stream).encode(), entries)
    document = _call(client, "PutRecords", body)
    if not document.get("FailedRecordCount"):
        return [None] * len(data)
    return [r.get("ErrorCode") for r in document["Records"]]


def _call(client: Any, operation: str, body: bytes) -> dict[str, Any]:
    """Signs and sends one JSON 1.1 request; returns the decoded answer."""
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=client.meta.endpoint_url.rstrip("/") + "/",
                         data=body, headers={"X-Amz-Target": _PREFIX + operation,
                                             "Content-Type": _CONTENT_TYPE})
    client._request_signer.sign(operation, request)
    response = client._endpoint.http_session.send(request.prepare())
    if response.status_code != 200:
        raise _client_error(operation, response.status_code, response.content, response.headers)
    return json.loads(response.content)


def _client_error(operation: str, status: int, content: bytes, headers: Any) -> Exception:
    from botocore.exceptions import ClientError

    code, message = None, content[:300].decode("utf-8", "replace")
    try:
        document = json.loads(content)
        code = document.get("__type") or document.get("code")
        message = document.get("message") or document.get("Message") or message
    except ValueError:
        pass
    code = code or headers.get("x-amzn-ErrorType") or _STATUS_CODES.get(status, f"HTTP{status}")
    code = code.split("#")[-1].split(":")[0]
    error = {"Error": {"Code": code, "Message": message},
             "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(error, operation)
