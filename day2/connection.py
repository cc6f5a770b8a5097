"""Where the day-2 tools connect, and with which credentials: stack outputs, or the environment.

Stack outputs are what ``pulumi stack output --json --show-secrets`` prints, from a file or stdin.
Without them, ``--endpoint`` and ``MINIO_ACCESS_KEY`` / ``MINIO_SECRET_KEY`` (the variables the
original shell scripts used; ``MINIO_SECRET_KEY_FILE`` names a file holding the secret key instead,
as the stack's backup service gives it) name the cluster and the identity.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, SSLError
from minio.error import MinioAdminException
from urllib3.exceptions import MaxRetryError

from day2.errors import StorageError, UsageError

ROOT = "root"
"""``--account`` value naming the root identity from the outputs: for emergencies only."""
AUDITOR = "auditor"
"""``--account`` value naming ``platform-auditor``, the read-only identity of verify and compliance."""

DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


@dataclass(frozen=True)
class Connection:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def __repr__(self) -> str:  # never show the secret key, not even in a traceback
        return f"Connection(endpoint={self.endpoint!r}, access_key={self.access_key!r})"

    def s3(self, attempts: int = 3):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": attempts},
                connect_timeout=5,
                read_timeout=120,
            ),
        )


def read_outputs(source: str, require_secrets: bool = True) -> dict[str, Any]:
    """Stack outputs from a file, or from stdin when ``source`` is ``-``.

    ``require_secrets``: refuse outputs read without ``--show-secrets`` (the tools need the keys).
    """
    stream: IO[str]
    try:
        if source == "-":
            stream = sys.stdin
            text = stream.read()
        else:
            with open(source) as stream:
                text = stream.read()
    except OSError as err:
        raise UsageError(f"cannot read stack outputs from {source}: {err.strerror}") from err
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"stack outputs in {source} are not JSON ({err.msg}, line {err.lineno})") from err
    if not isinstance(outputs, dict) or "s3_endpoint" not in outputs:
        raise UsageError(f"{source} is not this stack's outputs (no s3_endpoint)")
    if require_secrets and outputs.get("minio_root_password") == "[secret]":
        raise UsageError(f"{source} has its secrets masked: use `pulumi stack output --json --show-secrets`")
    return outputs


def connection_for(
    account: str | None, outputs: dict[str, Any] | None, endpoint: str | None, region: str | None = None
) -> Connection:
    """The connection for ``account`` (a service account name, ``auditor`` or ``root``) or the
    environment's keys."""
    if outputs is None:
        access_key, secret_key = os.environ.get("MINIO_ACCESS_KEY"), os.environ.get("MINIO_SECRET_KEY")
        secret_file = os.environ.get("MINIO_SECRET_KEY_FILE")
        if not secret_key and secret_file:
            try:
                secret_key = Path(secret_file).read_text().strip()
            except OSError as err:
                raise UsageError(f"cannot read MINIO_SECRET_KEY_FILE {secret_file}: {err.strerror}") from err
        if not endpoint or not access_key or not secret_key:
            raise UsageError(
                "no credentials: pass --outputs (stack outputs), or --endpoint with MINIO_ACCESS_KEY and "
                "MINIO_SECRET_KEY (or MINIO_SECRET_KEY_FILE, a file holding it) in the environment"
            )
        return Connection(endpoint, access_key, secret_key, region or "us-east-1")
    endpoint = endpoint or outputs["s3_endpoint"]
    region = region or outputs.get("region", "us-east-1")
    if account == ROOT:
        return Connection(endpoint, outputs["minio_root_user"], outputs["minio_root_password"], region)
    if account == AUDITOR:
        if "minio_auditor_user" not in outputs:
            raise UsageError(
                "the stack outputs hold no auditor identity (minio_auditor_user): a stack that manages "
                f"nothing inside MinIO has none; --account {ROOT} checks as root (emergencies only)"
            )
        return Connection(endpoint, outputs["minio_auditor_user"], outputs["minio_auditor_password"], region)
    access_keys = outputs.get("service_account_access_keys", {})
    if account not in access_keys:
        raise UsageError(
            f"no service account {account!r} in the stack outputs (known: {sorted(access_keys)})"
        )
    return Connection(endpoint, access_keys[account], outputs["service_account_secret_keys"][account], region)


@contextmanager
def refusals_named(connection: Connection) -> Iterator[None]:
    """Within: the cluster refusing ``connection``'s keys is a :class:`StorageError` naming its
    identity, from the S3 API (boto3) or the admin API (MinIO's SDK) alike."""
    try:
        yield
    except (ClientError, MinioAdminException) as err:
        code = denied_code(err)
        if code:
            raise StorageError(
                f"the cluster refused the credentials of {connection.access_key} ({code})"
            ) from err
        if isinstance(err, MinioAdminException):
            raise StorageError(f"MinIO's admin API failed: {err}") from err
        raise


def denied_code(err: Exception) -> str:
    """The error code of the cluster refusing the credentials (one of :data:`DENIED_CODES`), from
    the S3 API (boto3) or the admin API (MinIO's SDK); ``""`` for any other error."""
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
    elif isinstance(err, MinioAdminException):
        code = _admin_error_code(err)
    else:
        return ""
    return code if code in DENIED_CODES else ""


def _admin_error_code(err: MinioAdminException) -> str:
    """The S3-style error code in an admin API answer's JSON body (``Code``), or ``""``."""
    try:
        body = json.loads(err._body)  # the SDK keeps the answer only there
    except (TypeError, ValueError):
        return ""
    return body.get("Code", "") if isinstance(body, dict) else ""


def _untrusted(where: str, reason: object) -> StorageError:
    return StorageError(
        f"cannot verify the certificate of {where} ({reason}): trust the authority that signed it: its "
        "PEM file in AWS_CA_BUNDLE (S3) and SSL_CERT_FILE (the admin API)"
    )


def storage_error(err: Exception) -> Exception:
    """A clear error for an endpoint that cannot be reached or whose certificate cannot be verified
    (boto3's, or the MinIO SDK's for the admin API), for refused credentials, or for a failed admin
    call; other errors unchanged."""
    if isinstance(err, SSLError):
        return _untrusted(err.kwargs.get("endpoint_url", "the endpoint"), err.kwargs.get("error"))
    if isinstance(err, EndpointConnectionError):
        return StorageError(f"cannot reach {err.kwargs.get('endpoint_url', 'the endpoint')}")
    if isinstance(err, MaxRetryError):
        where = f"{err.pool.scheme}://{err.pool.host}:{err.pool.port}" if err.pool else "the endpoint"
        if isinstance(err.reason, urllib3.exceptions.SSLError):
            return _untrusted(where, err.reason)
        return StorageError(f"cannot reach {where} ({err.reason})")
    code = denied_code(err)
    if code:
        return StorageError(f"the cluster refused the credentials ({code})")
    if isinstance(err, MinioAdminException):
        return StorageError(f"MinIO's admin API failed: {err}")
    return err
