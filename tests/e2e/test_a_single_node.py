"""Single-node mode under the real engine (docs/cluster.md, "Single-node mode"): `make up` of a stack
with one node of four drives, the node healthy with its drives named by path, MinIO's own account
of its set, S3 through the gateway, and `pulumi destroy`.

It runs first in the tier (its file name sorts first): the tier's stacks share one Docker host,
one stack at a time, and the session's stack (conftest.py, ``deployment``) is made by the next
test, after removing anything this one left.
"""

from __future__ import annotations

import shutil

import pytest

from components.conventions import ROLE_LABEL
from tests.e2e.conftest import containers_report, docker, inspect, remove_leftovers, wait_healthy
from tests.e2e.engine import ROOT, Engine, stack_config
from tests.e2e.test_real_engine import s3
from tests.e2e.test_server_pools import admin_info

pytestmark = pytest.mark.e2e

BUILD = ROOT / "build" / "e2e-single"


def test_a_single_node_stack_deploys_serves_and_is_destroyed(pulumi_cli, images):
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir(parents=True)
    remove_leftovers()
    engine = Engine(pulumi_cli, BUILD)
    engine.write_config(stack_config(images, cluster={"nodes": 1, "drivesPerNode": 4}))
    try:
        up = engine.make_up(check=False)
        assert up.returncode == 0, f"{up.diagnostics()}\n\ncontainers:\n{containers_report()}"
        print(f"\nsingle-node stack: `make up` took {up.seconds:.0f} s")
        outputs = engine.outputs()
        (pool,) = outputs["erasure_coding"]["pools"]
        assert (pool["nodes"], pool["argument"], pool["set_size"]) == (["minio1"], "/data{1...4}", 4)

        nodes = docker("ps", "-a", "--filter", f"label={ROLE_LABEL}=minio", "--format", "{{.Names}}")
        assert nodes.split() == ["minio1"], nodes
        nodes = ["minio1"]
        assert wait_healthy(nodes) == {"minio1": "running/healthy"}
        assert inspect("minio1", "{{json .Config.Cmd}}").endswith('"/data{1...4}"]')
        mounted = inspect("minio1", "{{range .Mounts}}{{.Name}} {{end}}").split()
        assert sorted(m for m in mounted if "-data" in m) == [f"minio1-data{d}" for d in range(1, 5)]

        info = admin_info(outputs)
        (server,) = info["servers"]
        assert server["state"] == "online" and len(server["drives"]) == 4, server
        assert info["backend"]["totalDrivesPerSet"] == [4] and info["backend"]["onlineDisks"] == 4
        assert info["backend"]["standardSCParity"] == outputs["erasure_coding"]["parity"] == 2

        client = s3(outputs)
        client.create_bucket(Bucket="single-node")
        client.put_object(Bucket="single-node", Key="hello", Body=b"one node, four drives")
        body = client.get_object(Bucket="single-node", Key="hello")["Body"].read()
        assert body == b"one node, four drives"
    finally:
        destroyed = engine.destroy(check=False)
        remove_leftovers()
    assert destroyed.returncode == 0, destroyed.diagnostics()
