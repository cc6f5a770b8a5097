"""Check a live deployment against its stack outputs: nodes, quorum, buckets, identities, endpoints.

Each check yields one row: what was checked, whether it held, and why not. Identities are probed
for real: each service account lists, reads, writes and deletes a probe object under
``.platform-verify/`` in every configured bucket, and must succeed exactly where its policy
allows. The checking identity (``platform-auditor``, read-only but for that prefix; root only when
asked for) puts the probe objects first and removes every version of them afterwards.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from minio.credentials import StaticProvider
from minio.minioadmin import MinioAdmin

from day2.buckets import default_encryption, expiration_days, object_lock_enabled
from day2.connection import AUDITOR, Connection, connection_for, refusals_named

PROBE_PREFIX = ".platform-verify/"
PROBES = ("s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def admin_client(connection: Connection) -> MinioAdmin:
    url = urlparse(connection.endpoint)
    return MinioAdmin(
        endpoint=url.netloc,
        credentials=StaticProvider(connection.access_key, connection.secret_key),
        region=connection.region,
        secure=url.scheme == "https",
    )


def http_status(url: str, token: str | None = None, timeout: float = 10) -> tuple[int | None, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 (the stack's own http(s) endpoints)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return None, b""


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` and no Deny takes it back.

    Enough IAM for the templates in policies/iam/: wildcards in actions and resources, no conditions.
    """

    def matches(statement: dict, key: str, value: str) -> bool:
        patterns = statement.get(key, [])
        patterns = [patterns] if isinstance(patterns, str) else patterns
        return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)

    applicable = [
        s
        for s in policy.get("Statement", [])
        if matches(s, "Action", action) and matches(s, "Resource", resource)
    ]
    return any(s["Effect"] == "Allow" for s in applicable) and not any(
        s["Effect"] == "Deny" for s in applicable
    )


def check_nodes(admin: MinioAdmin, outputs: dict[str, Any]) -> Iterator[Check]:
    info = json.loads(admin.info())
    servers = info.get("servers", [])
    expected = len(outputs["minio_nodes"])
    offline = [s.get("endpoint", "?") for s in servers if s.get("state") != "online"]
    online = len(servers) - len(offline)
    yield Check(
        "nodes online",
        online == expected and not offline,
        f"{online} of {expected} online" + (f"; offline: {', '.join(offline)}" if offline else ""),
    )
    drives = [d for s in servers for d in s.get("drives", [])]
    bad = [f"{d.get('endpoint', '?')} ({d.get('state')})" for d in drives if d.get("state") != "ok"]
    yield Check(
        "drives online",
        not bad and bool(drives),
        f"{len(drives) - len(bad)} of {len(drives)} ok" + (f"; not ok: {', '.join(bad)}" if bad else ""),
    )


def check_quorum(outputs: dict[str, Any]) -> Check:
    status, _ = http_status(f"{outputs['s3_endpoint']}/minio/health/cluster")
    return Check("write quorum", status == 200, f"/minio/health/cluster answered {status}")


def check_buckets(s3, outputs: dict[str, Any]) -> Iterator[Check]:
    for name, expected in sorted(outputs.get("bucket_configuration", {}).items()):
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as err:
            yield Check(f"bucket {name}", False, f"missing ({err.response['Error']['Code']})")
            continue
        problems = []
        days, _ = expiration_days(s3, name)
        if days != expected["retention_days"]:
            problems.append(f"expiration {days} days, expected {expected['retention_days']}")
        versioning = s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
        if versioning != expected["versioning"]:
            problems.append(f"versioning {_on(versioning)}, expected {_on(expected['versioning'])}")
        encrypted = default_encryption(s3, name) is not None
        if encrypted != expected["encryption"]:
            problems.append(f"encryption {_on(encrypted)}, expected {_on(expected['encryption'])}")
        if "object_lock" in expected:  # outputs of a stack made before object lock had no such key
            locked, wanted = object_lock_enabled(s3, name), expected["object_lock"] is not None
            if locked != wanted:
                problems.append(f"object lock {_on(locked)}, expected {_on(wanted)}")
        yield Check(
            f"bucket {name}",
            not problems,
            "; ".join(problems) or "lifecycle, versioning, lock, encryption as configured",
        )


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _attempt(s3, action: str, bucket: str, key: str) -> tuple[bool, str]:
    try:
        if action == "s3:ListBucket":
            s3.list_objects_v2(Bucket=bucket, Prefix=PROBE_PREFIX, MaxKeys=1)
        elif action == "s3:GetObject":
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        elif action == "s3:PutObject":
            s3.put_object(Bucket=bucket, Key=f"{key}-written", Body=b"platform verify probe")
        elif action == "s3:DeleteObject":
            s3.delete_object(Bucket=bucket, Key=key)
        return True, ""
    except ClientError as err:
        return False, err.response["Error"]["Code"]


def check_identities(checker_s3, outputs: dict[str, Any], endpoint: str | None) -> Iterator[Check]:
    buckets = sorted(outputs.get("bucket_configuration", {}))
    policies = outputs.get("service_account_policies", {})
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        for name in sorted(outputs.get("service_account_access_keys", {})):
            if name not in policies:
                yield Check(f"service account {name}", False, "no policy in the stack outputs")
                continue
            s3 = connection_for(name, outputs, endpoint).s3(attempts=1)
            wrong = []
            for bucket in buckets:
                checker_s3.put_object(Bucket=bucket, Key=probe, Body=b"platform verify probe")
                for action in PROBES:
                    resource = (
                        f"arn:aws:s3:::{bucket}"
                        if action == "s3:ListBucket"
                        else f"arn:aws:s3:::{bucket}/{probe}"
                    )
                    expected = allows(policies[name], action, resource)
                    done, code = _attempt(s3, action, bucket, probe)
                    if done != expected:
                        verdict = "allowed" if done else f"refused ({code})"
                        wrong.append(
                            f"{action} on {bucket} {verdict}, policy {'allows' if expected else 'denies'} it"
                        )
            yield Check(
                f"service account {name}",
                not wrong,
                "; ".join(wrong) or "allowed and refused as its policy says",
            )
    finally:
        for bucket in buckets:
            _remove_probes(checker_s3, bucket)


def _remove_probes(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=PROBE_PREFIX):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def check_metrics(outputs: dict[str, Any]) -> Iterator[Check]:
    url = f"{outputs['s3_endpoint']}/minio/v2/metrics/cluster"
    status, body = http_status(url, outputs.get("metrics_bearer_token"))
    yield Check("metrics with the token", status == 200 and b"minio_cluster" in body, f"answered {status}")
    status, _ = http_status(url)
    yield Check("metrics refused without a token", status == 403, f"answered {status}")


def check_console(outputs: dict[str, Any]) -> Check:
    status, _ = http_status(outputs["console_url"])
    return Check("console", status == 200, f"{outputs['console_url']} answered {status}")


def check_oidc(outputs: dict[str, Any]) -> Check:
    issuer = outputs.get("sso_issuer_url")
    if not issuer:
        return Check("OIDC discovery", False, "no sso_issuer_url in the stack outputs")
    status, body = http_status(f"{issuer}/.well-known/openid-configuration")
    if status != 200:
        return Check("OIDC discovery", False, f"answered {status}")
    try:
        announced = json.loads(body).get("issuer")
    except ValueError:
        return Check("OIDC discovery", False, "not JSON")
    return Check("OIDC discovery", announced == issuer, f"issuer {announced}")


def verify(outputs: dict[str, Any], endpoint: str | None = None, account: str = AUDITOR) -> list[Check]:
    """Every check, as ``account`` (the auditor unless root is asked for)."""
    checker = connection_for(account, outputs, endpoint)
    checker_s3 = checker.s3()
    with refusals_named(checker):
        checks = [*check_nodes(admin_client(checker), outputs), check_quorum(outputs)]
        checks += [*check_buckets(checker_s3, outputs), *check_identities(checker_s3, outputs, endpoint)]
    checks += [*check_metrics(outputs), check_console(outputs), check_oidc(outputs)]
    return checks
