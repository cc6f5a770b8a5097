"""The whole platform for one stack, wired in dependency order (DESIGN.md "The dependency graph")."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.settings import PlatformSettings


@dataclass(frozen=True)
class PlatformArgs:
    settings: PlatformSettings
    """The validated stack settings (components.settings.load_settings)."""


class Platform(pulumi.ComponentResource):
    """Networks, the MinIO cluster, the gateway, identity, buckets and IAM, and monitoring."""

    generated_files: dict[str, pulumi.Input[str]]
    """Configuration files the platform renders, by file name (the offline synth writes them out)."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:index:Platform", name, None, opts)
        settings = args.settings
        self.generated_files = {}

        # One explicit Docker provider for every container, network and volume, so the target daemon
        # is stack config rather than whatever DOCKER_HOST the operator's shell happens to carry.
        self.docker = docker.Provider(
            f"{name}-docker", host=settings.docker_host, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})
