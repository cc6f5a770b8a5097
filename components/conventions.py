"""Conventions every Docker object of a stack follows: ownership and role labels, bounded logs,
health waits, retained data volumes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pulumi
import pulumi_docker as docker

LabelArgs = TypeVar("LabelArgs")

ROLE_LABEL = "com.minio-platform.role"
"""What a container is to the platform (minio, gateway, keycloak, prometheus, loki...)."""


def stack_labels(project: str, stack: str) -> dict[str, str]:
    """Labels on every network, volume and container: which project and stack own it."""
    return {"com.minio-platform.project": project, "com.minio-platform.stack": stack}


def docker_labels(label_type: Callable[..., LabelArgs], labels: Mapping[str, str]) -> list[LabelArgs]:
    """``labels`` as the provider's label arguments (Network/Volume/ContainerLabelArgs), sorted."""
    return [label_type(label=key, value=value) for key, value in sorted(labels.items())]


BOUNDED_JSON_LOGS: dict[str, Any] = {
    "log_driver": "json-file",
    # 250 MB of logs per container at most. MinIO's own logs reach Loki through its webhooks
    # (components/logs.py); these files are `docker logs` history.
    "log_opts": {"max-size": "50m", "max-file": "5"},
}
"""Container arguments: Docker's json-file driver, rotated."""

NO_NEW_PRIVILEGES = "no-new-privileges:true"
"""A security option every container carries: no process in it gains privileges through a setuid
or file-capability binary (CIS Docker 5.25). None of the services execs one."""


_DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def docker_duration(text: str) -> str:
    """``text`` ("60s", "2m"...) the way Docker reports a duration back: Go's ``time.Duration``.

    The provider reads a healthcheck back from the engine and compares strings, so "60s" written
    and "1m0s" read is a diff on every preview (seen with the real engine).
    """
    match = _DURATION_RE.match(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a duration of whole seconds, minutes or hours")
    total = sum(int(match.group(unit) or 0) * factor for unit, factor in (("h", 3600), ("m", 60), ("s", 1)))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def healthy_service(
    test: list[str],
    *,
    interval: str,
    timeout: str,
    retries: int,
    start_period: str,
    wait_timeout: int,
) -> dict[str, Any]:
    """Container arguments every long-running service shares.

    It restarts unless stopped; ``depends_on`` only orders creation, so it has a healthcheck and
    `pulumi up` waits (``wait``) until the check passes before anything that depends on it starts.
    The provider ignores healthcheck edits unless the container is replaced, so pair this with
    ``replace_on_changes=["healthcheck"]``.

    No ``start_interval``: Docker refuses it below API 1.44 (Engine 25), and Debian bookworm's
    engine speaks 1.41 ("specify health-check start interval requires API version 1.44", seen with
    the real engine). The first check runs one ``interval`` after the start, so keep it short.

    And :data:`NO_NEW_PRIVILEGES` (docs/security.md).
    """
    return {
        "restart": "unless-stopped",
        "healthcheck": docker.ContainerHealthcheckArgs(
            tests=test,
            interval=docker_duration(interval),
            timeout=docker_duration(timeout),
            retries=retries,
            start_period=docker_duration(start_period),
        ),
        "wait": True,
        "wait_timeout": wait_timeout,
        "security_opts": [NO_NEW_PRIVILEGES],
        **BOUNDED_JSON_LOGS,
    }


def wget_http_probe(port: int, path: str) -> list[str]:
    """A healthcheck for images with wget (busybox or GNU): ``GET 127.0.0.1:<port><path>`` is 2xx."""
    return ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"]


def bash_http_probe(port: int, path: str, expect: str) -> list[str]:
    """A healthcheck for images with bash but neither curl nor wget (Keycloak's, Alloy's).

    Sends ``GET <path>`` to ``127.0.0.1:<port>`` through bash's /dev/tcp and passes when the
    answer contains ``expect``.
    """
    request = f"GET {path} HTTP/1.0\\r\\n\\r\\n"
    return [
        "CMD",
        "bash",
        "-c",
        f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf '{request}' >&3 && grep -q '{expect}' <&3",
    ]


SECRETS_DIR = "/run/secrets"
"""Where a container finds its secrets, one file each (Docker's own convention for secrets)."""
SECRET_FILE_MODE = "0440"  # noqa: S105 (file permissions)
"""A secret file's permissions. The provider uploads files as root:root (the Docker plugin built
here has no upload ``owner``), so the service reads its secrets through its group: every non-root
service runs in group 0 (root's group, which carries no privilege of its own: the convention of
OpenShift and of Keycloak's, Grafana's and Bitnami's images). Other users cannot read them, and
nothing in the container can change them."""


def secret_file(name: str, content: pulumi.Input[str]) -> docker.ContainerUploadArgs:
    """``content`` uploaded to ``SECRETS_DIR/name``, secret in the state, :data:`SECRET_FILE_MODE`.

    Secrets go to files, never to a container's environment: ``docker inspect`` and
    ``/proc/<pid>/environ`` show an environment to anyone who can read them on the host.
    """
    if "/" in name:
        raise ValueError(f"a secret file's name is one path segment under {SECRETS_DIR}, got {name!r}")
    return docker.ContainerUploadArgs(
        file=f"{SECRETS_DIR}/{name}",
        content=pulumi.Output.secret(content),
        permissions=SECRET_FILE_MODE,
    )


def data_volume(parent: pulumi.Resource, prefix: str, role: str, labels: Mapping[str, str]) -> docker.Volume:
    """``<role>-data``, kept when the stack is destroyed: a service's state outlives its container."""
    return docker.Volume(
        f"{prefix}-{role}-data",
        name=f"{role}-data",
        labels=docker_labels(docker.VolumeLabelArgs, labels),
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
    )


def service_container(
    parent: pulumi.Resource,
    prefix: str,
    role: str,
    image_ref: str,
    network: docker.Network,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    more_networks: Sequence[docker.ContainerNetworksAdvancedArgs] = (),
    **container: Any,
) -> docker.Container:
    """A service named after its ``role``: its pinned image, that host name on ``network`` (and
    ``more_networks``, as given), a role label."""
    image = docker.RemoteImage(
        f"{prefix}-{role}-image",
        name=image_ref,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return docker.Container(
        f"{prefix}-{role}",
        name=role,
        hostname=role,
        image=image.image_id,
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[role]),
            *more_networks,
        ],
        labels=docker_labels(docker.ContainerLabelArgs, {**labels, ROLE_LABEL: role}),
        opts=opts,
        **container,
    )
