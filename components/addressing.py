"""Fixed addresses on the storage network, planned as a pure function.

Why fixed addresses: the gateway's upstreams name the nodes by IP, so NGINX starts even while a
node is down or its container does not exist yet (a hostname in an ``upstream`` block must resolve
when NGINX starts, or NGINX refuses to start). Docker's IPAM could still hand one of those
addresses to another container, so dynamic allocation is confined to the upper half of the subnet
(the network's ``ip_range``) and every fixed address lives in the lower half.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

GATEWAY_OFFSET = 2
"""The NGINX gateway's address (offset 1 is the Docker bridge itself)."""
SIGNIN_OFFSET = 3
"""The console's sign-in bridge: the gateway's upstream, by address like the nodes."""
FIRST_NODE_OFFSET = 11
"""minio1's address; minioN is at FIRST_NODE_OFFSET + N - 1."""


class AddressPlanError(ValueError):
    """The subnet cannot hold the fixed addresses."""


@dataclass(frozen=True)
class StorageAddresses:
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    signin: ipaddress.IPv4Address
    nodes: tuple[ipaddress.IPv4Address, ...]
    """Node N's address is ``nodes[N - 1]``."""
    dynamic_range: ipaddress.IPv4Network
    """Where Docker may allocate addresses for containers without a fixed one."""


def plan_storage_addresses(subnet: ipaddress.IPv4Network, last_node: int) -> StorageAddresses:
    """Addresses of node 1 to ``last_node`` (node N at offset FIRST_NODE_OFFSET + N - 1): a node keeps
    its address when pools are appended or an earlier pool is retired."""
    if subnet.prefixlen > 30:
        raise AddressPlanError(f"{subnet} is too small: at most /30")
    static, dynamic = subnet.subnets(prefixlen_diff=1)
    last_node_offset = FIRST_NODE_OFFSET + last_node - 1
    if last_node_offset >= static.num_addresses:
        needed = 32 - (2 * (last_node_offset + 1) - 1).bit_length()
        raise AddressPlanError(
            f"{subnet} cannot hold the fixed addresses of nodes 1 to {last_node} in its lower half "
            f"(offsets {FIRST_NODE_OFFSET}-{last_node_offset}); use a /{needed} or larger"
        )
    return StorageAddresses(
        subnet=subnet,
        gateway=subnet.network_address + GATEWAY_OFFSET,
        signin=subnet.network_address + SIGNIN_OFFSET,
        nodes=_node_addresses(subnet, last_node),
        dynamic_range=dynamic,
    )


def _node_addresses(network: ipaddress.IPv4Network, last_node: int) -> tuple[ipaddress.IPv4Address, ...]:
    """Node N at offset FIRST_NODE_OFFSET + N - 1 of ``network``, for N from 1 to ``last_node``."""
    return tuple(network.network_address + FIRST_NODE_OFFSET + i for i in range(last_node))


@dataclass(frozen=True)
class HostNetworkAddresses:
    """The nodes' addresses on the hosts' own network (a multi-host stack's ``storage-hosts-net``)."""

    nodes: tuple[ipaddress.IPv4Address, ...]
    """Node N's address is ``nodes[N - 1]``."""


def plan_host_addresses(address_range: ipaddress.IPv4Network, last_node: int) -> HostNetworkAddresses:
    """Node N at offset FIRST_NODE_OFFSET + N - 1 of the range the stack owns on the hosts' network:
    the offsets of storage-net, so a node's address is stable when pools are appended or retired."""
    last_node_offset = FIRST_NODE_OFFSET + last_node - 1
    if last_node_offset >= address_range.num_addresses - 1:
        needed = 32 - (last_node_offset + 1).bit_length()
        raise AddressPlanError(
            f"{address_range} cannot hold the addresses of nodes 1 to {last_node} "
            f"(offsets up to {last_node_offset}); use a /{needed} or larger"
        )
    return HostNetworkAddresses(nodes=_node_addresses(address_range, last_node))
