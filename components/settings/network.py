"""The private Docker networks' subnets, and the hosts' network of a multi-host stack."""

from __future__ import annotations

import ipaddress
from itertools import combinations
from typing import Self

from pydantic import (
    Field,
    model_validator,
)

from components.settings.base import (
    Invalid,
    Section,
    raise_all,
)

RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def is_rfc1918(network: ipaddress.IPv4Network) -> bool:
    """Inside private space as RFC 1918 (and Keycloak) count it; Python's ``is_private`` is wider."""
    return any(network.subnet_of(private) for private in RFC1918)


DEFAULT_LOG_SUBNET = ipaddress.IPv4Network("172.24.0.0/28")


def alloy_address(log_subnet: ipaddress.IPv4Network) -> str:
    """Alloy's fixed address on log-net (offset 2; Docker's bridge takes offset 1)."""
    return str(log_subnet.network_address + 2)


class NetworkSettings(Section):
    """Subnets of the private Docker networks: private (RFC 1918, else a warning) and disjoint."""

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
    log_subnet: ipaddress.IPv4Network = Field(
        DEFAULT_LOG_SUBNET,
        description="log-net (internal, with the log pipeline): only the log gate reaches Alloy's webhook "
        "listeners, at offset 2",
    )
    host_subnet: ipaddress.IPv4Network | None = Field(
        None,
        description="With hosts: the network the Docker hosts share (their LAN); storage-hosts-net, a "
        "macvlan network on every host, gives each node its own address in it",
    )
    host_range: ipaddress.IPv4Network | None = Field(
        None,
        description="With hosts: the block of hostSubnet the stack owns (no host, router or DHCP lease in "
        "it); node N at offset 10 + N",
    )
    host_interface: str = Field(
        "eth0",
        pattern=r"^[A-Za-z0-9_.\-]{1,15}$",
        description="With hosts: each host's interface on hostSubnet (the macvlan parent), the same on "
        "every host",
    )

    @property
    def alloy_address(self) -> str:
        """Alloy's fixed address on log-net, where it listens for the log gate alone."""
        return alloy_address(self.log_subnet)

    @model_validator(mode="after")
    def _no_overlap(self) -> Self:
        """The subnets are disjoint; logSubnet is a /29 or larger."""
        named = {
            "storageSubnet": self.storage_subnet,
            "monitoringSubnet": self.monitoring_subnet,
            "databaseSubnet": self.database_subnet,
            "logSubnet": self.log_subnet,
        }
        if self.host_subnet is not None:
            named["hostSubnet"] = self.host_subnet
        found = [
            Invalid(key_b, str(net_b), f"must not overlap {key_a} ({net_a}); pick disjoint subnets")
            for (key_a, net_a), (key_b, net_b) in combinations(named.items(), 2)
            if net_a.overlaps(net_b)
        ]
        if self.log_subnet.prefixlen > 29:
            found.append(
                Invalid(
                    "logSubnet",
                    str(self.log_subnet),
                    "a /29 or larger: Docker's bridge, Alloy and the log gate",
                )
            )
        if self.host_range is not None and (
            self.host_subnet is None or not self.host_range.subnet_of(self.host_subnet)
        ):
            found.append(
                Invalid("hostRange", str(self.host_range), f"a block inside hostSubnet ({self.host_subnet})")
            )
        raise_all(found)
        return self

    def non_private(self) -> dict[str, ipaddress.IPv4Network]:
        """Subnets outside RFC 1918 space (172.40.0.0/24 is one: private is 172.16-31 only)."""
        return {
            key: net
            for key, net in (
                ("storageSubnet", self.storage_subnet),
                ("monitoringSubnet", self.monitoring_subnet),
                ("databaseSubnet", self.database_subnet),
                ("logSubnet", self.log_subnet),
            )
            if not is_rfc1918(net)
        }
