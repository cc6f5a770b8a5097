"""Conventions every Docker object of a stack follows: ownership labels and bounded logs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

LabelArgs = TypeVar("LabelArgs")


def stack_labels(project: str, stack: str) -> dict[str, str]:
    """Labels on every network, volume and container: which project and stack own it."""
    return {"com.minio-platform.project": project, "com.minio-platform.stack": stack}


def docker_labels(label_type: Callable[..., LabelArgs], labels: Mapping[str, str]) -> list[LabelArgs]:
    """``labels`` as the provider's label arguments (Network/Volume/ContainerLabelArgs), sorted."""
    return [label_type(label=key, value=value) for key, value in sorted(labels.items())]


BOUNDED_JSON_LOGS: dict[str, Any] = {
    "log_driver": "json-file",
    # 250 MB of logs per container at most; the log agent ships them long before rotation.
    "log_opts": {"max-size": "50m", "max-file": "5"},
}
"""Container arguments: Docker's json-file driver (what the log agent reads), rotated."""
