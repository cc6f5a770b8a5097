"""Stack settings: the only module that reads ``pulumi.Config``.

The stack's configuration becomes one frozen, validated :class:`PlatformSettings`. Components take
pieces of it as typed arguments and never read config themselves. A bad configuration stops the
program before any resource registers, with one :class:`SettingsError` that lists every problem
as ``<key> = <value>: <what is allowed>``.

Keys are camelCase in the stack files (``minio-platform:cluster`` with ``drivesPerNode``...);
fields are snake_case here. Secrets are separate top-level keys that must be ``secure:`` values;
they are held as :class:`pydantic.SecretStr` so they never print.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from itertools import combinations
from typing import Annotated, Any, Self

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.addressing import AddressPlanError, StorageAddresses, plan_storage_addresses
from components.erasure import ErasureLayoutError, ErasurePlan, plan_erasure
from components.policies import takes_buckets, template_names

PROJECT = "minio-platform"
UNCHECKED = "unchecked"
"""Validation context key: sections (field names) whose own validation failed, for the cross-checks."""
METRICS_USER = "prometheus-metrics"
"""The identity Prometheus scrapes as (policy: the metrics template, admin:Prometheus only)."""

# Default images. Community MinIO is source-only since 2025-10-15; RELEASE.2025-09-07T16-13-09Z is
# the last image MinIO published (README "Choosing the MinIO image" explains the alternatives).
DEFAULT_MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
DEFAULT_NGINX_IMAGE = "nginx:1.28.0-alpine"
DEFAULT_KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak:26.4.2"
DEFAULT_PROMETHEUS_IMAGE = "prom/prometheus:v3.7.3"
DEFAULT_LOKI_IMAGE = "grafana/loki:3.5.7"
DEFAULT_GRAFANA_IMAGE = "grafana/grafana:12.2.1"
DEFAULT_ALLOY_IMAGE = "grafana/alloy:v1.11.3"
DEFAULT_LOG_QUEUE_SIZE = 100_000
"""MinIO's own default queue size for a log or audit webhook, in events."""


class SettingsError(pulumi.RunError):
    """The stack configuration is invalid. Raised before any resource registers.

    Subclasses ``pulumi.RunError`` so ``pulumi up`` prints the message without a traceback.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


class Invalid(ValueError):
    """A validation failure that names the offending key (relative to the model it is raised in)."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key} = {value!r}: {allowed}")


class Problems(ValueError):
    """Several :class:`Invalid` found by one validator: every one is reported, not just the first."""

    def __init__(self, found: list[Invalid]):
        self.found = found
        super().__init__("; ".join(str(problem) for problem in found))


def _raise_all(found: list[Invalid]) -> None:
    if len(found) == 1:
        raise found[0]
    if found:
        raise Problems(found)


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Mode(StrEnum):
    DEPLOY = "deploy"
    """The stack runs the service itself, as containers on the Docker host."""
    EXTERNAL = "external"
    """The stack uses an existing service at a configured URL."""


class ObservabilityMode(StrEnum):
    DEPLOY = "deploy"
    """Prometheus, Loki, Grafana and Alloy run as containers on the Docker host."""
    EXTERNAL = "external"
    """Alloy runs here and ships to existing Prometheus, Loki and Grafana at configured URLs."""
    NONE = "none"
    """No monitoring: no containers, no log webhooks on the nodes, no metrics identity."""


class TlsMode(StrEnum):
    NONE = "none"
    SELF_SIGNED = "self-signed"
    PROVIDED = "provided"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


# --- value types ---------------------------------------------------------------------------------

_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._\-/:][a-z0-9]+)*?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def image_is_digest_pinned(ref: str) -> bool:
    return "@sha256:" in ref


def _check_image(ref: str) -> str:
    match = _IMAGE_RE.match(ref)
    if not match:
        raise ValueError(f"{ref!r} is not an image reference (registry/repository:tag[@sha256:<64 hex>])")
    tag, digest = match.group("tag"), match.group("digest")
    if not tag and not digest:
        raise ValueError(f"image {ref!r} is not pinned: give a version tag and, in prod, a digest")
    if tag == "latest":
        raise ValueError(f"image {ref!r} uses the moving tag 'latest': pin a version tag")
    return ref


ImageRef = Annotated[str, AfterValidator(_check_image)]
Port = Annotated[int, Field(ge=1, le=65535)]

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def _check_bucket_name(name: str) -> str:
    """S3 bucket naming rules (the subset MinIO enforces plus the AWS-reserved forms)."""
    problems = []
    if not _BUCKET_RE.match(name):
        problems.append(
            "3-63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        problems.append("no '..', '.-' or '-.'")
    try:
        ipaddress.IPv4Address(name)
        problems.append("not formatted as an IP address")
    except ValueError:
        pass
    if name.startswith("xn--") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        problems.append("no 'xn--' prefix and no '-s3alias' or '--ol-s3' suffix")
    if problems:
        raise ValueError(f"{name!r} is not a valid S3 bucket name: " + "; ".join(problems))
    return name


BucketName = Annotated[str, AfterValidator(_check_bucket_name)]
_URL_RE = re.compile(r"https?://[^\s/]+(/[^\s]*)?")
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9\-]{1,62}$")]


# --- sections ------------------------------------------------------------------------------------


class ClusterSettings(_Model):
    """The erasure-coded MinIO pool: ``nodes`` containers with ``drives_per_node`` volumes each."""

    nodes: int = Field(4, description="MinIO nodes (containers); 4 to 32")
    drives_per_node: int = Field(1, ge=1, le=16, description="Docker volumes (drives) per node")
    parity: int | None = Field(
        None, ge=1, description="EC parity per erasure set; MinIO's default for the set size when unset"
    )
    image: ImageRef = Field(DEFAULT_MINIO_IMAGE, description="MinIO server image, pinned")
    root_user: str = Field(
        "minio-root",
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="Root access key (the password is the rootPassword secret or generated)",
    )
    root_password_generation: int = Field(
        1, ge=1, description="Bump to rotate the generated root password (replaces every node together)"
    )
    cpus: float | None = Field(None, gt=0, description="CPU limit per node (Docker --cpus)")
    memory_mb: int | None = Field(None, ge=512, description="Memory limit per node in MiB")
    lock_retry_interval_ms: int | None = Field(
        50,
        ge=10,
        le=250,
        description="How long MinIO waits before retrying a refused distributed lock, in ms (its "
        "internal _MINIO_LOCK_RETRY_INTERVAL; null leaves MinIO's 250). 50 cuts the stall a share of "
        "small PUTs takes (docs/performance.md)",
    )

    @field_validator("nodes")
    @classmethod
    def _node_count(cls, value: int) -> int:
        if not 4 <= value <= 32:
            raise ValueError(
                "4 to 32 nodes: an erasure-coded cluster that keeps serving through a node loss "
                "needs at least 4"
            )
        return value

    @model_validator(mode="after")
    def _erasure_layout(self) -> Self:
        """nodes x drivesPerNode split into MinIO erasure sets of 2-16 drives spread evenly over
        the nodes; parity at most half a set."""
        try:
            plan_erasure(self.nodes, self.drives_per_node, self.parity)
        except ErasureLayoutError as err:
            if self.parity is not None and "parity" in str(err):
                raise Invalid("parity", self.parity, str(err)) from None
            key, value = (
                ("nodes", self.nodes)
                if self.drives_per_node == 1
                else ("drivesPerNode", self.drives_per_node)
            )
            raise Invalid(
                key, value, f"{err}; choose nodes x drivesPerNode MinIO can split into sets"
            ) from None
        return self

    @property
    def erasure(self) -> ErasurePlan:
        return plan_erasure(self.nodes, self.drives_per_node, self.parity)


class NetworkSettings(_Model):
    """Subnets of the three private Docker networks: private (RFC 1918, else a warning) and disjoint."""

    storage_subnet: ipaddress.IPv4Network = Field(
        ipaddress.IPv4Network("172.40.0.0/24"),
        description="storage-net (internal): nodes at fixed addresses in its lower half, gateway at offset 2",
    )
    monitoring_subnet: ipaddress.IPv4Network = Field(
        ipaddress.IPv4Network("172.31.0.0/24"),
        description="monitoring-net: metrics, logs, SSO and published ports",
    )
    database_subnet: ipaddress.IPv4Network = Field(
        ipaddress.IPv4Network("172.23.0.0/24"),
        description="database-net: database containers and backup jobs reach S3 at the gateway",
    )

    @model_validator(mode="after")
    def _no_overlap(self) -> Self:
        """The three subnets are disjoint."""
        named = {
            "storageSubnet": self.storage_subnet,
            "monitoringSubnet": self.monitoring_subnet,
            "databaseSubnet": self.database_subnet,
        }
        _raise_all(
            [
                Invalid(key_b, str(net_b), f"must not overlap {key_a} ({net_a}); pick disjoint subnets")
                for (key_a, net_a), (key_b, net_b) in combinations(named.items(), 2)
                if net_a.overlaps(net_b)
            ]
        )
        return self

    def non_private(self) -> dict[str, ipaddress.IPv4Network]:
        """Subnets outside RFC 1918 space (172.40.0.0/24 is one: private is 172.16-31 only)."""
        private = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
        return {
            key: net
            for key, net in (
                ("storageSubnet", self.storage_subnet),
                ("monitoringSubnet", self.monitoring_subnet),
                ("databaseSubnet", self.database_subnet),
            )
            if not any(net.subnet_of(p) for p in private)
        }


class GatewaySettings(_Model):
    """The NGINX gateway, the only container that publishes host ports."""

    image: ImageRef = Field(DEFAULT_NGINX_IMAGE, description="NGINX image, pinned")
    bind_address: ipaddress.IPv4Address = Field(
        # The gateway is the platform's public entry; a stack may narrow it (dev: 127.0.0.1).
        ipaddress.IPv4Address("0.0.0.0"),  # noqa: S104
        description="Host address the gateway's published ports bind to",
    )
    http_port: Port = Field(
        80, description="Console (/minio-console/) and health; redirects to HTTPS under TLS"
    )
    s3_port: Port = Field(9000, description="S3 API at the root of its own listener (plain HTTP mode)")
    https_port: Port = Field(443, description="TLS listener for both host names (TLS modes only)")
    console_host: str = Field("localhost", description="Host name users type for the console")
    s3_host: str = Field("localhost", description="Host name of the S3 endpoint")
    max_body_size: str = Field("5g", pattern=r"^[0-9]+[kmgKMG]?$", description="nginx client_max_body_size")
    tls: TlsMode = Field(
        TlsMode.NONE,
        description="none (plain HTTP), self-signed (a generated certificate, dev only) or provided "
        "(tlsCertificate and tlsPrivateKey; required in prod)",
    )

    @field_validator("console_host", "s3_host")
    @classmethod
    def _host_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?", value):
            raise ValueError(f"{value!r} is not a host name")
        return value

    @model_validator(mode="after")
    def _distinct_hosts_under_tls(self) -> Self:
        """Under TLS, s3Host differs from consoleHost (the host name selects S3 on the shared port)."""
        # Under TLS both names share the HTTPS port, so the host name is what selects S3.
        if self.tls is not TlsMode.NONE and self.s3_host == self.console_host:
            raise Invalid(
                "s3Host",
                self.s3_host,
                "under TLS the S3 host name must differ from consoleHost "
                "(S3 is served at the root of its own host name)",
            )
        return self


BUILTIN_POLICIES = ("consoleAdmin", "readwrite", "readonly", "writeonly", "diagnostics")
"""Policies every MinIO server has. A group may name one; no template in policies/iam/ takes one of
these names, so a name means the same policy in MinIO and here (tests/test_policies.py)."""


class GroupSettings(_Model):
    """A Keycloak group whose members get ``policy`` in their token's ``policy`` claim."""

    name: Identifier = Field(description="Keycloak group name")
    policy: str = Field(description="A MinIO built-in policy or a template in policies/iam/")
    buckets: tuple[BucketName, ...] | None = Field(
        None, description="For a per-bucket template: its buckets (unset: every configured bucket)"
    )

    @property
    def uses_template(self) -> bool:
        return self.policy in template_names()

    @property
    def minio_policy(self) -> str:
        """The MinIO policy the group's members get: ``<group>-policy`` for a template, else the built-in."""
        return f"{self.name}-policy" if self.uses_template else self.policy


def _default_groups() -> tuple[GroupSettings, ...]:
    return (
        GroupSettings(name="storage-admins", policy="consoleAdmin"),
        GroupSettings(name="storage-readonly", policy="bucket-readonly"),
        GroupSettings(name="backup-operators", policy="backup-service", buckets=("backups-postgresql",)),
    )


class IdentitySettings(_Model):
    """Keycloak single sign-on: the realm, the client and the groups whose policies MinIO's STS grants."""

    mode: Mode = Field(Mode.DEPLOY, description="deploy a Keycloak container, or configure an external one")
    realm: Identifier = Field("minio", description="The realm the console's client and the groups live in")
    url: str | None = Field(None, description="Base URL of an existing Keycloak (mode: external)")
    admin_user: str = Field(
        "admin", min_length=1, description="Keycloak admin (its password: keycloakAdminPassword or generated)"
    )
    image: ImageRef = Field(DEFAULT_KEYCLOAK_IMAGE, description="Keycloak image of the deployed one, pinned")
    port: Port = Field(8080, description="Host port (127.0.0.1 only) of the deployed Keycloak")
    groups: tuple[GroupSettings, ...] = Field(
        default_factory=_default_groups,
        description="Keycloak groups and the MinIO policy their members get (the policy claim)",
    )

    @model_validator(mode="after")
    def _url_for_external(self) -> Self:
        """identity.mode external needs identity.url; a URL is http(s)://."""
        if self.mode is Mode.EXTERNAL and not self.url:
            raise Invalid(
                "url", self.url, "an http(s):// URL of the existing Keycloak is required in mode external"
            )
        if self.url and not _URL_RE.fullmatch(self.url):
            raise Invalid("url", self.url, "an http(s):// URL")
        if self.url:
            object.__setattr__(self, "url", self.url.rstrip("/"))
        return self

    @property
    def deployed(self) -> bool:
        return self.mode is Mode.DEPLOY


class BucketSettings(_Model):
    name: BucketName = Field(description="Bucket name, unique in the stack")
    retention_days: int = Field(gt=0, description="Objects expire this many days after creation")
    versioning: bool = Field(False, description="Keep noncurrent versions (off: deleted objects really go)")
    noncurrent_retention_days: int = Field(
        7, gt=0, description="With versioning: noncurrent versions expire after this many days"
    )
    encryption: bool = Field(False, description="SSE-KMS with the stack's KMS key")
    backups: bool = Field(
        False,
        description="The day-2 tool's PostgreSQL backups go here: what an interrupted backup leaves "
        "under pending/ expires after a day",
    )


class ServiceAccountSettings(_Model):
    name: Identifier = Field(description="The account's name (its MinIO user), unique")
    policy: str = Field(description="Name of a template in policies/iam/")
    buckets: tuple[BucketName, ...] = Field(
        (), description="Configured buckets a per-bucket template applies to (empty for the others)"
    )


class ObservabilitySettings(_Model):
    """Prometheus, Loki, Grafana (deployed in dev, existing endpoints in prod) and the log agent."""

    mode: ObservabilityMode = Field(
        ObservabilityMode.DEPLOY,
        description="deploy (containers here), external (existing URLs; Alloy still runs here) or none "
        "(no monitoring container, no log webhooks, no metrics identity)",
    )
    prometheus_url: str | None = Field(None, description="Existing Prometheus (mode external)")
    loki_url: str | None = Field(None, description="Existing Loki push API base URL (mode external)")
    loki_username: str | None = Field(
        None,
        min_length=1,
        description="Basic-auth user of the existing Loki (mode external; its password: lokiPassword)",
    )
    grafana_url: str | None = Field(None, description="Existing Grafana (mode external; token: grafanaAuth)")
    prometheus_port: Port = Field(9090, description="Host port (127.0.0.1 only) of the deployed Prometheus")
    grafana_port: Port = Field(3000, description="Host port (127.0.0.1 only) of the deployed Grafana")
    retention_days: int = Field(15, gt=0, description="Prometheus TSDB and Loki retention")
    log_queue_size: int = Field(
        DEFAULT_LOG_QUEUE_SIZE,
        ge=1_000,
        le=10_000_000,
        description="Audit events (and, apart, server-log events) each node keeps on its queue volume "
        "while the log pipeline is unreachable; once full, newer events are dropped",
    )
    prometheus_image: ImageRef = Field(DEFAULT_PROMETHEUS_IMAGE, description="Prometheus image (mode deploy)")
    loki_image: ImageRef = Field(DEFAULT_LOKI_IMAGE, description="Loki image (mode deploy)")
    grafana_image: ImageRef = Field(DEFAULT_GRAFANA_IMAGE, description="Grafana image (mode deploy)")
    alloy_image: ImageRef = Field(
        DEFAULT_ALLOY_IMAGE, description="Grafana Alloy, the log agent (modes deploy and external)"
    )

    @model_validator(mode="after")
    def _urls_for_mode(self) -> Self:
        """Mode external needs all three URLs, mode none takes none; each is http(s)://."""
        urls = (
            ("prometheusUrl", self.prometheus_url),
            ("lokiUrl", self.loki_url),
            ("grafanaUrl", self.grafana_url),
        )
        found = []
        for key, value in urls:
            if self.mode is ObservabilityMode.EXTERNAL and not value:
                found.append(Invalid(key, value, "an http(s):// URL is required in mode external"))
            elif self.mode is ObservabilityMode.NONE and value:
                found.append(
                    Invalid(key, value, "mode none monitors nothing: remove it or choose mode external")
                )
            elif value and not _URL_RE.fullmatch(value):
                found.append(Invalid(key, value, "an http(s):// URL"))
        _raise_all(found)
        return self

    @property
    def enabled(self) -> bool:
        return self.mode is not ObservabilityMode.NONE


def _default_buckets() -> tuple[BucketSettings, ...]:
    return (
        BucketSettings(name="backups-postgresql", retention_days=30, backups=True),
        BucketSettings(name="logs", retention_days=90),
        BucketSettings(name="application-files", retention_days=365),
    )


def _default_service_accounts() -> tuple[ServiceAccountSettings, ...]:
    return (
        ServiceAccountSettings(
            name="backup-service", policy="backup-service", buckets=("backups-postgresql",)
        ),
    )


class Secrets(_Model):
    """Secret stack values. Each must be a ``secure:`` value; unset ones are generated where possible."""

    root_password: SecretStr | None = Field(
        None, description="MinIO root password, at least 8 characters; generated (40 characters) when unset"
    )
    tls_certificate: SecretStr | None = Field(
        None, description="PEM certificate chain for both host names (gateway.tls provided)"
    )
    tls_private_key: SecretStr | None = Field(None, description="Its PEM private key (gateway.tls provided)")
    keycloak_admin_password: SecretStr | None = Field(
        None, description="Keycloak admin password, at least 8 characters: required in identity.mode external"
    )
    grafana_auth: SecretStr | None = Field(
        None,
        description="Service-account token of the existing Grafana: required in observability.mode external",
    )
    loki_password: SecretStr | None = Field(
        None, description="Basic-auth password of the existing Loki, with observability.lokiUsername"
    )
    loki_bearer_token: SecretStr | None = Field(
        None, description="Bearer token of the existing Loki (instead of basic auth)"
    )

    @field_validator("root_password", "keycloak_admin_password")
    @classmethod
    def _password_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("at least 8 characters (MinIO and Keycloak refuse shorter passwords)")
        return value


SECRET_KEYS = tuple(to_camel(name) for name in Secrets.model_fields)


class PlatformSettings(_Model):
    """Everything one stack needs, validated as a whole."""

    environment: Environment = Field(
        Environment.DEV,
        description="prod requires gateway.tls provided and every deployed image pinned by digest, and "
        "protects volumes, buckets and the KMS key",
    )
    docker_host: str = Field(
        "unix:///var/run/docker.sock",
        pattern=r"^(unix|tcp|ssh|npipe)://\S+$",
        description="Docker daemon the stack deploys to (unix://, tcp://, ssh://user@host); may be a secret",
    )
    cluster: ClusterSettings = ClusterSettings()
    networks: NetworkSettings = NetworkSettings()
    gateway: GatewaySettings = GatewaySettings()
    identity: IdentitySettings = IdentitySettings()
    buckets: tuple[BucketSettings, ...] = Field(
        default_factory=_default_buckets, description="Private buckets, each with one expiry rule"
    )
    service_accounts: tuple[ServiceAccountSettings, ...] = Field(
        default_factory=_default_service_accounts,
        description="Applications' identities: a MinIO user and service account holding a rendered template",
    )
    observability: ObservabilitySettings = ObservabilitySettings()
    secrets: Secrets = Secrets()

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Self:
        """Every rule between sections (:meth:`_checks`), all reported together."""
        # Sections that failed their own validation stand in as defaults here (settings_from_config):
        # the checks that read them are skipped, the others still run, so every problem shows at once.
        unchecked: frozenset[str] = (info.context or {}).get(UNCHECKED, frozenset())
        found = [
            problem for sections, check in self._checks() if not sections & unchecked for problem in check()
        ]
        _raise_all(found)
        return self

    def _checks(self) -> list[tuple[frozenset[str], Callable[[], Iterator[Invalid]]]]:
        """Every rule that spans sections, with the sections (field names) it reads."""
        return [
            (frozenset({"networks", "cluster"}), self._check_storage_addresses),
            (frozenset({"buckets"}), self._check_buckets),
            (frozenset({"service_accounts", "buckets", "cluster"}), self._check_service_accounts),
            (frozenset({"identity", "buckets"}), self._check_groups),
            (frozenset({"gateway", "identity", "observability"}), self._check_ports),
            (frozenset({"gateway", "secrets", "environment"}), self._check_tls),
            (frozenset({"identity", "secrets"}), self._check_identity_secrets),
            (frozenset({"observability", "secrets"}), self._check_observability_secrets),
            (
                frozenset({"environment", "cluster", "gateway", "identity", "observability"}),
                self._check_prod_images,
            ),
        ]

    def _check_storage_addresses(self) -> Iterator[Invalid]:
        """The storage subnet holds the gateway and every node at fixed addresses in its lower half."""
        try:
            plan_storage_addresses(self.networks.storage_subnet, self.cluster.nodes)
        except AddressPlanError as err:
            yield Invalid("networks.storageSubnet", str(self.networks.storage_subnet), str(err))

    @property
    def storage_addresses(self) -> StorageAddresses:
        return plan_storage_addresses(self.networks.storage_subnet, self.cluster.nodes)

    def _check_buckets(self) -> Iterator[Invalid]:
        """Bucket names are unique."""
        seen: set[str] = set()
        for i, bucket in enumerate(self.buckets):
            if bucket.name in seen:
                yield Invalid(f"buckets[{i}].name", bucket.name, "bucket names must be unique")
            seen.add(bucket.name)

    def _check_service_accounts(self) -> Iterator[Invalid]:
        """Service accounts: unique names other than the root user and the metrics identity; a
        template policy; buckets exactly when the template is per bucket, each one configured."""
        templates = template_names()
        buckets = {b.name for b in self.buckets}
        seen: set[str] = set()
        for i, account in enumerate(self.service_accounts):
            if account.name in seen:
                yield Invalid(
                    f"serviceAccounts[{i}].name", account.name, "service account names must be unique"
                )
            seen.add(account.name)
            if account.name in (METRICS_USER, self.cluster.root_user):
                yield Invalid(
                    f"serviceAccounts[{i}].name",
                    account.name,
                    "a name other than the root user and the metrics identity",
                )
            if account.policy not in templates:
                yield Invalid(
                    f"serviceAccounts[{i}].policy", account.policy, f"one of the templates {templates}"
                )
                continue
            if takes_buckets(account.policy) != bool(account.buckets):
                allowed = (
                    f"template {account.policy!r} is per bucket: name at least one bucket"
                    if takes_buckets(account.policy)
                    else f"template {account.policy!r} applies to every bucket: leave buckets empty"
                )
                yield Invalid(f"serviceAccounts[{i}].buckets", list(account.buckets), allowed)
            for j, name in enumerate(account.buckets):
                if name not in buckets:
                    yield Invalid(
                        f"serviceAccounts[{i}].buckets[{j}]",
                        name,
                        f"a bucket configured in buckets: {sorted(buckets)}",
                    )

    def _check_groups(self) -> Iterator[Invalid]:
        """Groups: unique names; a MinIO built-in or template policy; a per-bucket template has a
        bucket to apply to; buckets only for per-bucket templates, each one configured."""
        templates = template_names()
        buckets = {b.name for b in self.buckets}
        seen: set[str] = set()
        for i, group in enumerate(self.identity.groups):
            key = f"identity.groups[{i}]"
            if group.name in seen:
                yield Invalid(f"{key}.name", group.name, "group names must be unique")
            seen.add(group.name)
            if group.policy not in (*BUILTIN_POLICIES, *templates):
                yield Invalid(
                    f"{key}.policy",
                    group.policy,
                    f"a MinIO built-in {list(BUILTIN_POLICIES)} or a template {templates}",
                )
                continue
            if group.uses_template and takes_buckets(group.policy) and not self.group_buckets(group):
                yield Invalid(
                    f"{key}.policy",
                    group.policy,
                    f"template {group.policy!r} is per bucket and the group has no bucket to apply it to: "
                    f"configure buckets or choose a MinIO built-in {list(BUILTIN_POLICIES)}",
                )
            if group.buckets is None:
                continue
            if not group.uses_template or not takes_buckets(group.policy):
                yield Invalid(
                    f"{key}.buckets", list(group.buckets), f"policy {group.policy!r} takes no buckets"
                )
            for j, name in enumerate(group.buckets):
                if name not in buckets:
                    yield Invalid(
                        f"{key}.buckets[{j}]", name, f"a bucket configured in buckets: {sorted(buckets)}"
                    )

    def group_buckets(self, group: GroupSettings) -> tuple[str, ...]:
        """The buckets a group's template policy is rendered for (every bucket when unset)."""
        if not group.uses_template or not takes_buckets(group.policy):
            return ()
        return group.buckets if group.buckets is not None else tuple(b.name for b in self.buckets)

    def host_ports(self) -> dict[str, int]:
        """Every host port the stack publishes, by the config key that sets it."""
        ports = {"gateway.httpPort": self.gateway.http_port}
        if self.gateway.tls is TlsMode.NONE:
            ports["gateway.s3Port"] = self.gateway.s3_port
        else:
            ports["gateway.httpsPort"] = self.gateway.https_port
        if self.identity.mode is Mode.DEPLOY:
            ports["identity.port"] = self.identity.port
        if self.observability.mode is ObservabilityMode.DEPLOY:
            ports["observability.prometheusPort"] = self.observability.prometheus_port
            ports["observability.grafanaPort"] = self.observability.grafana_port
        return ports

    def _check_ports(self) -> Iterator[Invalid]:
        """Every published host port is distinct."""
        owner: dict[int, str] = {}
        for key, port in self.host_ports().items():
            if port in owner:
                yield Invalid(
                    key,
                    port,
                    f"host port {port} is already used by {owner[port]}; each published port "
                    f"must be distinct",
                )
            owner[port] = key

    def _check_identity_secrets(self) -> Iterator[Invalid]:
        """identity.mode external needs keycloakAdminPassword."""
        if self.identity.mode is Mode.EXTERNAL and self.secrets.keycloak_admin_password is None:
            yield Invalid(
                "keycloakAdminPassword",
                None,
                "required with identity.mode external: the password of identity.adminUser",
            )

    def _check_observability_secrets(self) -> Iterator[Invalid]:
        """observability.mode external needs grafanaAuth, and no other mode takes it; Loki's
        credentials (lokiUsername with lokiPassword, or lokiBearerToken) only with mode external,
        one kind at a time, the user and password together."""
        external = self.observability.mode is ObservabilityMode.EXTERNAL
        if external and self.secrets.grafana_auth is None:
            yield Invalid(
                "grafanaAuth",
                None,
                "required with observability.mode external: a service-account token of the existing Grafana",
            )
        if not external and self.secrets.grafana_auth is not None:
            yield Invalid(
                "grafanaAuth",
                "[secret]",
                f"only used with observability.mode external (mode is {self.observability.mode.value}): "
                "remove it with `pulumi config rm grafanaAuth`",
            )
        yield from self._check_loki_credentials(external)

    def _check_loki_credentials(self, external: bool) -> Iterator[Invalid]:
        user, password = self.observability.loki_username, self.secrets.loki_password
        token = self.secrets.loki_bearer_token
        given = {
            "observability.lokiUsername": user,
            "lokiPassword": None if password is None else "[secret]",
            "lokiBearerToken": None if token is None else "[secret]",
        }
        if not external:
            for key, value in given.items():
                if value is not None:
                    yield Invalid(
                        key, value, "Loki credentials are only used with observability.mode external"
                    )
            return
        if user is not None and password is None:
            yield Invalid("lokiPassword", None, "required with observability.lokiUsername (basic auth)")
        if password is not None and user is None:
            yield Invalid(
                "observability.lokiUsername", None, "required with the lokiPassword secret (basic auth)"
            )
        if token is not None and (user is not None or password is not None):
            yield Invalid(
                "lokiBearerToken", "[secret]", "choose basic auth or a bearer token for Loki, not both"
            )

    @property
    def manages_minio_objects(self) -> bool:
        """Whether the stack creates buckets, policies or identities inside MinIO (the minio provider).

        False only when there are no buckets, no service accounts, SSO groups on MinIO's built-in
        policies alone, and no monitoring (whose metrics identity is a MinIO user): such a stack
        registers no minio provider at all.
        """
        return bool(
            self.buckets
            or self.service_accounts
            or any(group.uses_template for group in self.identity.groups)
            or self.observability.enabled
        )

    def _check_tls(self) -> Iterator[Invalid]:
        """gateway.tls provided needs tlsCertificate and tlsPrivateKey; prod needs gateway.tls provided."""
        if self.gateway.tls is TlsMode.PROVIDED:
            for key in ("tls_certificate", "tls_private_key"):
                if getattr(self.secrets, key) is None:
                    yield Invalid(
                        to_camel(key),
                        None,
                        "required when gateway.tls is 'provided' (set it with `pulumi config set --secret`)",
                    )
        if self.environment is Environment.PROD and self.gateway.tls is not TlsMode.PROVIDED:
            yield Invalid(
                "gateway.tls",
                self.gateway.tls.value,
                "prod terminates TLS with a provided certificate: set gateway.tls to 'provided' and the "
                "tlsCertificate and tlsPrivateKey secrets",
            )

    def deployed_images(self) -> dict[str, str]:
        """Every image the stack runs, by the config key that sets it."""
        images = {"cluster.image": self.cluster.image, "gateway.image": self.gateway.image}
        if self.identity.mode is Mode.DEPLOY:
            images["identity.image"] = self.identity.image
        if self.observability.mode is ObservabilityMode.DEPLOY:
            images["observability.prometheusImage"] = self.observability.prometheus_image
            images["observability.lokiImage"] = self.observability.loki_image
            images["observability.grafanaImage"] = self.observability.grafana_image
        # The log agent runs on the Docker host whenever there is monitoring: it ships MinIO's logs.
        if self.observability.enabled:
            images["observability.alloyImage"] = self.observability.alloy_image
        return images

    def _check_prod_images(self) -> Iterator[Invalid]:
        """prod pins every image it deploys by digest."""
        if self.environment is not Environment.PROD:
            return
        for key, ref in self.deployed_images().items():
            if not image_is_digest_pinned(ref):
                yield Invalid(key, ref, "prod pins every image by digest: repository:tag@sha256:<64 hex>")


# --- reading the stack config --------------------------------------------------------------------

OBJECT_KEYS = ("cluster", "networks", "gateway", "identity", "buckets", "serviceAccounts", "observability")
SCALAR_KEYS = ("environment", "dockerHost")


def settings_from_config(
    values: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()
) -> PlatformSettings:
    """Validate raw stack values (keys without the project prefix, objects already parsed).

    ``secret_keys`` are the keys that came in as ``secure:`` values; a secret key set in plain text
    is refused, since its value would sit unencrypted in the stack file. Every problem is reported
    in one :class:`SettingsError`: unknown keys, plain-text secrets, each section's own errors, and
    the cross-section rules that do not depend on a section that is itself invalid.
    """
    return _validate(values, secret_keys)


def _validate(
    values: Mapping[str, Any],
    secret_keys: frozenset[str],
    problems: tuple[str, ...] = (),
    unreadable: frozenset[str] = frozenset(),
) -> PlatformSettings:
    """``problems`` were found while reading ``unreadable`` keys, which are absent from ``values``."""
    problems = list(problems)
    known = set(OBJECT_KEYS) | set(SCALAR_KEYS) | set(SECRET_KEYS)
    for key in sorted(set(values) - known):
        problems.append(f"{PROJECT}:{key}: unknown key (allowed: {', '.join(sorted(known))})")
    for key in SECRET_KEYS:
        if key in values and key not in secret_keys:
            problems.append(
                f"{PROJECT}:{key} is set in plain text: it must be a secret "
                f"(pulumi config set --secret {key} ...)"
            )

    document: dict[str, Any] = {k: v for k, v in values.items() if k in OBJECT_KEYS or k in SCALAR_KEYS}
    document["secrets"] = {k: values[k] for k in SECRET_KEYS if k in values}
    broken = set(unreadable)
    try:
        settings = PlatformSettings.model_validate(document, context={UNCHECKED: _fields(broken)})
    except ValidationError as err:
        problems += _describe(err)
        broken |= {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    else:
        if not problems:
            return settings
    if broken - unreadable:
        # Pydantic runs the cross-section rules only when every section is valid. Validate again
        # with the broken sections left at their defaults and their rules skipped, so the rules
        # that can still be judged are reported now rather than after the next fix.
        rest = {k: v for k, v in document.items() if k not in broken}
        try:
            PlatformSettings.model_validate(rest, context={UNCHECKED: _fields(broken)})
        except ValidationError as again:
            problems += [p for p in _describe(again) if p not in problems]
    raise SettingsError(problems)


def _fields(keys: set[str]) -> frozenset[str]:
    """Field names of top-level stack keys (``serviceAccounts`` -> ``service_accounts``)."""
    by_alias = {info.alias or name: name for name, info in PlatformSettings.model_fields.items()}
    return frozenset(by_alias.get(key, key) for key in keys)


def _describe(err: ValidationError) -> list[str]:
    """One line per problem: the full key, the bad value, what is allowed."""
    lines = []
    for problem in err.errors():
        path = [str(p) for p in problem["loc"]]
        cause = (problem.get("ctx") or {}).get("error")
        found = cause.found if isinstance(cause, Problems) else [cause] if isinstance(cause, Invalid) else []
        if not found:
            value = "[secret]" if path and path[0] == "secrets" else problem.get("input")
            allowed = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{PROJECT}:{_join_key(path)} = {_show(value)}: {allowed}")
        for invalid in found:
            value = "[secret]" if path and path[0] == "secrets" else invalid.value
            lines.append(f"{PROJECT}:{_join_key([*path, invalid.key])} = {_show(value)}: {invalid.allowed}")
    return lines


def _join_key(parts: list[str]) -> str:
    if parts and parts[0] == "secrets":
        parts = parts[1:]
    key = ""
    for part in parts:
        key += f"[{part}]" if part.isdigit() else ("." if key else "") + part
    return key


def _show(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    if isinstance(value, StrEnum):
        return repr(value.value)
    return repr(value)


def load_settings(config: pulumi.Config | None = None) -> PlatformSettings:
    """Read this stack's ``minio-platform:*`` config and validate it (call before any resource)."""
    config = config or pulumi.Config(PROJECT)
    from pulumi.runtime import config as runtime_config  # the engine's view of what is set and secret

    full_keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    keys = sorted(k.split(":", 1)[1] for k in full_keys if k.startswith(f"{PROJECT}:"))
    values: dict[str, Any] = {}
    problems: list[str] = []
    unreadable: set[str] = set()
    for key in keys:
        raw = config.get(key)
        if raw is None:
            continue
        if key in OBJECT_KEYS:
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError:
                problems.append(f"{PROJECT}:{key} = {raw!r}: a YAML object or list is expected")
                unreadable.add(key)
        else:
            values[key] = raw
    # The CLI hands secret key names over in PULUMI_CONFIG_SECRET_KEYS; tests and the synth set them
    # through set_all_config. Either marks a key as having come from a `secure:` value.
    secret_full_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys = frozenset(
        k
        for k in keys
        if runtime_config.is_config_secret(f"{PROJECT}:{k}") or f"{PROJECT}:{k}" in secret_full_keys
    )
    return _validate(values, secret_keys, tuple(problems), frozenset(unreadable))
