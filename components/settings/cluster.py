"""The MinIO cluster's settings: its pools of nodes and drives, parity, image and limits."""

from __future__ import annotations

from typing import Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from components.erasure import ErasureLayoutError, ErasurePlan, plan_erasure
from components.settings.base import (
    DEFAULT_MINIO_IMAGE,
    ImageRef,
    Invalid,
    Section,
)


class ClusterSettings(Section):
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
