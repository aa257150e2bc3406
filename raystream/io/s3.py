"""``pw.io.s3``: S3 connection settings (``AwsS3Settings``), as in Pathway.

raystream uses them for the S3 persistence backend
(``pw.persistence.Backend.s3``); S3 read/write connectors are not implemented.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raystream.connectors.checkpoint_s3 import (
    S3Credentials,
    bucket_region,
    capture_credentials,
    default_endpoint,
    default_region,
)
from raystream.connectors.storage_base import StorageError
from raystream.errors import ApiValueError, api_error, settings_error

_SECRETS = ("access_key", "secret_access_key", "session_token")
_S3_PREFIXES = ("s3://", "s3a://")


class AwsS3Settings(BaseModel):
    """Amazon S3 connection settings; also for any S3 service (MinIO, Ceph, moto).

    Secrets never appear in ``repr`` or error messages. A setting left as None
    is taken from the environment of the process that builds the backend
    (``Backend.s3`` captures it once, like ``pw.io.kinesis``): ``AWS_REGION``,
    ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, and boto3's credentials
    (env, profile). Refreshable credentials (instance roles) are resolved again
    in every process.

    Args:
        bucket_name: Name of the S3 bucket.
        access_key: Access key id.
        secret_access_key: Secret access key.
        with_path_style: Path-style requests (``endpoint/bucket/key``), which
            most self-hosted services need.
        region: Region of the bucket.
        endpoint: Endpoint URL of a self-hosted service (``http://host:port``).
        session_token: Session token of temporary credentials.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    bucket_name: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[^/\s]+$")
    access_key: str | None = Field(None, repr=False)
    secret_access_key: str | None = Field(None, repr=False)
    with_path_style: bool = False
    region: str | None = Field(None, min_length=1)
    endpoint: str | None = Field(None, pattern=r"^https?://\S+$")
    session_token: str | None = Field(None, repr=False)

    def __init__(self, *, bucket_name: str | None = None, access_key: str | None = None,
                 secret_access_key: str | None = None, with_path_style: bool = False,
                 region: str | None = None, endpoint: str | None = None,
                 session_token: str | None = None) -> None:
        try:
            super().__init__(bucket_name=bucket_name, access_key=access_key,
                             secret_access_key=secret_access_key,
                             with_path_style=with_path_style, region=region, endpoint=endpoint,
                             session_token=session_token)
        except ValidationError as exc:
            raise settings_error("pw.io.s3.AwsS3Settings", exc, _SECRETS) from None
        if (access_key is None) != (secret_access_key is None):
            raise api_error(ApiValueError, "pw.io.s3.AwsS3Settings: give both access_key and "
                                           "secret_access_key, or neither (then boto3's "
                                           "credentials from the environment are used)")

    @classmethod
    def new_from_path(cls, s3_path: str) -> AwsS3Settings:
        """Settings for the bucket of ``s3://bucket/...``, with its region looked up.

        Credentials and the endpoint come from the environment.

        Raises:
            ApiValueError: Not an ``s3://`` path, or the bucket's region cannot
                be looked up (missing bucket, no access).
        """
        bucket = split_s3_path(s3_path, "pw.io.s3.AwsS3Settings.new_from_path")[0]
        try:
            region = bucket_region(bucket, default_endpoint(), capture_credentials())
        except StorageError as exc:
            raise api_error(ApiValueError, f"pw.io.s3.AwsS3Settings.new_from_path: {exc}") \
                from None
        return cls(bucket_name=bucket, region=region)

    def credentials(self) -> S3Credentials | None:
        """The explicit credentials, if any (None: boto3's default chain)."""
        if self.access_key is None and self.session_token is None:
            return None
        return S3Credentials(self.access_key, self.secret_access_key, self.session_token)

    def resolved(self) -> AwsS3Settings:
        """A copy with region, endpoint and static credentials taken from this environment."""
        update: dict[str, Any] = {"region": self.region or default_region(),
                                  "endpoint": self.endpoint or default_endpoint()}
        if self.access_key is None and (captured := capture_credentials()) is not None:
            update.update(access_key=captured.access_key,
                          secret_access_key=captured.secret_key,
                          session_token=self.session_token or captured.session_token)
        return self.model_copy(update=update)


def split_s3_path(path: str, where: str) -> tuple[str, str]:
    """Splits ``s3://bucket/key/prefix`` into ``(bucket, "key/prefix")``.

    Raises:
        ApiValueError: ``path`` does not start with ``s3://`` (or ``s3a://``)
            followed by a bucket name.
    """
    for prefix in _S3_PREFIXES:
        if isinstance(path, str) and path.startswith(prefix):
            bucket, _, key = path[len(prefix):].partition("/")
            if bucket:
                return bucket, key.strip("/")
    raise api_error(ApiValueError, f"{where}: {path!r} is not an S3 path (s3://bucket/path)")
