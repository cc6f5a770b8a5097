"""The pool layout as a resource whose provider refuses to reshape a pool.

MinIO cannot reshape a pool that holds data: with a changed node count, drives per node or parity,
every node refuses to start, and `pulumi up` would have replaced them all into an outage. The layout
is therefore recorded in the stack's state by this resource, and its provider's ``check`` (which
the engine calls with the recorded inputs and the new ones, in `preview` and in `up`, before any
step) fails with what is allowed instead: append a pool, or retire one after ``mc admin
decommission``; nor may a new pool take the node numbers of a retired one (recorded too), nor may a
node that holds data move to another Docker host (its drives are volumes on its host). Platform
registers it first and the Docker provider depends on it, so a refused layout leaves every
container and volume untouched. No live cluster is needed: only the state.

A Pulumi dynamic provider (``pulumi.dynamic``): the engine runs it with the project's Python
(``pulumi-resource-pulumi-python``, shipped with the Pulumi CLI). This module imports nothing of the
program beyond the SDK, since the provider process imports it again to run the check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

if TYPE_CHECKING:
    from components.pools import PoolLayout

GUIDE = 'docs/cluster.md, "Growing the cluster: server pools"'
ALLOWED = (
    "MinIO cannot reshape a pool that holds data (every node would refuse to start). Allowed: append "
    "a pool to cluster.pools; retire a pool with `mc admin decommission start`, and remove it from "
    f"the list once `mc admin decommission status` says Complete ({GUIDE})"
)


HOSTS_GUIDE = 'docs/several-hosts.md, "Configuring"'


def layout_record(
    pools: Sequence[PoolLayout],
    one_pool_form: bool,
    placement: Mapping[int, str] | None = None,
    drives: Mapping[int, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The guard's inputs: every pool's node range and drives, the parity, and the keys to name;
    with several hosts, each node's host (``placement``, the first host first); with
    cluster.drives, where each node's drives live (``drives``: ``volume``, ``bind <path>``...)."""
    hosts = (
        {} if placement is None else {"placement": {str(n): host for n, host in sorted(placement.items())}}
    )
    where = {} if drives is None else {"drives": {str(n): list(d) for n, d in sorted(drives.items())}}
    return {
        **hosts,
        **where,
        "parity": pools[0].erasure.parity,
        "parityKey": "cluster.parity",
        "pools": [
            {
                "key": "cluster" if one_pool_form else f"cluster.pools[{pool.number - 1}]",
                "firstNode": pool.first_node,
                "nodes": pool.nodes,
                "drivesPerNode": pool.drives_per_node,
            }
            for pool in pools
        ],
    }


def _span(pool: Mapping[str, Any]) -> tuple[int, int]:
    """A recorded pool's first and last node numbers."""
    first = int(pool["firstNode"])
    return first, first + int(pool["nodes"]) - 1


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    (a_first, a_last), (b_first, b_last) = _span(a), _span(b)
    return a_first <= b_last and b_first <= a_last


def _names(pool: Mapping[str, Any]) -> str:
    first, last = _span(pool)
    return f"minio{first}-minio{last}"


def _shape(pool: Mapping[str, Any]) -> str:
    nodes, drives = int(pool["nodes"]), int(pool["drivesPerNode"])
    return f"{nodes} node{'s' if nodes != 1 else ''} x {drives} drive{'s' if drives != 1 else ''}"


def layout_change_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why the new layout may not replace the recorded one (empty: it may).

    A recorded pool may stay as it is or leave the list (retired); it may not change its node
    count or drives per node, nor have its nodes taken by a pool numbered differently; while any
    recorded pool stays, the parity stays.
    """
    old_pools = list(old.get("pools") or [])
    if not old_pools:
        return []
    new_pools = list(new.get("pools") or [])
    by_first = {int(p["firstNode"]): p for p in new_pools}
    problems = []
    kept = 0
    for recorded in old_pools:
        same_start = by_first.get(_span(recorded)[0])
        if same_start is not None:
            kept += 1
            if _shape(same_start) != _shape(recorded):
                problems.append(
                    f"{same_start['key']} ({_names(recorded)}) holds data as {_shape(recorded)} and would "
                    f"become {_shape(same_start)}. {ALLOWED}"
                )
            continue
        for pool in new_pools:
            if _overlap(pool, recorded):
                problems.append(
                    f"{pool['key']} ({_names(pool)}) would take nodes of the pool {_names(recorded)} "
                    f"({_shape(recorded)}), which holds data: keep that pool's nodes numbered as they are "
                    f"(set firstNode on the pools after a retired one). {ALLOWED}"
                )
    if kept and new.get("parity") != old.get("parity"):
        problems.append(
            f"{new.get('parityKey', 'cluster.parity')} would change the parity of pools that hold data "
            f"from EC:{old.get('parity')} to EC:{new.get('parity')} (when unset it follows the first "
            f"pool's default: set it explicitly). {ALLOWED}"
        )
    return problems


def retired_ranges(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, int]]:
    """Node ranges of every pool ever retired: the recorded ones, and the recorded pools that the new
    layout no longer lists."""
    retired = [dict(r) for r in old.get("retired") or []]
    kept = {int(p["firstNode"]) for p in new.get("pools") or []}
    for pool in old.get("pools") or []:
        if _span(pool)[0] not in kept:
            retired.append({"firstNode": _span(pool)[0], "nodes": int(pool["nodes"])})
    return retired


def reuse_problems(retired: Sequence[Mapping[str, Any]], new: Mapping[str, Any]) -> list[str]:
    """A new pool may not take the node numbers of a retired one: its volumes may still be there
    (dev keeps every drive, prod protects them), formatted for the pool MinIO let go."""
    if not retired:
        return []
    pools = list(new.get("pools") or [])
    after = max(_span(pool)[1] for pool in [*retired, *pools]) + 1
    problems = []
    for pool in pools:
        for gone in retired:
            if _overlap(pool, gone):
                problems.append(
                    f"{pool['key']} ({_names(pool)}) would reuse node numbers of the retired pool "
                    f"{_names(gone)}, whose drives may still be there, formatted for that pool "
                    f"(dev keeps volumes, prod protects them): node numbers are never reused. Give the "
                    f"new pool firstNode: {after}"
                )
                break
    return problems


def placement_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """A node that holds data stays on its host: its drives are Docker volumes there.

    A one-host record counts as every node on the new first host (its provider keeps the one-host
    name), and a return to one host as every node going to the recorded first host.
    """
    old_place = {int(n): h for n, h in (old.get("placement") or {}).items()}
    new_place = {int(n): h for n, h in (new.get("placement") or {}).items()}
    if not old_place and not new_place:
        return []

    def before(node: int) -> str | None:
        return old_place.get(node) if old_place else new.get("firstHost")

    def after(node: int) -> str | None:
        return new_place.get(node) if new_place else old.get("firstHost")

    recorded = [n for pool in old.get("pools") or [] for n in range(_span(pool)[0], _span(pool)[1] + 1)]
    moves = [
        f"minio{n} from {before(n)} to {after(n)}"
        for n in recorded
        if None not in (before(n), after(n)) and before(n) != after(n)
    ]
    if not moves:
        return []
    where: dict[str, list[int]] = {}
    for node in recorded:
        where.setdefault(str(before(node)), []).append(node)
    keep = "; ".join(f"{host}: {nodes}" for host, nodes in where.items())
    return [
        f"nodes that hold data would move to another Docker host ({', '.join(moves)}): a node's drives are "
        f"volumes on its host, and a moved node starts empty. Keep every node where it is with hosts[].nodes "
        f"({keep}); to use new hosts, append a pool placed there and retire the old one ({HOSTS_GUIDE})"
    ]


DRIVES_GUIDE = 'docs/cluster.md, "Where drives live"'


def drive_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """A node that holds data keeps its drives where they are: a moved drive starts empty, as a
    moved node does. A record without ``drives`` had every drive in a Docker volume."""
    recorded = [n for pool in old.get("pools") or [] for n in range(_span(pool)[0], _span(pool)[1] + 1)]
    kept = {n for pool in new.get("pools") or [] for n in range(_span(pool)[0], _span(pool)[1] + 1)}

    def sources(record: Mapping[str, Any], node: int) -> list[str]:
        given = (record.get("drives") or {}).get(str(node))
        if given is not None:
            return list(given)
        pool = next(p for p in record.get("pools") or [] if _span(p)[0] <= node <= _span(p)[1])
        return ["volume"] * int(pool["drivesPerNode"])

    moves = [
        f"minio{n} ({', '.join(sources(old, n))} -> {', '.join(sources(new, n))})"
        for n in recorded
        if n in kept and sources(old, n) != sources(new, n)
    ]
    if not moves:
        return []
    return [
        f"drives of nodes that hold data would move: {'; '.join(moves)}. A moved drive starts empty, as a "
        f"moved node does: keep cluster.drives (or the pool's drives) as they are; to use other disks, "
        f"append a pool with them (pools[].drives) and retire the old one ({DRIVES_GUIDE})"
    ]


def _record(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: props.get(key)
        for key in ("parity", "parityKey", "pools", "retired", "placement", "firstHost", "drives")
    }


class _LayoutProvider(ResourceProvider):
    """Stores the layout; its check is the refusal."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # The retired ranges are not in the program's inputs: the check carries them forward from
        # the recorded ones, and the engine stores the checked inputs.
        retired = retired_ranges(_olds, news)
        # A pool retired in this very step and taken by another is layout_change_problems' to say:
        # the reuse rule looks only at pools retired before, so one mistake gets one message.
        problems = (
            layout_change_problems(_olds, news)
            + reuse_problems(_olds.get("retired") or [], news)
            + placement_problems(_olds, news)
            + drive_problems(_olds, news)
        )
        return CheckResult({**news, "retired": retired}, [CheckFailure("", problem) for problem in problems])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        # Never a replacement: the record is updated in place once the check has allowed it.
        changed = _record(_olds) != _record(_news)
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("pool-layout", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)


class PoolLayoutGuard(Resource, module="storage", name="PoolLayout"):
    """The recorded pool layout of one stack; a change the engine must not carry out fails its check."""

    pools: pulumi.Output[list[dict[str, Any]]]
    parity: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        pools: Sequence[PoolLayout],
        one_pool_form: bool,
        placement: Mapping[int, str] | None = None,
        first_host: str | None = None,
        drives: Mapping[int, Sequence[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        record = layout_record(pools, one_pool_form, placement, drives)
        if first_host is not None:
            record["firstHost"] = first_host
        super().__init__(_LayoutProvider(), name, record, opts)
