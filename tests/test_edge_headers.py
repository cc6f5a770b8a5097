"""Headers the gateway owns (issue #29, item 2), on Debian's nginx running the rendered configuration.

Every answer, proxied or the gateway's own (redirects, 400, 403, 404, 413, 503), carries exactly one
``X-Content-Type-Options: nosniff``; under TLS exactly one HSTS header; the console's answers
``Content-Security-Policy: frame-ancestors 'self'``. Upstream copies of the edge's headers are
dropped. ``X-Forwarded-For`` is the client's address as the gateway saw it, never what the client
sent (MinIO trusts its left-most entry for the audit log and ``aws:SourceIp``).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.gateway import FRAME_ANCESTORS, UNSIGNED_TRAILER, Upstream
from tests.servers import Nginx, free_port, loopback_gateway, self_signed_certificate, serving

pytestmark = pytest.mark.render

SPOOFED = "203.0.113.7"


class OwnHeadersUpstream(BaseHTTPRequestHandler):
    """Answers 200 with its own copies of the edge's headers; records the request headers."""

    def _answer(self) -> None:
        self.server.seen.append(dict(self.headers.items()))
        self.send_response(200)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Strict-Transport-Security", "max-age=1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


def upstream(port: int) -> contextlib.AbstractContextManager[ThreadingHTTPServer]:
    return serving(port, OwnHeadersUpstream)


def answer(connection: http.client.HTTPConnection, method: str, path: str, headers=None, body=None):
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheaders()
    finally:
        connection.close()


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The rendered plain-HTTP gateway: a live node and, on a second gateway, a dead one."""
    workdir = tmp_path_factory.mktemp("edge")
    port = free_port()
    with upstream(port) as node:
        config, http_port, s3_port = loopback_gateway(
            workdir, [Upstream(f"127.0.0.1:{port}", f"127.0.0.1:{port}")], max_body_size="1k"
        )
        dead_dir = workdir / "dead"
        dead, _, dead_s3 = loopback_gateway(dead_dir, [Upstream(f"127.0.0.1:{free_port()}", "127.0.0.1:1")])
        nginx, other = Nginx(workdir), Nginx(dead_dir)
        try:
            nginx.start(config, s3_port)
            other.start(dead, dead_s3)
            yield http_port, s3_port, dead_s3, node
        finally:
            nginx.close()
            other.close()


def plain_answers(plain) -> dict[str, tuple[int, list[tuple[str, str]], bool]]:
    """``what: (status, headers, from the console)`` for every kind of answer."""
    http_port, s3_port, dead_s3, _ = plain

    def at(port: int) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    forged = {"x-amz-content-sha256": UNSIGNED_TRAILER}
    return {
        "console, proxied": (*answer(at(http_port), "GET", "/minio-console/"), True),
        "console, redirect": (*answer(at(http_port), "GET", "/"), True),
        "console, 404": (*answer(at(http_port), "GET", "/elsewhere"), True),
        "console, /storage/ 400": (*answer(at(http_port), "GET", "/storage/b/k"), True),
        "health": (*answer(at(http_port), "GET", "/healthz"), True),
        "S3, proxied": (*answer(at(s3_port), "GET", "/bucket/key"), False),
        "S3, the shield's 403": (*answer(at(s3_port), "PUT", "/bucket/key", forged, b"x"), False),
        "S3, 413 over the body limit": (*answer(at(s3_port), "PUT", "/bucket/key", None, b"x" * 4096), False),
        "S3, 503 with no node": (*answer(at(dead_s3), "GET", "/bucket/key"), False),
    }


def test_every_answer_carries_the_edge_headers_once(plain):
    answers = plain_answers(plain)
    assert {what: status for what, (status, _, _) in answers.items()} == {
        "console, proxied": 200, "console, redirect": 302, "console, 404": 404,
        "console, /storage/ 400": 400, "health": 200, "S3, proxied": 200, "S3, the shield's 403": 403,
        "S3, 413 over the body limit": 413, "S3, 503 with no node": 503,
    }  # fmt: skip
    for what, (_, headers, console) in answers.items():
        assert values(headers, "X-Content-Type-Options") == ["nosniff"], (what, headers)
        assert values(headers, "Strict-Transport-Security") == [], (what, "HSTS over plain HTTP")
        assert values(headers, "Content-Security-Policy") == ([FRAME_ANCESTORS] if console else []), what


def test_the_client_cannot_choose_its_forwarded_address(plain):
    http_port, s3_port, _, node = plain
    for port, path in ((s3_port, "/bucket/key"), (http_port, "/minio-console/")):
        before = len(node.seen)
        status, _ = answer(
            http.client.HTTPConnection("127.0.0.1", port, timeout=10),
            "GET", path, {"X-Forwarded-For": SPOOFED, "X-Real-IP": SPOOFED},
        )  # fmt: skip
        assert status == 200
        (seen,) = node.seen[before:]
        assert (seen["X-Forwarded-For"], seen["X-Real-IP"]) == ("127.0.0.1", "127.0.0.1"), seen


def test_under_tls_every_answer_carries_hsts_once(tmp_path):
    port = free_port()
    (tmp_path / "tls").mkdir()
    self_signed_certificate(tmp_path / "tls", "console.test", "s3.test")
    https_port = free_port()
    with upstream(port):
        config, http_port, _ = loopback_gateway(
            tmp_path, [Upstream(f"127.0.0.1:{port}", f"127.0.0.1:{port}")], console_host="console.test",
            s3_host="s3.test", tls=True, https_listen=f"127.0.0.1:{https_port}", https_port=https_port,
        )  # fmt: skip
        nginx = Nginx(tmp_path)
        try:
            nginx.start(config, https_port)
            context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "tls.crt"))

            def at(host: str) -> http.client.HTTPSConnection:
                connection = http.client.HTTPSConnection(host, https_port, context=context, timeout=10)
                connection.sock = context.wrap_socket(
                    socket.create_connection(("127.0.0.1", https_port), timeout=10), server_hostname=host
                )
                return connection

            answers = {
                "console, proxied": (*answer(at("console.test"), "GET", "/minio-console/"), True),
                "console, 404": (*answer(at("console.test"), "GET", "/elsewhere"), True),
                "S3, proxied": (*answer(at("s3.test"), "GET", "/bucket/key"), False),
                "S3, the shield's 403": (
                    *answer(at("s3.test"), "PUT", "/b/k", {"x-amz-content-sha256": UNSIGNED_TRAILER}, b"x"),
                    False,
                ),
            }
            redirect = answer(http.client.HTTPConnection("127.0.0.1", http_port, timeout=10), "GET", "/x")
        finally:
            nginx.close()
    for what, (_, headers, console) in answers.items():
        assert values(headers, "Strict-Transport-Security") == ["max-age=63072000"], (what, headers)
        assert values(headers, "X-Content-Type-Options") == ["nosniff"], what
        assert values(headers, "Content-Security-Policy") == ([FRAME_ANCESTORS] if console else []), what
    assert redirect[0] == 301 and values(redirect[1], "X-Content-Type-Options") == ["nosniff"]
