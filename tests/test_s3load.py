"""tools/s3load's delete (the benchmark's untimed cleanup) against a scripted S3 endpoint on loopback.

A multi-object delete reports errors per key inside a 200 answer, which the client does not retry.
A four-node cluster seconds old answered some keys "SlowDownWrite" and failed a CI run of the
quick benchmark (`delete gateway/8388608/4/1/3: Resource requested is unwritable, please reduce your
request rate`): s3load asks again for those keys, a bounded number of times, and for nothing else.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import require_binary

KEY_RE = re.compile(r"<Key>([^<]+)</Key>")


class ScriptedS3(ThreadingHTTPServer):
    """Answers DeleteObjects with ``answers[n]`` (an error code, or None to delete) for its n-th
    call, the last one for every later call; records the keys each call asked for."""

    def __init__(self, answers: list[str | None]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers = answers
        self.calls: list[list[str]] = []


class Handler(BaseHTTPRequestHandler):
    server: ScriptedS3

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # the client's bucket-location lookup
        self._reply(
            '<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">us-east-1</LocationConstraint>'
        )

    def do_POST(self) -> None:  # DeleteObjects
        keys = KEY_RE.findall(self.rfile.read(int(self.headers["Content-Length"])).decode())
        calls = self.server.calls
        calls.append(keys)
        code = self.server.answers[min(len(calls), len(self.server.answers)) - 1]
        if code is None:
            results = "".join(f"<Deleted><Key>{key}</Key></Deleted>" for key in keys)
        else:
            # The first key deleted, the others refused with the code.
            results = f"<Deleted><Key>{keys[0]}</Key></Deleted>" + "".join(
                f"<Error><Key>{key}</Key><Code>{code}</Code><Message>{code} for {key}</Message></Error>"
                for key in keys[1:]
            )
        self._reply(f'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{results}</DeleteResult>')


@pytest.fixture
def s3load() -> str:
    return require_binary("s3load", "run `make tools` (builds tools/s3load with Go)", "MINIO_PLATFORM_S3LOAD")


@pytest.fixture
def scripted() -> Iterator[callable]:
    servers: list[ScriptedS3] = []

    def start(answers: list[str | None]) -> ScriptedS3:
        server = ScriptedS3(answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def delete(s3load: str, server: ScriptedS3, requests: int = 4) -> subprocess.CompletedProcess:
    return subprocess.run(
        [s3load, "-op", "delete", "-endpoint", f"127.0.0.1:{server.server_port}", "-bucket", "scripted",
         "-prefix", "p", "-requests", str(requests)],
        env={"S3LOAD_ACCESS_KEY": "access", "S3LOAD_SECRET_KEY": "secret-key-of-the-test"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_keys_answered_slow_down_are_asked_again_and_only_those(s3load, scripted):
    server = scripted(["SlowDownWrite", "SlowDown", None])
    done = delete(s3load, server)
    assert done.returncode == 0, done.stderr
    assert server.calls == [["p/0", "p/1", "p/2", "p/3"], ["p/1", "p/2", "p/3"], ["p/2", "p/3"]]
    assert "3 keys answered" in done.stderr and "asking again" in done.stderr


def test_any_other_error_fails_at_once_naming_the_key(s3load, scripted):
    server = scripted(["AccessDenied"])
    done = delete(s3load, server)
    assert done.returncode != 0
    assert len(server.calls) == 1
    assert "delete p/1 (attempt 1)" in done.stderr and "AccessDenied" in done.stderr


def test_slow_down_that_never_ends_fails_after_five_attempts(s3load, scripted):
    server = scripted(["SlowDownWrite"])
    done = delete(s3load, server, requests=8)
    assert done.returncode != 0
    assert len(server.calls) == 5
    assert "(attempt 5)" in done.stderr and "SlowDownWrite" in done.stderr
