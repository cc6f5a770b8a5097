"""The NGINX gateway: the platform's only published entry.

The S3 API is served at the root of its own listener. AWS Signature V4 signs the request path and
the ``Host`` header, so the gateway preserves both: MinIO cannot serve S3 under a path prefix such
as the user's note's ``/storage/`` (maintainers: "working as intended", minio/minio#5947, #6792), so
that path answers with an S3-style error naming the right endpoint instead of proxying.

The configuration comes from :func:`render_nginx_conf`, a pure function whose listeners and
upstreams are parameters, so the tests run the very same renderer against local MinIO processes. It
builds nginx.conf as a directive tree (:func:`nginx_conf_tree`), one function per rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import pulumi
import pulumi_docker as docker
import pulumi_tls as tls

from components.cluster import CONSOLE_PORT, S3_PORT
from components.conventions import (
    ROLE_LABEL,
    SECRET_FILE_MODE,
    Hardening,
    hardened_container,
    healthy_service,
    wget_http_probe,
)
from components.internode_tls import SHARED_NAME
from components.nginx_tree import (
    SCRATCH,
    Directive,
    build,
    comment,
    directive,
    main_context,
    temp_paths,
)
from components.settings import GatewaySettings, ResourceSettings, TlsMode
from components.signin_bridge import BRIDGE_LISTEN, SIGNIN_PATH, SIGNIN_PORT

CONSOLE_PATH = "/minio-console"
CONSOLE_COOKIE = "token"
"""The console's session cookie (the bridge sets it too: signin/minio.py)."""
HEALTH_PATH = "/healthz"
S3_READ_BUFFER = "64k"
"""How much of an S3 response NGINX reads from a node at a time (unbuffered proxying)."""
NGINX_CONF_PATH = "/etc/nginx/nginx.conf"
NGINX_HARDENING = Hardening(
    # images/nginx: Debian's www-data in group 0, which reads the TLS key. Its ports below 1024
    # need no capability: Docker opens every port to a container's users (the net.ipv4
    # ip_unprivileged_port_start sysctl is 0 in a container since Engine 20.10).
    user="33:0",
    # The uploads (nginx.conf, the TLS files, the nodes' CA) land beside the image's mime.types.
    seeded=("/etc/nginx",),
    # GatewayConfig.temp_dir: the pid file and the temp files.
    scratch=(SCRATCH,),
)
"""How the gateway (and the log gate, the same image) runs."""
TLS_DIR = "tls"
"""TLS files sit in this folder beside nginx.conf: relative paths resolve against the config's folder."""
UPSTREAM_CA_FILE = f"{TLS_DIR}/internode-ca.crt"
"""With several hosts the nodes serve HTTPS: the CA their certificates are signed by."""

UPSTREAM_CONNECT_TIMEOUT_SECONDS = 2
"""A stopped node's address answers nothing, not even a reset: each try of it costs this much."""
UPSTREAM_TRIES = 3
"""Tries of an S3 request on different nodes (nginx never replays one whose body has started)."""
UPSTREAM_READ_TIMEOUT_SECONDS = 60
"""The longest the gateway waits on a node that has accepted a request and not answered: above the
19-48 s a first write stalls while MinIO gives up on a cut-off host (measured: tests/e2e/
test_several_hosts.py), so that answer still arrives, and the bound on a cluster below quorum, where
MinIO never answers: the gateway then replies 503 ServiceUnavailable."""
RESPONSE_BOUND_SECONDS = (
    UPSTREAM_TRIES - 1
) * UPSTREAM_CONNECT_TIMEOUT_SECONDS + UPSTREAM_READ_TIMEOUT_SECONDS
"""The longest a client waits for the gateway's first answer byte: two silent nodes, then a node that
never answers (a retry after a read timeout is past ``proxy_next_upstream_timeout``)."""

# Listen ports inside the gateway container; the host ports are mapped onto them.
HTTP_LISTEN = 80
S3_LISTEN = 9000
HTTPS_LISTEN = 443

# Mozilla's "intermediate" TLS 1.2 suites (TLS 1.3 suites are always on): forward secrecy, AEAD only.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


@dataclass(frozen=True)
class Upstream:
    """One MinIO node as the gateway reaches it."""

    s3: str
    """``address:port`` of the node's S3 API."""
    console: str
    """``address:port`` of the node's console."""


@dataclass(frozen=True)
class NginxConfig:
    """Everything nginx.conf depends on. Listen values are nginx ``listen`` addresses."""

    upstreams: Sequence[Upstream]
    console_host: str
    s3_host: str
    max_body_size: str
    s3_endpoint: str
    """The public S3 URL, quoted in the ``/storage/`` error."""
    tls: bool = False
    https_port: int = 443
    """The HTTPS port clients use (the host port), for the plain listener's redirect."""
    http_listen: str = str(HTTP_LISTEN)
    s3_listen: str = str(S3_LISTEN)
    https_listen: str = str(HTTPS_LISTEN)
    temp_dir: str = SCRATCH
    """Where nginx keeps its pid file and (rarely used: buffering is off) temp files."""
    upstream_read_timeout: int = UPSTREAM_READ_TIMEOUT_SECONDS
    """Seconds between two reads from a node (and from the end of the request to the answer)."""
    upstream_tls_name: str | None = None
    """Nodes serve HTTPS (several hosts): the name every node certificate carries, verified against
    UPSTREAM_CA_FILE. None: plain HTTP to the nodes."""
    signin: str | None = None
    """``address:port`` of the console's sign-in bridge; None: the console's own form only."""
    bridge_listen: str | None = None
    """With the bridge: the internal listener where the bridge, and nothing else (by its address),
    reaches MinIO's STS and the console's login API. Published nowhere."""

    @property
    def upstream_scheme(self) -> str:
        return "http" if self.upstream_tls_name is None else "https"


def public_urls(settings: GatewaySettings) -> tuple[str, str]:
    """``(console_url, s3_endpoint)`` as users reach them through the gateway."""
    if settings.tls is TlsMode.NONE:
        console_port = "" if settings.http_port == 80 else f":{settings.http_port}"
        return (
            f"http://{settings.console_host}{console_port}{CONSOLE_PATH}",
            f"http://{settings.s3_host}:{settings.s3_port}",
        )
    https_port = "" if settings.https_port == 443 else f":{settings.https_port}"
    return (
        f"https://{settings.console_host}{https_port}{CONSOLE_PATH}",
        f"https://{settings.s3_host}{https_port}",
    )


GATEWAY_NAME = "gateway"
"""Container name and network alias of the gateway."""


def database_s3_endpoint(settings: GatewaySettings) -> str:
    """The S3 endpoint as containers on ``database-net`` reach it: the gateway's own listener.

    Plain HTTP: the S3 listener answers any host name. Under TLS the gateway selects S3 by host
    name and its certificate names ``s3Host``, so ``s3Host`` is an alias of the gateway there.
    """
    if settings.tls is TlsMode.NONE:
        return f"http://{GATEWAY_NAME}:{S3_LISTEN}"
    return f"https://{settings.s3_host}"


def provider_endpoint(settings: GatewaySettings) -> tuple[str, bool]:
    """``(host:port, use_tls)`` of the S3 listener, for the minio provider (which takes no scheme)."""
    if settings.tls is TlsMode.NONE:
        return f"{settings.s3_host}:{settings.s3_port}", False
    return f"{settings.s3_host}:{settings.https_port}", True


def storage_error_body(s3_endpoint: str) -> str:
    """The S3-style XML error ``/storage/`` answers with."""
    message = (
        "The S3 API is not served under /storage/: Signature V4 signs the request path, so a path prefix "
        f"breaks every signature. Use the S3 endpoint {s3_endpoint} with path-style requests "
        f"({s3_endpoint}/BUCKET/KEY)."
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>InvalidRequest</Code><Message>{escape(message)}</Message>"
        f"<Endpoint>{escape(s3_endpoint)}</Endpoint><Resource>/storage/</Resource></Error>"
    )


UNAVAILABLE_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Error><Code>ServiceUnavailable</Code><Message>No storage node answered in time: the cluster is "
    "below quorum or its nodes are unreachable. Retry later.</Message></Error>"
)

SIGNIN_RATE = "10r/m"
"""Console sign-ins per client address: a person retyping a password never meets it."""
SIGNIN_BURST = 5
STS_RATE = "60r/m"
"""MinIO STS calls (AssumeRole*, where a password or token is tried) per client address."""
STS_BURST = 20
RATE_LIMITED_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Error><Code>SlowDown</Code><Message>Too many sign-in or STS requests from this address: retry "
    "after the Retry-After interval.</Message></Error>"
)
RATE_LIMITED_CONSOLE_BODY = (
    '{"code":429,"detailedMessage":"Too many sign-in attempts from this address: wait a minute and try '
    'again.","message":"too many sign-in attempts"}'
)

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
"""The ``x-amz-content-sha256`` of an upload whose body is not signed (its headers must be)."""
FORGED_UPLOAD_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Error><Code>AccessDenied</Code><Message>Refused by the gateway: an upload with an unsigned payload "
    "(STREAMING-UNSIGNED-PAYLOAD-TRAILER) must carry a signed Authorization header, and cannot be a "
    "Snowball auto-extract. Sign the headers of the request (AWS SDKs and mc do), or send a signed "
    "payload.</Message></Error>"
)


def _literal(text: str) -> str:
    """Text nginx sends as it is (``return``'s body): nginx would expand a ``$`` as a variable."""
    if "$" in text:
        raise ValueError(f"nginx string literals here may not contain '$': {text!r}")
    return text


HEADER = "# Rendered by minio-platform (components/gateway.py). Do not edit: change the stack settings.\n"


def render_nginx_conf(config: NginxConfig) -> str:
    """The complete nginx.conf (events and http blocks), as uploaded to the gateway container."""
    return HEADER + build(nginx_conf_tree(config)) + "\n"


def nginx_conf_tree(config: NginxConfig) -> list[Directive]:
    """nginx.conf as directives: the main context, ``events`` and ``http``."""
    if not config.upstreams:
        raise ValueError("the gateway needs at least one upstream node")
    tmp = config.temp_dir.rstrip("/")
    return main_context(
        f"{tmp}/nginx.pid",
        "auto",
        4096,
        http=[
            *_http_settings(tmp),
            *_access_log(),
            *_upstreams(config),
            *_routing_maps(),
            *(_console_signin_maps() if config.signin else []),
            *_shield_maps(),
            *_rate_limit_zones(),
            *(_tls_servers(config) if config.tls else _plain_servers(config)),
            *_bridge_server(config),
        ],
    )


def _http_settings(tmp: str) -> list[Directive]:
    return [
        directive("default_type", "application/octet-stream"),
        directive("server_tokens", "off"),
        *comment(
            "Headers spelled with '_' are parsed like any other, so the shield's proxy_set_header can\n"
            "keep them from MinIO (nginx takes this from a port's default server: set for all here)."
        ),
        directive("underscores_in_headers", "on"),
        *comment(
            "Redirects stay relative: behind Docker's port mapping nginx's own port (80) is not the one\n"
            "the browser used, and an absolute Location would send it there."
        ),
        directive("absolute_redirect", "off"),
        directive("sendfile", "on"),
        directive("tcp_nopush", "on"),
        directive("keepalive_timeout", "65s"),
        *temp_paths(f"{tmp}/nginx"),
    ]


def _access_log() -> list[Directive]:
    return [
        *comment("One JSON object per request, with its duration and the node that served it."),
        directive(
            "log_format",
            "json",
            "escape=json",
            '{"time":"$time_iso8601","remote_addr":"$remote_addr",',
            '"request_method":"$request_method","uri":"$uri","status":$status,',
            '"body_bytes_sent":$body_bytes_sent,"request_length":$request_length,',
            '"request_time":$request_time,"upstream_addr":"$upstream_addr",',
            '"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time",',
            '"host":"$host","user_agent":"$http_user_agent"}',
        ),
        directive("access_log", "/dev/stdout", "json"),
    ]


def _servers(addresses: Sequence[str], backup_after_first: bool = False) -> list[Directive]:
    """One ``server`` per node: a node that fails twice within 10 s is skipped for 10 s."""
    return [
        directive(
            "server",
            address,
            "max_fails=2",
            "fail_timeout=10s",
            *(["backup"] if backup_after_first and i > 0 else []),
        )
        for i, address in enumerate(addresses)
    ]


def _upstreams(config: NginxConfig) -> list[Directive]:
    s3 = [u.s3 for u in config.upstreams]
    return [
        *comment(
            "Nodes by fixed address: nginx resolves nothing at start-up, so it starts while a node is\n"
            "down or not created yet. A node that fails twice within 10 s is skipped for 10 s, then\n"
            "tried again, so a restarted node is picked up without a reload."
        ),
        directive(
            "upstream",
            "minio_s3",
            block=[directive("least_conn"), *_servers(s3), directive("keepalive", 64)],
        ),
        *comment(
            "MinIO answers a bucket-wide listing of multipart uploads (no prefix) from a cache held by\n"
            "the process that started each upload, and drops an upload from it when the upload completes\n"
            "or is aborted (telling its peers too, unless one is unreachable). So starting, listing,\n"
            "completing and aborting uploads go to one node per bucket; the parts stay balanced.\n"
            "Consistent hashing: a node that fails is skipped (its buckets move to one other node until\n"
            "it is back), and only its buckets move."
        ),
        directive(
            "upstream",
            "minio_multipart",
            block=[
                directive("hash", "$s3_bucket", "consistent"),
                *_servers(s3),
                directive("keepalive", 16),
            ],
        ),
        *comment(
            "The admin API (IAM, configuration) goes to one node while it lives, the others standing by:\n"
            "MinIO propagates IAM changes to its peers asynchronously, so a policy created on one node\n"
            'and attached on the next request through another could be "not found" there.'
        ),
        directive(
            "upstream",
            "minio_admin",
            block=[*_servers(s3, backup_after_first=True), directive("keepalive", 8)],
        ),
        *(
            [
                *comment("The console's sign-in bridge (docs/sso.md)."),
                directive(
                    "upstream",
                    "signin",
                    block=[*_servers([config.signin]), directive("keepalive", 8)],
                ),
            ]
            if config.signin
            else []
        ),
        *comment("Sticky by client address: a console session stays on one node."),
        directive(
            "upstream",
            "minio_console",
            block=[
                directive("ip_hash"),
                *_servers([u.console for u in config.upstreams]),
                directive("keepalive", 16),
            ],
        ),
    ]


def _rate_limit_zones() -> list[Directive]:
    """Per-address limits where passwords and tokens are tried. The key is empty for every other
    request, and nginx counts no request with an empty key: S3 traffic never meets them."""
    return [
        *comment(
            "Sign-ins to the console, and MinIO's STS (a POST to / with an Action, or an Action in\n"
            "the query string): a password spray gets 429s. Keyed by client address, empty otherwise."
        ),
        directive(
            "map",
            "$request_method:$uri",
            "$signin_client",
            block=[
                # limit_req runs after the console location's rewrite: $uri is the console's own path.
                directive("POST:/api/v1/login", "$binary_remote_addr"),
                # The bridge's callback: each try costs a token request at Keycloak.
                directive(f"GET:{SIGNIN_PATH}/callback", "$binary_remote_addr"),
                directive("default", ""),
            ],
        ),
        directive(
            "map",
            "$request_method:$uri:$arg_action",
            "$sts_client",
            block=[
                directive("~^POST:/:", "$binary_remote_addr"),
                directive("~^[A-Z]+:/:.", "$binary_remote_addr"),
                directive("default", ""),
            ],
        ),
        directive("limit_req_zone", "$signin_client", "zone=signin:10m", f"rate={SIGNIN_RATE}"),
        directive("limit_req_zone", "$sts_client", "zone=sts:10m", f"rate={STS_RATE}"),
        directive("limit_req_status", 429),
        directive("limit_req_log_level", "warn"),
    ]


def _retry_later(
    name: str, status: int, body: str, content_type: str, retry_after: int, *, hsts: bool, console: bool
) -> Directive:
    """A named location answering ``status`` with ``body`` and Retry-After. It adds a header of its
    own, so it repeats the edge's (nginx would not give it the server's)."""
    return directive(
        "location",
        name,
        block=[
            directive("default_type", content_type),
            directive("add_header", "Retry-After", retry_after, "always"),
            *_edge_headers(hsts=hsts, console=console),
            directive("return", status, _literal(body)),
        ],
    )


def _rate_limited(
    zone: str, burst: int, body: str, content_type: str, *, hsts: bool, console: bool
) -> list[Directive]:
    """The limit in one server, and its 429: a body the client understands, Retry-After."""
    return [
        directive("limit_req", f"zone={zone}", f"burst={burst}", "nodelay"),
        directive("error_page", 429, "=", "@rate_limited"),
        _retry_later("@rate_limited", 429, body, content_type, 60, hsts=hsts, console=console),
    ]


def _signin_limit(*, hsts: bool) -> list[Directive]:
    return _rate_limited(
        "signin", SIGNIN_BURST, RATE_LIMITED_CONSOLE_BODY, "application/json", hsts=hsts, console=True
    )


def _shield_maps() -> list[Directive]:
    """What the shield judges: the variables read every spelling of a header (``-`` or ``_``, any
    case) and the first of repeated ones, and :func:`_judged_headers` sends MinIO exactly those."""
    return [
        *comment(
            'The shield (docs/gateway.md, "Shielded flaws"): community MinIO gets no more fixes.\n'
            "CVE-2026-41145: an unsigned-trailer upload without an Authorization header is accepted\n"
            "with any signature. CVE-2026-40344: a Snowball auto-extract upload with an unsigned\n"
            "trailer is extracted unchecked. Refused here, before a node sees them."
        ),
        directive(
            "map",
            "$http_x_amz_content_sha256",
            "$s3_unsigned_trailer",
            block=[directive(f"~*{UNSIGNED_TRAILER}", 1), directive("default", 0)],
        ),
        directive(
            "map",
            "$http_authorization",
            "$s3_authorization_sent",
            block=[directive("", 0), directive("default", 1)],
        ),
        directive(
            "map",
            "$http_x_amz_meta_snowball_auto_extract",
            "$s3_snowball",
            block=[directive("", 0), directive("default", 1)],
        ),
        *comment("unsigned trailer : Authorization sent : Snowball"),
        directive(
            "map",
            "$s3_unsigned_trailer:$s3_authorization_sent:$s3_snowball",
            "$s3_forged_upload",
            block=[
                directive("1:0:0", 1),
                directive("1:0:1", 1),
                directive("1:1:1", 1),
                directive("default", 0),
            ],
        ),
    ]


def _judged_headers() -> list[Directive]:
    """MinIO receives exactly the header values the shield judged: one of each, never a second
    copy, never a ``_`` spelling (nginx's variables read both; Go's server would read only one)."""
    return [
        directive("proxy_set_header", "Authorization", "$http_authorization"),
        directive("proxy_set_header", "X-Amz-Content-Sha256", "$http_x_amz_content_sha256"),
        directive(
            "proxy_set_header", "X-Amz-Meta-Snowball-Auto-Extract", "$http_x_amz_meta_snowball_auto_extract"
        ),
        directive("proxy_set_header", "x_amz_content_sha256", ""),
        directive("proxy_set_header", "x_amz_meta_snowball_auto_extract", ""),
    ]


def _shield() -> list[Directive]:
    """In every S3 server, before any location: the forged shapes get 403 and an S3 error."""
    return [
        directive("if", "$s3_forged_upload", block=[directive("return", 403)]),
        directive("error_page", 403, "=", "@forged_upload"),
        directive(
            "location",
            "@forged_upload",
            block=[*_xml_answer(403, FORGED_UPLOAD_BODY)],
        ),
    ]


def _routing_maps() -> list[Directive]:
    """Which upstream serves a request, and the variables that decide it."""
    return [
        *comment(
            "Websocket upgrade for the console; an empty Connection header otherwise keeps upstream\n"
            "connections alive."
        ),
        directive(
            "map",
            "$http_upgrade",
            "$connection_upgrade",
            block=[directive("default", "upgrade"), directive("", "")],
        ),
        *comment(
            "An `uploads` argument (start: POST, list: GET), or POST/DELETE with `uploadId` (complete,\n"
            "abort), goes to minio_multipart; every other S3 request to minio_s3."
        ),
        directive(
            "map",
            "$request_method:$args",
            "$s3_upstream",
            block=[
                directive("~^[A-Z]+:(.*&)?uploads(=[^&]*)?(&|$)", "minio_multipart"),
                directive("~^(POST|DELETE):(.*&)?uploadId=", "minio_multipart"),
                directive("default", "minio_s3"),
            ],
        ),
        *comment("The bucket of a path-style request: the first segment of the path."),
        directive(
            "map",
            "$uri",
            "$s3_bucket",
            block=[directive("~^/(?<bucket>[^/]+)", "$bucket"), directive("default", "")],
        ),
    ]


def _forwarded_headers() -> list[Directive]:
    """The client's Host header goes upstream as it came (SigV4 signs it); its address is the one
    the gateway saw. MinIO trusts the left-most X-Forwarded-For entry for the audit log's remotehost
    and for aws:SourceIp, so the gateway sets it rather than appending to what the client sent.
    The edge's own response headers replace any copy the upstream sends."""
    return [
        directive("proxy_set_header", "Host", "$http_host"),
        directive("proxy_set_header", "X-Real-IP", "$remote_addr"),
        directive("proxy_set_header", "X-Forwarded-For", "$remote_addr"),
        directive("proxy_set_header", "X-Forwarded-Proto", "$scheme"),
        directive("proxy_hide_header", "X-Content-Type-Options"),
        directive("proxy_hide_header", "Strict-Transport-Security"),
    ]


FRAME_ANCESTORS = "frame-ancestors 'self'"
"""The console may be framed by its own origin only (clickjacking)."""


def _edge_headers(*, hsts: bool, console: bool) -> list[Directive]:
    """Response headers the edge owns, on every answer, error pages included (``always``). nginx
    gives a location the server's add_header only when it has none of its own: a location that
    adds one repeats these."""
    return [
        directive("add_header", "X-Content-Type-Options", "nosniff", "always"),
        *(
            [directive("add_header", "Strict-Transport-Security", "max-age=63072000", "always")]
            if hsts
            else []
        ),
        *([directive("add_header", "Content-Security-Policy", FRAME_ANCESTORS, "always")] if console else []),
    ]


def _upstream_tls(config: NginxConfig) -> list[Directive]:
    """Verified TLS to the nodes (several hosts); nothing with plain HTTP."""
    if config.upstream_tls_name is None:
        return []
    return [
        directive("proxy_ssl_verify", "on"),
        directive("proxy_ssl_trusted_certificate", UPSTREAM_CA_FILE),
        directive("proxy_ssl_name", config.upstream_tls_name),
        directive("proxy_ssl_server_name", "on"),
        directive("proxy_ssl_protocols", "TLSv1.2", "TLSv1.3"),
        directive("proxy_ssl_session_reuse", "on"),
    ]


def _health_location() -> Directive:
    return directive(
        "location",
        "=",
        HEALTH_PATH,
        block=[
            directive("access_log", "off"),
            directive("default_type", "text/plain"),
            directive("return", 200, "ok\\n"),
        ],
    )


def _xml_answer(status: int, body: str) -> list[Directive]:
    return [directive("default_type", "application/xml"), directive("return", status, _literal(body))]


def _console_proxy(config: NginxConfig) -> list[Directive]:
    """To the console on a node, its path without the console's prefix. Under TLS the console's
    own session cookie (the break-glass form's) is made ``Secure``: the console never marks it."""
    return [
        directive("rewrite", f"^{CONSOLE_PATH}/(.*)", "/$1", "break"),
        directive("proxy_pass", f"{config.upstream_scheme}://minio_console"),
        *_upstream_tls(config),
        directive("proxy_http_version", "1.1"),
        directive("proxy_set_header", "Upgrade", "$http_upgrade"),
        directive("proxy_set_header", "Connection", "$connection_upgrade"),
        *_forwarded_headers(),
        *([directive("proxy_cookie_flags", CONSOLE_COOKIE, "secure")] if config.tls else []),
        directive("proxy_connect_timeout", f"{UPSTREAM_CONNECT_TIMEOUT_SECONDS}s"),
        directive("proxy_read_timeout", "1h"),
        directive("proxy_buffering", "off"),
        directive("chunked_transfer_encoding", "off"),
    ]


def _to_bridge(path: str | None = None) -> list[Directive]:
    """To the sign-in bridge (``path``: instead of the request's)."""
    return [
        directive("proxy_pass", "http://signin" + (path or "")),
        directive("proxy_http_version", "1.1"),
        directive("proxy_set_header", "Connection", ""),
        *_forwarded_headers(),
        directive("proxy_connect_timeout", f"{UPSTREAM_CONNECT_TIMEOUT_SECONDS}s"),
        directive("proxy_read_timeout", "30s"),
        *comment(
            "The callback's answer sets the console's session cookie and the sealed Keycloak tokens:\n"
            "more header than nginx's default 4k buffer holds (seen on the real stack: 502)."
        ),
        directive("proxy_buffer_size", BRIDGE_HEADER_BUFFER),
        directive("proxy_buffers", 4, BRIDGE_HEADER_BUFFER),
        directive("proxy_busy_buffers_size", BRIDGE_HEADER_BUFFER),
    ]


def _console_signin_maps() -> list[Directive]:
    """Which console requests the bridge takes over: a page load without the console's session
    cookie goes to the bridge's sign-in; an API call without it is told "invalid session", which
    the console answers by loading its sign-in page (and so the bridge's)."""
    return [
        *comment("A page load: the browser says so (Sec-Fetch-Dest), or, where it does not, asks for HTML."),
        directive(
            "map",
            "$http_sec_fetch_dest:$http_accept",
            "$console_page_load",
            block=[directive("~^document:", 1), directive("~^:.*text/html", 1), directive("default", 0)],
        ),
        directive(
            "map",
            f"$cookie_{CONSOLE_COOKIE}",
            "$console_session",
            block=[directive("", 0), directive("default", 1)],
        ),
        *comment(
            "page load : session cookie : path. The sign-in and sign-out calls pass: the break-glass\n"
            "form uses them."
        ),
        directive(
            "map",
            "$console_page_load:$console_session:$uri",
            "$console_signin",
            block=[
                directive(f"~^1:0:{CONSOLE_PATH}/", "page"),
                directive(f"~^0:0:{CONSOLE_PATH}/api/v1/log(in|out)$", ""),
                directive(f"~^0:0:{CONSOLE_PATH}/api/", "api"),
                directive("default", ""),
            ],
        ),
    ]


def _console_locations(config: NginxConfig) -> list[Directive]:
    storage_error = _xml_answer(400, storage_error_body(config.s3_endpoint))
    return [
        directive("location", "=", CONSOLE_PATH, block=[directive("return", 301, f"{CONSOLE_PATH}/")]),
        *(_bridge_locations(config) if config.signin else _form_locations(config)),
        *comment(
            "The user's note put S3 at /storage/. SigV4 signs the path, so no prefix can carry S3:\n"
            "answer with an S3-style error that names the endpoint to use, and never proxy."
        ),
        directive("location", "=", "/storage", block=storage_error),
        directive("location", "^~", "/storage/", block=storage_error),
        directive("location", "=", "/", block=[directive("return", 302, f"{CONSOLE_PATH}/")]),
        directive("location", "/", block=[directive("return", 404)]),
    ]


BRIDGE_HEADER_BUFFER = "16k"
"""Room for the bridge's response headers (two cookies under the browser's 4 KiB each)."""

# The console's own API client sends an expired session to "/login" at the origin's root, whatever
# path the console is served under.
CONSOLE_ROOT_LOGIN = "/login"
BREAK_GLASS_ARGUMENT = "access_keys"
"""``<console_url>/login?access_keys=1``: the console's access-key form with the bridge on."""
SIGNIN_UNAVAILABLE_BODY = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Sign-in is unavailable</title></head>"
    "<body><main><h1>Sign-in is unavailable</h1><p>The console's sign-in service does not answer. Try "
    f'again in a minute. In an emergency, the access-key form: <a href="{CONSOLE_PATH}/login?'
    f'{BREAK_GLASS_ARGUMENT}=1">break-glass sign-in</a>.</p></main></body></html>'
)
INVALID_SESSION_BODY = (
    '{"code":403,"message":"invalid session","detailedMessage":"Not signed in: the console sends you to '
    'the sign-in."}'
)


def _form_locations(config: NginxConfig) -> list[Directive]:
    return [
        directive("location", f"{CONSOLE_PATH}/", block=_console_proxy(config)),
        directive(
            "location", "=", CONSOLE_ROOT_LOGIN, block=[directive("return", 302, f"{CONSOLE_PATH}/login")]
        ),
    ]


def _bridge_locations(config: NginxConfig) -> list[Directive]:
    console_proxy = _console_proxy(config)
    sign_in = f"{SIGNIN_PATH}/login"
    return [
        *comment(
            "The console signs in through the platform's sign-in bridge (docs/sso.md): a page load\n"
            "without a session goes to the bridge, which comes back to the same page."
        ),
        directive(
            "location",
            f"{CONSOLE_PATH}/",
            block=[
                directive(
                    "if",
                    "$console_signin",
                    "=",
                    "page",
                    block=[directive("return", 302, f"{sign_in}?next=$request_uri")],
                ),
                directive(
                    "if",
                    "$console_signin",
                    "=",
                    "api",
                    block=[directive("return", 403, _literal(INVALID_SESSION_BODY))],
                ),
                *console_proxy,
            ],
        ),
        *comment(
            f"The console's sign-in page is the bridge's; its access-key form stays for break-glass at\n"
            f"{CONSOLE_PATH}/login?{BREAK_GLASS_ARGUMENT}=1."
        ),
        directive(
            "location",
            "=",
            f"{CONSOLE_PATH}/login",
            block=[
                directive(
                    "if", f"$arg_{BREAK_GLASS_ARGUMENT}", "=", "", block=[directive("return", 302, sign_in)]
                ),
                *console_proxy,
            ],
        ),
        directive("location", "=", CONSOLE_ROOT_LOGIN, block=[directive("return", 302, sign_in)]),
        *comment("The console's sign-out ends the Keycloak session too."),
        directive(
            "location",
            "=",
            f"{CONSOLE_PATH}/api/v1/logout",
            block=_to_bridge(f"{SIGNIN_PATH}/api/logout"),
        ),
        directive(
            "location",
            "^~",
            f"{SIGNIN_PATH}/",
            block=[*_to_bridge(), directive("error_page", 502, 504, "=", "@signin_unavailable")],
        ),
        *comment("The bridge not answering: a page a person can act on, not nginx's own."),
        _retry_later(
            "@signin_unavailable",
            503,
            SIGNIN_UNAVAILABLE_BODY,
            "text/html",
            30,
            hsts=config.tls,
            console=True,
        ),
    ]


def _bridge_server(config: NginxConfig) -> list[Directive]:
    """The internal listener the bridge calls: MinIO's STS and the console's sign-in and sign-out,
    nothing else, for the bridge's address alone (any container on the gateway's networks could
    connect; none other may use it). Published nowhere."""
    if not (config.signin and config.bridge_listen):
        return []
    sts = [
        directive("limit_except", "POST", block=[directive("deny", "all")]),
        directive("proxy_pass", f"{config.upstream_scheme}://minio_s3"),
        *_upstream_tls(config),
        directive("proxy_http_version", "1.1"),
        directive("proxy_set_header", "Connection", ""),
        *_forwarded_headers(),
        *_judged_headers(),
        directive("proxy_connect_timeout", f"{UPSTREAM_CONNECT_TIMEOUT_SECONDS}s"),
        directive("proxy_read_timeout", "30s"),
        directive("proxy_next_upstream", "error", "timeout", "http_502", "http_503", "http_504"),
    ]
    return [
        *comment("For the sign-in bridge only: STS and the console's sign-in and sign-out."),
        directive(
            "server",
            block=[
                directive("listen", config.bridge_listen),
                directive("server_name", "_"),
                directive("allow", config.signin.rsplit(":", 1)[0]),
                directive("deny", "all"),
                *_shield(),
                directive("location", "=", "/", block=sts),
                *(
                    directive("location", "=", f"{CONSOLE_PATH}/api/v1/{call}", block=_console_proxy(config))
                    for call in ("login", "logout")
                ),
                directive("location", "/", block=[directive("return", 404)]),
            ],
        ),
    ]


def _s3_location(path: str, upstream: str, config: NginxConfig) -> Directive:
    return directive(
        "location",
        path,
        block=[
            directive("proxy_pass", f"{config.upstream_scheme}://{upstream}"),
            *_upstream_tls(config),
            directive("proxy_http_version", "1.1"),
            directive("proxy_set_header", "Connection", ""),
            *comment("SigV4 signs Host as the client sent it: never rewrite it, nor the path."),
            *_forwarded_headers(),
            *_judged_headers(),
            *comment(
                "A stopped container's address answers nothing (no reset): each try of it costs the\n"
                "whole connect timeout, so keep it short (a connect takes ms here)."
            ),
            directive("proxy_connect_timeout", f"{UPSTREAM_CONNECT_TIMEOUT_SECONDS}s"),
            directive("proxy_send_timeout", "1h"),
            *comment(
                "Between two reads, and from the request's end to the answer: a node that accepted a\n"
                "request and says nothing (a cluster below quorum never answers) costs a bounded wait."
            ),
            directive("proxy_read_timeout", f"{config.upstream_read_timeout}s"),
            directive("chunked_transfer_encoding", "off"),
            *comment(
                "Another node gets the request when one fails. nginx never replays a non-idempotent\n"
                "request, nor one whose unbuffered body has started streaming."
            ),
            directive("proxy_next_upstream", "error", "timeout", "http_502", "http_503", "http_504"),
            directive("proxy_next_upstream_tries", UPSTREAM_TRIES),
            directive("proxy_next_upstream_timeout", "30s"),
        ],
    )


def _s3_server_body(config: NginxConfig) -> list[Directive]:
    return [
        *comment(
            "S3 clients stream multi-GB objects: no buffering either way, a body limit from settings,\n"
            "timeouts measured in hours between reads rather than seconds."
        ),
        *_edge_headers(hsts=config.tls, console=False),
        directive("client_max_body_size", config.max_body_size),
        directive("client_body_timeout", "300s"),
        directive("send_timeout", "300s"),
        directive("proxy_request_buffering", "off"),
        directive("proxy_buffering", "off"),
        *comment(
            "Unbuffered, NGINX reads a response at most proxy_buffer_size at a time, one memory page\n"
            "(4 KiB) by default: a 64 MiB GET took 16 384 reads and writes, 0.9 CPU-s per GiB, and one\n"
            "download reached 0.67x of a direct one. 64 KiB: 0.29 CPU-s per GiB, 0.91x; 256 KiB did\n"
            "no better (docs/performance.md). Allocated per proxied request, only while it runs. The\n"
            "proxy_buffers are unused without buffering; nginx -t wants them larger than the busy size."
        ),
        directive("proxy_buffer_size", S3_READ_BUFFER),
        directive("proxy_buffers", 4, S3_READ_BUFFER),
        directive("proxy_busy_buffers_size", S3_READ_BUFFER),
        *comment("S3 metadata headers may contain characters nginx would otherwise drop."),
        directive("ignore_invalid_headers", "off"),
        *_shield(),
        *_rate_limited(
            "sts", STS_BURST, RATE_LIMITED_BODY, "application/xml", hsts=config.tls, console=False
        ),
        *comment(
            "No node answered (all down, or below quorum and silent past the read timeout): an S3\n"
            "error that SDKs know to retry later, instead of nginx's HTML page or a hang."
        ),
        directive("error_page", 502, 504, "=", "@unavailable"),
        _retry_later(
            "@unavailable", 503, UNAVAILABLE_BODY, "application/xml", 10, hsts=config.tls, console=False
        ),
        _s3_location("/", "$s3_upstream", config),
        _s3_location("/minio/admin/", "minio_admin", config),
    ]


def _console_server_body(config: NginxConfig) -> list[Directive]:
    """The console's server, plain or TLS: its headers, the sign-in limit, health and locations."""
    return [
        *_edge_headers(hsts=config.tls, console=True),
        *_signin_limit(hsts=config.tls),
        _health_location(),
        *_console_locations(config),
    ]


def _plain_servers(config: NginxConfig) -> list[Directive]:
    return [
        *comment("Console, health and the /storage/ explanation."),
        directive(
            "server",
            block=[
                directive("listen", config.http_listen, "default_server"),
                directive("server_name", config.console_host),
                *_console_server_body(config),
            ],
        ),
        *comment("The S3 API, at the root of its own listener."),
        directive(
            "server",
            block=[
                directive("listen", config.s3_listen, "default_server"),
                directive("server_name", config.s3_host),
                *_s3_server_body(config),
            ],
        ),
    ]


def _tls_common() -> list[Directive]:
    return [
        directive("ssl_certificate", f"{TLS_DIR}/tls.crt"),
        directive("ssl_certificate_key", f"{TLS_DIR}/tls.key"),
        directive("ssl_protocols", "TLSv1.2", "TLSv1.3"),
        directive("ssl_ciphers", TLS12_CIPHERS),
        directive("ssl_prefer_server_ciphers", "off"),
        directive("ssl_session_cache", "shared:TLS:10m"),
        directive("ssl_session_timeout", "1d"),
        directive("ssl_session_tickets", "off"),
    ]


def _tls_servers(config: NginxConfig) -> list[Directive]:
    https_port = "" if config.https_port == 443 else f":{config.https_port}"
    return [
        *comment("Plain HTTP only answers health checks and sends everything else to HTTPS."),
        directive(
            "server",
            block=[
                directive("listen", config.http_listen, "default_server"),
                directive("server_name", "_"),
                *_edge_headers(hsts=False, console=False),
                _health_location(),
                directive(
                    "location",
                    "/",
                    block=[directive("return", 301, f"https://$host{https_port}$request_uri")],
                ),
            ],
        ),
        *comment("Unknown host names get no certificate and no content."),
        directive(
            "server",
            block=[
                directive("listen", config.https_listen, "ssl", "default_server"),
                directive("server_name", "_"),
                directive("ssl_reject_handshake", "on"),
            ],
        ),
        *comment("Console and the /storage/ explanation."),
        directive(
            "server",
            block=[
                directive("listen", config.https_listen, "ssl"),
                directive("server_name", config.console_host),
                *_tls_common(),
                *_console_server_body(config),
            ],
        ),
        *comment("The S3 API, at the root of its own host name."),
        directive(
            "server",
            block=[
                directive("listen", config.https_listen, "ssl"),
                directive("server_name", config.s3_host),
                *_tls_common(),
                *_s3_server_body(config),
            ],
        ),
    ]


# --- the component ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayArgs:
    settings: GatewaySettings
    storage_network: docker.Network
    edge_network: docker.Network
    """A non-internal network: published ports need one."""
    database_network: docker.Network
    """Where database hosts and the backup job reach S3 without leaving Docker."""
    gateway_address: str
    """Fixed address on the storage network."""
    node_addresses: Sequence[str]
    nodes: Sequence[docker.Container]
    """The MinIO containers; the gateway is created once they are healthy."""
    tls_certificate: pulumi.Input[str] | None = None
    """PEM certificate chain (settings.tls == provided)."""
    tls_private_key: pulumi.Input[str] | None = None
    """PEM private key, secret (settings.tls == provided)."""
    labels: dict[str, str] = field(default_factory=dict)
    node_ca: pulumi.Input[str] | None = None
    """Several hosts: the internode CA; the gateway verifies the nodes' certificates with it."""
    signin_address: str | None = None
    """The sign-in bridge's address on storage-net (None: the console's own form only)."""
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    """Every service's CPU and memory limits."""


class Gateway(pulumi.ComponentResource):
    """NGINX in front of the cluster: S3 at the root of its own listener, the console at /minio-console/."""

    s3_endpoint: str
    console_url: str
    database_s3_endpoint: str
    """S3 for containers on the database network (see :func:`database_s3_endpoint`)."""
    nginx_conf: str
    """The rendered nginx.conf (no secrets: TLS material is referenced by path)."""
    container: docker.Container
    self_signed_certificate: pulumi.Output[str] | None
    """The generated certificate (gateway.tls self-signed), which the stack's own clients of the
    gateway trust as their only authority; None in the other modes."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:gateway:Gateway", name, None, opts)
        settings = args.settings
        self.console_url, self.s3_endpoint = public_urls(settings)
        self.database_s3_endpoint = database_s3_endpoint(settings)
        use_tls = settings.tls is not TlsMode.NONE
        self.nginx_conf = render_nginx_conf(
            NginxConfig(
                upstreams=[Upstream(f"{a}:{S3_PORT}", f"{a}:{CONSOLE_PORT}") for a in args.node_addresses],
                console_host=settings.console_host,
                s3_host=settings.s3_host,
                max_body_size=settings.max_body_size,
                s3_endpoint=self.s3_endpoint,
                tls=use_tls,
                https_port=settings.https_port,
                upstream_tls_name=None if args.node_ca is None else SHARED_NAME,
                signin=None if args.signin_address is None else f"{args.signin_address}:{SIGNIN_PORT}",
                bridge_listen=None if args.signin_address is None else str(BRIDGE_LISTEN),
            )
        )
        image = docker.RemoteImage(
            f"{name}-image", name=settings.image, keep_locally=True, opts=pulumi.ResourceOptions(parent=self)
        )
        uploads = [
            docker.ContainerUploadArgs(file=NGINX_CONF_PATH, content=self.nginx_conf, permissions="0644")
        ]
        if args.node_ca is not None:
            uploads.append(
                docker.ContainerUploadArgs(
                    file=f"/etc/nginx/{UPSTREAM_CA_FILE}", content=args.node_ca, permissions="0644"
                )
            )
        self.self_signed_certificate = None
        if use_tls:
            certificate, private_key = self._tls_material(name, args)
            if settings.tls is TlsMode.SELF_SIGNED:
                self.self_signed_certificate = pulumi.Output.from_input(certificate)
            tls_path = f"/etc/nginx/{TLS_DIR}"
            uploads += [
                docker.ContainerUploadArgs(
                    file=f"{tls_path}/tls.crt", content=certificate, permissions="0644"
                ),
                # Read through group 0 (NGINX_HARDENING), like every secret file.
                docker.ContainerUploadArgs(
                    file=f"{tls_path}/tls.key",
                    content=pulumi.Output.secret(private_key),
                    permissions=SECRET_FILE_MODE,
                ),
            ]
        ports = [self._port(HTTP_LISTEN, settings.http_port, settings)]
        ports.append(
            self._port(HTTPS_LISTEN, settings.https_port, settings)
            if use_tls
            else self._port(S3_LISTEN, settings.s3_port, settings)
        )

        self.container = hardened_container(
            f"{name}-nginx",
            name=GATEWAY_NAME,
            hostname=GATEWAY_NAME,
            image=image.image_id,
            hardening=NGINX_HARDENING,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=args.storage_network.name, aliases=[GATEWAY_NAME], ipv4_address=args.gateway_address
                ),
                docker.ContainerNetworksAdvancedArgs(name=args.edge_network.name, aliases=[GATEWAY_NAME]),
                docker.ContainerNetworksAdvancedArgs(
                    name=args.database_network.name,
                    aliases=[GATEWAY_NAME] if not use_tls else sorted({GATEWAY_NAME, settings.s3_host}),
                ),
            ],
            ports=ports,
            uploads=uploads,
            **healthy_service(
                wget_http_probe(HTTP_LISTEN, HEALTH_PATH),
                interval="5s",
                timeout="3s",
                retries=3,
                start_period="5s",
                wait_timeout=60,
                limits=args.resources.gateway,
            ),
            labels={**args.labels, ROLE_LABEL: "gateway"},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.nodes),
                replace_on_changes=["healthcheck"],
            ),
        )
        self.register_outputs(
            {
                "s3_endpoint": self.s3_endpoint,
                "console_url": self.console_url,
                "database_s3_endpoint": self.database_s3_endpoint,
            }
        )

    @staticmethod
    def _port(internal: int, external: int, settings: GatewaySettings) -> docker.ContainerPortArgs:
        return docker.ContainerPortArgs(internal=internal, external=external, ip=str(settings.bind_address))

    def _tls_material(self, name: str, args: GatewayArgs) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
        if args.settings.tls is TlsMode.PROVIDED:
            if args.tls_certificate is None or args.tls_private_key is None:
                raise ValueError("gateway.tls 'provided' needs the tlsCertificate and tlsPrivateKey secrets")
            return args.tls_certificate, args.tls_private_key
        # self-signed: fine for a dev machine, never for users who cannot pin it.
        key = tls.PrivateKey(
            f"{name}-tls-key", algorithm="ECDSA", ecdsa_curve="P256", opts=pulumi.ResourceOptions(parent=self)
        )
        certificate = tls.SelfSignedCert(
            f"{name}-tls-cert",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=args.settings.console_host),
            dns_names=sorted({args.settings.console_host, args.settings.s3_host}),
            validity_period_hours=24 * 365,
            early_renewal_hours=24 * 30,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return certificate.cert_pem, key.private_key_pem
