"""Several Docker hosts: placement, MinIO's erasure-set membership, and what a host's loss does.

The sets are pinned here to MinIO's ordering rule; tests/e2e/test_several_hosts.py compares them with
what a running cluster reports.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.hosts import (
    PlacementError,
    SetMember,
    erasure_sets,
    explicit_placement,
    host_losses,
    spread_nodes,
)
from components.pools import PoolShape, plan_pools
from components.settings import SettingsError, settings_from_config
from tests.test_settings import SECRETS, prod

HOST_NET = {"hostSubnet": "198.18.0.0/24", "hostRange": "198.18.0.128/25"}


def hosts(count: int, nodes: list[list[int]] | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": f"host{i}",
            "dockerHost": f"tcp://198.18.0.{10 + i}:2375",
            "address": f"198.18.0.{10 + i}",
            **({"nodes": nodes[i - 1]} if nodes else {}),
        }
        for i in range(1, count + 1)
    ]


def several(count: int, nodes: list[list[int]] | None = None, **values: Any) -> dict[str, Any]:
    return {"hosts": hosts(count, nodes), "networks": HOST_NET, **values}


def problems(values: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values, secret_keys)
    return raised.value.problems


# --- MinIO's sets ------------------------------------------------------------------------------------


def test_sets_take_drives_with_the_node_varying_fastest():
    """``http://minio{1...4}/data{1...4}`` is one set of 16: drive 1 of every node, then drive 2..."""
    (pool,) = plan_pools([PoolShape(4, 4)])
    (only,) = erasure_sets(pool)
    assert only[:5] == [SetMember(1, 1), SetMember(2, 1), SetMember(3, 1), SetMember(4, 1), SetMember(1, 2)]
    assert len(only) == 16


def test_sets_smaller_than_the_node_count_are_runs_of_consecutive_nodes():
    # 32 nodes x 1 drive: two sets of 16, minio1-16 and minio17-32; the second pool starts at 33.
    pools = plan_pools([PoolShape(32, 1), PoolShape(4, 1)], parity=2)
    first, second = erasure_sets(pools[0])
    assert [m.node for m in first] == list(range(1, 17))
    assert [m.node for m in second] == list(range(17, 33))
    assert [m.node for m in erasure_sets(pools[1])[0]] == [33, 34, 35, 36]


# --- placement -----------------------------------------------------------------------------------------


def test_the_default_spread_is_by_node_number_so_other_nodes_stay_put():
    assert spread_nodes([1, 2, 3, 4], ["a", "b", "c"]) == {1: "a", 2: "b", 3: "c", 4: "a"}
    # Pool 1 retired: nodes 5-8 stay where they were.
    assert spread_nodes([5, 6, 7, 8], ["a", "b", "c"]) == {5: "b", 6: "c", 7: "a", 8: "b"}


def test_an_explicit_placement_places_every_node_once():
    assert explicit_placement([1, 2, 3, 4], {"a": [1, 3], "b": [2, 4]}) == {1: "a", 2: "b", 3: "a", 4: "b"}
    with pytest.raises(
        PlacementError, match=r"node 3 is placed on both a and b.*nodes \[4\] are placed on no host"
    ):
        explicit_placement([1, 2, 3, 4], {"a": [1, 3], "b": [2, 3]})
    with pytest.raises(PlacementError, match="b names node 9, which is not in any pool"):
        explicit_placement([1, 2, 3, 4], {"a": [1, 2, 3, 4], "b": [9]})


# --- what a host's loss does --------------------------------------------------------------------------


def test_losing_a_host_counts_the_drives_of_the_set_it_hurts_most():
    (pool,) = plan_pools([PoolShape(4, 1)], parity=2)
    losses = host_losses([pool], {1: "a", 2: "a", 3: "a", 4: "b"})
    a, b = losses
    assert (a.host, a.drives_lost, a.set_size, a.read_quorum, a.nodes) == ("a", 3, 4, 2, (1, 2, 3))
    assert not a.readable and not a.writable
    assert (b.drives_lost, b.readable, b.writable) == (1, True, True)


def test_two_drives_per_node_double_what_a_host_takes():
    # 4 nodes x 2 drives: one set of 8, EC:4, write quorum 5. Two nodes on a host: 4 drives lost.
    (pool,) = plan_pools([PoolShape(4, 2)])
    (loss, _) = host_losses([pool], spread_nodes([1, 2, 3, 4], ["a", "b"]))
    assert (loss.drives_lost, loss.readable, loss.writable) == (4, True, False)


@given(
    nodes=st.sampled_from([4, 6, 8, 12, 16]),
    drives=st.sampled_from([1, 2, 4]),
    host_count=st.integers(min_value=2, max_value=8),
)
def test_the_sets_cover_every_drive_once_and_a_host_never_loses_more_than_it_holds(nodes, drives, host_count):
    (pool,) = plan_pools([PoolShape(nodes, drives)])
    members = [m for members in erasure_sets(pool) for m in members]
    assert sorted((m.node, m.drive) for m in members) == [
        (n, d) for n in range(1, nodes + 1) for d in range(1, drives + 1)
    ]
    placement = spread_nodes(range(1, nodes + 1), [f"h{i}" for i in range(host_count)])
    for loss in host_losses([pool], placement):
        held = sum(1 for n, host in placement.items() if host == loss.host)
        assert loss.drives_lost <= min(held * drives, loss.set_size)


# --- the settings -------------------------------------------------------------------------------------


def test_one_host_needs_no_edit_and_places_everything_locally():
    settings = settings_from_config({})
    assert settings.hosts is None
    assert set(settings.placement.values()) == {"local"}
    assert settings.host_losses() == [] and settings.warnings() == []


def test_three_hosts_spread_six_nodes_two_each_and_survive_any_one_loss():
    settings = settings_from_config(several(3, cluster={"nodes": 6}))
    assert settings.placement == {1: "host1", 2: "host2", 3: "host3", 4: "host1", 5: "host2", 6: "host3"}
    assert all(loss.writable for loss in settings.host_losses())
    assert settings.warnings() == []
    assert str(settings.host_addresses.nodes[0]) == "198.18.0.139"


def test_three_nodes_of_a_four_node_ec2_pool_on_one_host_are_refused():
    """The planted defect of the issue: that host's loss leaves 1 of 4 drives where reads need 2."""
    (problem,) = problems(several(2, [[1, 2, 3], [4]], cluster={"parity": 2}))
    assert problem.startswith(
        "minio-platform:hosts[0].nodes = [1, 2, 3]: losing host1 takes 3 of the 4 drives"
    )
    assert "(minio1, minio2, minio3); reads need 2 (read quorum)" in problem
    assert "unreadable" in problem


def test_two_and_two_on_two_hosts_is_refused_in_prod_and_a_warning_in_dev():
    found = problems(prod(**several(2)), SECRETS)
    assert len(found) == 2
    assert found[0].startswith("minio-platform:hosts[0] = 'host1': losing host1 takes 2 of the 4 drives")
    assert "writes need 3 (write quorum)" in found[0] and "prod refuses this" in found[0]
    (warning, _) = settings_from_config(several(2)).warnings()
    assert "losing host1 takes 2 of the 4 drives of erasure set 1 of pool 1 (minio1, minio3)" in warning


def test_host_keys_are_checked_together():
    values = several(2, [[1, 2], [3]], dockerHost="unix:///var/run/docker.sock")
    values["hosts"][1]["address"] = "198.18.0.200"
    found = problems(values)
    assert (
        "minio-platform:dockerHost = '[...]': give either dockerHost or hosts, not both: move it into hosts"
        in found
    )
    assert any(
        p.startswith("minio-platform:hosts = '[...nodes]': nodes [4] are placed on no host") for p in found
    )
    assert any(
        p.startswith("minio-platform:hosts[1].address = '198.18.0.200': an address in networks.hostSubnet")
        for p in found
    )


def test_duplicate_host_names_are_refused_before_any_placement_by_name():
    values = several(2, [[1, 2], [3, 4]])
    values["hosts"][1]["name"] = "host1"
    assert problems(values) == ["minio-platform:hosts[1].name = 'host1': every host's name is its own"]


def test_the_hosts_network_is_required_with_hosts_and_only_then():
    found = problems({"hosts": hosts(2), "cluster": {"nodes": 6}})
    required = "required with hosts: the hosts' network and the stack's block of it"
    assert found == [
        f"minio-platform:networks.hostSubnet = None: {required}",
        f"minio-platform:networks.hostRange = None: {required}",
    ]
    (alone,) = problems({"networks": HOST_NET | {"hostRange": None}})
    assert alone == "minio-platform:networks.hostSubnet = '198.18.0.0/24': only used with hosts"
    (outside,) = problems(several(3, networks={**HOST_NET, "hostRange": "10.0.0.0/25"}, cluster={"nodes": 6}))
    assert outside.startswith("minio-platform:networks.hostRange = '10.0.0.0/25': a block inside hostSubnet")
