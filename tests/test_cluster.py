"""Networks and the erasure-coded MinIO cluster, asserted on the real program's mocked graph."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

import pytest

from components.cluster import MinioClusterArgs, drive_paths, minio_environment, server_command
from components.conventions import FILES_SUFFIX, SECRET_FILE_MODE
from components.logs import LOG_QUEUE_PATH
from components.pools import PoolShape, plan_pools
from components.settings import Environment, SettingsError, settings_from_config
from synth.manifest import manifest
from synth.mocks import is_secret, unwrap
from tests.graph import (
    CONTAINER,
    NETWORK,
    RANDOM_PASSWORD,
    VOLUME,
    env_of,
    minio_nodes,
    minio_settings_of,
    named_volumes,
    plain,
    uploads_of,
)

EIGHT_BY_TWO = {"cluster": {"nodes": 8, "drivesPerNode": 2}}
SHAPES = [("dev", None, 4, 1), ("dev", EIGHT_BY_TWO, 8, 2)]


# --- pure renderers -------------------------------------------------------------------------------


def test_server_command_uses_minio_ellipses():
    one_pool = plan_pools([PoolShape(4, 1)])
    assert server_command(one_pool)[-1] == "http://minio{1...4}/data"
    assert server_command(plan_pools([PoolShape(8, 2)]))[-1] == "http://minio{1...8}/data{1...2}"
    assert server_command(one_pool)[:2] == ["server", "--json"]  # JSON console logs for the pipeline


def test_drive_paths_match_the_command():
    assert drive_paths(1) == ["/data"]
    assert drive_paths(3) == ["/data1", "/data2", "/data3"]


def test_environment_carries_parity_and_refuses_overrides():
    settings = settings_from_config({"cluster": {"parity": 1}}).cluster
    env = minio_environment(settings, {"MINIO_BROWSER": "on"})
    assert env["MINIO_STORAGE_CLASS_STANDARD"] == "EC:1"
    assert env["MINIO_PROMETHEUS_AUTH_TYPE"] == "jwt"
    with pytest.raises(ValueError, match="MINIO_ROOT_USER"):
        minio_environment(settings, {"MINIO_ROOT_USER": "someone-else"})


# --- networks -------------------------------------------------------------------------------------


def test_named_networks_with_configured_subnets(synth):
    networks = {plain(n.inputs["name"]): n.inputs for n in synth("dev").of_type(NETWORK)}
    subnets = {name: inputs["ipamConfigs"][0]["subnet"] for name, inputs in networks.items()}
    assert subnets == {
        "storage-net": "172.40.0.0/24",
        "monitoring-net": "172.31.0.0/24",
        "database-net": "172.23.0.0/24",
        "log-net": "172.24.0.0/28",
    }
    assert networks["storage-net"]["internal"] is True
    assert networks["storage-net"]["ipamConfigs"][0]["ipRange"] == "172.40.0.128/25"
    assert networks["monitoring-net"]["internal"] is False
    assert networks["log-net"]["internal"] is True
    # Without the log pipeline there is no log-net.
    quiet = synth("dev", {"observability": {"mode": "none"}})
    assert {plain(n.inputs["name"]) for n in quiet.of_type(NETWORK)} == {
        "storage-net",
        "monitoring-net",
        "database-net",
    }


def test_non_private_subnet_warns_but_deploys(synth):
    dev = synth("dev")
    assert any("networks.storageSubnet 172.40.0.0/24 lies outside RFC 1918" in w for w in dev.warnings)
    assert not any("RFC 1918" in w for w in synth("prod").warnings)


# --- nodes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "overrides", "nodes", "drives"), SHAPES)
def test_one_container_per_node_named_like_the_server_command(synth, stack, overrides, nodes, drives):
    containers = minio_nodes(synth(stack, overrides).resources)
    assert [c.inputs["name"] for c in containers] == [f"minio{i}" for i in range(1, nodes + 1)]
    expected_drives = "/data" if drives == 1 else f"/data{{1...{drives}}}"
    for index, container in enumerate(containers, start=1):
        inputs = container.inputs
        assert inputs["hostname"] == f"minio{index}"
        assert inputs["command"][-1] == f"http://minio{{1...{nodes}}}{expected_drives}"
        storage = next(n for n in inputs["networksAdvanced"] if n["name"] == "storage-net")
        assert storage["aliases"] == [f"minio{index}"]
        assert storage["ipv4Address"] == f"172.40.0.{10 + index}"
        assert {n["name"] for n in inputs["networksAdvanced"]} == {"storage-net", "monitoring-net"}


@pytest.mark.parametrize(("stack", "overrides", "nodes", "drives"), SHAPES)
def test_one_retained_volume_per_drive(synth, stack, overrides, nodes, drives):
    synthesis = synth(stack, overrides)
    volumes = [
        v
        for v in synthesis.of_type(VOLUME)
        if v.name.startswith("minio-cluster-") and "log-queue" not in v.name
    ]
    assert len(volumes) == nodes * drives
    for volume in volumes:
        assert volume.options["retainOnDelete"] is True
    for container in minio_nodes(synthesis.resources):
        mounts = [m for m in named_volumes(container) if m["containerPath"] != LOG_QUEUE_PATH]
        assert [m["containerPath"] for m in mounts] == drive_paths(drives)
        node = container.inputs["name"]
        assert [m["volumeName"] for m in mounts] == [f"{node}-{p.strip('/')}" for p in drive_paths(drives)]


@pytest.mark.parametrize(("stack", "overrides", "nodes", "drives"), [*SHAPES, ("prod", None, 4, 1)])
def test_each_node_queues_its_log_and_audit_events_on_a_volume_of_its_own(
    synth, stack, overrides, nodes, drives
):
    """The webhooks queue on disk, outside every drive, in a folder each, with a bounded size."""
    synthesis = synth(stack, overrides)
    queues = {v.inputs["name"]: v for v in synthesis.of_type(VOLUME) if v.name.endswith("-log-queue")}
    assert sorted(queues) == sorted(f"minio{i}-log-queue" for i in range(1, nodes + 1))
    for volume in queues.values():
        assert volume.options["retainOnDelete"] is True
        assert bool(volume.options.get("protect")) is (stack == "prod")
    for container in minio_nodes(synthesis.resources):
        node = container.inputs["name"]
        mounts = {m["containerPath"]: m["volumeName"] for m in named_volumes(container)}
        assert mounts[LOG_QUEUE_PATH] == f"{node}-log-queue"
        assert not any(PurePosixPath(LOG_QUEUE_PATH).is_relative_to(d) for d in drive_paths(drives))
        env = env_of(container)
        folders = [env[f"MINIO_{kind}_WEBHOOK_QUEUE_DIR_alloy"] for kind in ("AUDIT", "LOGGER")]
        assert all(PurePosixPath(f).parent == PurePosixPath(LOG_QUEUE_PATH) for f in folders)
        assert len(set(folders)) == 2
        assert (
            env["MINIO_AUDIT_WEBHOOK_QUEUE_SIZE_alloy"]
            == env["MINIO_LOGGER_WEBHOOK_QUEUE_SIZE_alloy"]
            == "100000"
        )


def test_the_queue_size_comes_from_settings_and_mode_none_has_no_queue(synth):
    (node, *_) = minio_nodes(synth("dev", {"observability": {"logQueueSize": 5000}}).resources)
    assert env_of(node)["MINIO_AUDIT_WEBHOOK_QUEUE_SIZE_alloy"] == "5000"
    quiet = synth("dev", {"observability": {"mode": "none"}})
    assert not [v for v in quiet.of_type(VOLUME) if v.name.endswith("-log-queue")]
    for container in minio_nodes(quiet.resources):
        assert [m["containerPath"] for m in named_volumes(container)] == ["/data"]
        assert not any("QUEUE" in key for key in env_of(container))


@pytest.mark.parametrize("size", [999, 10_000_001])
def test_an_unbounded_or_tiny_queue_is_refused(size):
    with pytest.raises(SettingsError, match=r"observability\.logQueueSize"):
        settings_from_config({"observability": {"logQueueSize": size}})


def test_every_node_shortens_minio_lock_retry_wait_unless_told_not_to(synth):
    """docs/performance.md: a PUT's write lock races the release of its own read lock; the wait
    before MinIO's retry sets how long the PUTs that lose stall."""
    for stack in ("dev", "prod"):
        for node in minio_nodes(synth(stack).resources):
            assert env_of(node)["_MINIO_LOCK_RETRY_INTERVAL"] == "50"
    (node, *_) = minio_nodes(synth("dev", {"cluster": {"lockRetryIntervalMs": 20}}).resources)
    assert env_of(node)["_MINIO_LOCK_RETRY_INTERVAL"] == "20"
    for node in minio_nodes(synth("dev", {"cluster": {"lockRetryIntervalMs": None}}).resources):
        assert "_MINIO_LOCK_RETRY_INTERVAL" not in env_of(node)


@pytest.mark.parametrize("interval", [0, 9, 251])
def test_a_lock_retry_wait_outside_10_to_250_ms_is_refused(interval):
    with pytest.raises(SettingsError, match=r"cluster\.lockRetryIntervalMs"):
        settings_from_config({"cluster": {"lockRetryIntervalMs": interval}})


def test_a_queue_inside_a_drive_is_refused():
    settings = settings_from_config({}).cluster
    for path in ("/data", "/data/queue", "/"):
        with pytest.raises(ValueError, match="must not overlap"):
            MinioClusterArgs(
                settings=settings, environment_kind=Environment.DEV, storage_network=None,
                monitoring_network=None, node_addresses=[], log_queue_path=path,
            )  # fmt: skip


def test_prod_volumes_are_also_protected(synth):
    volumes = [v for v in synth("prod").of_type(VOLUME) if v.name.startswith("minio-cluster-")]
    assert volumes and all(v.options["protect"] for v in volumes)
    assert not any(v.options["protect"] for v in synth("dev").of_type(VOLUME))


@pytest.mark.parametrize(("stack", "overrides", "nodes", "drives"), SHAPES)
def test_nodes_publish_no_ports_and_wait_until_healthy(synth, stack, overrides, nodes, drives):
    for container in minio_nodes(synth(stack, overrides).resources):
        inputs = container.inputs
        assert not inputs.get("ports"), f"{inputs['name']} publishes ports"
        assert not inputs.get("publishAllPorts")
        assert inputs["restart"] == "unless-stopped"
        assert inputs["healthcheck"]["tests"] == ["CMD", "mc", "ready", "local"]
        assert inputs["wait"] is True
        # Long enough for the whole cluster to form: a node is healthy only with write quorum.
        assert inputs["waitTimeout"] >= 120
        assert "healthcheck" in container.options["replaceOnChanges"]


@pytest.mark.parametrize(("stack", "overrides", "nodes", "drives"), [*SHAPES, ("prod", None, 4, 1)])
def test_every_node_has_the_identical_image_command_and_environment(synth, stack, overrides, nodes, drives):
    containers = minio_nodes(synth(stack, overrides).resources)
    assert len(containers) == nodes
    first = containers[0].inputs
    for container in containers[1:]:
        assert container.inputs["image"] == first["image"]
        assert container.inputs["command"] == first["command"]
        assert env_of(container) == env_of(containers[0])
    env = env_of(containers[0])
    assert env["MINIO_ROOT_USER"] == "minio-root"
    assert env["MINIO_STORAGE_CLASS_STANDARD"] == ("EC:2" if nodes * drives == 4 else "EC:4")
    # MINIO_* settings, and MinIO's one internal variable this program sets (docs/performance.md).
    assert all(key.startswith("MINIO_") for key in env if key != "_MINIO_LOCK_RETRY_INTERVAL")


def test_image_from_settings_pinned_by_digest_in_prod(synth):
    images = synth("prod").of_type("docker:index/remoteImage:RemoteImage")
    minio_image = next(i for i in images if i.name == "minio-cluster-image")
    assert minio_image.inputs["name"].startswith("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:")
    assert minio_image.inputs["keepLocally"] is True


def test_nodes_have_the_memory_limit_by_default_and_the_cpu_limit_prod_sets(synth):
    for container in minio_nodes(synth("prod").resources):
        assert container.inputs["cpus"] == "2.0"
        assert container.inputs["memory"] == container.inputs["memorySwap"] == 8192
    for container in minio_nodes(synth("dev").resources):
        assert container.inputs["memory"] == 4096
        assert "cpus" not in container.inputs


def test_nodes_log_json_with_bounded_files(synth):
    for container in minio_nodes(synth("dev").resources):
        assert "--json" in container.inputs["command"]
        assert container.inputs["logDriver"] == "json-file"
        assert container.inputs["logOpts"] == {"max-size": "50m", "max-file": "5"}


# --- root credentials -----------------------------------------------------------------------------


def test_generated_root_password_is_secret_everywhere(synth):
    dev = synth("dev")
    generator = dev.named(RANDOM_PASSWORD, "minio-cluster-root-password")
    assert generator.inputs["length"] >= 8
    assert generator.inputs["keepers"] == {"generation": "1"}
    password = plain(generator.state["result"])
    for container in minio_nodes(dev.resources):
        # In the secrets file (a secret upload), never in the environment.
        assert not is_secret(container.inputs["envs"])
        assert password not in json.dumps(plain(container.inputs["envs"]))
        assert "MINIO_ROOT_PASSWORD" not in env_of(container)
        secrets_file = uploads_of(dev, container)["/run/secrets/minio-config.env"]
        assert secrets_file["permissions"] == SECRET_FILE_MODE
        assert minio_settings_of(dev, container)["MINIO_ROOT_PASSWORD"] == password
    assert is_secret(dev.outputs["minio_root_password"])
    assert plain(dev.outputs["minio_root_password"]) == password
    assert password not in json.dumps(manifest(dev))
    assert password not in json.dumps(dev.files)


def test_rotating_the_generation_changes_the_keepers(synth):
    rotated = synth("dev", {"cluster": {"rootPasswordGeneration": 2}})
    generator = rotated.named(RANDOM_PASSWORD, "minio-cluster-root-password")
    assert generator.inputs["keepers"] == {"generation": "2"}


def test_root_password_from_secure_config_is_used_and_not_generated(synth):
    prod = synth("prod")
    assert "minio-cluster-root-password" not in {r.name for r in prod.of_type(RANDOM_PASSWORD)}
    for container in minio_nodes(prod.resources):
        assert (
            minio_settings_of(prod, container)["MINIO_ROOT_PASSWORD"]
            == "offline-synth-placeholder-for-rootPassword"
        )
    assert is_secret(prod.outputs["minio_root_password"])


# --- outputs and rendered files -------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "overrides", "nodes", "drives"), SHAPES)
def test_outputs_name_nodes_and_endpoints(synth, stack, overrides, nodes, drives):
    outputs = synth(stack, overrides).outputs
    assert outputs["minio_nodes"] == [f"minio{i}" for i in range(1, nodes + 1)]
    assert outputs["minio_internal_endpoints"] == [f"http://minio{i}:9000" for i in range(1, nodes + 1)]
    assert outputs["minio_root_user"] == "minio-root"


def test_erasure_output_states_the_exact_tolerance(synth):
    erasure = synth("dev").outputs["erasure_coding"]
    assert erasure["parity"] == 2
    [pool] = erasure["pools"]
    assert (pool["read_quorum"], pool["write_quorum"]) == (2, 3)
    assert (pool["node_losses_readable"], pool["node_losses_writable"]) == (2, 1)
    assert pool["nodes"] == ["minio1", "minio2", "minio3", "minio4"]
    assert pool["argument"] == "http://minio{1...4}/data"


def test_environment_file_masks_secrets(synth):
    env_file = synth("dev").files["minio.env"]
    assert "MINIO_ROOT_PASSWORD=[secret]\n" in env_file
    assert "MINIO_STORAGE_CLASS_STANDARD=EC:2\n" in env_file


def test_every_child_is_parented_and_uses_the_stack_docker_provider(synth):
    dev = synth("dev")
    provider = dev.named("pulumi:providers:docker", "minio-docker")
    assert unwrap(provider.inputs["host"]) == "unix:///var/run/docker.sock"
    for resource in dev.resources:
        if resource.type == "pulumi:pulumi:Stack":
            continue
        assert resource.parent is not None, resource.name
        if resource.type.startswith("docker:"):
            assert resource.provider == provider.urn, resource.name


def test_rendered_dev_manifest_has_no_minio_ports_and_masks_the_password(synth):
    entries = {entry["name"]: entry for entry in manifest(synth("dev")) if entry["type"] == CONTAINER}
    nodes = [name for name in entries if re.fullmatch(r"minio-cluster-minio\d+", name)]
    assert len(nodes) == 4
    for name in nodes:
        inputs = entries[name]["inputs"]
        assert "ports" not in inputs
        assert "MINIO_CONFIG_ENV_FILE=/run/secrets/minio-config.env" in inputs["envs"]
        assert not [e for e in inputs["envs"] if "PASSWORD" in e or "SECRET" in e]
        assert "[secret]" in json.dumps(entries[name + FILES_SUFFIX]["inputs"]["uploads"])
