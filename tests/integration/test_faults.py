"""Node losses against a real 4-node cluster (EC:2) behind the gateway: the quorum rules the README states.

One test with ordered phases: each phase depends on the cluster state the previous one left.

For a moment after a node dies MinIO can answer NoSuchKey for objects that exist (measured here:
a few GETs within ~150 ms of a SIGKILL, from several live nodes, while the admin API already
reports the node offline), or cut a GET's body short (IncompleteReadError, seen once in a full
run). The quorum rules describe the cluster once that has passed, so each phase waits until
reads have been clean for 2 s in a row (at most 15 s after the kill), then allows no failed read
or write at all.
"""

from __future__ import annotations

import hashlib
import time
import warnings

import pytest
from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError

from tests.integration.conftest import ensure_bucket, offline_servers, s3_client

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def payload(name: str, size: int) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def checksum(client, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(MB), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _multipart(client, bucket: str, key: str, data: bytes) -> None:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), 5 * MB), start=1):
        etag = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data[start : start + 5 * MB]
        )["ETag"]
        parts.append({"ETag": etag, "PartNumber": number})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


def put(client, bucket: str, key: str, size: int, stored: dict[str, str]) -> None:
    data = payload(key, size)
    if size > 8 * MB:
        try:
            _multipart(client, bucket, key, data)
        except ClientError as err:
            if err.response["Error"]["Code"] != "InvalidPart":
                raise
            # Seen once on a cluster seconds old: every part acknowledged 200 by its node, then
            # Complete answered InvalidPart (MinIO, not the gateway: NGINX retried nothing).
            # Not the property under test here, so retry once, and say so in the test report.
            warnings.warn(f"MinIO answered InvalidPart completing {key}; retried the upload", stacklevel=2)
            _multipart(client, bucket, key, data)
    else:
        client.put_object(Bucket=bucket, Key=key, Body=data)
    stored[key] = hashlib.sha256(data).hexdigest()


def all_read_back(client, bucket: str, stored: dict[str, str]) -> None:
    for key, digest in stored.items():
        try:
            actual = checksum(client, bucket, key)
        except ClientError as err:
            raise AssertionError(f"{key} unreadable: {err.response['Error']}") from err
        except (IncompleteReadError, ResponseStreamingError) as err:
            raise AssertionError(f"{key} cut short: {err}") from err
        assert actual == digest, f"{key} changed"


def reads_back(client, bucket: str, stored: dict[str, str]) -> bool:
    try:
        all_read_back(client, bucket, stored)
    except AssertionError:
        return False
    return True


def lose(cluster, mc, node, expected_offline: int, client, bucket: str, stored: dict[str, str]) -> None:
    cluster.kill(node)
    cluster.wait_until(
        lambda: offline_servers(mc) == expected_offline, 15, f"{expected_offline} node(s) offline"
    )
    killed, streak_start, failures = time.monotonic(), time.monotonic(), 0
    while time.monotonic() - streak_start < 2.0:
        if not reads_back(client, bucket, stored):
            failures += 1
            streak_start = time.monotonic()
        assert time.monotonic() - killed < 15, (
            f"reads still failing 15 s after the loss ({failures} failures)"
        )


def test_node_losses_follow_the_quorum_rules(cluster, gateway, node_environment, root_mc):
    client = s3_client(
        gateway.s3_endpoint,
        node_environment["MINIO_ROOT_USER"],
        node_environment["MINIO_ROOT_PASSWORD"],
        attempts=1,
    )
    bucket, stored = "faults", {}
    ensure_bucket(client, bucket)
    for index, size in enumerate([1024, 300 * 1024, 2 * MB, 20 * MB]):
        put(client, bucket, f"before/object-{index}", size, stored)

    # One node lost: EC:2 on 4 drives keeps read quorum (2) and write quorum (3).
    lose(cluster, root_mc, cluster.nodes[3], 1, client, bucket, stored)
    all_read_back(client, bucket, stored)
    put(client, bucket, "one-down/small", 4096, stored)
    put(client, bucket, "one-down/multipart", 12 * MB, stored)
    all_read_back(client, bucket, stored)

    # Two nodes lost: reads keep quorum (2 of 4), writes cannot reach 3 and are refused.
    lose(cluster, root_mc, cluster.nodes[2], 2, client, bucket, stored)
    all_read_back(client, bucket, stored)
    started = time.monotonic()
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="two-down/refused", Body=b"x" * 4096)
    refused_after = time.monotonic() - started
    # MinIO's answer to a lost write quorum: 503 SlowDownWrite, "Resource requested is unwritable".
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert caught.value.response["Error"]["Code"] == "SlowDownWrite"
    assert refused_after < 60
    assert cluster.health("cluster") == 503  # the write-quorum probe agrees
    assert cluster.health("cluster/read") == 200

    # Both nodes return: the cluster heals, and every object written reads back unchanged.
    cluster.start(cluster.nodes[2])
    cluster.start(cluster.nodes[3])
    cluster.wait_until(lambda: cluster.health("cluster") == 200, 90, "write quorum after the nodes return")
    all_read_back(client, bucket, stored)
    with pytest.raises(ClientError):
        client.head_object(Bucket=bucket, Key="two-down/refused")
    put(client, bucket, "after/small", 4096, stored)
    all_read_back(client, bucket, stored)
