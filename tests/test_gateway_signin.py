"""The gateway's routes for the console's sign-in bridge, on Debian's nginx running the rendered
configuration, with stand-ins for the console, the nodes' S3 and the bridge (which answer 200 and
record what reached them).

What the gateway decides (components/gateway.py, docs/sso.md): a page load of the console without
its session cookie goes to the bridge's sign-in, coming back to the same page; an API call without
it is told "invalid session" (the console then loads its sign-in page); the console's sign-in page
is the bridge's unless the break-glass argument asks for the access-key form; the console's
sign-out reaches the bridge; and the internal listener where the bridge reaches STS and the
console's sign-in serves the bridge's address alone. The e2e browser tier runs the same routes
with a real console, bridge and Keycloak.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.gateway import (
    BREAK_GLASS_ARGUMENT,
    CONSOLE_PATH,
    INVALID_SESSION_BODY,
    SIGNIN_UNAVAILABLE_BODY,
    Upstream,
    render_nginx_conf,
)
from tests.servers import Nginx, free_port, loopback_gateway, serving

pytestmark = pytest.mark.render

BRIDGE_ADDRESS = "127.0.0.2"
"""The stand-in bridge's address: loopback, but not the test client's 127.0.0.1."""
SESSION = {"Cookie": "token=a-console-session"}
PAGE_LOAD = {"Sec-Fetch-Dest": "document", "Accept": "text/html,application/xhtml+xml"}


class Recorder(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def recorder(address: str) -> contextlib.AbstractContextManager[ThreadingHTTPServer]:
    return serving(0, Recorder, address)


@contextlib.contextmanager
def bridged_gateway(workdir, node: int, console: int, bridge: int, internal: int) -> Iterator[int]:
    """The rendered gateway with the bridge at ``BRIDGE_ADDRESS:bridge`` running; its HTTP port."""
    config, http_port, _ = loopback_gateway(
        workdir,
        [Upstream(f"127.0.0.1:{node}", f"127.0.0.1:{console}")],
        signin=f"{BRIDGE_ADDRESS}:{bridge}",
        bridge_listen=f"127.0.0.1:{internal}",
    )
    nginx = Nginx(workdir)
    try:
        nginx.start(config, http_port)
        yield http_port
    finally:
        nginx.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """``(http_port, internal_port, node, console, bridge)``: the rendered gateway with the bridge."""
    workdir = tmp_path_factory.mktemp("signin-gateway")
    internal = free_port()
    with (
        recorder("127.0.0.1") as node,
        recorder("127.0.0.1") as console,
        recorder(BRIDGE_ADDRESS) as bridge,
        bridged_gateway(
            workdir, node.server_port, console.server_port, bridge.server_port, internal
        ) as http_port,
    ):
        yield http_port, internal, node, console, bridge


def ask(port: int, method: str, path: str, headers=None, source: str = "127.0.0.1"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def reached(server: ThreadingHTTPServer, before: int) -> list[tuple[str, str]]:
    return server.seen[before:]


def test_a_page_load_without_a_session_goes_to_the_bridge_and_comes_back_to_the_page(gateway):
    http_port, _, _, console, _ = gateway
    page = f"{CONSOLE_PATH}/browser/b/cHJl+Zml4Lw==?x=1&y=2"
    before = len(console.seen)
    status, headers, _ = ask(http_port, "GET", page, PAGE_LOAD)
    assert (status, headers["Location"]) == (302, f"/sso/login?next={page}")
    # Browsers without Sec-Fetch-* still ask for HTML on a page load.
    status, headers, _ = ask(http_port, "GET", page, {"Accept": "text/html"})
    assert (status, headers["Location"]) == (302, f"/sso/login?next={page}")
    assert reached(console, before) == []


def test_with_a_session_every_request_reaches_the_console(gateway):
    http_port, _, _, console, _ = gateway
    before = len(console.seen)
    for path, headers in [
        (f"{CONSOLE_PATH}/browser/b", {**PAGE_LOAD, **SESSION}),
        (f"{CONSOLE_PATH}/api/v1/buckets", SESSION),
    ]:
        assert ask(http_port, "GET", path, headers)[0] == 200
    assert reached(console, before) == [("GET", "/browser/b"), ("GET", "/api/v1/buckets")]


def test_assets_load_without_a_session_so_the_break_glass_form_can(gateway):
    http_port, _, _, console, _ = gateway
    before = len(console.seen)
    asset = f"{CONSOLE_PATH}/static/js/main.js"
    assert ask(http_port, "GET", asset, {"Sec-Fetch-Dest": "script", "Accept": "*/*"})[0] == 200
    assert reached(console, before) == [("GET", "/static/js/main.js")]


def test_an_api_call_without_a_session_is_told_invalid_session(gateway):
    """The console answers that by loading its sign-in page, which is the bridge's."""
    http_port, _, _, console, _ = gateway
    before = len(console.seen)
    status, _, body = ask(http_port, "GET", f"{CONSOLE_PATH}/api/v1/buckets")
    assert status == 403 and json.loads(body)["message"] == "invalid session"
    assert body.decode() == INVALID_SESSION_BODY
    # The break-glass form's own calls pass: its sign-in strategy and its sign-in.
    assert ask(http_port, "GET", f"{CONSOLE_PATH}/api/v1/login")[0] == 200
    assert ask(http_port, "POST", f"{CONSOLE_PATH}/api/v1/login")[0] == 200
    assert reached(console, before) == [("GET", "/api/v1/login"), ("POST", "/api/v1/login")]


def test_the_consoles_sign_in_page_is_the_bridges_but_for_break_glass(gateway):
    http_port, _, _, console, _ = gateway
    for path in (f"{CONSOLE_PATH}/login", "/login"):
        status, headers, _ = ask(http_port, "GET", path, PAGE_LOAD)
        assert (status, headers["Location"]) == (302, "/sso/login"), path
    before = len(console.seen)
    status, _, _ = ask(http_port, "GET", f"{CONSOLE_PATH}/login?{BREAK_GLASS_ARGUMENT}=1", PAGE_LOAD)
    assert status == 200
    assert reached(console, before) == [("GET", f"/login?{BREAK_GLASS_ARGUMENT}=1")]


def test_the_bridges_paths_and_the_consoles_sign_out_reach_the_bridge(gateway):
    http_port, _, _, console, bridge = gateway
    before, console_before = len(bridge.seen), len(console.seen)
    assert ask(http_port, "GET", "/sso/login?next=/minio-console/")[0] == 200
    assert ask(http_port, "GET", "/sso/callback?state=s&code=c")[0] == 200
    assert ask(http_port, "POST", f"{CONSOLE_PATH}/api/v1/logout", SESSION)[0] == 200
    assert reached(bridge, before) == [
        ("GET", "/sso/login?next=/minio-console/"),
        ("GET", "/sso/callback?state=s&code=c"),
        ("POST", "/sso/api/logout"),
    ]
    assert reached(console, console_before) == []


def test_the_internal_listener_serves_the_bridge_alone_and_only_sts_and_the_sign_in(gateway):
    _, internal, node, console, _ = gateway
    node_before, console_before = len(node.seen), len(console.seen)
    # Anyone but the bridge: refused, whatever the path.
    assert ask(internal, "POST", "/")[0] == 403
    assert ask(internal, "POST", f"{CONSOLE_PATH}/api/v1/login")[0] == 403
    # The bridge: STS (a POST to the S3 root) and the console's sign-in and sign-out.
    assert ask(internal, "POST", "/", source=BRIDGE_ADDRESS)[0] == 200
    assert ask(internal, "GET", "/", source=BRIDGE_ADDRESS)[0] == 403
    assert ask(internal, "POST", f"{CONSOLE_PATH}/api/v1/login", source=BRIDGE_ADDRESS)[0] == 200
    assert ask(internal, "POST", f"{CONSOLE_PATH}/api/v1/logout", source=BRIDGE_ADDRESS)[0] == 200
    assert ask(internal, "GET", "/bucket/key", source=BRIDGE_ADDRESS)[0] == 404
    assert ask(internal, "GET", f"{CONSOLE_PATH}/api/v1/buckets", source=BRIDGE_ADDRESS)[0] == 404
    assert reached(node, node_before) == [("POST", "/")]
    assert reached(console, console_before) == [("POST", "/api/v1/login"), ("POST", "/api/v1/logout")]


def test_without_the_bridge_the_console_is_its_own(tmp_path):
    """``identity.consoleSignIn: form``: no bridge route, no redirect; the console's stray
    ``/login`` still lands on its form."""
    config, _, _ = loopback_gateway(tmp_path, [Upstream("127.0.0.1:1", "127.0.0.1:2")])
    text = render_nginx_conf(config)
    assert "location ^~ /sso/" not in text and "http://signin" not in text and "$console_signin" not in text
    assert f"return 302 {CONSOLE_PATH}/login;" in text


def test_a_bridge_that_does_not_answer_gets_a_page_with_the_way_in(tmp_path):
    """Never nginx's own 502 page: a 503 a person can act on, naming the break-glass path."""
    with (
        recorder("127.0.0.1") as node,
        bridged_gateway(tmp_path, node.server_port, node.server_port, free_port(), free_port()) as http_port,
    ):
        status, headers, body = ask(http_port, "GET", "/sso/login", PAGE_LOAD)
    assert status == 503 and headers["Retry-After"] == "30"
    assert body.decode() == SIGNIN_UNAVAILABLE_BODY
    assert f"{CONSOLE_PATH}/login?{BREAK_GLASS_ARGUMENT}=1" in body.decode()
