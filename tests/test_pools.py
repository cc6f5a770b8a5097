"""Server pools: the planner, the settings, a two-pool stack's graph and the layout guard's rule.

The guard's refusal on the real engine is pinned by tests/e2e/test_server_pools.py; here its rule
(components/layout_guard.py) is tested as a pure function and its place in the graph under mocks.
"""

from __future__ import annotations

import re

import pytest
import yaml

from components.layout_guard import _LayoutProvider, layout_change_problems, layout_record
from components.monitoring import RULES_FILE
from components.pools import PoolShape, plan_pools, pool_problems
from components.settings import PROJECT, SettingsError, settings_from_config
from synth.stackfile import REMOVE
from tests.graph import CONTAINER, VOLUME, env_of, minio_nodes, plain

TWO_POOLS = {
    "cluster": {
        "nodes": REMOVE,
        "drivesPerNode": REMOVE,
        "pools": [{"nodes": 4}, {"nodes": 4, "drivesPerNode": 2}],
    }
}
"""The dev stack grown by a second pool of 4 nodes with 2 drives each."""


def problems(values: dict) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values)
    return raised.value.problems


# --- the planner ----------------------------------------------------------------------------------


def test_pools_are_numbered_across_the_cluster_and_named_on_the_command_line():
    first, second = plan_pools([PoolShape(4, 1), PoolShape(4, 2)])
    assert first.node_names == ["minio1", "minio2", "minio3", "minio4"]
    assert second.node_names == ["minio5", "minio6", "minio7", "minio8"]
    assert first.server_argument == "http://minio{1...4}/data"
    assert second.server_argument == "http://minio{5...8}/data{1...2}"
    # One parity for the cluster: the first pool's default (EC:2 for sets of 4), not the second's
    # own default (EC:4 for its sets of 8).
    assert (first.erasure.parity, second.erasure.parity) == (2, 2)
    assert (second.erasure.set_size, second.erasure.write_quorum) == (8, 6)


def test_a_first_node_keeps_a_pool_numbered_after_an_earlier_pool_is_retired():
    [pool] = plan_pools([PoolShape(4, 1, first_node=5)])
    assert pool.node_names == ["minio5", "minio6", "minio7", "minio8"]
    assert pool.server_argument == "http://minio{5...8}/data"


def test_a_pool_whose_sets_cannot_carry_the_first_pools_parity_is_refused():
    # 16 x 1: sets of 16, default EC:4. A pool of 4 x 1 has sets of 4: at most EC:2.
    [problem] = pool_problems([PoolShape(16, 1), PoolShape(4, 1)])
    assert (problem.pool, problem.field) == (1, "nodes")
    assert "EC:4" in str(problem) and "set cluster.parity" in str(problem)
    assert not pool_problems([PoolShape(16, 1), PoolShape(4, 1)], parity=2)


# --- settings -------------------------------------------------------------------------------------


def test_the_one_pool_form_and_the_pool_list_describe_the_same_cluster():
    one = settings_from_config({"cluster": {"nodes": 4, "drivesPerNode": 1}}).cluster
    listed = settings_from_config({"cluster": {"pools": [{"nodes": 4}]}}).cluster
    assert one.layout == listed.layout
    assert one.node_names == listed.node_names == ["minio1", "minio2", "minio3", "minio4"]


def test_pools_and_the_one_pool_keys_together_are_refused():
    [problem] = problems({"cluster": {"nodes": 4, "pools": [{"nodes": 4}]}})
    assert problem.startswith(f"{PROJECT}:cluster.pools = ")
    assert "give either pools or the one-pool form (nodes), not both" in problem


@pytest.mark.parametrize(
    ("pools", "key", "allowed"),
    [
        ([{"nodes": 4}, {"nodes": 3}], "cluster.pools[1].nodes = 3", "4 to 32 nodes per pool"),
        (
            [{"nodes": 4}, {"nodes": 19, "drivesPerNode": 2}],
            "cluster.pools[1].drivesPerNode = 2",
            "symmetrically",
        ),
        ([{"nodes": 4}, {"nodes": 4, "firstNode": 3}], "cluster.pools[1].firstNode = 3", "minio4 belongs"),
        ([{"nodes": 16}, {"nodes": 4}], "cluster.pools[1].nodes = 4", "the cluster's parity is EC:4"),
    ],
)
def test_each_pool_problem_names_its_key(pools, key, allowed):
    [problem] = problems({"cluster": {"pools": pools}})
    assert problem.startswith(f"{PROJECT}:{key}: "), problem
    assert allowed in problem


def test_an_explicit_parity_too_large_for_a_later_pool_names_that_pool():
    # Sets of 16 allow EC:8; a second pool with sets of 4 allows EC:2 at most.
    [problem] = problems({"cluster": {"parity": 3, "pools": [{"nodes": 16}, {"nodes": 4}]}})
    assert problem.startswith(
        f"{PROJECT}:cluster.pools[1].nodes = 4: every pool carries the cluster's parity EC:3"
    )


def test_the_storage_subnet_must_hold_every_pools_addresses():
    # A /26's lower half holds offsets up to 31: nodes 1 to 21. A second pool of 16 ends at 20; of
    # 17 would need node 21's offset 31... and a third pool past it does not fit.
    values = {
        "cluster": {"pools": [{"nodes": 4}, {"nodes": 16}, {"nodes": 4}]},
        "networks": {"storageSubnet": "172.40.0.0/26"},
    }
    [problem] = problems(values)
    assert problem.startswith(f"{PROJECT}:networks.storageSubnet = '172.40.0.0/26': ")
    assert "nodes 1 to 24" in problem


# --- the graph of a two-pool stack ----------------------------------------------------------------


def test_every_node_of_both_pools_carries_the_whole_pool_list_and_the_same_environment(synth):
    nodes = minio_nodes(synth("dev", TWO_POOLS).resources)
    assert [plain(n.inputs["name"]) for n in nodes] == [f"minio{i}" for i in range(1, 9)]
    commands = {tuple(plain(n.inputs["command"])) for n in nodes}
    assert len(commands) == 1, "every node must be started with the identical pool list"
    [command] = commands
    assert command[-2:] == ("http://minio{1...4}/data", "http://minio{5...8}/data{1...2}")
    environments = [env_of(n) for n in nodes]
    assert all(env == environments[0] for env in environments)
    assert environments[0]["MINIO_STORAGE_CLASS_STANDARD"] == "EC:2"
    pools = {plain(n.inputs["name"]): _label(n, "com.minio-platform.pool") for n in nodes}
    assert pools == {f"minio{i}": "1" if i <= 4 else "2" for i in range(1, 9)}


def _label(resource, name: str) -> str:
    return next(entry["value"] for entry in plain(resource.inputs["labels"]) if entry["label"] == name)


def test_the_second_pools_nodes_get_their_drives_and_the_next_addresses(synth):
    synthesis = synth("dev", TWO_POOLS)
    volumes = {plain(v.inputs["name"]) for v in synthesis.of_type(VOLUME)}
    assert {"minio1-data", "minio4-data", "minio5-data1", "minio5-data2", "minio8-data2"} <= volumes
    assert "minio5-data" not in volumes
    addresses = {
        plain(n.inputs["name"]): plain(n.inputs["networksAdvanced"])[0]["ipv4Address"]
        for n in minio_nodes(synthesis.resources)
    }
    # The first pool's addresses are those of the one-pool dev stack: nothing of it moves.
    assert addresses == {f"minio{i}": f"172.40.0.{10 + i}" for i in range(1, 9)}


def test_the_gateway_balances_over_every_node_of_every_pool(synth):
    conf = synth("dev", TWO_POOLS).files["nginx.conf"]
    for upstream in ("minio_s3", "minio_multipart", "minio_admin"):
        block = re.search(rf"upstream {upstream} \{{(.*?)\}}", conf, re.S).group(1)
        servers = re.findall(r"server (172\.40\.0\.\d+):9000", block)
        assert servers == [f"172.40.0.{10 + i}" for i in range(1, 9)], upstream


def test_scrape_targets_alerts_and_outputs_follow_the_pools(synth):
    synthesis = synth("dev", TWO_POOLS)
    scrape = yaml.safe_load(synthesis.files["prometheus.yml"])
    nodes_job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "minio-nodes")
    assert nodes_job["static_configs"][0]["targets"] == [f"minio{i}:9000" for i in range(1, 9)]
    rules = {r["alert"]: r for r in yaml.safe_load(synthesis.files[RULES_FILE])["groups"][0]["rules"]}
    assert rules["MinIONodeDown"]["expr"].endswith("< 8")
    # Pool 1 (sets of 4, EC:2) stops writing after 1 more loss; pool 2 (sets of 8) after 2.
    assert rules["MinIOWriteQuorumAtRisk"]["expr"].endswith(">= 1")
    assert "in pool 1" in rules["MinIOWriteQuorumAtRisk"]["annotations"]["summary"]
    erasure = synthesis.outputs["erasure_coding"]
    assert erasure["parity"] == 2
    assert [(p["pool"], p["nodes"][0], p["nodes"][-1], p["set_size"]) for p in erasure["pools"]] == [
        (1, "minio1", "minio4", 4),
        (2, "minio5", "minio8", 8),
    ]
    assert plain(synthesis.outputs["minio_nodes"]) == [f"minio{i}" for i in range(1, 9)]


def test_the_docker_provider_and_so_every_container_waits_for_the_layout_guard(synth):
    synthesis = synth("dev", TWO_POOLS)
    [guard] = [r for r in synthesis.resources if r.type.endswith(":PoolLayout")]
    assert plain(guard.inputs["pools"]) == [
        {"key": "cluster.pools[0]", "firstNode": 1, "nodes": 4, "drivesPerNode": 1},
        {"key": "cluster.pools[1]", "firstNode": 5, "nodes": 4, "drivesPerNode": 2},
    ]
    [docker_provider] = [r for r in synthesis.resources if r.type == "pulumi:providers:docker"]
    assert guard.urn in docker_provider.dependencies
    assert all(
        r.provider and r.provider.startswith(docker_provider.urn) for r in synthesis.of_type(CONTAINER)
    )


# --- the layout guard's rule ----------------------------------------------------------------------


def record(*shapes: PoolShape, parity: int | None = None, one_pool_form: bool = False) -> dict:
    return layout_record(plan_pools(shapes, parity), one_pool_form)


ONE = record(PoolShape(4, 1), one_pool_form=True)


def test_the_first_record_and_an_unchanged_layout_pass():
    assert layout_change_problems({}, ONE) == []
    assert layout_change_problems(ONE, ONE) == []
    # The one-pool form rewritten as a one-entry list is the same layout.
    assert layout_change_problems(ONE, record(PoolShape(4, 1))) == []


def test_appending_a_pool_passes():
    assert layout_change_problems(ONE, record(PoolShape(4, 1), PoolShape(4, 2))) == []


def test_retiring_a_pool_passes_when_the_others_keep_their_nodes():
    two = record(PoolShape(4, 1), PoolShape(4, 1))
    assert layout_change_problems(two, record(PoolShape(4, 1, first_node=5))) == []
    assert layout_change_problems(two, record(PoolShape(4, 1))) == []


@pytest.mark.parametrize(
    ("new", "says"),
    [
        (
            record(PoolShape(8, 1), parity=2, one_pool_form=True),
            "cluster (minio1-minio4) holds data as 4 nodes x 1 drive and would become 8 nodes x 1 drive",
        ),
        (record(PoolShape(4, 2), parity=2, one_pool_form=True), "would become 4 nodes x 2 drives"),
        (record(PoolShape(4, 1), parity=1, one_pool_form=True), "from EC:2 to EC:1"),
    ],
)
def test_reshaping_a_pool_that_holds_data_is_refused_with_what_is_allowed(new, says):
    [problem] = layout_change_problems(ONE, new)
    assert says in problem
    assert "append a pool to cluster.pools" in problem
    assert "mc admin decommission start" in problem


def test_renumbering_a_pool_onto_another_pools_nodes_is_refused():
    two = record(PoolShape(4, 1), PoolShape(4, 1))
    # minio3-minio6 would straddle both recorded pools: each one's nodes taken by another pool.
    found = layout_change_problems(two, record(PoolShape(4, 1, first_node=3)))
    assert len(found) == 2
    assert all("cluster.pools[0] (minio3-minio6) would take nodes of the pool" in p for p in found)
    assert "minio1-minio4" in found[0] and "minio5-minio8" in found[1]


def test_the_providers_check_is_what_refuses_and_its_diff_never_replaces():
    provider = _LayoutProvider()
    grown = record(PoolShape(4, 1), PoolShape(4, 1))
    # 8 x 1 also changes the default parity (EC:2 for sets of 4, EC:4 for sets of 8): two reasons.
    refused = provider.check(ONE, record(PoolShape(8, 1), one_pool_form=True))
    assert [f.property for f in refused.failures] == ["", ""]
    assert "holds data as 4 nodes x 1 drive" in refused.failures[0].reason
    assert "from EC:2 to EC:4" in refused.failures[1].reason
    assert provider.check(ONE, grown).failures == []
    diff = provider.diff("pool-layout", ONE, grown)
    assert (diff.changes, diff.replaces) == (True, [])
    assert provider.diff("pool-layout", ONE, ONE).changes is False


def test_a_retired_pools_node_numbers_are_remembered_and_never_reused():
    provider = _LayoutProvider()
    two = record(PoolShape(4, 1), PoolShape(4, 1))
    after_retiring = provider.check(two, record(PoolShape(4, 1)))
    assert after_retiring.failures == []
    assert after_retiring.inputs["retired"] == [{"firstNode": 5, "nodes": 4}]
    # The next run's program does not know about it: the recorded inputs carry it forward.
    state = after_retiring.inputs
    assert provider.check(state, record(PoolShape(4, 1))).inputs["retired"] == [{"firstNode": 5, "nodes": 4}]
    assert (
        provider.diff("pool-layout", state, provider.check(state, record(PoolShape(4, 1))).inputs).changes
        is False
    )
    # Appending a pool the default way would number it minio5-minio8 again: refused, with the way out.
    reused = provider.check(state, record(PoolShape(4, 1), PoolShape(4, 1)))
    [failure] = reused.failures
    assert "cluster.pools[1] (minio5-minio8) would reuse node numbers of the retired pool minio5-minio8" in (
        failure.reason
    )
    assert failure.reason.endswith("Give the new pool firstNode: 9")
    assert provider.check(state, record(PoolShape(4, 1), PoolShape(4, 1, first_node=9))).failures == []


def test_one_mistake_gets_one_message():
    # Pool 1 dropped and pool 2 moved onto its numbers in the same step: one refusal per pool whose
    # nodes are taken, not a second one for "reusing" the pool being retired right now.
    provider = _LayoutProvider()
    two = record(PoolShape(4, 1), PoolShape(4, 1))
    failures = provider.check(two, record(PoolShape(4, 1, first_node=3))).failures
    assert len(failures) == 2
    assert all("would take nodes of the pool" in f.reason for f in failures)
