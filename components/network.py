"""The private Docker networks: storage (internal), monitoring, database and, with the log
pipeline, log (internal)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.conventions import docker_labels
from components.settings import NetworkSettings

STORAGE_NET = "storage-net"
MONITORING_NET = "monitoring-net"
DATABASE_NET = "database-net"
LOG_NET = "log-net"


@dataclass(frozen=True)
class PlatformNetworksArgs:
    settings: NetworkSettings
    storage_dynamic_range: str
    """Part of the storage subnet Docker may allocate from (the rest holds fixed node addresses)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Docker labels for every network (stack and project)."""
    with_logs: bool = False
    """The log pipeline runs: log-net joins the log gate and Alloy."""


class PlatformNetworks(pulumi.ComponentResource):
    """``storage-net`` (no egress: MinIO needs none), ``monitoring-net``, ``database-net`` and, with
    the log pipeline, ``log-net`` (internal: the log gate to Alloy).

    The names are the docker-compose design's (docs/migration.md) and double as the Docker network
    names, so one Docker host carries one stack.
    """

    storage: docker.Network
    monitoring: docker.Network
    database: docker.Network
    logs: docker.Network | None

    def __init__(
        self, name: str, args: PlatformNetworksArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("minio-platform:network:PlatformNetworks", name, None, opts)
        self._prefix = name
        settings = args.settings
        for key, subnet in settings.non_private().items():
            pulumi.log.warn(
                f"networks.{key} {subnet} lies outside RFC 1918 private space (10/8, 172.16/12, 192.168/16): "
                "traffic to real hosts in that range would be captured by this Docker network",
                resource=self,
            )
        self.storage = self._network(
            STORAGE_NET,
            str(settings.storage_subnet),
            args.labels,
            internal=True,
            ip_range=args.storage_dynamic_range,
        )
        self.monitoring = self._network(MONITORING_NET, str(settings.monitoring_subnet), args.labels)
        # Database containers and the backup job join it to reach S3 at the gateway without a host
        # port. Not internal: the backup tool also reaches PostgreSQL servers outside Docker.
        self.database = self._network(DATABASE_NET, str(settings.database_subnet), args.labels)
        # The log gate passes the nodes' posts on to Alloy here, the only way to Alloy's listeners.
        self.logs = (
            self._network(LOG_NET, str(settings.log_subnet), args.labels, internal=True)
            if args.with_logs
            else None
        )
        self.register_outputs(
            {"storage": self.storage.name, "monitoring": self.monitoring.name, "database": self.database.name}
        )

    def _network(
        self,
        network_name: str,
        subnet: str,
        labels: Mapping[str, str],
        *,
        internal: bool = False,
        ip_range: str | None = None,
    ) -> docker.Network:
        return docker.Network(
            f"{self._prefix}-{network_name}",
            name=network_name,
            driver="bridge",
            internal=internal,
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=subnet, ip_range=ip_range)],
            labels=docker_labels(docker.NetworkLabelArgs, labels),
            opts=pulumi.ResourceOptions(parent=self),
        )


HOSTS_NET = "storage-hosts-net"
"""The macvlan network on every host. Its name sorts after every bridge network with a gateway
(database-net, monitoring-net): Docker 20.10 takes a container's default gateway, and so the target
of its published ports, from the first of its networks by name that has one, and a host cannot
reach its own macvlan containers. Named "hosts-net", a container on both lost its published ports
(tests/test_hosts.py pins the order)."""


@dataclass(frozen=True)
class HostsNetworksArgs:
    subnet: str
    """The hosts' own network (networks.hostSubnet)."""
    address_range: str
    """The stack's block of it (networks.hostRange): every address the stack gives out is fixed."""
    interface: str
    """Each host's interface on it: the macvlan parent."""
    providers: Mapping[str, docker.Provider]
    """Every host's Docker provider, by host name."""
    labels: Mapping[str, str] = field(default_factory=dict)


class HostsNetworks(pulumi.ComponentResource):
    """``storage-hosts-net`` on every host: a macvlan network on the hosts' own network.

    Only nodes join it. Each has its own address on the hosts' network, so nodes on different hosts
    reach each other directly, every node on the same port: MinIO names a pool's nodes with one
    port (``https://minio{1...4}:9000/data``), so two nodes of a pool on one host could not share
    that host's address (docs/several-hosts.md). A host cannot reach its own macvlan containers, so
    the first host's nodes also stay on storage-net and monitoring-net, where the services reach
    them. The services never join it: a container on the hosts' subnet answers a client from that
    subnet straight through its macvlan interface, bypassing the NAT of a published port (found on
    simulated hosts: the gateway's published port timed out for every client on the hosts' network).
    """

    networks: dict[str, docker.Network]
    """By host name."""

    def __init__(
        self, name: str, args: HostsNetworksArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("minio-platform:network:HostsNetworks", name, None, opts)
        self.networks = {
            host: docker.Network(
                f"{name}-{host}",
                name=HOSTS_NET,
                driver="macvlan",
                options={"parent": args.interface},
                ipam_configs=[docker.NetworkIpamConfigArgs(subnet=args.subnet, ip_range=args.address_range)],
                labels=docker_labels(docker.NetworkLabelArgs, args.labels),
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            for host, provider in args.providers.items()
        }
        self.register_outputs({})
