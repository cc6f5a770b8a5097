"""Single-node mode (docs/cluster.md, "Single-node mode") on the real server.

A one-node stack's rendered command and environment, run by MinIO itself on loopback with the
node's drives in folders of the test's own: MinIO forms the set the settings planned (the
``erasure_coding`` output), serves through the rendered gateway with its one upstream, and survives
exactly the drive losses the docs state. A drive is lost by taking its folder away while the node
is down (a file in its place: MinIO finds no drive there and counts it offline).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from minio import MinioAdmin
from minio.credentials import StaticProvider

from components.gateway import Upstream
from synth.run import Synthesis
from tests.graph import minio_nodes, minio_settings_of
from tests.integration.conftest import ensure_bucket, s3_client
from tests.servers import Nginx, free_port, loopback_environment, loopback_gateway, stop, wait_for_port

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@dataclass
class SingleNode:
    """The stack's one node, run from its rendered command in ``workdir``."""

    binary: str
    workdir: Path
    command: list[str]
    environment: dict[str, str]
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def drive_folders(self) -> list[Path]:
        """The folders the rendered drive argument names, under ``workdir`` (``/data{1...4}``)."""
        (argument,) = [a for a in self.command if a.startswith("/data")]
        if "{" not in argument:
            return [self.workdir / argument.lstrip("/")]
        prefix, span = argument.lstrip("/").rstrip("}").split("{")
        first, last = (int(n) for n in span.split("..."))
        return [self.workdir / f"{prefix}{n}" for n in range(first, last + 1)]

    def start(self) -> None:
        """The rendered command, its ports on loopback and its drives relative to ``workdir``."""
        self.port = self.port or free_port()
        arguments = list(self.command)
        arguments[arguments.index("--address") + 1] = f"127.0.0.1:{self.port}"
        arguments[arguments.index("--console-address") + 1] = f"127.0.0.1:{free_port()}"
        arguments = [a.lstrip("/") if a.startswith("/data") else a for a in arguments]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.workdir),
            **self.environment,
            "MINIO_CI_CD": "on",  # drives on the root filesystem (tests/servers.py says why)
        }
        log = self.workdir / "minio.log"
        with open(log, "a") as out:
            self.process = subprocess.Popen(
                [self.binary, *arguments], env=env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process, log, seconds=30)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def health(self, probe: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/minio/health/{probe}", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    def backend(self) -> dict:
        """MinIO's own account of its drives and parity (``mc admin info``'s backend)."""
        user, password = self.environment["MINIO_ROOT_USER"], self.environment["MINIO_ROOT_PASSWORD"]
        admin = MinioAdmin(
            endpoint=f"127.0.0.1:{self.port}", credentials=StaticProvider(user, password), secure=False
        )
        return json.loads(admin.info())["backend"]


def single_node_stack(synth, drives: int) -> Synthesis:
    return synth("dev", {"cluster": {"nodes": 1, "drivesPerNode": drives}})


@contextmanager
def running(stack: Synthesis, binary: str, workdir: Path) -> Iterator[SingleNode]:
    (node,) = minio_nodes(stack.resources)
    node = SingleNode(
        binary, workdir, list(node.inputs["command"]), loopback_environment(minio_settings_of(stack, node))
    )
    workdir.mkdir(parents=True, exist_ok=True)
    node.start()
    try:
        wait(lambda: node.health("cluster") == 200, 60, "the node to serve")
        yield node
    finally:
        node.stop()


def wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def lose(folders: list[Path]) -> None:
    """Take drives away: each folder moved aside, a file where it was."""
    for folder in folders:
        folder.rename(folder.with_name(folder.name + ".lost"))
        folder.touch()


def bring_back(folders: list[Path]) -> None:
    for folder in folders:
        folder.unlink()
        folder.with_name(folder.name + ".lost").rename(folder)


def writes(client, bucket: str, key: str) -> bool:
    """Whether a PUT is taken; a lost write quorum answers 503 SlowDownWrite (anything else fails)."""
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"written")
        return True
    except ClientError as err:
        assert err.response["Error"]["Code"] == "SlowDownWrite", err.response["Error"]
        return False


def read_back(client, bucket: str, stored: dict[str, bytes]) -> None:
    for key, data in stored.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key


def test_a_single_node_of_four_drives_survives_what_its_parity_allows(synth, minio_binary, tmp_path):
    stack = single_node_stack(synth, 4)
    (pool,) = stack.outputs["erasure_coding"]["pools"]
    assert (pool["set_size"], stack.outputs["erasure_coding"]["parity"]) == (4, 2)
    assert (pool["drive_losses_readable"], pool["drive_losses_writable"]) == (2, 1)
    (container,) = minio_nodes(stack.resources)
    mounted = sorted(v["containerPath"] for v in container.inputs["volumes"] if "volumeName" in v)
    with running(stack, minio_binary, tmp_path / "node") as node:
        assert mounted == [*sorted(f"/{f.name}" for f in node.drive_folders), "/queue"]
        backend = node.backend()
        assert backend["totalDrivesPerSet"] == [pool["set_size"]]
        assert backend["standardSCParity"] == stack.outputs["erasure_coding"]["parity"]
        assert backend["onlineDisks"] == 4

        # Through the rendered gateway with its one upstream.
        nginx = Nginx(tmp_path / "gateway")
        config, _, s3_port = loopback_gateway(
            tmp_path / "gateway", [Upstream(f"127.0.0.1:{node.port}", f"127.0.0.1:{free_port()}")]
        )
        user, password = node.environment["MINIO_ROOT_USER"], node.environment["MINIO_ROOT_PASSWORD"]
        try:
            nginx.start(config, s3_port)
            client = s3_client(f"http://127.0.0.1:{s3_port}", user, password, attempts=1)
            ensure_bucket(client, "single")
            stored = {f"small/{i}": os.urandom(1000 + i) for i in range(20)}
            stored["large"] = os.urandom(12 * MB)
            for key, data in stored.items():
                client.put_object(Bucket="single", Key=key, Body=data)
            read_back(client, "single", stored)
        finally:
            nginx.close()

        drives = node.drive_folders
        direct = s3_client(f"http://127.0.0.1:{node.port}", user, password, attempts=1)
        # As many drives lost as writes survive: reads and writes go on.
        node.stop()
        lose(drives[-pool["drive_losses_writable"] :])
        node.start()
        wait(lambda: node.health("cluster") == 200, 60, "writes with one drive lost")
        assert node.backend()["offlineDisks"] == pool["drive_losses_writable"]
        assert writes(direct, "single", "during-one-loss")
        read_back(direct, "single", stored)
        # As many as reads survive: reads go on, writes are refused.
        node.stop()
        lose(drives[-pool["drive_losses_readable"] : -pool["drive_losses_writable"]])
        node.start()
        wait(lambda: node.health("cluster/read") == 200, 60, "reads with two drives lost")
        assert node.backend()["offlineDisks"] == pool["drive_losses_readable"]
        assert node.health("cluster") == 503
        read_back(direct, "single", stored)
        assert not writes(direct, "single", "during-two-losses")
        # Every drive back: writable again, and every object (the one written on three drives too).
        node.stop()
        bring_back(drives[-pool["drive_losses_readable"] :])
        node.start()
        wait(lambda: node.health("cluster") == 200, 60, "every drive back")
        assert writes(direct, "single", "after")
        read_back(direct, "single", {**stored, "during-one-loss": b"written"})


def test_one_drive_runs_without_erasure_coding_and_still_locks_objects(synth, minio_binary, tmp_path):
    """No parity to set (the storage class is left out: MinIO would refuse EC:0), and what the
    stack's backups bucket needs still holds: versioning and a compliance lock."""
    stack = single_node_stack(synth, 1)
    (pool,) = stack.outputs["erasure_coding"]["pools"]
    assert (pool["set_size"], pool["drive_losses_readable"], pool["drive_losses_writable"]) == (1, 0, 0)
    with running(stack, minio_binary, tmp_path / "node") as node:
        assert "MINIO_STORAGE_CLASS_STANDARD" not in node.environment
        assert [f.name for f in node.drive_folders] == ["data"]
        backend = node.backend()
        assert (backend["totalDrivesPerSet"], backend["standardSCParity"]) == ([1], 0)
        user, password = node.environment["MINIO_ROOT_USER"], node.environment["MINIO_ROOT_PASSWORD"]
        client = s3_client(f"http://127.0.0.1:{node.port}", user, password, attempts=1)
        client.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
        version = client.put_object(
            Bucket="locked",
            Key="kept",
            Body=b"kept",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1),
        )["VersionId"]
        with pytest.raises(ClientError) as refused:
            client.delete_object(Bucket="locked", Key="kept", VersionId=version)
        # MinIO's answer to root deleting a locked version.
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "InvalidRequest",
            "Object is WORM protected and cannot be overwritten",
        ), error
        assert client.get_object(Bucket="locked", Key="kept", VersionId=version)["Body"].read() == b"kept"
