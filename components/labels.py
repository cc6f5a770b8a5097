"""Docker labels that mark every object a stack owns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

LabelArgs = TypeVar("LabelArgs")


def stack_labels(project: str, stack: str) -> dict[str, str]:
    """Labels on every network, volume and container: which project and stack own it."""
    return {"com.minio-platform.project": project, "com.minio-platform.stack": stack}


def docker_labels(label_type: Callable[..., LabelArgs], labels: Mapping[str, str]) -> list[LabelArgs]:
    """``labels`` as the provider's label arguments (Network/Volume/ContainerLabelArgs), sorted."""
    return [label_type(label=key, value=value) for key, value in sorted(labels.items())]
