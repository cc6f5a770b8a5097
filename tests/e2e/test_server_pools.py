"""Growing the tier's cluster by a server pool with `pulumi up`, and a reshaped pool refused.

Runs after test_real_engine.py (file order): it grows the session's stack from one pool of 4 nodes
to two, and the session's fixture destroys it afterwards. The objects the earlier tests wrote are
read back too, when there are any.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import subprocess
import time
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, inspect, owned, wait_healthy, wait_takes_writes
from tests.e2e.test_real_engine import BUCKET, MIB, s3, sha256

pytestmark = pytest.mark.e2e

POOL_1 = [f"minio{i}" for i in range(1, 5)]
POOL_2 = [f"minio{i}" for i in range(5, 9)]
TWO_POOLS = [{"nodes": 4, "drivesPerNode": 1}, {"nodes": 4, "drivesPerNode": 1}]
PREFIX = "pools/"


def mc(outputs: dict, *args: str) -> Any:
    """``mc <args> --json`` against alias ``e2e/``: the gateway's S3 endpoint as root (the host's mc,
    built from source at the pinned version), as docs/cluster.md tells an operator to run it."""
    binary = os.environ.get("MINIO_PLATFORM_MC") or "mc"
    endpoint = outputs["s3_endpoint"].replace("http://", "")
    alias = f"http://{outputs['minio_root_user']}:{outputs['minio_root_password']}@{endpoint}"
    done = subprocess.run(
        [binary, *args, "--json"],
        env={**os.environ, "MC_HOST_e2e": alias},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"mc {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return json.loads(done.stdout)


def admin_info(outputs: dict) -> dict:
    return mc(outputs, "admin", "info", "e2e")["info"]


def write_objects(outputs: dict, prefix: str, count: int) -> dict[str, str]:
    """``count`` objects of 64 KiB plus one multipart object of 24 MiB; their SHA-256 by key."""
    client = s3(outputs)
    written = {}
    for i in range(count):
        body = secrets.token_bytes(64 * 1024)
        client.put_object(Bucket=BUCKET, Key=f"{prefix}{i:03d}", Body=body)
        written[f"{prefix}{i:03d}"] = sha256(body)
    big = secrets.token_bytes(24 * MIB)
    client.upload_fileobj(io.BytesIO(big), BUCKET, f"{prefix}multipart")
    written[f"{prefix}multipart"] = sha256(big)
    return written


def read_back(outputs: dict, objects: dict[str, str]) -> list[str]:
    """Keys that did not come back with their SHA-256."""
    client = s3(outputs)
    return [
        key
        for key, digest in objects.items()
        if sha256(client.get_object(Bucket=BUCKET, Key=key)["Body"].read()) != digest
    ]


def with_pools(deployment: Deployment, pools: list[dict]) -> dict:
    """The tier's stack config with the cluster given as a pool list (the one-pool keys removed)."""
    cluster = {k: v for k, v in deployment.config["cluster"].items() if k not in ("nodes", "drivesPerNode")}
    return {**deployment.config, "cluster": {**cluster, "pools": pools}}


def test_a_second_pool_appended_with_pulumi_up_keeps_every_object_and_takes_writes(deployment: Deployment):
    engine = deployment.engine
    outputs = engine.outputs()
    client = s3(outputs)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    wait_takes_writes(client, BUCKET, len(POOL_1))
    before = {**deployment.objects, **write_objects(outputs, f"{PREFIX}before-", 30)}
    assert len(admin_info(outputs)["pools"]) == 1

    deployment.config = with_pools(deployment, TWO_POOLS)
    engine.write_config(deployment.config)
    grown = engine.up(check=False)
    deployment.record("pulumi up appending a pool of 4", grown.seconds)
    assert grown.returncode == 0, grown.diagnostics()

    states = wait_healthy([*POOL_1, *POOL_2, "gateway"], seconds=120)
    assert all(s == "running/healthy" for s in states.values()), states
    outputs = engine.outputs()
    assert outputs["minio_nodes"] == POOL_1 + POOL_2
    assert [p["argument"] for p in outputs["erasure_coding"]["pools"]] == [
        "http://minio{1...4}/data",
        "http://minio{5...8}/data",
    ]
    info = admin_info(outputs)
    assert len(info["pools"]) == 2, info.get("pools")
    assert sorted({server["poolNumber"] for server in info["servers"]}) == [1, 2]
    assert read_back(outputs, before) == []
    wait_takes_writes(s3(outputs), BUCKET, len(POOL_1 + POOL_2))
    after = write_objects(outputs, f"{PREFIX}after-", 30)
    assert read_back(outputs, after) == []
    deployment.objects.update({**before, **after})

    # The gateway balances over the new pool's nodes too: its access log names the node that served
    # each request.
    served = subprocess.run(
        ["docker", "logs", "--since", "10m", "gateway"], capture_output=True, text=True, check=True
    ).stdout
    template = '{{(index .NetworkSettings.Networks "storage-net").IPAddress}}'
    for node in POOL_2:
        marker = f'"upstream_addr":"{inspect(node, template)}:9000"'
        assert marker in served, f"no request reached {node} through the gateway"

    preview = engine.preview("--expect-no-changes", check=False)
    assert preview.returncode == 0, preview.diagnostics()


def test_a_reshaped_pool_is_refused_before_any_container_or_volume_is_touched(deployment: Deployment):
    engine = deployment.engine
    assert deployment.config["cluster"].get("pools") == TWO_POOLS, "runs after the expansion test"
    containers = {node: inspect(node, "{{.Id}}") for node in POOL_1 + POOL_2}
    volumes = owned("volume")
    grown = deployment.config

    # The second pool, now holding data, given 2 drives per node.
    reshaped = with_pools(deployment, [TWO_POOLS[0], {"nodes": 4, "drivesPerNode": 2}])
    engine.write_config(reshaped)
    try:
        for attempt in (engine.preview(check=False), engine.up(check=False)):
            assert attempt.returncode != 0, "the engine would have reshaped a pool that holds data"
            message = attempt.diagnostics()  # the "error:" lines first, whatever follows
            assert (
                "cluster.pools[1] (minio5-minio8) holds data as 4 nodes x 1 drive and would become "
                "4 nodes x 2 drives" in message
            ), message
            assert "append a pool to cluster.pools" in message
            assert "mc admin decommission start" in message
    finally:
        engine.write_config(grown)

    assert {node: inspect(node, "{{.Id}}") for node in POOL_1 + POOL_2} == containers
    assert owned("volume") == volumes
    assert read_back(engine.outputs(), deployment.objects) == []
    preview = engine.preview("--expect-no-changes", check=False)
    assert preview.returncode == 0, preview.diagnostics()


def test_a_pool_retired_with_mc_admin_decommission_leaves_the_list_and_every_object_stays(
    deployment: Deployment,
):
    """docs/cluster.md's procedure, command for command, against the real server."""
    engine = deployment.engine
    outputs = engine.outputs()
    argument = outputs["erasure_coding"]["pools"][1]["argument"]
    assert argument == "http://minio{5...8}/data"
    started = time.monotonic()
    mc(outputs, "admin", "decommission", "start", "e2e/", argument)
    deadline = started + 300
    while True:
        status = mc(outputs, "admin", "decommission", "status", "e2e/", argument)
        decommission = status.get("decommissionInfo") or {}
        assert not decommission.get("failed"), status
        if decommission.get("complete") or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert decommission.get("complete"), f"not complete after 300 s: {status}"
    deployment.record("mc admin decommission of pool 2", time.monotonic() - started)
    pools = mc(outputs, "admin", "decommission", "status", "e2e/")
    assert [p["cmdline"] for p in pools] == ["http://minio{1...4}/data", argument]

    deployment.config = with_pools(deployment, TWO_POOLS[:1])
    engine.write_config(deployment.config)
    retired = engine.up(check=False)
    deployment.record("pulumi up removing the retired pool", retired.seconds)
    assert retired.returncode == 0, retired.diagnostics()

    states = wait_healthy([*POOL_1, "gateway"], seconds=120)
    assert all(s == "running/healthy" for s in states.values()), states
    assert [inspect(node, "{{.State.Status}}") for node in POOL_2] == ["absent"] * 4
    # dev keeps a retired pool's drives, as it keeps every drive (docs/cluster.md says to remove them).
    assert {f"{node}-data" for node in POOL_2} <= set(owned("volume"))
    outputs = engine.outputs()
    assert outputs["minio_nodes"] == POOL_1
    assert len(admin_info(outputs)["pools"]) == 1
    assert read_back(outputs, deployment.objects) == []
    preview = engine.preview("--expect-no-changes", check=False)
    assert preview.returncode == 0, preview.diagnostics()

    # A pool appended the default way would be numbered minio5-minio8 again, onto the retired
    # pool's drives (still there): refused, naming the first free number.
    engine.write_config(with_pools(deployment, TWO_POOLS))
    try:
        reused = engine.preview(check=False)
    finally:
        engine.write_config(deployment.config)
    assert reused.returncode != 0, "a new pool would have reused the retired pool's drives"
    message = reused.diagnostics()
    assert "would reuse node numbers of the retired pool minio5-minio8" in message, message
    assert "Give the new pool firstNode: 9" in message
