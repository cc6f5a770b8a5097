"""Erasure-coding layout of a MinIO pool, computed the way the MinIO server computes it.

Pure functions, no Pulumi: the settings validate a stack's cluster shape with them before any
resource exists, the docs and alert rules quote their quorum numbers, and tests pin them to the
server's own behaviour.

Sources (minio/minio at RELEASE.2025-10-15T17-29-55Z):
- set size: ``cmd/endpoint-ellipses.go`` (``getSetIndexes``, ``possibleSetCountsWithSymmetry``,
  ``commonSetDriveCount``);
- default parity: ``internal/config/storageclass/storage-class.go`` (``DefaultParityBlocks``);
- quorum: ``cmd/erasure.go`` (write quorum is data + 1 when data == parity, the split-brain guard).
"""

from __future__ import annotations

from dataclasses import dataclass

# Erasure sets hold between 2 and 16 drives (``setSizes`` in endpoint-ellipses.go).
SET_SIZES = tuple(range(2, 17))


class ErasureLayoutError(ValueError):
    """The node and drive counts cannot form a MinIO erasure-coded pool."""


@dataclass(frozen=True)
class ErasurePlan:
    """How MinIO lays out one pool of ``nodes`` x ``drives_per_node`` drives."""

    nodes: int
    drives_per_node: int
    set_size: int
    """Drives in each erasure set."""
    set_count: int
    parity: int
    """Parity drives per set (EC:N)."""

    @property
    def data_drives(self) -> int:
        return self.set_size - self.parity

    @property
    def read_quorum(self) -> int:
        """Drives of a set that must answer for a read."""
        return self.data_drives

    @property
    def write_quorum(self) -> int:
        """Drives of a set that must answer for a write (one more when data equals parity)."""
        return self.data_drives + 1 if self.data_drives == self.parity else self.data_drives

    @property
    def drives_per_node_in_set(self) -> int:
        """Drives one node contributes to each set, given MinIO's symmetric distribution."""
        return max(1, self.set_size // self.nodes)

    @property
    def node_losses_readable(self) -> int:
        """Whole nodes that may be lost while every object stays readable."""
        return (self.set_size - self.read_quorum) // self.drives_per_node_in_set

    @property
    def node_losses_writable(self) -> int:
        """Whole nodes that may be lost while writes still succeed."""
        return (self.set_size - self.write_quorum) // self.drives_per_node_in_set

    @property
    def drive_losses_readable(self) -> int:
        """Drives of each set that may be lost while every object stays readable (the parity)."""
        return self.set_size - self.read_quorum

    @property
    def drive_losses_writable(self) -> int:
        """Drives of each set that may be lost while writes still succeed."""
        return self.set_size - self.write_quorum


def default_parity(set_size: int) -> int:
    """MinIO's default parity (EC:N) for a set of ``set_size`` drives."""
    if set_size == 1:
        return 0
    if set_size <= 3:
        return 1
    if set_size <= 5:
        return 2
    if set_size <= 7:
        return 3
    return 4


def erasure_set_size(nodes: int, drives_per_node: int) -> int:
    """The set size MinIO picks for ``http://host{1...nodes}/data{1...drives_per_node}``.

    Candidates are the supported sizes that divide the drive count and spread symmetrically over
    the host sequence (the last ellipsis pattern MinIO parses is the host one, so symmetry is
    checked against the node count); MinIO then takes the largest.
    """
    if nodes < 1 or drives_per_node < 1:
        raise ErasureLayoutError("nodes and drives per node must be at least 1")
    total = nodes * drives_per_node
    if total < SET_SIZES[0]:
        raise ErasureLayoutError(f"{total} drive(s) cannot form an erasure set (at least 2 are needed)")
    divisors = [size for size in SET_SIZES if total % size == 0]
    if not divisors:
        raise ErasureLayoutError(
            f"{total} drives ({nodes} nodes x {drives_per_node}) are not divisible by any erasure set "
            f"size from 2 to 16"
        )
    symmetric = [size for size in divisors if nodes % size == 0 or size % nodes == 0]
    if not symmetric:
        raise ErasureLayoutError(
            f"{total} drives ({nodes} nodes x {drives_per_node}) cannot be spread symmetrically over "
            f"{nodes} nodes by any erasure set size from 2 to 16 (sizes dividing the drive count: "
            f"{divisors})"
        )
    return max(symmetric)


def plan_erasure(nodes: int, drives_per_node: int, parity: int | None = None) -> ErasurePlan:
    """Lay out one pool; ``parity`` None means MinIO's default for the set size.

    One node with one drive is MinIO's single-drive mode (``minio server /data``): one "set" of one
    drive, no parity; it takes no parity setting. One node with several drives is erasure-coded
    across them like any pool (``minio server /data{1...N}``).
    """
    if nodes == 1 and drives_per_node == 1:
        if parity not in (None, 0):
            raise ErasureLayoutError(
                f"parity EC:{parity} is not possible with one drive: MinIO stores it without erasure "
                "coding (leave parity unset, or give the node more drives)"
            )
        return ErasurePlan(nodes=1, drives_per_node=1, set_size=1, set_count=1, parity=0)
    set_size = erasure_set_size(nodes, drives_per_node)
    chosen = default_parity(set_size) if parity is None else parity
    max_parity = set_size // 2
    if not 1 <= chosen <= max_parity:
        raise ErasureLayoutError(
            f"parity EC:{chosen} is not possible for erasure sets of {set_size} drives "
            f"(allowed: EC:1 to EC:{max_parity}, at most half the drives of a set)"
        )
    return ErasurePlan(
        nodes=nodes,
        drives_per_node=drives_per_node,
        set_size=set_size,
        set_count=(nodes * drives_per_node) // set_size,
        parity=chosen,
    )
