"""S3 through the rendered gateway to a real 4-node MinIO, signed with SigV4 by boto3."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
import warnings

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ensure_bucket, planted_gateway, s3_client
from tests.servers import Nginx, loopback_gateway

pytestmark = pytest.mark.integration

MB = 1024 * 1024


class Stream:
    """``size`` bytes of a repeating pseudo-random pattern, produced on demand (never all in memory)."""

    def __init__(self, size: int, seed: bytes = b"minio-platform"):
        self.remaining = size
        self.block = hashlib.sha256(seed).digest() * 32768  # a 1 MiB pattern
        self.offset = 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size < 0 else min(size, self.remaining)
        out = bytearray()
        while len(out) < size:
            start = self.offset % len(self.block)
            take = min(size - len(out), len(self.block) - start)
            out += self.block[start : start + take]
            self.offset += take
        self.remaining -= size
        self.digest.update(out)
        return bytes(out)


@pytest.fixture(scope="module")
def bucket(root_s3) -> str:
    ensure_bucket(root_s3, "gateway-tests")
    return "gateway-tests"


def test_put_get_list_delete(root_s3, bucket):
    root_s3.put_object(Bucket=bucket, Key="dir one/hello+world.txt", Body=b"hello")
    assert root_s3.get_object(Bucket=bucket, Key="dir one/hello+world.txt")["Body"].read() == b"hello"
    listed = root_s3.list_objects_v2(Bucket=bucket, Prefix="dir one/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir one/hello+world.txt"]
    root_s3.delete_object(Bucket=bucket, Key="dir one/hello+world.txt")
    assert root_s3.list_objects_v2(Bucket=bucket, Prefix="dir one/")["KeyCount"] == 0


def test_multipart_upload_over_100_mb_streams_through(root_s3, bucket):
    size, part_size = 110 * MB, 16 * MB
    source = Stream(size)
    key = "large/object.bin"
    upload = root_s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    # One part in memory at a time: the gateway streams each part through without buffering it.
    while chunk := source.read(part_size):
        number = len(parts) + 1
        etag = root_s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=chunk)[
            "ETag"
        ]
        parts.append({"ETag": etag, "PartNumber": number})
    root_s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert len(parts) == 7
    head = root_s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == size
    try:
        response = root_s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response["Error"]["Code"] != "NoSuchKey":
            raise
        # Seen once, on a cluster seconds old with every node up: HEAD found the completed object,
        # the GET right after answered NoSuchKey (nothing in MinIO's logs). A read-after-write
        # lapse of MinIO's, not of the gateway (it routes; it cannot hide an object). Not the
        # property under test here: retry once after a second, and say so in the report.
        warnings.warn(f"MinIO answered NoSuchKey for {key} right after HEAD found it; retried", stacklevel=1)
        time.sleep(1)
        response = root_s3.get_object(Bucket=bucket, Key=key)
    downloaded = hashlib.sha256()
    for chunk in iter(lambda: response["Body"].read(MB), b""):
        downloaded.update(chunk)
    assert downloaded.hexdigest() == source.digest.hexdigest()


def test_presigned_get_works_through_the_gateway(root_s3, bucket):
    root_s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned")
    url = root_s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
    )
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (an http:// URL boto3 built)
        assert response.read() == b"presigned"


def test_storage_path_explains_where_s3_lives(gateway):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            f"http://127.0.0.1:{gateway.http_port}/storage/gateway-tests/shared.txt", timeout=10
        )
    assert caught.value.code == 400
    body = caught.value.read().decode()
    assert "<Code>InvalidRequest</Code>" in body
    assert f"http://localhost:{gateway.s3_port}" in body


def test_body_over_the_configured_limit_is_refused(cluster, root_s3, bucket, node_environment, tmp_path):
    nginx = Nginx(tmp_path)
    config, _, s3_port = loopback_gateway(tmp_path, cluster.upstreams, max_body_size="1m")
    try:
        nginx.start(config, s3_port)
        small = s3_client(
            f"http://127.0.0.1:{s3_port}",
            node_environment["MINIO_ROOT_USER"],
            node_environment["MINIO_ROOT_PASSWORD"],
            attempts=1,
        )
        small.put_object(Bucket=bucket, Key="fits.bin", Body=b"x" * (512 * 1024))
        with pytest.raises(ClientError) as caught:
            small.put_object(Bucket=bucket, Key="too-big.bin", Body=b"x" * (2 * MB))
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    finally:
        nginx.close()


def test_admin_api_passes_through_for_mc_and_the_provider(root_mc):
    (info,) = root_mc.json("admin", "info", "target")
    assert info["status"] == "success"
    assert len(info["info"]["servers"]) == 4
    assert all(server["state"] == "online" for server in info["info"]["servers"])


def test_a_prefix_stripping_proxy_breaks_sigv4(cluster, node_environment, tmp_path):
    """The planted defect the design avoids: S3 under /storage/ with the prefix stripped."""
    with planted_gateway(
        cluster,
        tmp_path,
        node_environment,
        "        location / {\n            proxy_pass http://$s3_upstream;",
        "        location /storage/ {\n            proxy_pass http://minio_s3/;",
        "prefix-defect",
        path="/storage",
        attempts=1,
    ) as client:
        with pytest.raises(ClientError) as caught:
            client.list_objects_v2(Bucket="gateway-tests")
        assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
