"""The log pipeline: MinIO's server log and audit webhooks -> Grafana Alloy -> Loki.

MinIO sends every server log entry (logger webhook) and every audit event (audit webhook) to
Alloy's ``loki.source.api`` as newline-delimited JSON, one listener per stream. Alloy parses each
entry, derives the labels the dashboards and the README's LogQL queries use (``source``,
``stream``, ``level``, ``operation_type``, ``security_event``), redacts credentials and personal
data, and pushes to Loki. Webhooks rather than Docker's log files: Alloy then needs no access to
the Docker socket (which is root on the host), and audit events, which MinIO never prints to its
console, take the same path as the logs.

``render_alloy_config`` is pure. ``tools/alloycheck`` parses its output with Alloy's own syntax
parser and runs the stages on sample lines in the tests (README "Logs").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.conventions import (
    SECRET_FILE_MODE,
    SECRETS_DIR,
    Hardening,
    bash_http_probe,
    data_volume,
    healthy_service,
    secret_file,
    service_container,
    wget_http_probe,
)
from components.gateway import NGINX_HARDENING
from components.nginx_tree import SCRATCH, build, comment, directive, main_context, temp_paths
from components.settings import (
    DEFAULT_LOG_QUEUE_SIZE,
    DEFAULT_NGINX_IMAGE,
    ObservabilityMode,
    ObservabilitySettings,
    ResourceSettings,
)
from components.settings.network import DEFAULT_LOG_SUBNET, alloy_address

LOKI_HARDENING = Hardening(user="10001:10001")
"""Loki's image runs as uid 10001 and owns /loki (its named volume); it reads no secret file."""
ALLOY_HARDENING = Hardening(
    # The alloy user (uid 473) of Alloy's image, which runs as root unless told; group 0 reads the
    # Loki credential. /var/lib/alloy (the --storage.path's parent) is the user's in the image.
    user="473:0",
    seeded=("/etc/alloy", "/var/lib/alloy", SECRETS_DIR),
)
"""How Alloy runs (not started on this project's machines: Grafana's images are not built here)."""

ALLOY_HOST = "alloy"
GATE_HOST = "log-gate"
"""The log gate: an nginx in front of Alloy that checks every webhook post's token."""
ALLOY_HTTP_PORT = 12345
SERVER_LOG_PORT = 3500
AUDIT_LOG_PORT = 3501
"""Where the nodes post their server log and audit events: the log gate's listeners (``log-gate:3500``)."""
STREAM_PORTS = {"server": SERVER_LOG_PORT, "audit": AUDIT_LOG_PORT}
"""MinIO's two webhook streams and their port, the same on the gate and on Alloy behind it."""
DEFAULT_ALLOY_ADDRESS = alloy_address(DEFAULT_LOG_SUBNET)
"""Alloy's address on log-net with the default ``networks.logSubnet``: its webhook listeners
(``SERVER_LOG_PORT``, ``AUDIT_LOG_PORT``) bind there, where only the log gate reaches them."""
RAW_PATH = "/loki/api/v1/raw"
GATE_HEALTH_PATH = "/gate-health"
"""The log gate's own health check (200 ``ok``), answered without Alloy."""
GATE_TOKEN_FILE = "/etc/nginx/webhook-token.conf"  # noqa: S105 (a path)
"""The gate's token map, uploaded apart (secret, 0400) so that the rendered gate.conf holds no secret."""
LOKI_HOST = "loki"
LOKI_PORT = 3100
ALLOY_CONFIG_FILE = "config.alloy"
GATE_CONFIG_FILE = "log-gate.conf"
WEBHOOK_TARGET = "alloy"
"""MinIO's name for the logger and audit webhook targets (the ``_<target>`` suffix of their variables)."""
LOG_QUEUE_PATH = "/queue"
"""Where each node's queue volume is mounted: never inside a drive (MinIO would take a folder at a
drive's root for a bucket)."""

REDACTED = "[REDACTED]"

_JSON_STRING = r'"((?:[^"\\]|\\.)+)"'
"""The contents of a JSON string value, escaped quotes included: the capture group that is replaced."""


@dataclass(frozen=True)
class Redaction:
    """One ``stage.replace``: every capture group of every match becomes ``[REDACTED]``."""

    what: str
    expression: str
    """An RE2 expression (Go's regexp, which Alloy uses). Only the secret part is a capture group."""


def _json_field(*names: str) -> str:
    """A JSON member whose name is one of ``names`` (any case), its string value captured."""
    return r'(?i)"(?:' + "|".join(names) + r')"\s*:\s*' + _JSON_STRING


REDACTIONS: tuple[Redaction, ...] = (
    Redaction(
        "access keys (audit accessKey/parentUser, STS responses)",
        _json_field("accessKey", "parentUser", "accessKeyId"),
    ),
    Redaction(
        "access keys in the IAM object paths MinIO tags audit events with",
        r'config/iam/(?:policydb/)?(?:users|sts-users|sts|service-accounts|groups)/([^/"\\,]+)',
    ),
    Redaction(
        "secret keys and passwords",
        _json_field(
            "secretKey", "secretAccessKey", "secret_key", "password", "clientSecret", "client_secret"
        ),
    ),
    Redaction(
        "the Authorization header: SigV4 credential and signature, bearer tokens, basic auth",
        _json_field("Authorization"),
    ),
    Redaction(
        "session and identity tokens in headers, query members and claims",
        _json_field(
            "X-Amz-Security-Token",
            "sessionToken",
            "token",
            "access_token",
            "id_token",
            "refresh_token",
            "WebIdentityToken",
        ),
    ),
    Redaction(
        "presigned URL credential and signature members", _json_field("X-Amz-Credential", "X-Amz-Signature")
    ),
    Redaction(
        "credentials and signatures in URLs (Go's JSON escapes & as \\u0026)",
        r"(?i)(?:[?&]|\\u0026)(?:X-Amz-Credential|X-Amz-Signature|X-Amz-Security-Token|AWSAccessKeyId|Signature)"
        r'=([^&"\s\\]+)',
    ),
    Redaction("SigV4 credentials quoted in free text", r'Credential=([^/,"\s\\]+)'),
    Redaction("SigV4 signatures quoted in free text", r"Signature=([0-9a-fA-F]{16,})"),
    Redaction("JSON web tokens anywhere", r"(eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"),
    Redaction(
        "personal data in OIDC claims (Loi 25)",
        _json_field("preferred_username", "given_name", "family_name", "email", "sub"),
    ),
    Redaction("e-mail addresses anywhere (Loi 25)", r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})"),
)

# Labels. Each template leaves its label unset (an empty result) when it does not apply.
LEVEL_TEMPLATE = (
    "{{ if .level }}{{ ToLower .level }}"
    "{{ else if .status_code }}{{ $code := atoi .status_code }}"
    "{{ if ge $code 500 }}error{{ else if ge $code 400 }}warning{{ else }}info{{ end }}"
    "{{ else }}info{{ end }}"
)
"""Server entries carry MinIO's level; audit events take theirs from the HTTP status."""

OPERATION_TYPES: dict[str, str] = {
    "read": "Get|Head|List|Select",
    "delete": "Delete|Abort",
    "write": "Put|Post|Copy|Create|Complete|NewMultipart|Upload|Restore",
}
"""S3 API name prefixes (``PutObject``, ``ListObjectsV2``...), with or without MinIO's ``s3.``."""

OPERATION_TEMPLATE = (
    "{{ with .api_name }}"
    + "".join(
        f'{"{{ if" if i == 0 else "{{ else if"} regexMatch "^(?:s3\\\\.)?(?:{prefixes})" . }}}}{kind}'
        for i, (kind, prefixes) in enumerate(OPERATION_TYPES.items())
    )
    + "{{ end }}{{ end }}"
)

SECURITY_EVENT_TEMPLATE = (
    "{{ $denied := false }}"
    '{{ with .status_code }}{{ if or (eq . "401") (eq . "403") }}{{ $denied = true }}{{ end }}{{ end }}'
    "{{ if $denied }}access_denied"
    '{{ else }}{{ with .request_path }}{{ if hasPrefix "/minio/admin/" . }}admin_action{{ end }}{{ end }}'
    "{{ end }}"
)
"""``access_denied`` for any 401/403 answer; ``admin_action`` for any call to the admin API."""

PARSED_FIELDS = {
    "level": "level",
    "api_name": "api.name",
    "status_code": "api.statusCode",
    "request_path": "requestPath",
}
"""Extracted from each JSON entry (JMESPath), for the label templates."""

LABELS = ("level", "operation_type", "security_event")


def _string(value: str) -> str:
    """An Alloy string literal (the syntax takes Go's escapes, which JSON's are a subset of)."""
    if not value.isascii():
        raise ValueError(f"Alloy config values must be ASCII: {value!r}")
    return json.dumps(value)


def _object(values: Mapping[str, str]) -> str:
    return "{ " + ", ".join(f"{key} = {_string(value)}" for key, value in values.items()) + " }"


LOKI_CREDENTIAL_FILE = "loki-credential"
"""The existing Loki's password or bearer token, under SECRETS_DIR in Alloy's container."""
LOKI_CREDENTIAL_PATH = f"{SECRETS_DIR}/{LOKI_CREDENTIAL_FILE}"


@dataclass(frozen=True)
class LokiAuth:
    """How Alloy authenticates to an existing Loki. The credential is in neither the rendered file
    nor the container's environment: Alloy reads it from :data:`LOKI_CREDENTIAL_PATH`."""

    username: str | None = None
    """Basic auth with this user (the file holds its password); None: a bearer token."""


def _loki_auth_lines(auth: LokiAuth | None) -> list[str]:
    if auth is None:
        return []
    if auth.username is not None:
        return [
            "    basic_auth {",
            f"      username = {_string(auth.username)}",
            f"      password_file = {_string(LOKI_CREDENTIAL_PATH)}",
            "    }",
        ]
    return [f"    bearer_token_file = {_string(LOKI_CREDENTIAL_PATH)}"]


def render_alloy_config(
    loki_push_url: str,
    redactions: Sequence[Redaction] = REDACTIONS,
    auth: LokiAuth | None = None,
    listen_address: str = DEFAULT_ALLOY_ADDRESS,
) -> str:
    """Alloy's configuration: two webhook listeners (on its log-net address), the labelling and
    redaction stages, Loki."""
    out: list[str] = ["// Generated by minio-platform (components/logs.py). Do not edit.", ""]
    for stream, port in STREAM_PORTS.items():
        out += [
            f"// MinIO's {stream} webhook posts one JSON entry per line to {RAW_PATH}, through the log",
            "// gate (it checks the webhook's token; this listener has no authentication of its own,",
            "// so it binds Alloy's log-net address, which only the gate reaches).",
            f'loki.source.api "minio_{stream}" {{',
            "  http {",
            f"    listen_address = {_string(listen_address)}",
            f"    listen_port    = {port}",
            "  }",
            f"  labels     = {_object({'source': 'minio', 'stream': stream})}",
            "  forward_to = [loki.process.minio.receiver]",
            "}",
            "",
        ]
    out += [
        'loki.process "minio" {',
        "  forward_to = [loki.write.loki.receiver]",
        "",
        "  stage.json {",
        f"    expressions = {_object(PARSED_FIELDS)}",
        "  }",
    ]
    for label, template in (
        ("level", LEVEL_TEMPLATE),
        ("operation_type", OPERATION_TEMPLATE),
        ("security_event", SECURITY_EVENT_TEMPLATE),
    ):
        out += [
            "  stage.template {",
            f"    source   = {_string(label)}",
            f"    template = {_string(template)}",
            "  }",
        ]
    out += ["  stage.labels {", f"    values = {_object(dict.fromkeys(LABELS, ''))}", "  }", ""]
    for redaction in redactions:
        out += [
            f"  // Redact {redaction.what}.",
            "  stage.replace {",
            f"    expression = {_string(redaction.expression)}",
            f"    replace    = {_string(REDACTED)}",
            "  }",
        ]
    out += [
        "}",
        "",
        'loki.write "loki" {',
        "  endpoint {",
        f"    url = {_string(loki_push_url)}",
        *_loki_auth_lines(auth),
        "  }",
        "}",
        "",
    ]
    return "\n".join(out)


# --- the log gate: the webhooks' token, checked before Alloy ------------------------------------------


@dataclass(frozen=True)
class GateConfig:
    """The log gate's listeners and where it passes each stream on. Parameters, so the tests run the
    very same renderer on loopback ports in front of receivers of their own."""

    listeners: Mapping[str, tuple[int | str, str]]
    """By stream: what the gate listens on (a port, or ``address:port``), and Alloy's ``host:port``
    behind it."""
    token_file: str = GATE_TOKEN_FILE
    temp_dir: str = SCRATCH

    @classmethod
    def in_front_of(cls, alloy: str) -> GateConfig:
        """The stack's gate: MinIO's ports on monitoring-net, Alloy's same ports at its log-net address."""
        return cls(listeners={stream: (port, f"{alloy}:{port}") for stream, port in STREAM_PORTS.items()})


GATE_HEADER = "# Rendered by minio-platform (components/logs.py). Do not edit: change the stack settings.\n"


def render_gate_conf(config: GateConfig) -> str:
    """The log gate's nginx.conf: each listener passes MinIO's raw posts on to Alloy when they carry
    the webhook's token and answers 403 otherwise (MinIO reads a 403 as "check your auth token")."""
    tmp = config.temp_dir.rstrip("/")
    servers = []
    for stream, (port, upstream) in config.listeners.items():
        servers += [
            *comment(f"MinIO's {stream} webhook."),
            directive(
                "server",
                block=[
                    directive("listen", port),
                    directive(
                        "location",
                        "=",
                        RAW_PATH,
                        block=[
                            directive("if", "$webhook_refused", block=[directive("return", 403)]),
                            directive("proxy_set_header", "Authorization", ""),
                            directive("proxy_pass", f"http://{upstream}"),
                        ],
                    ),
                    *comment(
                        "The gate's own health check: its answer does not wait for Alloy (a 200 with a"
                        "\nbody: every wget takes that as success)."
                    ),
                    directive("location", "=", GATE_HEALTH_PATH, block=[directive("return", 200, "ok")]),
                    directive("location", "/", block=[directive("return", 404)]),
                ],
            ),
        ]
    tree = main_context(
        f"{tmp}/log-gate.pid",
        1,
        256,
        http=[
            directive("server_tokens", "off"),
            directive("access_log", "off"),
            *comment("MinIO posts one event per request (batch size 1); an audit event is a few KiB."),
            directive("client_max_body_size", "16m"),
            *temp_paths(f"{tmp}/log-gate"),
            *comment("$webhook_refused: 0 for the webhooks' Authorization value, 1 for any other or none."),
            directive("include", config.token_file),
            *servers,
        ],
    )
    return GATE_HEADER + build(tree) + "\n"


def render_gate_token_map(authorization: str) -> str:
    """The gate's secret part: ``$webhook_refused`` is 0 for exactly this Authorization value.

    A regular expression, anchored and case-sensitive: nginx compares a map's plain strings without
    regard to case (measured on Debian's nginx 1.22: ``bearer abc123`` matched ``Bearer AbC123``).
    The token is letters and digits only (``special=False``), so it needs no escaping.
    """
    if not re.fullmatch(r"Bearer [A-Za-z0-9]{32,}", authorization):
        raise ValueError("the webhook token must be 32 or more letters and digits after 'Bearer '")
    return (
        build(
            [
                directive(
                    "map",
                    "$http_authorization",
                    "$webhook_refused",
                    block=[directive("default", 1), directive(f"~^{authorization}$", 0)],
                )
            ]
        )
        + "\n"
    )


WEBHOOK_AUTH_VARIABLES = tuple(
    f"MINIO_{kind}_WEBHOOK_AUTH_TOKEN_{WEBHOOK_TARGET}" for kind in ("LOGGER", "AUDIT")
)
"""The nodes' variables carrying the webhooks' Authorization value (secret, set by LogPipeline)."""


def webhook_authorization(token: str) -> str:
    """The Authorization value the nodes' webhooks send (MinIO sends its auth_token as it is)."""
    return f"Bearer {token}"


def minio_log_environment(queue_size: int = DEFAULT_LOG_QUEUE_SIZE) -> dict[str, str]:
    """The nodes' ``MINIO_*`` variables sending server logs and audit events to the log gate.

    Each webhook queues its events on disk (``LOG_QUEUE_PATH``, a volume of the node's own) and
    sends them from there, oldest first, so events survive an outage of Alloy or Loki and a
    restart of the node. One folder per webhook (MinIO itself keeps them apart inside, as
    ``minio-http-audit-alloy`` and ``minio-http-logger-alloy``: seen on a real node).
    """
    environment = {}
    for kind, port in (("LOGGER", SERVER_LOG_PORT), ("AUDIT", AUDIT_LOG_PORT)):
        environment[f"MINIO_{kind}_WEBHOOK_ENABLE_{WEBHOOK_TARGET}"] = "on"
        environment[f"MINIO_{kind}_WEBHOOK_ENDPOINT_{WEBHOOK_TARGET}"] = (
            f"http://{GATE_HOST}:{port}{RAW_PATH}"
        )
        environment[f"MINIO_{kind}_WEBHOOK_QUEUE_DIR_{WEBHOOK_TARGET}"] = f"{LOG_QUEUE_PATH}/{kind.lower()}"
        environment[f"MINIO_{kind}_WEBHOOK_QUEUE_SIZE_{WEBHOOK_TARGET}"] = str(queue_size)
    return environment


def loki_url(settings: ObservabilitySettings) -> str:
    """Where Loki answers: the dev container on monitoring-net, or the existing one (prod)."""
    if settings.mode is ObservabilityMode.DEPLOY:
        return f"http://{LOKI_HOST}:{LOKI_PORT}"
    if not settings.loki_url:
        raise ValueError("observability.lokiUrl is required in mode external")
    return settings.loki_url.rstrip("/")


def loki_command(retention_days: int) -> list[str]:
    """Loki's arguments: the image's single-binary filesystem config, with retention switched on."""
    return [
        "-config.file=/etc/loki/local-config.yaml",
        "-compactor.retention-enabled=true",
        "-compactor.delete-request-store=filesystem",
        f"-store.retention={retention_days * 24}h",
    ]


@dataclass(frozen=True)
class LogPipelineArgs:
    settings: ObservabilitySettings
    monitoring_network: docker.Network
    """MinIO's nodes reach the log gate here; Alloy reaches Loki here."""
    log_network: docker.Network
    """Internal: the log gate reaches Alloy's webhook listeners here, and nothing else does."""
    alloy_address: str = DEFAULT_ALLOY_ADDRESS
    """Alloy's fixed address on ``log_network`` (``networks.logSubnet``, offset 2)."""
    loki_credential: pulumi.Input[str] | None = None
    """Secret: the existing Loki's basic-auth password (with settings.loki_username) or bearer token."""
    labels: dict[str, str] = field(default_factory=dict)
    publish_on: str | None = None
    """Several hosts: the first host's address, where the other hosts' nodes send their logs (the
    webhook ports are published there)."""
    gate_image: str = DEFAULT_NGINX_IMAGE
    """The log gate's nginx (the gateway's image: one nginx to pin and patch)."""
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    """Every service's CPU and memory limits."""


class LogPipeline(pulumi.ComponentResource):
    """The log gate and Alloy (every stack) and, in dev, Loki; created before the nodes so no early
    event is lost.

    Alloy's ``loki.source.api`` has no authentication, so anything on monitoring-net (or, with
    several hosts, anything reaching the published ports) could post events that look like MinIO's
    audit trail. The nodes' webhooks carry a generated token instead, and an nginx in front checks
    it. Alloy's webhook listeners bind its fixed address on log-net, an internal network it shares
    with the gate alone; on monitoring-net (its way to Loki) nothing of Alloy's listens. Not a
    shared network namespace: a container that joined another's keeps the old, dead one when the
    owner restarts (measured with Docker 20.10: the gate restarted, Alloy stayed cut off, 502s).
    """

    alloy_config: str
    gate_config: str
    loki_url: str
    gate: docker.Container
    alloy: docker.Container
    loki: docker.Container | None
    minio_secret_environment: dict[str, pulumi.Output[str]]
    """The nodes' webhook tokens (MINIO_{LOGGER,AUDIT}_WEBHOOK_AUTH_TOKEN_alloy), secret."""

    def __init__(self, name: str, args: LogPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:logs:LogPipeline", name, None, opts)
        self._name = name
        settings = args.settings
        self.loki_url = loki_url(settings)
        self.auth = (
            LokiAuth(settings.loki_username)
            if args.loki_credential is not None and settings.mode is ObservabilityMode.EXTERNAL
            else None
        )
        self.alloy_config = render_alloy_config(
            f"{self.loki_url}/loki/api/v1/push", auth=self.auth, listen_address=args.alloy_address
        )
        self.gate_config = render_gate_conf(GateConfig.in_front_of(args.alloy_address))
        token = random.RandomPassword(
            f"{name}-webhook-token", length=40, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        authorization = pulumi.Output.secret(token.result.apply(webhook_authorization))
        self.minio_secret_environment = dict.fromkeys(WEBHOOK_AUTH_VARIABLES, authorization)
        self.loki = self._loki(args) if settings.mode is ObservabilityMode.DEPLOY else None
        self.gate = self._gate(args, authorization)
        self.alloy = self._alloy(args)
        self.register_outputs({"loki_url": self.loki_url})

    def _loki(self, args: LogPipelineArgs) -> docker.Container:
        data = data_volume(self, self._name, LOKI_HOST, args.labels)
        return service_container(
            self,
            self._name,
            LOKI_HOST,
            args.settings.loki_image,
            args.monitoring_network,
            args.labels,
            pulumi.ResourceOptions(parent=self, replace_on_changes=["healthcheck"]),
            hardening=LOKI_HARDENING,
            command=loki_command(args.settings.retention_days),
            volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/loki")],
            # Loki up to 3.5 ships busybox's wget; 3.6 dropped it (switch to `loki -health` then).
            **healthy_service(
                wget_http_probe(LOKI_PORT, "/ready"),
                interval="5s",
                timeout="3s",
                retries=12,
                start_period="30s",
                wait_timeout=180,
                limits=args.resources.loki,
            ),
        )

    def _gate(self, args: LogPipelineArgs, authorization: pulumi.Output[str]) -> docker.Container:
        config_path = f"/etc/nginx/{GATE_CONFIG_FILE}"
        return service_container(
            self,
            self._name,
            GATE_HOST,
            args.gate_image,
            args.monitoring_network,
            args.labels,
            pulumi.ResourceOptions(parent=self, replace_on_changes=["healthcheck"]),
            hardening=NGINX_HARDENING,
            ports=[
                docker.ContainerPortArgs(internal=port, external=port, ip=args.publish_on)
                for port in STREAM_PORTS.values()
            ]
            if args.publish_on
            else None,
            more_networks=[docker.ContainerNetworksAdvancedArgs(name=args.log_network.name)],
            command=["nginx", "-e", "stderr", "-c", config_path, "-g", "daemon off;"],
            uploads=[
                docker.ContainerUploadArgs(file=config_path, content=self.gate_config, permissions="0444"),
                docker.ContainerUploadArgs(
                    file=GATE_TOKEN_FILE,
                    content=pulumi.Output.secret(authorization.apply(render_gate_token_map)),
                    permissions=SECRET_FILE_MODE,
                ),
            ],
            **healthy_service(
                wget_http_probe(SERVER_LOG_PORT, GATE_HEALTH_PATH),
                interval="5s",
                timeout="3s",
                retries=6,
                start_period="5s",
                wait_timeout=60,
                limits=args.resources.log_gate,
            ),
        )

    def _alloy(self, args: LogPipelineArgs) -> docker.Container:
        config_path = f"/etc/alloy/{ALLOY_CONFIG_FILE}"
        return service_container(
            self,
            self._name,
            ALLOY_HOST,
            args.settings.alloy_image,
            args.monitoring_network,
            args.labels,
            pulumi.ResourceOptions(
                parent=self, replace_on_changes=["healthcheck"], depends_on=[self.loki] if self.loki else []
            ),
            hardening=ALLOY_HARDENING,
            more_networks=[
                docker.ContainerNetworksAdvancedArgs(
                    name=args.log_network.name, ipv4_address=args.alloy_address
                )
            ],
            command=[
                "run",
                f"--server.http.listen-addr=127.0.0.1:{ALLOY_HTTP_PORT}",
                "--storage.path=/var/lib/alloy/data",
                config_path,
            ],
            uploads=[
                docker.ContainerUploadArgs(file=config_path, content=self.alloy_config, permissions="0444"),
                *(
                    [secret_file(LOKI_CREDENTIAL_FILE, args.loki_credential)]
                    if self.auth is not None and args.loki_credential is not None
                    else []
                ),
            ],
            **healthy_service(
                bash_http_probe(ALLOY_HTTP_PORT, "/-/ready", " 200 "),
                interval="5s",
                timeout="3s",
                retries=6,
                start_period="10s",
                wait_timeout=120,
                limits=args.resources.alloy,
            ),
        )
