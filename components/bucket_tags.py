"""Bucket tags, which pulumi-minio 0.17.1 cannot set: a resource whose provider tags the bucket
through the S3 API (``PutBucketTagging``), signed in as the platform's administrator.

A Pulumi dynamic provider (``pulumi.dynamic``), like the layout guard: the engine runs it with the
project's Python. It reaches the cluster where the minio provider does (the gateway's S3 listener)
with the same identity; that identity's secret key is a secret input and a secret output, so the
state keeps it encrypted. boto3 makes the calls. This module imports nothing of the program beyond
the SDK, since the provider process imports it again.

``create`` and ``update`` replace the bucket's whole tag set, ``delete`` removes it, ``read`` (a
`pulumi refresh`) finds the tags the bucket really has, so tags changed by hand show as drift. For a
bucket that is gone MinIO answers as for one without tags (NoSuchTagSet; a delete answers 204), so
a refresh reads no tags and the next `up` puts them back after the bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

REGION = "us-east-1"
"""The region the S3 signature names (MinIO's default, as the minio provider is given)."""
WATCHED = ("bucket", "tags", "endpoint", "accessKey", "secretKey", "insecure")
"""The inputs whose change is an update (the bucket's: a replacement)."""


def s3_client(props: Mapping[str, Any]):
    """boto3 for the recorded endpoint and identity (path-style, as the gateway serves S3)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=props["endpoint"],
        aws_access_key_id=props["accessKey"],
        aws_secret_access_key=props["secretKey"],
        region_name=REGION,
        verify=not props.get("insecure", False),
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5}),
    )


def tag_set(tags: Mapping[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"TagSet": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}


def bucket_tags(client, bucket: str) -> dict[str, str]:
    """The tags the bucket has ({} when it has none: MinIO answers NoSuchTagSet)."""
    try:
        answer = client.get_bucket_tagging(Bucket=bucket)
    except client.exceptions.ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchTagSet":
            return {}
        raise
    return {tag["Key"]: tag["Value"] for tag in answer["TagSet"]}


class BucketTagsProvider(ResourceProvider):
    """Puts, reads and removes one bucket's tag set."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        s3_client(props).put_bucket_tagging(Bucket=props["bucket"], Tagging=tag_set(props["tags"]))
        return CreateResult(f"{props['bucket']}-tags", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in WATCHED if olds.get(key) != news.get(key)]
        return DiffResult(
            changes=bool(changed),
            replaces=["bucket"] if "bucket" in changed else [],
            delete_before_replace=True,
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        s3_client(news).put_bucket_tagging(Bucket=news["bucket"], Tagging=tag_set(news["tags"]))
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {**props, "tags": bucket_tags(s3_client(props), props["bucket"])})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = s3_client(props)
        try:
            client.delete_bucket_tagging(Bucket=props["bucket"])
        except client.exceptions.ClientError as err:
            if err.response["Error"]["Code"] != "NoSuchBucket":
                raise  # else the bucket went first, and its tags with it


class BucketTags(Resource, module="storage", name="BucketTags"):
    """One bucket's tags, set through the gateway as ``access_key``."""

    bucket: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        *,
        bucket: pulumi.Input[str],
        tags: Mapping[str, str],
        endpoint: str,
        access_key: pulumi.Input[str],
        secret_key: pulumi.Input[str],
        insecure: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "bucket": bucket,
            "tags": dict(tags),
            "endpoint": endpoint,
            "accessKey": access_key,
            "secretKey": pulumi.Output.secret(secret_key),
            "insecure": insecure,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["secretKey"])
        super().__init__(BucketTagsProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
