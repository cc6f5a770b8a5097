"""Reading recorded resources in tests: secret wrappers off, environment lists as dicts."""

from __future__ import annotations

from typing import Any

from components.conventions import FILES_SUFFIX
from synth.mocks import RecordedResource, is_secret, unwrap
from synth.run import Synthesis

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
BUCKET = "minio:index/s3Bucket:S3Bucket"
LIFECYCLE = "minio:index/ilmPolicy:IlmPolicy"
BUCKET_POLICY = "minio:index/s3BucketPolicy:S3BucketPolicy"
NOTIFICATION = "minio:index/s3BucketNotification:S3BucketNotification"
BUCKET_TAGS = "pulumi-python:dynamic/storage:BucketTags"
"""The program's own dynamic provider for bucket tags (components/bucket_tags.py)."""
GROUP = "minio:index/iamGroup:IamGroup"
GROUP_ATTACHMENT = "minio:index/iamGroupPolicyAttachment:IamGroupPolicyAttachment"
GROUP_MEMBERSHIP = "minio:index/iamGroupMembership:IamGroupMembership"
VERSIONING = "minio:index/s3BucketVersioning:S3BucketVersioning"
ENCRYPTION = "minio:index/s3BucketServerSideEncryption:S3BucketServerSideEncryption"
POLICY = "minio:index/iamPolicy:IamPolicy"
USER = "minio:index/iamUser:IamUser"
ATTACHMENT = "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment"
SERVICE_ACCOUNT = "minio:index/iamServiceAccount:IamServiceAccount"


def plain(value: Any) -> Any:
    """The value with every secret wrapper removed, at any depth."""
    if is_secret(value):
        return plain(unwrap(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def env_of(container: RecordedResource) -> dict[str, str]:
    entries = plain(container.inputs.get("envs", []))
    return dict(entry.split("=", 1) for entry in entries)


def minio_nodes(resources: list[RecordedResource]) -> list[RecordedResource]:
    """The MinIO node containers ordered minio1, minio2... (registration order is not creation order)."""
    prefix = "minio-cluster-minio"
    nodes = [
        r
        for r in resources
        if r.type == CONTAINER and r.name.startswith(prefix) and not r.name.endswith(FILES_SUFFIX)
    ]
    return sorted(nodes, key=lambda r: int(r.name.removeprefix(prefix)))


def named_volumes(container: RecordedResource) -> list[dict[str, Any]]:
    """The container's volume mounts with a volume of their own (its files container's come by
    ``fromContainer``: conventions.hardened_container)."""
    return [v for v in plain(container.inputs.get("volumes") or []) if "fromContainer" not in v]


def files_of(synthesis: Synthesis, container: RecordedResource) -> RecordedResource:
    """The files container that holds what ``container`` is given (conventions.hardened_container)."""
    return synthesis.named(CONTAINER, container.name + FILES_SUFFIX)


def uploads_of(synthesis: Synthesis, container: RecordedResource) -> dict[str, dict[str, Any]]:
    """The files ``container`` is given, by path, secret wrappers off (its files container's uploads)."""
    return {
        upload["file"]: upload for upload in plain(files_of(synthesis, container).inputs.get("uploads") or [])
    }


def parse_config_env(text: str) -> dict[str, str]:
    """A MINIO_CONFIG_ENV_FILE as MinIO reads it (cmd/common-main.go, ``parsEnvEntry``): trimmed lines,
    ``#`` comments, ``KEY=value`` split at the first ``=``, one pair of enclosing quotes stripped."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.removeprefix("export").strip().partition("=")
        assert separator, f"MinIO refuses the line {key!r}: no '='"
        if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
            value = value[1:-1]
        values[key] = value
    return values


def minio_settings_of(synthesis: Synthesis, node: RecordedResource) -> dict[str, str]:
    """What a MinIO node runs with: its environment and the secrets file MINIO_CONFIG_ENV_FILE names."""
    environment = env_of(node)
    path = environment.pop("MINIO_CONFIG_ENV_FILE")
    secrets = parse_config_env(uploads_of(synthesis, node)[path]["content"])
    assert not set(secrets) & set(environment), "a secret is also in the environment"
    return {**environment, **secrets}
