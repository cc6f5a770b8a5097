"""The gateway's shield for two flaws of the last community MinIO (docs/gateway.md, "Shielded flaws").

CVE-2026-41145: an upload with ``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`` and no
``Authorization`` header (credentials in the query string) is accepted with any signature.
CVE-2026-40344: a Snowball auto-extract upload with that payload type is extracted unchecked.

Here: the rendered configuration carries the shield on every S3 listener, and Debian's nginx
running it refuses each shape (and its variants that nginx and MinIO could read differently)
before the upstream sees a byte, while passing legitimate uploads with exactly the header values
it judged. The real flaw, on a real node, is in tests/integration/test_shield.py.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.gateway import FORGED_UPLOAD_BODY, UNSIGNED_TRAILER, NginxConfig, Upstream, render_nginx_conf
from tests.servers import Nginx, free_port, loopback_gateway, serving
from tests.test_gateway import args_of, blocks, http_block, parse

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64
)
QUERY_CREDENTIALS = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minio-root%2F20261204%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261204T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "f" * 64
)
CHUNKED_BODY = b"5\r\nhello\r\n0\r\n\r\n"


# --- the rendered configuration ---------------------------------------------------------------------


def s3_servers(tree: list[dict]) -> list[list[dict]]:
    """Every server whose locations proxy to the S3 upstreams."""
    found = []
    for server in blocks(http_block(tree), "server"):
        proxied = [
            args[0]
            for location in blocks(server["block"], "location")
            for args in args_of(location["block"], "proxy_pass")
        ]
        if any("minio_s3" in p or "$s3_upstream" in p for p in proxied):
            found.append(server["block"])
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_s3_listener_refuses_the_forged_shapes_before_any_location(synth, tmp_path, stack):
    tree = parse(synth(stack).files["nginx.conf"], tmp_path)
    servers = s3_servers(tree)
    assert servers, "no S3 server found"
    for server in servers:
        (shield,) = blocks(server, "if")
        assert shield["args"] == ["$s3_forged_upload"] and args_of(shield["block"], "return") == [["403"]]
        assert ["403", "=", "@forged_upload"] in args_of(server, "error_page")
        for location in blocks(server, "location"):
            # Every location that reaches S3 (the bridge's listener also reaches the console).
            if any("minio_console" not in p[0] for p in args_of(location["block"], "proxy_pass")):
                headers = {
                    args[0].lower(): args[1:] for args in args_of(location["block"], "proxy_set_header")
                }
                assert headers["authorization"] == ["$http_authorization"]
                assert headers["x-amz-content-sha256"] == ["$http_x_amz_content_sha256"]
                assert headers["x_amz_content_sha256"] == [""]
    forged = {
        d["args"][0]: d["block"]
        for d in blocks(http_block(tree), "map")
        if d["args"][1] == "$s3_forged_upload"
    }
    assert forged, "the shield's map is missing"


# --- Debian's nginx running it --------------------------------------------------------------------


class HeaderRecorder(BaseHTTPRequestHandler):
    """An upstream that answers 200 and records each request's raw header lines."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        elif "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            while self.rfile.readline().strip() != b"0":
                pass
            self.rfile.readline()
        self.server.seen.append(list(self.headers.raw_items()))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def header_recorder(port: int) -> contextlib.AbstractContextManager[ThreadingHTTPServer]:
    return serving(port, HeaderRecorder)


@pytest.fixture(scope="module")
def shielded(tmp_path_factory) -> Iterator[tuple[int, ThreadingHTTPServer]]:
    """The rendered gateway on loopback in front of a recording upstream: ``(s3_port, upstream)``."""
    workdir = tmp_path_factory.mktemp("shield")
    port = free_port()
    with header_recorder(port) as upstream:
        config, _, s3_port = loopback_gateway(workdir, [Upstream(f"127.0.0.1:{port}", f"127.0.0.1:{port}")])
        nginx = Nginx(workdir)
        try:
            nginx.start(config, s3_port)
            yield s3_port, upstream
        finally:
            nginx.close()


def send(port: int, head_lines: list[str], body: bytes = CHUNKED_BODY) -> tuple[int, bytes]:
    """A request written byte for byte (repeated, folded or ``_``-spelled headers included)."""
    head = "\r\n".join([*head_lines, f"Content-Length: {len(body)}", "Connection: close", "", ""]).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def put(path: str, *headers: str) -> list[str]:
    return [f"PUT {path} HTTP/1.1", "Host: localhost", "x-amz-decoded-content-length: 5", *headers]


FORGED = {
    "no Authorization, credentials in the query (CVE-2026-41145)": put(
        f"/bucket/key?{QUERY_CREDENTIALS}", f"x-amz-content-sha256: {UNSIGNED_TRAILER}"
    ),
    "Snowball with a forged Authorization (CVE-2026-40344)": put(
        "/bucket/archive.tar", f"x-amz-content-sha256: {UNSIGNED_TRAILER}", f"Authorization: {SIGNED}",
        "X-Amz-Meta-Snowball-Auto-Extract: true",
    ),
    "Snowball, credentials in the query": put(
        f"/bucket/archive.tar?{QUERY_CREDENTIALS}", f"x-amz-content-sha256: {UNSIGNED_TRAILER}",
        "X-Amz-Meta-Snowball-Auto-Extract: true",
    ),
    "an empty Authorization header": put(
        f"/bucket/key?{QUERY_CREDENTIALS}", f"x-amz-content-sha256: {UNSIGNED_TRAILER}", "Authorization: "
    ),
    "the payload type in lower case": put(
        f"/bucket/key?{QUERY_CREDENTIALS}", f"x-amz-content-sha256: {UNSIGNED_TRAILER.lower()}"
    ),
    "the payload type spelled with '_'": put(
        f"/bucket/key?{QUERY_CREDENTIALS}", f"x_amz_content_sha256: {UNSIGNED_TRAILER}"
    ),
    "the payload type sent twice, the forged one first": put(
        f"/bucket/key?{QUERY_CREDENTIALS}", f"x-amz-content-sha256: {UNSIGNED_TRAILER}",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
    ),
    "Snowball spelled with '_'": put(
        "/bucket/archive.tar", f"x-amz-content-sha256: {UNSIGNED_TRAILER}", f"Authorization: {SIGNED}",
        "X_Amz_Meta_Snowball_Auto_Extract: true",
    ),
    "percent-encoded query keys": put(
        f"/bucket/key?{QUERY_CREDENTIALS.replace('X-Amz-', 'X%2DAmz%2D')}",
        f"x-amz-content-sha256: {UNSIGNED_TRAILER}",
    ),
    "a multipart part (CVE-2026-41145 on UploadPart)": put(
        f"/bucket/key?partNumber=1&uploadId=abc&{QUERY_CREDENTIALS}",
        f"x-amz-content-sha256: {UNSIGNED_TRAILER}",
    ),
}  # fmt: skip


@pytest.mark.render
@pytest.mark.parametrize("name", list(FORGED))
def test_the_forged_shapes_and_their_variants_never_reach_a_node(shielded, name):
    s3_port, upstream = shielded
    before = len(upstream.seen)
    status, body = send(s3_port, FORGED[name])
    assert status in (400, 403), (status, body[:300])  # 400: nginx refused the request line itself
    if status == 403:
        assert body == FORGED_UPLOAD_BODY.encode()
    assert len(upstream.seen) == before, "the forged request reached the upstream"


@pytest.mark.render
def test_a_folded_header_cannot_carry_the_forged_payload_type_past_the_shield(shielded):
    """An obsolete line folding, which Go's parser would join: nginx refuses it outright."""
    s3_port, upstream = shielded
    before = len(upstream.seen)
    status, _ = send(
        s3_port,
        put(
            f"/bucket/key?{QUERY_CREDENTIALS}",
            "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            f" {UNSIGNED_TRAILER}",
        ),
    )
    assert status == 400 and len(upstream.seen) == before


LEGITIMATE = {
    "an unsigned trailer with a signed Authorization (AWS SDKs over HTTPS)": put(
        "/bucket/key", f"x-amz-content-sha256: {UNSIGNED_TRAILER}", f"Authorization: {SIGNED}",
        "x-amz-trailer: x-amz-checksum-crc32",
    ),
    "a signed body": put("/bucket/key", "x-amz-content-sha256: " + "a" * 64, f"Authorization: {SIGNED}"),
    "a presigned PUT": put(f"/bucket/key?{QUERY_CREDENTIALS}", "x-amz-content-sha256: UNSIGNED-PAYLOAD"),
    "a Snowball upload with a signed payload": put(
        "/bucket/archive.tar", "x-amz-content-sha256: " + "b" * 64, f"Authorization: {SIGNED}",
        "X-Amz-Meta-Snowball-Auto-Extract: true",
    ),
}  # fmt: skip


@pytest.mark.render
@pytest.mark.parametrize("name", list(LEGITIMATE))
def test_legitimate_uploads_pass_with_exactly_the_judged_headers(shielded, name):
    s3_port, upstream = shielded
    before = len(upstream.seen)
    status, body = send(s3_port, LEGITIMATE[name])
    assert status == 200, body[:300]
    (received,) = upstream.seen[before:]
    sent = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in LEGITIMATE[name][1:]}
    names = [key.lower() for key, _ in received]
    for header in ("x-amz-content-sha256", "authorization", "x-amz-meta-snowball-auto-extract"):
        assert names.count(header) == (1 if header in sent else 0), (header, received)
        if header in sent:
            assert dict((k.lower(), v) for k, v in received)[header] == sent[header]


@pytest.mark.render
def test_a_repeated_or_underscored_payload_type_reaches_minio_once_as_judged(shielded):
    """A legitimate first value wins in nginx; MinIO gets that one alone, and no ``_`` spelling."""
    s3_port, upstream = shielded
    before = len(upstream.seen)
    status, _ = send(
        s3_port,
        put("/bucket/key", "x-amz-content-sha256: UNSIGNED-PAYLOAD", f"Authorization: {SIGNED}",
            f"x-amz-content-sha256: {UNSIGNED_TRAILER}", f"x_amz_content_sha256: {UNSIGNED_TRAILER}"),
    )  # fmt: skip
    assert status == 200
    (received,) = upstream.seen[before:]
    payload_types = [v for k, v in received if k.lower().replace("_", "-") == "x-amz-content-sha256"]
    assert payload_types == ["UNSIGNED-PAYLOAD"], " | ".join(k for k, _ in received)


def test_the_shield_is_part_of_every_config_the_renderer_writes(tmp_path: Path):
    """TLS or plain, one S3 server or the TLS pair: the shield is not a dev-only option."""
    upstream = [Upstream("127.0.0.1:9000", "127.0.0.1:9001")]
    for tls in (False, True):
        config = NginxConfig(upstream, "console.test", "s3.test", "5g", "https://s3.test", tls=tls)
        servers = s3_servers(parse(render_nginx_conf(config), tmp_path))
        assert servers and all(blocks(server, "if") for server in servers)
