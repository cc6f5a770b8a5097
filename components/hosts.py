"""Where the nodes run when a stack spans several Docker hosts, and what losing one host does.

Pure functions, no Pulumi: the settings refuse a placement with them before any resource exists.

A host is a failure domain: when it dies, every drive of every node on it is gone at once. What
that does depends on which erasure set each drive belongs to, computed here the way the MinIO
server builds its sets (minio/minio ``cmd/endpoint-ellipses.go``, ``endpointSet.Get``, and
minio/pkg ``ellipses.ArgPattern.Expand``): a pool argument ``http://minio{1...N}/data{1...D}``
expands with the node varying fastest (drive 1 of node 1, 2 ... N, then drive 2 of node 1 ...), and
the sets are consecutive runs of ``set_size`` drives of that list. A set keeps its objects readable
while no more than ``parity`` of its drives are lost, and takes writes while at least its write
quorum remains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from components.pools import PoolLayout, node_name

LOCAL_HOST = "local"
"""The one host of a single-host stack (its dockerHost), in placements."""


class PlacementError(ValueError):
    """A placement names a node twice, misses one, or names one that does not exist."""


class PlacedHost(Protocol):
    """What the placement reads of a host (``HostSettings`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def nodes(self) -> tuple[int, ...] | None: ...


def node_placement(pools: Sequence[PoolLayout], hosts: Sequence[PlacedHost] | None) -> dict[int, str]:
    """Node number to host name: every node on ``local`` with one host, an even spread when no
    host names its nodes, else the placement the stack spells out. Raises PlacementError."""
    numbers = [n for pool in pools for n in pool.node_numbers]
    if hosts is None:
        return dict.fromkeys(numbers, LOCAL_HOST)
    if all(host.nodes is None for host in hosts):
        return spread_nodes(numbers, [host.name for host in hosts])
    return explicit_placement(numbers, {host.name: host.nodes or () for host in hosts})


def spread_nodes(node_numbers: Sequence[int], hosts: Sequence[str]) -> dict[int, str]:
    """The default placement: node N on host ``(N - 1) mod len(hosts)``, in the hosts' order.

    By node number, not by position: appending a pool or retiring one leaves every other node on
    its host. Consecutive nodes land on different hosts, and MinIO's sets are runs of consecutive
    nodes, so every set is spread as evenly as the host count allows.
    """
    return {number: hosts[(number - 1) % len(hosts)] for number in node_numbers}


def explicit_placement(node_numbers: Sequence[int], chosen: Mapping[str, Sequence[int]]) -> dict[int, str]:
    """The placement a stack spells out (host name to node numbers); every node exactly once."""
    placement: dict[int, str] = {}
    problems = []
    for host, numbers in chosen.items():
        for number in numbers:
            if number not in node_numbers:
                problems.append(f"{host} names node {number}, which is not in any pool")
            elif number in placement:
                problems.append(f"node {number} is placed on both {placement[number]} and {host}")
            else:
                placement[number] = host
    missing = [n for n in node_numbers if n not in placement]
    if missing:
        problems.append(f"nodes {missing} are placed on no host")
    if problems:
        raise PlacementError("; ".join(problems))
    return placement


@dataclass(frozen=True)
class SetMember:
    node: int
    drive: int
    """1-based: the node's /data<drive>."""


def erasure_sets(pool: PoolLayout) -> list[list[SetMember]]:
    """The pool's erasure sets, each the list of its drives, in MinIO's order."""
    nodes, size = pool.nodes, pool.erasure.set_size
    order = [
        SetMember(pool.first_node + i % nodes, i // nodes + 1) for i in range(nodes * pool.drives_per_node)
    ]
    return [order[start : start + size] for start in range(0, len(order), size)]


@dataclass(frozen=True)
class HostLoss:
    """The worst a host's loss does to one pool: its most affected erasure set."""

    host: str
    pool: int
    erasure_set: int
    """1-based, within the pool."""
    drives_lost: int
    set_size: int
    read_quorum: int
    write_quorum: int
    nodes: tuple[int, ...]
    """The set's nodes on the host."""

    @property
    def readable(self) -> bool:
        return self.set_size - self.drives_lost >= self.read_quorum

    @property
    def writable(self) -> bool:
        return self.set_size - self.drives_lost >= self.write_quorum

    def describe(self) -> str:
        names = ", ".join(node_name(n) for n in self.nodes)
        where = f"erasure set {self.erasure_set} of pool {self.pool}"
        if not self.readable:
            return (
                f"losing {self.host} takes {self.drives_lost} of the {self.set_size} drives of {where} "
                f"({names}); reads need {self.read_quorum} (read quorum), so its objects would be "
                "unreadable until the host returns"
            )
        return (
            f"losing {self.host} takes {self.drives_lost} of the {self.set_size} drives of {where} "
            f"({names}); writes need {self.write_quorum} (write quorum), so the pool would stop taking "
            "writes until the host returns"
        )


def host_losses(pools: Sequence[PoolLayout], placement: Mapping[int, str]) -> list[HostLoss]:
    """For every host and pool it carries nodes of, the erasure set its loss hurts most."""
    losses = []
    hosts = list(dict.fromkeys(placement.values()))
    for pool in pools:
        plan = pool.erasure
        for host in hosts:
            worst: HostLoss | None = None
            for index, members in enumerate(erasure_sets(pool), start=1):
                on_host = [m for m in members if placement[m.node] == host]
                if not on_host:
                    continue
                loss = HostLoss(
                    host=host,
                    pool=pool.number,
                    erasure_set=index,
                    drives_lost=len(on_host),
                    set_size=plan.set_size,
                    read_quorum=plan.read_quorum,
                    write_quorum=plan.write_quorum,
                    nodes=tuple(dict.fromkeys(m.node for m in on_host)),
                )
                if worst is None or loss.drives_lost > worst.drives_lost:
                    worst = loss
            if worst is not None:
                losses.append(worst)
    return losses
