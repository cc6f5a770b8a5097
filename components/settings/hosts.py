"""The Docker hosts of a stack that spans several machines (README "Several Docker hosts")."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from components.settings.base import Section

DOCKER_HOST_PATTERN = r"^(unix|tcp|ssh|npipe)://\S+$"


class HostSettings(Section):
    """One Docker host: its daemon, its address on the hosts' network, and optionally its nodes."""

    name: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z][a-z0-9-]*$",
        description="Stable name of the host (a failure domain); keep it when the machine is replaced",
    )
    docker_host: str = Field(
        pattern=DOCKER_HOST_PATTERN,
        description="The host's Docker daemon (ssh://user@host, tcp://...); may be a secret",
    )
    address: ipaddress.IPv4Address = Field(
        description="The host's own address on the hosts' network (networks.hostSubnet)",
    )
    nodes: tuple[int, ...] | None = Field(
        None,
        description="Node numbers (N of minioN) this host runs; unset on every host: node N on host "
        "(N - 1) mod hosts, in list order",
    )
    down: bool = Field(
        False,
        description="The host's daemon is unreachable: the stack registers nothing on it, so `pulumi up` "
        'can change the rest (docs/several-hosts.md, "Operating with a host down")',
    )
