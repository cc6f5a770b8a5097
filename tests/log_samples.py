"""Realistic MinIO log lines and audit events, with the secrets each carries and the labels it must get.

Shaped on events a real MinIO sent to a webhook here (`tests/integration/test_logs.py` checks the
live ones too) and on the field notes §6. Encoded as Go's encoder does (compact, and ``&``, ``<``,
``>`` escaped as ``\\u0026``...), because that is what arrives. Every key below is made up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ACCESS_KEY = "Q3AM3UQ867SPQQA43P2F"
SECRET_KEY = "zuf+tfteSlswRu7BJ86wekitnifILbZam1KYY3TG"
SIGNATURE = "0c811c0d75c755ef9a6e9b95d184199d3b984d9732ba1140d05c829889ab50c5"
SESSION_TOKEN = (
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3NLZXkiOiJRM0FNM1VRODY3U1BRUUE0M1AyRiJ9."
    "kNq3v2mVb9dQzXwC8aLrY0uE1tS5fG7hJ6iK4oP9nM2bV3cX1zA8sD5fG0hJ7kL4"
)
SERVICE_ACCOUNT = "JI3XNSUZF62EJASX70L7"
EMAIL = "jane.tremblay@example.org"
USERNAME = "jtremblay"
SUBJECT = "3f1c9a2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"


def go_json(value: dict) -> str:
    """One line as Go's encoding/json writes it (HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _audit(name: str, status: int, path: str, **fields) -> dict:
    return {
        "version": "1",
        "deploymentid": "ae18cf98-6576-48b0-8288-931e63529fea",
        "time": "2026-11-25T17:20:05.464326025Z",
        "event": "",
        "trigger": "incoming",
        "api": {"name": name, "status": "OK" if status < 400 else "Forbidden", "statusCode": status},
        "remotehost": "172.31.0.7",
        "requestID": "18EB596DF9DFDC28",
        "userAgent": "aws-sdk-go-v2/1.30.3",
        "requestPath": path,
        "requestHost": "s3.example.com",
        **fields,
    }


def _sigv4(access_key: str = ACCESS_KEY) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/20261125/us-east-1/s3/aws4_request, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={SIGNATURE}"
    )


@dataclass(frozen=True)
class Sample:
    what: str
    listener: str
    entry: dict
    secrets: tuple[str, ...]
    labels: dict[str, str]
    kept: tuple[str, ...] = ()
    """Non-secret text that must survive redaction."""

    @property
    def line(self) -> str:
        return go_json(self.entry)


def _labels(stream: str, **labels: str) -> dict[str, str]:
    return {"source": "minio", "stream": stream, **labels}


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "signed PutObject",
        "minio_audit",
        _audit(
            "PutObject",
            200,
            "/application-files/reports/2026.pdf",
            requestHeader={"Authorization": _sigv4(), "X-Amz-Date": "20261125T172005Z"},
            tags={"PutObject": "name=reports/2026.pdf,pool=1,set=1"},
            accessKey=ACCESS_KEY,
        ),
        (ACCESS_KEY, SIGNATURE),
        _labels("audit", level="info", operation_type="write"),
        ("application-files", "reports/2026.pdf", "PutObject"),
    ),
    Sample(
        "presigned GetObject",
        "minio_audit",
        _audit(
            "GetObject",
            200,
            "/logs/app.log",
            requestQuery={
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"{ACCESS_KEY}/20261125/us-east-1/s3/aws4_request",
                "X-Amz-Date": "20261125T172005Z",
                "X-Amz-Expires": "604800",
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": SIGNATURE,
            },
            accessKey=ACCESS_KEY,
        ),
        (ACCESS_KEY, SIGNATURE),
        _labels("audit", level="info", operation_type="read"),
        ("X-Amz-Expires",),
    ),
    Sample(
        "request with an STS session token, from an OIDC login",
        "minio_audit",
        _audit(
            "s3.ListObjectsV2",
            200,
            "/backups-postgresql/",
            requestHeader={"Authorization": _sigv4(), "X-Amz-Security-Token": SESSION_TOKEN},
            requestClaims={
                "accessKey": ACCESS_KEY,
                "email": EMAIL,
                "preferred_username": USERNAME,
                "sub": SUBJECT,
                "policy": ["readonly"],
            },
            accessKey=ACCESS_KEY,
            parentUser=f"openid:{SUBJECT}",
        ),
        (ACCESS_KEY, SIGNATURE, SESSION_TOKEN, EMAIL, USERNAME, SUBJECT),
        _labels("audit", level="info", operation_type="read"),
        ("readonly", "backups-postgresql"),
    ),
    Sample(
        "AssumeRoleWithWebIdentity: the identity token in the query",
        "minio_audit",
        _audit(
            "AssumeRoleWithWebIdentity",
            200,
            "/",
            requestQuery={
                "Action": "AssumeRoleWithWebIdentity",
                "WebIdentityToken": SESSION_TOKEN,
                "Version": "2011-06-15",
            },
        ),
        (SESSION_TOKEN,),
        _labels("audit", level="info"),
        ("AssumeRoleWithWebIdentity",),
    ),
    Sample(
        "denied DeleteObject",
        "minio_audit",
        _audit(
            "DeleteObject",
            403,
            "/logs/2026/11/app.log",
            requestHeader={"Authorization": _sigv4()},
            accessKey=ACCESS_KEY,
            error="Access Denied.",
        ),
        (ACCESS_KEY, SIGNATURE),
        _labels("audit", level="warning", operation_type="delete", security_event="access_denied"),
        ("Access Denied.",),
    ),
    Sample(
        "admin API: a service account created (its key in the IAM path tags)",
        "minio_audit",
        _audit(
            "AddServiceAccount",
            200,
            "/minio/admin/v3/add-service-account",
            requestHeader={"Authorization": _sigv4("minio-root")},
            tags={
                "PutObject": f"name=config/iam/service-accounts/{SERVICE_ACCOUNT}/identity.json,pool=1,set=1",
                "GetObject": f"name=config/iam/policydb/users/{SERVICE_ACCOUNT}.json,pool=1,set=1",
            },
            accessKey="minio-root",
        ),
        ("minio-root", SERVICE_ACCOUNT, SIGNATURE),
        _labels("audit", level="info", security_event="admin_action"),
        ("config/iam/service-accounts/",),
    ),
    Sample(
        "metrics scrape with the Prometheus bearer token",
        "minio_audit",
        _audit(
            "Prometheus",
            200,
            "/minio/v2/metrics/cluster",
            requestHeader={"Authorization": f"Bearer {SESSION_TOKEN}"},
        ),
        (SESSION_TOKEN,),
        _labels("audit", level="info"),
        ("/minio/v2/metrics/cluster",),
    ),
    Sample(
        "server error quoting a presigned URL and the secret key",
        "minio_server",
        {
            "level": "ERROR",
            "errKind": "MINIO",
            "time": "2026-11-25T17:21:00.000000000Z",
            "api": {"name": "GetObject", "args": {"bucket": "logs", "object": "app.log"}},
            "remotehost": "172.31.0.7",
            "requestID": "18EB596DF9DFDC29",
            "message": (
                f"http://minio1:9000/logs/app.log?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ACCESS_KEY}"
                f"%2F20261125%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature={SIGNATURE}: read failed"
            ),
            "error": {
                "message": "unexpected EOF",
                "source": ["cmd/object-handlers.go:512:cmd.objectAPIHandlers.GetObjectHandler()"],
                "variables": {"secretKey": SECRET_KEY, "bucket": "logs"},
            },
        },
        (ACCESS_KEY, SIGNATURE, SECRET_KEY),
        _labels("server", level="error", operation_type="read"),
        ("unexpected EOF", "read failed", "cmd/object-handlers.go"),
    ),
    Sample(
        "server warning with a free-text SigV4 header and an e-mail",
        "minio_server",
        {
            "level": "WARNING",
            "errKind": "ALL",
            "time": "2026-11-25T17:22:00.000000000Z",
            "message": f"rejected {_sigv4()} from {EMAIL}",
        },
        (ACCESS_KEY, SIGNATURE, EMAIL),
        _labels("server", level="warning"),
        ("rejected",),
    ),
    Sample(
        "server info without an API",
        "minio_server",
        {"level": "INFO", "errKind": "", "time": "2026-11-25T17:23:00Z", "message": "Healing drive 1/4"},
        (),
        _labels("server", level="info"),
        ("Healing drive 1/4",),
    ),
)
