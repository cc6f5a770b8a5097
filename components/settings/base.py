"""What every settings section shares: the error types, enums, value types and defaults."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Any, TypeVar

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

PROJECT = "minio-platform"
UNCHECKED = "unchecked"
"""Validation context key: sections (field names) whose own validation failed, for the cross-checks."""
METRICS_USER = "prometheus-metrics"
"""The identity Prometheus scrapes as (policy: the metrics template, admin:Prometheus only)."""
ADMIN_USER = "platform-admin"
"""The identity the program does its bucket and IAM work as (the platform-admin template); root
creates it and nothing else."""
AUDITOR_USER = "platform-auditor"
"""The read-only identity of ``day2 verify`` and ``day2 compliance`` (the auditor template)."""

# Default images. Community MinIO is source-only since 2025-10-15; RELEASE.2025-09-07T16-13-09Z is
# the last image MinIO published (README "Choosing the MinIO image" explains the alternatives).
DEFAULT_MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
DEFAULT_NGINX_IMAGE = "nginx:1.28.0-alpine"
DEFAULT_KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak:26.7.3"
DEFAULT_SIGNIN_IMAGE = "minio-platform/signin:1"
"""The console's sign-in bridge (signin/): published nowhere, built here by `make signin-image`."""
DEFAULT_PROMETHEUS_IMAGE = "prom/prometheus:v3.7.3"
DEFAULT_ALERTMANAGER_IMAGE = "prom/alertmanager:v0.28.1"
DEFAULT_LOKI_IMAGE = "grafana/loki:3.5.7"
DEFAULT_GRAFANA_IMAGE = "grafana/grafana:12.2.1"
DEFAULT_ALLOY_IMAGE = "grafana/alloy:v1.11.3"
DEFAULT_LOG_QUEUE_SIZE = 100_000
DEFAULT_METRICS_TOKEN_DAYS = 90
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


def raise_all(found: list[Invalid]) -> None:
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
    METRICS = "metrics"
    """Prometheus and Alertmanager run as containers; no Grafana, Loki or Alloy, no log webhooks."""
    NONE = "none"
    """No monitoring: no containers, no log webhooks on the nodes, no metrics identity."""


class TlsMode(StrEnum):
    NONE = "none"
    SELF_SIGNED = "self-signed"
    PROVIDED = "provided"


class Section(BaseModel):
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
URL_RE = re.compile(r"https?://[^\s/]+(/[^\s]*)?")
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9\-]{1,62}$")]


def _check_cpus(value: float | None) -> float | None:
    """A CPU limit the Docker provider keeps as given: it reads Docker's value back with one decimal
    when nine would show exactly nine zeros (0.05 comes back as 0.1), which would replace the
    container at every preview."""
    from components.conventions import docker_cpus  # the provider's reading lives with the containers

    if value is not None and Fraction(docker_cpus(value)) != Fraction(round(Fraction(value) * 10**9), 10**9):
        raise ValueError(
            f"the Docker provider reads a CPU limit of {value:g} back as {docker_cpus(value)}: "
            "give one it keeps (a whole number, or a fraction such as 0.5, 0.25, 1.5)"
        )
    return value


Cpus = Annotated[float, AfterValidator(_check_cpus)]
"""A CPU limit (Docker ``--cpus``) the provider reads back unchanged."""


T = TypeVar("T")


def assignment_lines(text: str) -> Iterator[tuple[int, str, str | None]]:
    """``(line number, name, value)`` of each ``name=value`` line of a secret, blank lines and ``#``
    comments skipped; the value is None on a line without ``=`` (the caller says what it wanted)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        yield number, name.strip(), value if equals else None


def repeated(values: Iterable[T]) -> Iterator[tuple[int, T]]:
    """``(index, value)`` of every value that an earlier one already had: each uniqueness rule's
    offenders, named at their own index."""
    seen: list[T] = []
    for i, value in enumerate(values):
        if value in seen:
            yield i, value
        else:
            seen.append(value)
