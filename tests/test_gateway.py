"""The NGINX gateway: its place in the graph, its rendered configuration, and Debian's nginx running it."""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import crossplane
import pytest

from components.gateway import (
    UPSTREAM_READ_TIMEOUT_SECONDS,
    NginxConfig,
    Upstream,
    nginx_conf_tree,
    public_urls,
    render_nginx_conf,
    storage_error_body,
)
from components.settings import SettingsError, settings_from_config
from synth.mocks import is_secret
from tests.graph import CONTAINER, env_of, files_of, minio_nodes, uploads_of
from tests.servers import Nginx, free_port, loopback_gateway, nginx_check, self_signed_certificate

# --- parsed configuration helpers -----------------------------------------------------------------


def parse(conf: str, tmp_path: Path) -> list[dict]:
    path = tmp_path / "parsed.conf"
    path.write_text(conf)
    payload = crossplane.parse(str(path), single=True, check_ctx=True, check_args=False, comments=False)
    assert payload["status"] == "ok", payload["errors"]
    return payload["config"][0]["parsed"]


def blocks(tree: list[dict], directive: str) -> list[dict]:
    return [d for d in tree if d["directive"] == directive]


def args_of(tree: list[dict], directive: str) -> list[list[str]]:
    return [d["args"] for d in tree if d["directive"] == directive]


def http_block(tree: list[dict]) -> list[dict]:
    return blocks(tree, "http")[0]["block"]


def server_listening(tree: list[dict], port: str) -> list[dict]:
    servers = [s["block"] for s in blocks(http_block(tree), "server")]
    return [s for s in servers if any(a[0] == port for a in args_of(s, "listen"))]


def location(server: list[dict], *args: str) -> list[dict]:
    found = [b["block"] for b in blocks(server, "location") if b["args"] == list(args)]
    assert len(found) == 1, f"location {args} not found once"
    return found[0]


# --- the gateway in the graph ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_gateway_publishes_beyond_loopback(synth, stack):
    """The storage platform's one entry is the gateway; dev-only services publish on 127.0.0.1."""
    publishers = {
        c.inputs["name"]: c.inputs["ports"] for c in synth(stack).of_type(CONTAINER) if c.inputs.get("ports")
    }
    assert "gateway" in publishers
    assert not any(name.startswith("minio") for name in publishers)
    for name, ports in publishers.items():
        if name != "gateway":
            assert stack == "dev", f"{name} publishes ports in {stack}"
            assert {p["ip"] for p in ports} == {"127.0.0.1"}, name


def test_dev_ports_bind_to_loopback(synth):
    gateway = synth("dev").named(CONTAINER, "minio-gateway-nginx")
    ports = {(p["internal"], p["external"], p["ip"]) for p in gateway.inputs["ports"]}
    assert ports == {(80, 80, "127.0.0.1"), (9000, 9000, "127.0.0.1")}


def test_prod_publishes_http_and_https(synth):
    gateway = synth("prod").named(CONTAINER, "minio-gateway-nginx")
    assert {(p["internal"], p["external"]) for p in gateway.inputs["ports"]} == {(80, 80), (443, 443)}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gateway_waits_for_every_node_and_for_its_own_health(synth, stack):
    synthesis = synth(stack)
    gateway = synthesis.named(CONTAINER, "minio-gateway-nginx")
    node_urns = {n.urn for n in minio_nodes(synthesis.resources)}
    assert node_urns <= set(gateway.dependencies)
    assert gateway.inputs["wait"] is True
    assert gateway.inputs["healthcheck"]["tests"][-1] == "http://127.0.0.1:80/healthz"
    assert "healthcheck" in gateway.options["replaceOnChanges"]
    storage = next(n for n in gateway.inputs["networksAdvanced"] if n["name"] == "storage-net")
    expected = {"dev": "172.40.0.2", "prod": "172.28.40.2"}[stack]  # offset 2 of each stack's storageSubnet
    assert storage["ipv4Address"] == expected


@pytest.mark.parametrize(
    ("stack", "aliases", "endpoint"),
    [
        ("dev", ["gateway"], "http://gateway:9000"),
        # Under TLS the S3 server is chosen by host name and the certificate names s3Host.
        ("prod", ["gateway", "s3.storage.example.com"], "https://s3.storage.example.com"),
    ],
)
def test_database_network_reaches_s3_at_the_gateway(synth, stack, aliases, endpoint):
    """database-net carries what it exists for: database containers reach S3 with no host port."""
    synthesis = synth(stack)
    gateway = synthesis.named(CONTAINER, "minio-gateway-nginx")
    database = next(n for n in gateway.inputs["networksAdvanced"] if n["name"] == "database-net")
    assert sorted(database["aliases"]) == aliases
    assert synthesis.outputs["database_network"] == "database-net"
    assert synthesis.outputs["database_s3_endpoint"] == endpoint
    members = [
        r.name
        for r in synthesis.of_type(CONTAINER)
        if any(n["name"] == "database-net" for n in r.inputs.get("networksAdvanced", []))
    ]
    assert members == ["minio-gateway-nginx"], "only the gateway: MinIO nodes stay on storage-net"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_uploaded_config_is_the_rendered_file(synth, stack):
    synthesis = synth(stack)
    gateway = synthesis.named(CONTAINER, "minio-gateway-nginx")
    uploads = uploads_of(synthesis, gateway)
    assert uploads["/etc/nginx/nginx.conf"]["content"] == synthesis.files["nginx.conf"]


def test_prod_tls_key_is_uploaded_secret_and_private(synth):
    prod = synth("prod")
    gateway = prod.named(CONTAINER, "minio-gateway-nginx")
    key = uploads_of(prod, gateway)["/etc/nginx/tls/tls.key"]
    # Not world-readable; the gateway's user reads it through group 0 (NGINX_HARDENING).
    assert key["permissions"] == "0440"
    assert gateway.inputs["user"].endswith(":0")
    assert key["content"] == "offline-synth-placeholder-for-tlsPrivateKey"
    files = files_of(prod, gateway)
    assert is_secret(files.inputs["uploads"]) or any(is_secret(u) for u in files.inputs["uploads"])


def test_self_signed_mode_generates_key_and_certificate(synth):
    synthesis = synth("dev", {"gateway": {"tls": "self-signed", "s3Host": "s3.localhost"}})
    key = synthesis.named("tls:index/privateKey:PrivateKey", "minio-gateway-tls-key")
    cert = synthesis.named("tls:index/selfSignedCert:SelfSignedCert", "minio-gateway-tls-cert")
    assert key.inputs["algorithm"] == "ECDSA"
    assert cert.inputs["dnsNames"] == ["localhost", "s3.localhost"]
    assert "server_auth" in cert.inputs["allowedUses"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_node_gets_the_console_url_without_trailing_slash(synth, stack):
    synthesis = synth(stack)
    console_url = synthesis.outputs["console_url"]
    assert console_url.endswith("/minio-console")
    for node in minio_nodes(synthesis.resources):
        assert env_of(node)["MINIO_BROWSER_REDIRECT_URL"] == console_url


def test_outputs_name_the_public_endpoints(synth):
    assert synth("dev").outputs["s3_endpoint"] == "http://localhost:9000"
    assert synth("dev").outputs["console_url"] == "http://localhost/minio-console"
    assert synth("prod").outputs["s3_endpoint"] == "https://s3.storage.example.com"
    assert synth("prod").outputs["console_url"] == "https://storage.example.com/minio-console"


def test_public_urls_carry_non_default_ports():
    gateway = settings_from_config({"gateway": {"httpPort": 8081, "s3Port": 9100}}).gateway
    assert public_urls(gateway) == ("http://localhost:8081/minio-console", "http://localhost:9100")


def test_same_host_for_s3_and_console_is_refused_under_tls():
    with pytest.raises(
        SettingsError, match=r"gateway\.s3Host = 'localhost': under TLS the S3 host name must differ"
    ):
        settings_from_config({"gateway": {"tls": "self-signed"}})


# --- the rendered configuration, parsed -----------------------------------------------------------


def test_dev_listeners_and_s3_directives(synth, tmp_path):
    tree = parse(synth("dev").files["nginx.conf"], tmp_path)
    (s3,) = server_listening(tree, "9000")
    assert args_of(s3, "client_max_body_size") == [["5g"]]
    assert args_of(s3, "proxy_request_buffering") == [["off"]]
    assert args_of(s3, "proxy_buffering") == [["off"]]
    # Unbuffered, NGINX reads a response at most this much at a time: not its 4 KiB page default,
    # which tripled its CPU per GiB and capped one download at two thirds of a direct one.
    assert args_of(s3, "proxy_buffer_size") == [["64k"]]
    assert not any(args_of(b["block"], "proxy_buffer_size") for b in blocks(s3, "location"))
    root = location(s3, "/")
    assert args_of(root, "proxy_pass") == [["http://$s3_upstream"]]
    assert ["Host", "$http_host"] in args_of(root, "proxy_set_header")
    assert args_of(root, "proxy_http_version") == [["1.1"]]
    assert ["Connection", ""] in args_of(root, "proxy_set_header")
    assert not args_of(root, "rewrite"), "the S3 path must reach MinIO unchanged"
    assert args_of(root, "proxy_read_timeout") == [[f"{UPSTREAM_READ_TIMEOUT_SECONDS}s"]]
    assert ["502", "504", "=", "@unavailable"] in args_of(s3, "error_page")
    upstream = next(b["block"] for b in blocks(http_block(tree), "upstream") if b["args"] == ["minio_s3"])
    servers = [a[0] for a in args_of(upstream, "server")]
    assert servers == [f"172.40.0.{i}:9000" for i in range(11, 15)]
    assert args_of(upstream, "keepalive")


def test_multipart_initiation_and_listing_go_to_one_node_per_bucket(synth, tmp_path):
    """MinIO lists a bucket's uploads (no prefix) from the cache of the process that started each:
    starting, listing, completing and aborting uploads are hashed by bucket, the rest balanced."""
    http = http_block(parse(synth("dev").files["nginx.conf"], tmp_path))
    upstreams = {b["args"][0]: b["block"] for b in blocks(http, "upstream")}
    multipart = upstreams["minio_multipart"]
    assert args_of(multipart, "hash") == [["$s3_bucket", "consistent"]]
    nodes = [f"172.40.0.{i}:9000" for i in range(11, 15)]
    assert [a[0] for a in args_of(multipart, "server")] == nodes
    assert args_of(upstreams["minio_s3"], "least_conn") == [[]]
    maps = {b["args"][1]: (b["args"][0], b["block"]) for b in blocks(http, "map")}
    source, routes = maps["$s3_upstream"]
    assert source == "$request_method:$args"
    assert args_of(routes, "default") == [["minio_s3"]]
    # crossplane reads a map's entries as directives: the source value, then the result.
    patterns = [
        re.compile(d["directive"].removeprefix("~")) for d in routes if d["args"] == ["minio_multipart"]
    ]

    def hashed(method: str, query: str) -> bool:
        return any(p.search(f"{method}:{query}") for p in patterns)

    for method, query in [
        ("POST", "uploads"),
        ("POST", "uploads="),
        ("GET", "uploads"),
        ("GET", "delimiter=%2F&uploads"),
        ("GET", "uploads&prefix=a"),
        ("GET", "x=1&uploads=&y=2"),
        ("POST", "uploadId=abc"),
        ("DELETE", "uploadId=abc"),
        ("DELETE", "x-id=AbortMultipartUpload&uploadId=abc"),
    ]:
        assert hashed(method, query), (method, query)
    for method, query in [
        ("GET", ""),
        ("PUT", "partNumber=1&uploadId=abc"),
        ("GET", "uploadId=abc"),  # parts, ListParts
        ("GET", "list-type=2&prefix=uploads"),
        ("GET", "myuploads"),
        ("GET", "uploadsx=1"),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "delete"),
    ]:
        assert not hashed(method, query), (method, query)
    source, buckets = maps["$s3_bucket"]
    assert source == "$uri"
    pcre = next(d["directive"] for d in buckets if d["directive"] != "default").removeprefix("~")
    bucket_regex = re.compile(pcre.replace("(?<", "(?P<"))  # PCRE's named group, in Python's syntax
    assert bucket_regex.search("/photos/2026/a.jpg").group("bucket") == "photos"
    assert bucket_regex.search("/photos").group("bucket") == "photos"


def test_admin_api_goes_to_one_primary_node_with_the_others_standing_by(synth, tmp_path):
    tree = parse(synth("dev").files["nginx.conf"], tmp_path)
    (s3,) = server_listening(tree, "9000")
    admin = location(s3, "/minio/admin/")
    assert args_of(admin, "proxy_pass") == [["http://minio_admin"]]
    assert ["Host", "$http_host"] in args_of(admin, "proxy_set_header")
    assert not args_of(admin, "rewrite")
    upstream = next(b["block"] for b in blocks(http_block(tree), "upstream") if b["args"] == ["minio_admin"])
    servers = args_of(upstream, "server")
    assert [s[0] for s in servers] == [f"172.40.0.{i}:9000" for i in range(11, 15)]
    assert "backup" not in servers[0] and all("backup" in s for s in servers[1:])


def test_console_is_proxied_with_websocket_upgrade_and_sticky_upstream(synth, tmp_path):
    tree = parse(synth("dev").files["nginx.conf"], tmp_path)
    (main,) = server_listening(tree, "80")
    console = location(main, "/minio-console/")
    assert args_of(console, "rewrite") == [["^/minio-console/(.*)", "/$1", "break"]]
    assert args_of(console, "proxy_pass") == [["http://minio_console"]]
    headers = args_of(console, "proxy_set_header")
    assert ["Upgrade", "$http_upgrade"] in headers
    assert ["Connection", "$connection_upgrade"] in headers
    assert ["Host", "$http_host"] in headers
    upstream = next(
        b["block"] for b in blocks(http_block(tree), "upstream") if b["args"] == ["minio_console"]
    )
    assert args_of(upstream, "ip_hash") == [[]]
    assert [a[0] for a in args_of(upstream, "server")] == [f"172.40.0.{i}:9001" for i in range(11, 15)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_storage_path_answers_and_never_proxies(synth, tmp_path, stack):
    tree = parse(synth(stack).files["nginx.conf"], tmp_path)
    for server in [s["block"] for s in blocks(http_block(tree), "server")]:
        for block in blocks(server, "location"):
            if "/storage" in block["args"][-1]:
                assert not args_of(block["block"], "proxy_pass")
                status, body = args_of(block["block"], "return")[0]
                assert status == "400"
                assert synth(stack).outputs["s3_endpoint"] in body


def test_prod_terminates_tls_for_both_host_names(synth, tmp_path):
    tree = parse(synth("prod").files["nginx.conf"], tmp_path)
    tls_servers = server_listening(tree, "443")
    names = sorted(args_of(s, "server_name")[0][0] for s in tls_servers)
    assert names == ["_", "s3.storage.example.com", "storage.example.com"]
    for server in tls_servers:
        assert args_of(server, "listen")[0][:2] == ["443", "ssl"]
        if args_of(server, "server_name") == [["_"]]:
            assert args_of(server, "ssl_reject_handshake") == [["on"]]
            continue
        assert args_of(server, "ssl_protocols") == [["TLSv1.2", "TLSv1.3"]]
        assert args_of(server, "ssl_certificate") == [["tls/tls.crt"]]
    (plain_http,) = server_listening(tree, "80")
    assert args_of(location(plain_http, "/"), "return") == [["301", "https://$host$request_uri"]]


def test_storage_error_is_well_formed_xml():
    import xml.etree.ElementTree as ET

    error = ET.fromstring(storage_error_body("https://s3.example.com"))  # noqa: S314 (our own output)
    assert error.tag == "Error"
    assert error.findtext("Code") == "InvalidRequest"
    assert error.findtext("Endpoint") == "https://s3.example.com"
    assert "Signature V4 signs the request path" in error.findtext("Message")


def test_renderer_refuses_an_empty_upstream_list():
    with pytest.raises(ValueError, match="at least one upstream"):
        render_nginx_conf(NginxConfig([], "c", "s", "1m", "http://s"))


def test_the_rendered_file_is_the_directive_tree(synth, tmp_path):
    """What nginx reads back is exactly the tree the renderer built, and every comment that explains
    a rule stands on a line of its own (crossplane would join it to the directive before it)."""
    conf = synth("dev").files["nginx.conf"]

    def without_lines(tree: list[dict]) -> list[dict]:
        return [
            {
                "directive": d["directive"],
                "args": d["args"],
                **({"block": without_lines(d["block"])} if "block" in d else {}),
            }
            for d in tree
            if d["directive"] != "#"
        ]

    node = Upstream("10.0.0.2:9000", "10.0.0.2:9001")
    config = NginxConfig([node], "localhost", "localhost", "5g", "http://localhost:9000")
    assert without_lines(parse(render_nginx_conf(config), tmp_path)) == without_lines(nginx_conf_tree(config))
    code = [line.strip() for line in conf.splitlines()]
    comments = [line for line in code if line.startswith("#")]
    assert len(comments) > 20
    assert not [
        line for line in code if "#" in line and not line.startswith("#") and ";" in line.split("#")[0]
    ]


# --- Debian's nginx judges and runs it ------------------------------------------------------------


@pytest.mark.render
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_nginx_accepts_each_stacks_rendered_file(synth, tmp_path, stack):
    conf = tmp_path / "nginx.conf"
    conf.write_text(synth(stack).files["nginx.conf"])  # byte for byte what `make render` writes
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    self_signed_certificate(tls_dir, "test.invalid")
    nginx_check(conf)


class Recorder(BaseHTTPRequestHandler):
    """An upstream that answers 200 and records what reached it (method, raw path, Host, body size)."""

    seen: list[tuple[str, str, str, int, int]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            (self.command, self.path, self.headers.get("Host"), len(body), self.server.port)
        )
        payload = f"served by {self.server.port}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def recorder(port: int) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    server.seen, server.port = [], port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def nginx_running(tmp_path):
    """Start nginx on a rendered config (loopback listeners only); always stopped afterwards."""
    nginx = Nginx(tmp_path)  # TLS files go in tmp_path/tls, beside the config
    yield nginx.start
    nginx.close()


def local_config(tmp_path: Path, upstream_ports: list[int], **changes) -> tuple[NginxConfig, int, int]:
    upstreams = [Upstream(f"127.0.0.1:{p}", f"127.0.0.1:{p}") for p in upstream_ports]
    return loopback_gateway(tmp_path, upstreams, console_host="console.test", s3_host="s3.test", **changes)


def request(port: int, method: str, path: str, body: bytes | None = None, host: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host} if host else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read(), dict(response.getheaders())


@pytest.mark.render
def test_nginx_starts_with_every_node_down_and_explains_storage(nginx_running, tmp_path):
    dead = [free_port() for _ in range(4)]  # nothing listens: every node is down
    config, http_port, s3_port = local_config(tmp_path, dead)
    nginx_running(config, http_port)

    assert request(http_port, "GET", "/healthz")[:2] == (200, b"ok\n")
    status, body, headers = request(http_port, "GET", "/storage/my-bucket/key.txt")
    assert status == 400
    assert headers["Content-Type"] == "application/xml"
    assert f"http://s3.test:{s3_port}".encode() in body
    assert request(http_port, "GET", "/minio-console")[0] == 301
    # Proxied, and no node answers: an S3 error a client retries, not nginx's HTML page.
    status, body, headers = request(s3_port, "GET", "/bucket/key")
    assert (status, headers["Content-Type"], headers["Retry-After"]) == (503, "application/xml", "10")
    assert b"<Code>ServiceUnavailable</Code>" in body


@pytest.mark.render
def test_a_node_that_accepts_and_never_answers_costs_the_read_timeout_then_a_503(nginx_running, tmp_path):
    """A cluster below quorum accepts requests and never answers (../shared/notes/multihost-field-notes.md):
    the gateway answers 503 once its read timeout has passed, on every node, instead of hanging."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (the kernel completes the handshake) and never reads or writes
    try:
        config, http_port, s3_port = local_config(
            tmp_path, [silent.getsockname()[1]], upstream_read_timeout=2
        )
        nginx_running(config, http_port)
        started = time.monotonic()
        status, body, _ = request(s3_port, "GET", "/bucket/key")
        waited = time.monotonic() - started
    finally:
        silent.close()
    assert status == 503 and b"<Code>ServiceUnavailable</Code>" in body
    # It waited for the read timeout (2 s) and not for a client's own (the request's 10 s).
    assert 2 <= waited < 10, waited


@pytest.mark.render
def test_redirects_keep_the_port_the_browser_used(nginx_running, tmp_path):
    """Found by the browser tier: behind Docker's port mapping the client's port (18080) is not
    nginx's (80), and an absolute redirect built from nginx's own port sent browsers from
    `console_url` (no trailing slash) to http://localhost/minio-console/. Redirects are relative."""
    config, http_port, _ = local_config(tmp_path, [free_port()])
    nginx_running(config, http_port)
    for path in ("/minio-console", "/"):
        status, _, headers = request(http_port, "GET", path, host="localhost:18080")
        assert status in (301, 302) and headers["Location"] == "/minio-console/", (path, headers["Location"])


@pytest.mark.render
def test_host_and_raw_path_reach_the_node_unchanged(nginx_running, tmp_path):
    port = free_port()
    with recorder(port) as upstream:
        config, _, s3_port = local_config(tmp_path, [port])
        nginx_running(config, s3_port)
        path = "/bucket/dir%20one/obj%2Bplus?partNumber=1&uploadId=a%2Fb"
        status, _, _ = request(s3_port, "PUT", path, body=b"x" * 70_000, host=f"s3.test:{s3_port}")
        assert status == 200
        method, seen_path, host, size, _ = upstream.seen[-1]
        assert (method, seen_path, host, size) == ("PUT", path, f"s3.test:{s3_port}", 70_000)


@pytest.mark.render
def test_body_over_the_limit_is_refused_with_413(nginx_running, tmp_path):
    port = free_port()
    with recorder(port) as upstream:
        config, _, s3_port = local_config(tmp_path, [port], max_body_size="1k")
        nginx_running(config, s3_port)
        assert request(s3_port, "PUT", "/bucket/big", body=b"x" * 4096)[0] == 413
        assert upstream.seen == []


@pytest.mark.render
def test_idempotent_requests_route_around_a_dead_node_and_return_to_it(nginx_running, tmp_path):
    live_port, dead_port = free_port(), free_port()
    with recorder(live_port) as live:
        config, _, s3_port = local_config(tmp_path, [dead_port, live_port])
        nginx_running(config, s3_port)
        for _ in range(10):
            assert request(s3_port, "GET", "/bucket/key")[0] == 200
        assert len(live.seen) == 10

        # The dead node comes back: within fail_timeout (10 s) plus a margin it serves again.
        with recorder(dead_port) as returned:
            deadline = time.monotonic() + 25
            while not returned.seen and time.monotonic() < deadline:
                assert request(s3_port, "GET", "/bucket/key")[0] == 200
                time.sleep(0.2)
            assert returned.seen, "the returning node was not picked up again"


@pytest.mark.render
def test_tls_routes_by_host_name_and_refuses_unknown_names(nginx_running, tmp_path):
    port = free_port()
    (tmp_path / "tls").mkdir()
    self_signed_certificate(tmp_path / "tls", "console.test", "s3.test")
    https_port = free_port()
    with recorder(port) as upstream:
        config, http_port, _ = local_config(
            tmp_path, [port], tls=True, https_listen=f"127.0.0.1:{https_port}"
        )
        nginx_running(config, https_port)
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "tls.crt"))
        context.minimum_version = ssl.TLSVersion.TLSv1_2

        connection = http.client.HTTPSConnection("s3.test", https_port, context=context, timeout=10)
        connection.sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", https_port), timeout=10), server_hostname="s3.test"
        )
        connection.request("GET", "/bucket/key")
        assert connection.getresponse().status == 200
        assert upstream.seen[-1][2] == f"s3.test:{https_port}"

        with (
            pytest.raises(ssl.SSLError),
            socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw,
        ):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.wrap_socket(raw, server_hostname="unknown.test")

        status, _, headers = request(http_port, "GET", "/bucket/key", host="console.test:18080")
        assert status == 301 and headers["Location"] == "https://console.test/bucket/key"
        assert request(http_port, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize(
    ("https_port", "location"), [(443, "https://$host$request_uri"), (8443, "https://$host:8443$request_uri")]
)
def test_the_https_redirect_names_the_published_https_port(https_port, location):
    conf = render_nginx_conf(
        NginxConfig(
            upstreams=[Upstream("10.0.0.1:9000", "10.0.0.1:9001")],
            console_host="console.test",
            s3_host="s3.test",
            max_body_size="5g",
            s3_endpoint="https://s3.test",
            tls=True,
            https_port=https_port,
        )
    )
    assert f"return 301 {location};" in conf
