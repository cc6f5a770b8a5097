"""Conventions every Docker object of a stack follows: ownership labels and bounded logs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi_docker as docker

LabelArgs = TypeVar("LabelArgs")


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


def healthy_service(
    test: list[str],
    *,
    interval: str,
    timeout: str,
    retries: int,
    start_period: str,
    start_interval: str,
    wait_timeout: int,
) -> dict[str, Any]:
    """Container arguments every long-running service shares.

    It restarts unless stopped; ``depends_on`` only orders creation, so it has a healthcheck and
    `pulumi up` waits (``wait``) until the check passes before anything that depends on it starts.
    The provider ignores healthcheck edits unless the container is replaced, so pair this with
    ``replace_on_changes=["healthcheck"]``.
    """
    return {
        "restart": "unless-stopped",
        "healthcheck": docker.ContainerHealthcheckArgs(
            tests=test,
            interval=interval,
            timeout=timeout,
            retries=retries,
            start_period=start_period,
            start_interval=start_interval,
        ),
        "wait": True,
        "wait_timeout": wait_timeout,
        **BOUNDED_JSON_LOGS,
    }


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
