"""Single-node mode (#33 item 2): one node with one or more drives, for dev and CI. Its arithmetic,
its refusals, and what the program renders for it. The real server runs the rendered command in
tests/integration/test_single_node.py (the set MinIO forms, the drive losses it survives)."""

from __future__ import annotations

import pytest
import yaml

from components.erasure import ErasureLayoutError, plan_erasure
from components.layout_guard import layout_change_problems, layout_record
from components.monitoring import RULES_FILE, alert_rules
from components.pools import PoolShape, plan_pools
from components.settings import SettingsError, settings_from_config
from day2.summary import _pool_line
from tests.graph import VOLUME, env_of, minio_nodes
from tests.test_gateway import blocks, http_block, parse
from tests.test_monitoring import LIFETIME, _labels, promtool, series
from tests.test_settings import prod


@pytest.mark.parametrize(
    ("drives", "set_size", "parity", "readable", "writable"),
    [(1, 1, 0, 0, 0), (2, 2, 1, 1, 0), (3, 3, 1, 1, 1), (4, 4, 2, 2, 1), (8, 8, 4, 4, 3), (16, 16, 4, 4, 4)],
)
def test_one_node_is_one_set_of_its_drives(drives, set_size, parity, readable, writable):
    plan = plan_erasure(1, drives)
    assert (plan.set_size, plan.set_count, plan.parity) == (set_size, 1, parity)
    assert (plan.drive_losses_readable, plan.drive_losses_writable) == (readable, writable)
    assert (plan.node_losses_readable, plan.node_losses_writable) == (0, 0), "the node is everything"


def test_one_drive_takes_no_parity():
    with pytest.raises(ErasureLayoutError, match="not possible with one drive"):
        plan_erasure(1, 1, 1)
    with pytest.raises(SettingsError) as raised:
        settings_from_config({"cluster": {"nodes": 1, "parity": 1}})
    assert "minio-platform:cluster.parity = 1: parity EC:1 is not possible with one drive" in str(
        raised.value
    )


@pytest.mark.parametrize(
    ("config", "key", "says"),
    [
        ({"cluster": {"nodes": 2}}, "cluster.nodes", "1 node (single-node mode, for dev and CI) or 4 to 32"),
        ({"cluster": {"nodes": 1, "drivesPerNode": 4, "parity": 3}}, "cluster.parity", "EC:1 to EC:2"),
        (
            {"cluster": {"pools": [{"nodes": 4}, {"nodes": 1, "drivesPerNode": 4}]}},
            "cluster.pools[1].nodes",
            "its cluster's only pool",
        ),
        (
            {"cluster": {"pools": [{"nodes": 1, "drivesPerNode": 4}, {"nodes": 4}]}},
            "cluster.pools[0].nodes",
            "its cluster's only pool",
        ),
    ],
)
def test_single_node_mistakes_are_refused_naming_the_key(config, key, says):
    with pytest.raises(SettingsError) as raised:
        settings_from_config(config)
    assert f"minio-platform:{key} = " in str(raised.value) and says in str(raised.value), raised.value


def test_prod_and_several_hosts_refuse_a_single_node():
    with pytest.raises(SettingsError) as raised:
        settings_from_config(prod(cluster={**prod()["cluster"], "nodes": 1, "drivesPerNode": 4}))
    assert "minio-platform:cluster.nodes = 1: prod runs 4 or more nodes" in str(raised.value), raised.value
    hosts = [
        {"name": "a", "dockerHost": "ssh://a", "address": "10.9.0.1"},
        {"name": "b", "dockerHost": "ssh://b", "address": "10.9.0.2"},
    ]
    config = {
        "cluster": {"nodes": 1},
        "hosts": hosts,
        "networks": {"hostSubnet": "10.9.0.0/24", "hostRange": "10.9.0.128/25"},
    }
    with pytest.raises(SettingsError) as raised:
        settings_from_config(config)
    assert raised.value.problems == [
        "minio-platform:hosts = '[...]': a single node runs on one host: remove hosts (or give it dockerHost)"
    ]


def test_a_single_node_names_its_drives_by_path(synth):
    four = synth("dev", {"cluster": {"nodes": 1, "drivesPerNode": 4}})
    (node,) = minio_nodes(four.resources)
    assert node.inputs["command"][-1] == "/data{1...4}", "a path: MinIO refuses a URL beside no peer"
    assert not any("http" in argument for argument in node.inputs["command"])
    assert env_of(node)["MINIO_STORAGE_CLASS_STANDARD"] == "EC:2"
    assert sorted(v.inputs["name"] for v in four.of_type(VOLUME) if v.inputs["name"].startswith("minio")) == [
        "minio1-data1", "minio1-data2", "minio1-data3", "minio1-data4", "minio1-log-queue",
    ]  # fmt: skip
    one = synth("dev", {"cluster": {"nodes": 1}})
    (node,) = minio_nodes(one.resources)
    assert node.inputs["command"][-1] == "/data"
    assert "MINIO_STORAGE_CLASS_STANDARD" not in env_of(node), "one drive has no parity (EC:0 is refused)"
    (pool,) = one.outputs["erasure_coding"]["pools"]
    assert (pool["argument"], pool["set_size"], one.outputs["erasure_coding"]["parity"]) == ("/data", 1, 0)


def test_the_gateway_has_the_one_node_behind_every_upstream(synth, tmp_path):
    http = http_block(parse(synth("dev", {"cluster": {"nodes": 1}}).files["nginx.conf"], tmp_path))
    upstreams = {b["args"][0]: b["block"] for b in blocks(http, "upstream")}
    for name in ("minio_s3", "minio_multipart", "minio_admin", "minio_console"):
        servers = [d["args"][0] for d in upstreams[name] if d["directive"] == "server"]
        assert len(servers) == 1 and servers[0].split(":")[1] in ("9000", "9001"), (name, servers)


def test_the_layout_guard_refuses_growing_a_single_node_into_a_cluster():
    single = layout_record(plan_pools([PoolShape(1, 4)]), True)
    assert layout_change_problems(single, single) == []
    (problem,) = layout_change_problems(single, layout_record(plan_pools([PoolShape(4, 1)]), True))
    assert "holds data as 1 node x 4 drives and would become 4 nodes x 1 drive" in problem, problem


def test_the_quorum_alert_counts_drives_on_a_single_node_and_is_left_out_without_a_spare():
    rules = {r["alert"]: r for r in alert_rules(plan_pools([PoolShape(1, 4)]), LIFETIME)}
    assert (
        rules["MinIOWriteQuorumAtRisk"]["expr"]
        == 'max(minio_cluster_drive_offline_total{job="minio-cluster"}) >= 1'
    )
    for drives in (1, 2):  # one drive, or two at EC:1: nothing to lose before writes stop
        names = [r["alert"] for r in alert_rules(plan_pools([PoolShape(1, drives)]), LIFETIME)]
        assert "MinIOWriteQuorumAtRisk" not in names and "MinIODrivesOffline" in names


def test_an_alert_for_a_rule_the_stack_leaves_out_is_a_warning_naming_why(synth):
    """observability.alertFor may name any rule the program has; where this stack renders none of
    that name (one drive's quorum rule, the backup rules without schedules) the setting would change
    nothing, and the run says so instead of passing over it."""
    alert_for = {"MinIOWriteQuorumAtRisk": "5m", "MinIOBackupFailed": "10m", "MinIONodeDown": "1m"}
    one_drive = synth(
        "dev", {"cluster": {"nodes": 1, "drivesPerNode": 1}, "observability": {"alertFor": alert_for}}
    )
    unused = sorted(w for w in one_drive.warnings if "observability.alertFor" in w)
    assert len(unused) == 2, one_drive.warnings
    assert unused[0].startswith("observability.alertFor.MinIOBackupFailed changes nothing")
    assert "no backup service (backups.schedules)" in unused[0]
    assert unused[1].startswith("observability.alertFor.MinIOWriteQuorumAtRisk changes nothing")
    assert "single node with no drive to spare" in unused[1]
    four_drives = synth(
        "dev", {"cluster": {"nodes": 1, "drivesPerNode": 4}, "observability": {"alertFor": alert_for}}
    )
    assert [w for w in four_drives.warnings if "alertFor" in w] == [
        w for w in unused if "MinIOBackupFailed" in w
    ]


@pytest.mark.render
def test_promtool_proves_the_single_node_quorum_alert(synth, tmp_path):
    (tmp_path / RULES_FILE).write_text(
        synth("dev", {"cluster": {"nodes": 1, "drivesPerNode": 4}}).files[RULES_FILE]
    )
    rule = next(
        r
        for r in alert_rules(plan_pools([PoolShape(1, 4)]), LIFETIME)
        if r["alert"] == "MinIOWriteQuorumAtRisk"
    )
    lost = [series("minio_cluster_drive_offline_total", "1x5")]
    summary = "MinIO: one more drive loss stops every write (single node: write quorum 3 of 4 drives)"
    fired = {
        "exp_labels": {"severity": "critical", **_labels(lost, rule["expr"])},
        "exp_annotations": {"summary": summary, "runbook": rule["annotations"]["runbook"]},
    }
    cases = [(lost, [fired]), ([series("minio_cluster_drive_offline_total", "0x5")], [])]
    tests = [
        {
            "interval": "1m",
            "input_series": input_series,
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "MinIOWriteQuorumAtRisk", "exp_alerts": expected}
            ],
        }
        for input_series, expected in cases
    ]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": [RULES_FILE], "tests": tests}))
    result = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_summary_says_what_a_single_node_survives(synth):
    for drives, says in [
        (4, "single node minio1, one set of 4 drives, parity 2: reads survive 2 drive loss(es), writes 1; "
            "the node's loss stops everything"),
        (1, "single node minio1, one drive, no erasure coding: it survives no drive loss"),
    ]:  # fmt: skip
        outputs = synth("dev", {"cluster": {"nodes": 1, "drivesPerNode": drives}}).outputs["erasure_coding"]
        (pool,) = outputs["pools"]
        assert _pool_line(pool, outputs["parity"]) == says
