"""Reading recorded resources in tests: secret wrappers off, environment lists as dicts."""

from __future__ import annotations

from typing import Any

from synth.mocks import RecordedResource, is_secret, unwrap

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
BUCKET = "minio:index/s3Bucket:S3Bucket"
LIFECYCLE = "minio:index/ilmPolicy:IlmPolicy"
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
    nodes = [r for r in resources if r.type == CONTAINER and r.name.startswith(prefix)]
    return sorted(nodes, key=lambda r: int(r.name.removeprefix(prefix)))
