"""Server pools: which nodes each pool has, how MinIO lays out its drives, and the command line.

Pure functions, no Pulumi. A MinIO cluster grows by appending a pool; every node's command names
every pool, one space-separated argument each (``http://minio{1...4}/data
http://minio{5...8}/data{1...2}``). MinIO keeps one parity for the whole cluster (its storage
class), validated against every pool's set size (``cmd/erasure-server-pool.go``,
``newErasureServerPools``); when unset it is the first pool's default.

Nodes are numbered across the cluster (``minio1``...): a pool's node numbers, names, volumes and
storage-network addresses follow from its first node number, so appending a pool leaves every
existing node as it was, and a pool retired after ``mc admin decommission`` leaves the others' names
alone as long as they keep their first node number (``firstNode`` in the settings).

One node is MinIO's single-node mode, for dev and CI: the node names its drives by path
(``/data{1...4}``, erasure-coded across them; ``/data`` alone, not erasure-coded at all), has no
peers, and its cluster can never take another pool (MinIO refuses paths beside URLs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.erasure import (
    ErasureLayoutError,
    ErasurePlan,
    default_parity,
    erasure_set_size,
    plan_erasure,
)

S3_PORT = 9000
"""Every node's S3 (and internode) port."""
MIN_POOL_NODES = 4
MAX_POOL_NODES = 32
SINGLE_NODE = 1
"""A pool of one node: MinIO's single-node mode (dev and CI), always its cluster's only pool."""


def node_name(number: int) -> str:
    """``minio1``...: container name, host name and network alias of node ``number`` (1-based)."""
    return f"minio{number}"


def drive_paths(drives_per_node: int) -> list[str]:
    """Mount points of a node's drives: ``/data`` for one drive, ``/data1``... for several."""
    if drives_per_node == 1:
        return ["/data"]
    return [f"/data{j}" for j in range(1, drives_per_node + 1)]


@dataclass(frozen=True)
class PoolShape:
    """What the settings say about one pool: its size and, optionally, its first node's number."""

    nodes: int
    drives_per_node: int
    first_node: int | None = None


@dataclass(frozen=True)
class PoolLayout:
    """One pool as MinIO will run it."""

    number: int
    """Position in the pool list, 1-based (MinIO's "1st pool"...)."""
    first_node: int
    erasure: ErasurePlan

    @property
    def nodes(self) -> int:
        return self.erasure.nodes

    @property
    def drives_per_node(self) -> int:
        return self.erasure.drives_per_node

    @property
    def node_numbers(self) -> range:
        return range(self.first_node, self.first_node + self.nodes)

    @property
    def node_names(self) -> list[str]:
        return [node_name(n) for n in self.node_numbers]

    @property
    def last_node(self) -> int:
        return self.first_node + self.nodes - 1

    @property
    def single_node(self) -> bool:
        """MinIO's single-node mode: the node serves its drives by path, with no peers."""
        return self.nodes == SINGLE_NODE

    @property
    def server_argument(self) -> str:
        """This pool on MinIO's command line, with MinIO's own ``{x...y}`` ellipses (three dots:
        MinIO expands them; two would be a shell brace expansion). ``mc admin decommission`` names
        the pool by this exact string."""
        return self.endpoint_argument(secure=False)

    def endpoint_argument(self, *, secure: bool) -> str:
        """:attr:`server_argument`, or its TLS form (``https://minio{1...4}:9000/data``: the port
        spelled out, so no default port of either scheme can apply). A single node names its drives
        by path alone (``/data``, ``/data{1...4}``): it has no peer to reach, so no scheme either."""
        drives = "/data" if self.drives_per_node == 1 else f"/data{{1...{self.drives_per_node}}}"
        if self.single_node:
            return drives
        nodes = f"minio{{{self.first_node}...{self.last_node}}}"
        return f"https://{nodes}:{S3_PORT}{drives}" if secure else f"http://{nodes}{drives}"


class PoolPlanError(ValueError):
    """A pool list MinIO would refuse; ``pool`` is the 0-based position and ``field`` the setting at fault."""

    def __init__(self, pool: int | None, field: str, message: str):
        self.pool, self.field = pool, field
        super().__init__(message)


def plan_pools(shapes: Sequence[PoolShape], parity: int | None = None) -> tuple[PoolLayout, ...]:
    """Lay out every pool; raises the first :class:`PoolPlanError` (:func:`pool_problems` lists all)."""
    problems = pool_problems(shapes, parity)
    if problems:
        raise problems[0]
    return _layouts(shapes, parity)


def pool_problems(shapes: Sequence[PoolShape], parity: int | None = None) -> list[PoolPlanError]:
    """Every reason MinIO would refuse this pool list (empty when it would start)."""
    if not shapes:
        return [PoolPlanError(None, "pools", "at least one pool")]
    problems: list[PoolPlanError] = []
    set_sizes: dict[int, int] = {}
    for i, shape in enumerate(shapes):
        if shape.nodes == SINGLE_NODE and len(shapes) > 1:
            problems.append(
                PoolPlanError(
                    i,
                    "nodes",
                    "one node (single-node mode) is its cluster's only pool: MinIO serves its drives by "
                    "path and cannot join it with pools of nodes; to grow, copy the data to a new cluster "
                    "(mc mirror)",
                )
            )
            continue
        if shape.nodes != SINGLE_NODE and not MIN_POOL_NODES <= shape.nodes <= MAX_POOL_NODES:
            problems.append(
                PoolPlanError(
                    i,
                    "nodes",
                    f"1 node (single-node mode, for dev and CI) or {MIN_POOL_NODES} to {MAX_POOL_NODES} "
                    f"nodes per pool: an erasure-coded pool that keeps serving through a node loss needs at "
                    f"least {MIN_POOL_NODES}",
                )
            )
            continue
        try:
            set_sizes[i] = _set_size(shape)
        except ErasureLayoutError as err:
            field = "nodes" if shape.drives_per_node == 1 else "drivesPerNode"
            problems.append(
                PoolPlanError(i, field, f"{err}; choose nodes x drivesPerNode MinIO can split into sets")
            )
    if 0 in set_sizes:
        common = default_parity(set_sizes[0]) if parity is None else parity
        for i, size in set_sizes.items():
            if size == 1 and parity is not None:
                problems.append(
                    PoolPlanError(
                        None,
                        "parity",
                        f"parity EC:{parity} is not possible with one drive: MinIO stores it without "
                        "erasure coding (leave parity unset, or give the node more drives)",
                    )
                )
            elif size > 1 and not 1 <= common <= size // 2:
                problems.append(_parity_problem(i, common, size, parity is None))
    problems.extend(_numbering_problems(shapes))
    return problems


def _parity_problem(pool: int, parity: int, set_size: int, default: bool) -> PoolPlanError:
    allowed = f"allowed for sets of {set_size} drives: EC:1 to EC:{set_size // 2}, at most half a set"
    if default:
        return PoolPlanError(
            pool,
            "nodes",
            f"the cluster's parity is EC:{parity} (the first pool's default) and every pool must carry "
            f"it, but this pool's erasure sets have {set_size} drives ({allowed}): give the pool more "
            f"drives, or set cluster.parity",
        )
    if pool == 0:
        return PoolPlanError(None, "parity", f"parity EC:{parity} is not possible ({allowed})")
    return PoolPlanError(
        pool,
        "nodes",
        f"every pool carries the cluster's parity EC:{parity}, but this pool's erasure sets have "
        f"{set_size} drives ({allowed}): give the pool more nodes or drives",
    )


def _numbering(shapes: Sequence[PoolShape]) -> list[tuple[int, int]]:
    """Each pool's first node number, with the first number earlier pools leave free."""
    numbering = []
    next_free = 1
    for shape in shapes:
        first = next_free if shape.first_node is None else shape.first_node
        numbering.append((first, next_free))
        next_free = max(next_free, first + max(shape.nodes, 0))
    return numbering


def _numbering_problems(shapes: Sequence[PoolShape]) -> list[PoolPlanError]:
    """Each pool's nodes come after the previous pool's: names never repeat and never move back."""
    return [
        PoolPlanError(
            i,
            "firstNode",
            f"pool {i + 1} would start at minio{first}, but minio{next_free - 1} belongs to an "
            f"earlier pool: a pool's nodes are numbered after the previous pool's",
        )
        for i, (first, next_free) in enumerate(_numbering(shapes))
        if first < next_free
    ]


def _set_size(shape: PoolShape) -> int:
    """The pool's erasure set size; 1 for a single node's single drive (no erasure coding)."""
    if (shape.nodes, shape.drives_per_node) == (SINGLE_NODE, 1):
        return 1
    return erasure_set_size(shape.nodes, shape.drives_per_node)


def _layouts(shapes: Sequence[PoolShape], parity: int | None) -> tuple[PoolLayout, ...]:
    common = default_parity(_set_size(shapes[0]))
    common = common if parity is None else parity
    return tuple(
        PoolLayout(
            number=i + 1,
            first_node=first,
            erasure=plan_erasure(shape.nodes, shape.drives_per_node, common),
        )
        for i, (shape, (first, _)) in enumerate(zip(shapes, _numbering(shapes), strict=True))
    )


def server_arguments(pools: Sequence[PoolLayout], *, secure: bool = False) -> list[str]:
    """Every pool's argument, in pool order: the same list on every node."""
    return [pool.endpoint_argument(secure=secure) for pool in pools]
