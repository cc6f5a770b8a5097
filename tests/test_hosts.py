"""Several Docker hosts: placement, MinIO's erasure-set membership, and what a host's loss does.

The sets are pinned here to MinIO's ordering rule; tests/e2e/test_several_hosts.py compares them with
what a running cluster reports.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from components.addressing import plan_host_addresses
from components.hosts import (
    PlacementError,
    SetMember,
    erasure_sets,
    explicit_placement,
    host_losses,
    node_placement,
    spread_nodes,
)
from components.layout_guard import _LayoutProvider, layout_record, placement_problems
from components.network import HOSTS_NET
from components.pools import PoolShape, plan_pools
from components.settings import SettingsError, settings_from_config
from synth.mocks import is_secret
from tests.graph import CONTAINER, NETWORK, VOLUME, env_of, files_of, minio_nodes, plain, uploads_of
from tests.test_settings import SECRETS, prod

HOST_NET = {"hostSubnet": "10.0.0.0/24", "hostRange": "10.0.0.128/25"}


def hosts(count: int, nodes: list[list[int]] | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": f"host{i}",
            "dockerHost": f"tcp://10.0.0.{10 + i}:2375",
            "address": f"10.0.0.{10 + i}",
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
    assert set(node_placement(settings.cluster.layout, settings.hosts).values()) == {"local"}
    assert settings.host_losses() == [] and settings.warnings() == []


def test_three_hosts_spread_six_nodes_two_each_and_survive_any_one_loss():
    settings = settings_from_config(several(3, cluster={"nodes": 6}))
    assert node_placement(settings.cluster.layout, settings.hosts) == {
        1: "host1", 2: "host2", 3: "host3", 4: "host1", 5: "host2", 6: "host3"
    }  # fmt: skip
    assert all(loss.writable for loss in settings.host_losses())
    assert settings.warnings() == []
    assert settings.networks.host_range is not None
    assert (
        str(plan_host_addresses(settings.networks.host_range, settings.cluster.last_node).nodes[0])
        == "10.0.0.139"
    )


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
    values["hosts"][1]["address"] = "10.0.0.200"
    found = problems(values)
    assert (
        "minio-platform:dockerHost = '[...]': give either dockerHost or hosts, not both: move it into hosts"
        in found
    )
    assert any(
        p.startswith("minio-platform:hosts = '[...nodes]': nodes [4] are placed on no host") for p in found
    )
    assert any(
        p.startswith("minio-platform:hosts[1].address = '10.0.0.200': an address in networks.hostSubnet")
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
    assert alone == "minio-platform:networks.hostSubnet = '10.0.0.0/24': only used with hosts"
    (outside,) = problems(several(3, networks={**HOST_NET, "hostRange": "10.1.0.0/25"}, cluster={"nodes": 6}))
    assert outside.startswith("minio-platform:networks.hostRange = '10.1.0.0/25': a block inside hostSubnet")


# --- the graph of a three-host stack -------------------------------------------------------------------

THREE_HOSTS = {
    "hosts": hosts(3),
    "networks": HOST_NET,
    "cluster": {"nodes": 6},
}
"""The dev stack on three hosts, six nodes (two per host)."""


def _providers(synthesis) -> dict[str, str]:
    """Docker provider URN by host name (the first host's provider keeps the one-host name)."""
    found = {}
    for r in synthesis.resources:
        if r.type == "pulumi:providers:docker":
            found["host1" if r.name == "minio-docker" else r.name.removeprefix("minio-docker-")] = r.urn
    return found


def _provider_of(resource) -> str:
    """The URN of the resource's provider (a reference is ``<urn>`` or ``<urn>::<id>``)."""
    return "::".join((resource.provider or "").split("::")[:4])


def test_each_node_its_drives_and_its_image_go_to_the_daemon_of_its_host(synth):
    synthesis = synth("dev", THREE_HOSTS)
    providers = _providers(synthesis)
    assert set(providers) == {"host1", "host2", "host3"}
    expected = {1: "host1", 2: "host2", 3: "host3", 4: "host1", 5: "host2", 6: "host3"}
    for node in minio_nodes(synthesis.resources):
        number = int(plain(node.inputs["name"]).removeprefix("minio"))
        assert _provider_of(node) == providers[expected[number]], node.name
        volume = next(
            v for v in synthesis.of_type(VOLUME) if plain(v.inputs["name"]) == f"minio{number}-data"
        )
        assert _provider_of(volume) == providers[expected[number]]
    images = [r for r in synthesis.resources if r.name.startswith("minio-cluster-image")]
    assert sorted(_provider_of(i) for i in images) == sorted(providers.values())
    gateway = next(r for r in synthesis.of_type(CONTAINER) if r.name == "minio-gateway-nginx")
    assert _provider_of(gateway) == providers["host1"]
    [guard] = [r for r in synthesis.resources if r.type.endswith(":PoolLayout")]
    assert plain(guard.inputs["placement"]) == {str(n): host for n, host in expected.items()}
    assert plain(guard.inputs["firstHost"]) == "host1"


def test_nodes_talk_tls_on_the_hosts_network_by_name(synth):
    synthesis = synth("dev", THREE_HOSTS)
    networks = [n for n in synthesis.of_type(NETWORK) if plain(n.inputs["name"]) == "storage-hosts-net"]
    assert len(networks) == 3
    assert all(
        plain(n.inputs["driver"]) == "macvlan" and plain(n.inputs["options"]) == {"parent": "eth0"}
        for n in networks
    )
    node5 = minio_nodes(synthesis.resources)[4]
    assert plain(node5.inputs["networksAdvanced"]) == [
        {"name": "storage-hosts-net", "aliases": ["minio5"], "ipv4Address": "10.0.0.143"}
    ]
    etc_hosts = {h["host"]: h["ip"] for h in plain(node5.inputs["hosts"])}
    assert etc_hosts == {
        **{f"minio{i}": f"10.0.0.{138 + i}" for i in (1, 2, 3, 4, 6)},
        # Published on the first host's address: the services never join the hosts' network.
        "keycloak": "10.0.0.11",
        "log-gate": "10.0.0.11",
    }
    # The first host's nodes keep storage-net and monitoring-net, where the services reach them.
    node1 = minio_nodes(synthesis.resources)[0]
    assert [n["name"] for n in plain(node1.inputs["networksAdvanced"])] == [
        "storage-net",
        "monitoring-net",
        "storage-hosts-net",
    ]
    assert "keycloak" not in {h["host"] for h in plain(node1.inputs["hosts"])}
    command = plain(node5.inputs["command"])
    assert command[-3:] == ["--certs-dir", "/etc/minio/certs", "https://minio{1...6}:9000/data"]
    # The key makes the whole list secret (the engine keeps one secret flag per input).
    assert is_secret(files_of(synthesis, node5).inputs["uploads"])
    uploads = {path: u["permissions"] for path, u in uploads_of(synthesis, node5).items()}
    assert uploads == {
        "/run/secrets/minio-config.env": "0440",
        "/etc/minio/certs/public.crt": "0644",
        "/etc/minio/certs/private.key": "0440",
        "/etc/minio/certs/CAs/ca.crt": "0644",
        "/etc/minio/mc/certs/CAs/ca.crt": "0644",
    }
    assert env_of(node5)["MC_HOST_local"] == "https://localhost:9000"
    [request] = [r for r in synthesis.resources if r.name == "minio-internode-tls-minio5-request"]
    assert plain(request.inputs["dnsNames"]) == ["minio5", "minio", "localhost"]
    assert plain(request.inputs["ipAddresses"]) == ["10.0.0.143", "127.0.0.1"]


def test_nodes_on_other_hosts_fetch_the_openid_keys_over_tls(synth):
    """Keycloak's discovery document and signing keys decide which tokens MinIO accepts: across hosts
    they travel over TLS, with a certificate from the internode CA that every node trusts."""
    synthesis = synth("dev", THREE_HOSTS)
    node = minio_nodes(synthesis.resources)[1]
    assert env_of(node)["MINIO_IDENTITY_OPENID_CONFIG_URL"] == (
        "https://keycloak:8443/realms/minio/.well-known/openid-configuration"
    )
    keycloak = next(r for r in synthesis.of_type(CONTAINER) if r.name == "minio-sso-keycloak-container")
    assert {
        "KC_HTTPS_PORT": "8443",
        "KC_HTTPS_CERTIFICATE_FILE": "/opt/keycloak/conf/internode/tls.crt",
    }.items() <= env_of(keycloak).items()
    [request] = [r for r in synthesis.resources if r.name == "minio-internode-tls-keycloak-request"]
    assert plain(request.inputs["ipAddresses"]) == ["10.0.0.11"]
    # The webhook ports belong to the log gate, which owns the network namespace Alloy shares.
    gate = next(r for r in synthesis.of_type(CONTAINER) if r.name == "minio-logs-log-gate")
    assert [(p["internal"], p["ip"]) for p in plain(gate.inputs["ports"])] == [
        (3500, "10.0.0.11"),
        (3501, "10.0.0.11"),
    ]
    ports = plain(keycloak.inputs["ports"])
    assert {"internal": 8443, "external": 8443, "ip": "10.0.0.11"} in ports
    assert env_of(minio_nodes(synth("dev").resources)[0])["MINIO_IDENTITY_OPENID_CONFIG_URL"].startswith(
        "http://keycloak:8080/"
    )


def test_the_gateway_and_prometheus_verify_the_nodes_certificates(synth):
    synthesis = synth("dev", THREE_HOSTS)
    conf = synthesis.files["nginx.conf"]
    block = re.search(r"upstream minio_s3 \{(.*?)\}", conf, re.S).group(1)
    # The first host's nodes (1, 4) by storage-net, the others by the hosts' network.
    assert re.findall(r"server (\S+) ", block) == [
        "172.40.0.11:9000",
        "10.0.0.140:9000",
        "10.0.0.141:9000",
        "172.40.0.14:9000",
        "10.0.0.143:9000",
        "10.0.0.144:9000",
    ]
    # Every location that reaches a node verifies it: the console, S3, admin, and the bridge's.
    assert conf.count("proxy_ssl_verify on;") == conf.count("proxy_pass https://") >= 3
    assert "proxy_pass https://$s3_upstream;" in conf
    # Plain HTTP only to the sign-in bridge, on the gateway's own host.
    assert {line.strip() for line in conf.splitlines() if "proxy_pass http://" in line} == {
        "proxy_pass http://signin;",
        "proxy_pass http://signin/sso/api/logout;",
    }
    assert "proxy_ssl_name minio;" in conf
    # No service joins the hosts' network (a client there would be answered around the port's NAT).
    for service in synthesis.of_type(CONTAINER):
        if not service.name.startswith("minio-cluster-minio"):
            networks = plain(service.inputs.get("networksAdvanced", []))
            assert "storage-hosts-net" not in {n["name"] for n in networks}
    scrape = yaml.safe_load(synthesis.files["prometheus.yml"])
    nodes_job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "minio-nodes")
    assert nodes_job["scheme"] == "https"
    assert nodes_job["tls_config"] == {"ca_file": "internode-ca.crt", "server_name": "minio"}
    prometheus = next(r for r in synthesis.of_type(CONTAINER) if r.name == "minio-monitoring-prometheus")
    assert {h["host"]: h["ip"] for h in plain(prometheus.inputs["hosts"])} == {
        f"minio{i}": f"10.0.0.{138 + i}" for i in (2, 3, 5, 6)
    }


def test_the_hosts_network_never_becomes_a_bridge_containers_default_route(synth):
    """Docker 20.10 takes a container's default gateway (and the target of its published ports) from
    its first network by name that has one. The first host's nodes are on monitoring-net and the
    hosts' network: the name keeps their default route on the bridge (found on simulated hosts,
    when a container on both networks was named hosts-net: its published ports refused everyone)."""
    synthesis = synth("dev", THREE_HOSTS)
    bridges = {
        plain(n.inputs["name"])
        for n in synthesis.of_type(NETWORK)
        if plain(n.inputs["driver"]) == "bridge" and not plain(n.inputs.get("internal", False))
    }
    assert bridges == {"monitoring-net", "database-net"}
    assert all(name < HOSTS_NET for name in bridges)


def test_one_host_keeps_plain_http_on_storage_net_and_one_provider(synth):
    synthesis = synth("dev")
    assert len([r for r in synthesis.resources if r.type == "pulumi:providers:docker"]) == 1
    assert not [r for r in synthesis.resources if r.type.startswith("tls:") and "internode" in r.name]
    assert not [n for n in synthesis.of_type(NETWORK) if plain(n.inputs["name"]) == "storage-hosts-net"]
    assert plain(minio_nodes(synthesis.resources)[0].inputs["command"])[-1] == "http://minio{1...4}/data"


def test_a_host_whose_loss_stops_writes_is_a_warning_at_up_in_dev(synth):
    synthesis = synth("dev", {**THREE_HOSTS, "cluster": {"nodes": 4}})
    assert any("losing host1 takes 2 of the 4 drives" in w for w in synthesis.warnings)


def test_a_deployed_keycloak_needs_a_private_hosts_network():
    """Found on simulated hosts: the dev realm (issuer http://localhost) answers "HTTPS required" to
    clients outside RFC 1918 space, even over TLS, so nodes on a public-range LAN never start."""
    values = several(
        3, cluster={"nodes": 6}, networks={"hostSubnet": "198.18.0.0/24", "hostRange": "198.18.0.128/25"}
    )
    values["hosts"] = [
        {**h, "address": h["address"].replace("10.0.0.", "198.18.0.")} for h in values["hosts"]
    ]
    (problem,) = problems(values)
    assert problem.startswith(
        "minio-platform:networks.hostSubnet = '198.18.0.0/24': a private network (RFC 1918)"
    )
    values["identity"] = {"mode": "external", "url": "https://sso.example.com"}
    values["keycloakAdminPassword"] = "correct-horse-battery"
    assert settings_from_config(values, frozenset({"keycloakAdminPassword"})).hosts is not None


# --- the layout guard: a node that holds data stays on its host ----------------------------------------


def _recorded(placement: dict[int, str] | None, first_host: str | None = None, nodes: int = 6) -> dict:
    record = layout_record(plan_pools([PoolShape(nodes, 1)]), True, placement)
    return record if first_host is None else {**record, "firstHost": first_host}


def test_the_guard_refuses_moving_a_node_that_holds_data_to_another_host():
    old = _recorded(spread_nodes(range(1, 7), ["host1", "host2", "host3"]), "host1")
    # A fourth host in the list: the default spread would move minio4, minio5 and minio6.
    new = _recorded(spread_nodes(range(1, 7), ["host1", "host2", "host3", "host4"]), "host1")
    (problem,) = placement_problems(old, new)
    assert problem.startswith(
        "nodes that hold data would move to another Docker host (minio4 from host1 to host4, "
        "minio5 from host2 to host1, minio6 from host3 to host2)"
    )
    assert "(host1: [1, 4]; host2: [2, 5]; host3: [3, 6])" in problem
    result = _LayoutProvider().check(old, new)
    assert [failure.reason for failure in result.failures] == [problem]
    assert placement_problems(old, old) == []


def test_one_host_to_several_keeps_the_nodes_on_the_first_host_or_is_refused():
    one_host = _recorded(None)
    assert placement_problems(one_host, _recorded(dict.fromkeys(range(1, 7), "host1"), "host1")) == []
    (problem,) = placement_problems(
        one_host, _recorded(spread_nodes(range(1, 7), ["host1", "host2"]), "host1")
    )
    assert "minio2 from host1 to host2" in problem
    # And back: every node would go to the recorded first host.
    (back,) = placement_problems(_recorded(spread_nodes(range(1, 7), ["host1", "host2"]), "host1"), one_host)
    assert "minio2 from host2 to host1" in back
    assert placement_problems(one_host, one_host) == []


# --- a host marked down ----------------------------------------------------------------------------------


def _host3_down() -> dict:
    values = json.loads(json.dumps(THREE_HOSTS))
    values["hosts"][2]["down"] = True
    return values


def test_a_host_marked_down_has_no_provider_and_nothing_registered_on_it(synth):
    synthesis = synth("dev", _host3_down())
    assert set(_providers(synthesis)) == {"host1", "host2"}
    assert [plain(n.inputs["name"]) for n in minio_nodes(synthesis.resources)] == [
        "minio1",
        "minio2",
        "minio4",
        "minio5",
    ]
    assert not [
        v for v in synthesis.of_type(VOLUME) if plain(v.inputs["name"]) in ("minio3-data", "minio6-data")
    ]
    # Every node still names all six, and the gateway keeps every upstream (it skips a dead one).
    assert (
        plain(minio_nodes(synthesis.resources)[0].inputs["command"])[-1] == "https://minio{1...6}:9000/data"
    )
    assert "server 10.0.0.141:9000" in synthesis.files["nginx.conf"]
    assert any(
        "hosts[2] (host3) is marked down" in w and "make host-down HOST=host3" in w
        for w in synthesis.warnings
    )


def test_nothing_outside_a_host_depends_on_its_nodes(synth):
    """`make host-down` forgets the host's provider and its dependents: the gateway and the minio
    provider wait for the first host's nodes only, or they would be forgotten along."""
    synthesis = synth("dev", THREE_HOSTS)
    node_urns = {n.urn: plain(n.inputs["name"]) for n in minio_nodes(synthesis.resources)}
    for resource in synthesis.resources:
        waited = {node_urns[d] for d in resource.dependencies if d in node_urns}
        assert waited <= {"minio1", "minio4"}, (resource.name, waited)
    gateway = next(r for r in synthesis.of_type(CONTAINER) if r.name == "minio-gateway-nginx")
    assert {node_urns[d] for d in gateway.dependencies if d in node_urns} == {"minio1", "minio4"}


def test_the_first_host_cannot_be_marked_down():
    values = several(3, cluster={"nodes": 6})
    values["hosts"][0]["down"] = True
    (problem,) = problems(values)
    assert problem.startswith("minio-platform:hosts[0].down = True: the first host runs the gateway")
