"""Per-address rate limits where passwords and tokens are tried (issue #29, item 3), on Debian's nginx
running the rendered configuration in front of a recording upstream.

A burst of console sign-ins or STS calls from one address turns into 429s with an answer the client
reads (JSON for the console, S3's SlowDown for STS) and Retry-After; another address is untouched,
and so is every other request: thousands of S3 and console requests at full speed meet no limit.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

import pytest

from components.gateway import SIGNIN_BURST, STS_BURST, Upstream
from tests.servers import Nginx, free_port, loopback_gateway
from tests.test_shield import header_recorder

pytestmark = pytest.mark.render

SIGNIN = "/minio-console/api/v1/login"
STS_FORM = urllib.parse.urlencode({"Action": "AssumeRole", "Version": "2011-06-15", "DurationSeconds": 900})


@pytest.fixture
def limited(tmp_path):
    """A fresh gateway (fresh limit zones) on loopback: ``(http_port, s3_port, upstream)``."""
    port = free_port()
    with header_recorder(port) as upstream:
        config, http_port, s3_port = loopback_gateway(
            tmp_path, [Upstream(f"127.0.0.1:{port}", f"127.0.0.1:{port}")]
        )
        nginx = Nginx(tmp_path)
        try:
            nginx.start(config, s3_port)
            yield http_port, s3_port, upstream
        finally:
            nginx.close()


def call(
    port: int, method: str, path: str, body: bytes | None = None, source: str = "127.0.0.1", headers=None
):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read(), dict(answer.getheaders())
    finally:
        connection.close()


def test_a_password_spray_on_the_console_gets_429s_per_address(limited):
    http_port, _, upstream = limited
    login = json.dumps({"accessKey": "minio-root", "secretKey": "guess"}).encode()
    json_type = {"Content-Type": "application/json"}
    answers = [call(http_port, "POST", SIGNIN, login, headers=json_type) for _ in range(20)]
    statuses = [status for status, _, _ in answers]
    assert statuses == [200] * (SIGNIN_BURST + 1) + [429] * (20 - SIGNIN_BURST - 1), statuses
    _, body, headers = answers[-1]
    assert json.loads(body)["code"] == 429 and headers["Retry-After"] == "60"
    assert headers["Content-Type"] == "application/json" and headers["X-Content-Type-Options"] == "nosniff"
    assert len(upstream.seen) == SIGNIN_BURST + 1, "a refused sign-in reached the console"
    # The same path spelled otherwise is the same sign-in; another address is not limited.
    assert call(http_port, "POST", "/minio-console//api/v1/%6Cogin", login, headers=json_type)[0] == 429
    assert call(http_port, "POST", SIGNIN, login, source="127.0.0.2", headers=json_type)[0] == 200


def test_sts_calls_get_429s_per_address(limited):
    _, s3_port, _ = limited
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    statuses = [call(s3_port, "POST", "/", STS_FORM.encode(), headers=form)[0] for _ in range(STS_BURST + 15)]
    # One more may pass if a second goes by during the burst (60 a minute).
    passed = statuses.count(200)
    assert STS_BURST + 1 <= passed <= STS_BURST + 2 and statuses.count(429) == len(statuses) - passed, (
        statuses
    )
    status, body, headers = call(s3_port, "GET", f"/?{STS_FORM}")  # STS in the query string: the same zone
    assert status == 429 and b"<Code>SlowDown</Code>" in body and headers["Retry-After"] == "60"
    assert call(s3_port, "POST", "/", STS_FORM.encode(), source="127.0.0.2", headers=form)[0] == 200


def test_ordinary_s3_and_console_traffic_meets_no_limit(limited):
    http_port, s3_port, _ = limited
    statuses = set()
    for index in range(300):
        statuses.add(call(s3_port, "PUT", f"/bucket/object-{index}", b"x" * 64)[0])
        statuses.add(call(s3_port, "GET", f"/bucket/object-{index}")[0])
        statuses.add(call(s3_port, "GET", "/")[0])  # ListBuckets: "/" without an Action
        statuses.add(call(s3_port, "POST", "/bucket?delete", b"<Delete/>")[0])
        statuses.add(call(http_port, "GET", "/minio-console/api/v1/session")[0])
    assert statuses == {200}
