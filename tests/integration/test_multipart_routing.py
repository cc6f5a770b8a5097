"""Multipart uploads started through the gateway are listed through it (issue #17, item 1).

MinIO answers ``ListMultipartUploads`` without a prefix from a cache held by the process that
started each upload; a listing by key reads the drives. The rendered gateway sends every
``?uploads`` request of a bucket to one node (a consistent hash by bucket), so a bucket-wide
listing sees every upload started through it while that node lives. A real 4-node cluster of its
own (this module kills a node).
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from tests.integration.conftest import ensure_bucket, offline_servers, planted_gateway, s3_client

pytestmark = pytest.mark.integration

BUCKETS = ["multipart-a", "multipart-b", "multipart-c"]
PER_BUCKET = 4


def start_uploads(client, bucket: str, count: int, prefix: str = "upload") -> dict[str, str]:
    """``count`` multipart uploads started in ``bucket``: upload id by key."""
    keys = [f"{prefix}/{time.monotonic_ns()}-{index}.bin" for index in range(count)]
    return {key: client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"] for key in keys}


def listed(client, bucket: str) -> set[str]:
    """Upload ids of a bucket-wide listing (no prefix), as `mc ls --incomplete` and cleanup scripts ask."""
    return {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


def listed_by_key(client, bucket: str, key: str) -> set[str]:
    """Upload ids of a listing with the key as prefix: MinIO reads those from the drives."""
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return {u["UploadId"] for u in uploads}


def abort_all(client, bucket: str, uploads: dict[str, str]) -> None:
    for key, upload in uploads.items():
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)


@pytest.fixture(scope="module")
def node_clients(cluster, node_environment) -> list:
    """One S3 client per node, straight to its port (no gateway), one attempt each."""
    user, password = node_environment["MINIO_ROOT_USER"], node_environment["MINIO_ROOT_PASSWORD"]
    return [s3_client(f"http://127.0.0.1:{n.port}", user, password, attempts=1) for n in cluster.nodes]


def test_every_upload_started_through_the_gateway_is_listed_bucket_wide(root_s3, root_mc, node_clients):
    started: dict[str, dict[str, str]] = {}
    for bucket in BUCKETS:
        ensure_bucket(root_s3, bucket)
        started[bucket] = start_uploads(root_s3, bucket, PER_BUCKET)
    try:
        for bucket, uploads in started.items():
            assert listed(root_s3, bucket) == set(uploads.values()), bucket
            # `mc ls --incomplete`, the cleanup command users reach for, sees them too.
            shown = root_mc.json("ls", "--incomplete", "--recursive", f"target/{bucket}")
            assert {entry["key"].rsplit("/", 1)[-1] for entry in shown} == {
                key.rsplit("/", 1)[-1] for key in uploads
            }, bucket
            # One node holds a bucket's uploads in its cache: the gateway sent them all there.
            holders = [i for i, node in enumerate(node_clients) if listed(node, bucket)]
            assert len(holders) == 1, f"{bucket}: uploads cached on nodes {holders}"
    finally:
        for bucket, uploads in started.items():
            abort_all(root_s3, bucket, uploads)
    for bucket in BUCKETS:
        assert listed(root_s3, bucket) == set(), "an aborted upload is still listed"


def test_the_old_least_conn_routing_loses_uploads_from_the_listing(cluster, node_environment, tmp_path):
    """The planted defect: every S3 request balanced, ``?uploads`` included. The listing then
    comes from one node's cache and misses the uploads the other nodes started."""
    with planted_gateway(
        cluster,
        tmp_path,
        node_environment,
        "proxy_pass http://$s3_upstream;",
        "proxy_pass http://minio_s3;",
        "least-conn-defect",
    ) as client:
        ensure_bucket(client, "multipart-defect")
        uploads = start_uploads(client, "multipart-defect", 8)
        try:
            seen = listed(client, "multipart-defect")
            print(f"\nall-balanced routing: the listing showed {len(seen)} of {len(uploads)} uploads")
            assert seen < set(uploads.values())
        finally:
            abort_all(client, "multipart-defect", uploads)


def missing_by_key(client, bucket: str, uploads: dict[str, str], seconds: float = 15) -> dict[str, set[str]]:
    """The keys whose listing by key does not show their upload, asked again for up to ``seconds``
    (for a moment after a node dies, MinIO can answer a listing from a drive that lacks the
    upload: seen once in CI, right after the kill). Empty when every upload is found."""
    deadline = time.monotonic() + seconds
    while True:
        missing = {k: found for k, u in uploads.items() if (found := listed_by_key(client, bucket, k)) != {u}}
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def all_drives_online(mc) -> bool:
    (info,) = mc.json("admin", "info", "target")
    servers = info["info"]["servers"]
    return all(s["state"] == "online" and all(d["state"] == "ok" for d in s["drives"]) for s in servers)


def test_a_bucket_moves_to_another_node_while_its_node_is_down(cluster, root_s3, root_mc, node_clients):
    """Failover: the bucket's node is killed; new uploads start and are listed through the gateway
    (the hash moves the bucket to one other node). Uploads the dead node had started are found by
    key, as are the ones started during the outage once the node is back."""
    bucket = "multipart-failover"
    # A settled cluster loses one node: on a cluster seconds old a node may still count its peers'
    # drives offline (CI, 2026-12-07: node1 logged "write quorum could not be established" 5 s
    # before the kill, and both uploads started then were missing by key during the outage).
    cluster.wait_until(lambda: all_drives_online(root_mc), 90, "every node to see every drive online")
    ensure_bucket(root_s3, bucket)
    before = start_uploads(root_s3, bucket, 2, prefix="before")
    (owner,) = [i for i, node in enumerate(node_clients) if listed(node, bucket)]
    cluster.kill(cluster.nodes[owner])
    during: dict[str, str] = {}
    try:
        # MinIO needs a moment to treat the node as gone (tests/integration/test_faults.py).
        cluster.wait_until(lambda: offline_servers(root_mc) == 1, 30, "MinIO to see the node offline")
        deadline = time.monotonic() + 30
        while not during:
            try:
                during = start_uploads(root_s3, bucket, 3, prefix="during")
            except (ClientError, BotoConnectionError, HTTPClientError) as err:
                # Tolerated while MinIO settles without the node: a 5xx from a node (the gateway's
                # own 503 when none answers in time), or a connection the dying node dropped.
                # A 4xx is a real refusal and fails the test at once.
                if isinstance(err, ClientError) and err.response["ResponseMetadata"]["HTTPStatusCode"] < 500:
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert set(during.values()) <= listed(root_s3, bucket)
        assert not missing_by_key(root_s3, bucket, {**before, **during})
    finally:
        cluster.start(cluster.nodes[owner])
        cluster.wait_until(lambda: all_drives_online(root_mc), 90, "the node and its drive back")
    # Back: the bucket's listing is the restarted node's again, with an empty cache (MinIO keeps
    # none across a restart). What holds is the listing by key, through the gateway.
    after = listed(root_s3, bucket)
    print(
        f"\nbucket-wide listing after the node's return: {len(after)} of {len(before) + len(during)} uploads"
    )
    assert not missing_by_key(root_s3, bucket, {**before, **during})
    abort_all(root_s3, bucket, {**before, **during})
    left = {key: listed_by_key(root_s3, bucket, key) for key in {**before, **during}}
    assert not any(left.values()), left
