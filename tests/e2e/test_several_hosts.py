"""Several Docker hosts, simulated on this machine: `pulumi up` places six nodes on three hosts, then
hosts are stopped and cut off while a client writes and reads through the gateway.

Each host is a network namespace with its own dockerd (tests/e2e/hosts.py); the CLI runs on the
first host, as an operator would on a bastion that reaches every daemon. All traffic stays inside
10.219.0.0/24 on a bridge this module makes and removes. Six nodes x one drive, EC:3 (MinIO's
default for a set of 6): one host's loss leaves 4 drives of 6 (write quorum 4), two hosts' loss
leaves 2 (read quorum 3).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from components.gateway import RESPONSE_BOUND_SECONDS
from tests.e2e.conftest import wait_takes_writes
from tests.e2e.engine import ROOT, Engine, require, stack_config
from tests.e2e.hosts import SUBNET, Host, SimulatedHosts

pytestmark = pytest.mark.e2e

BUILD = ROOT / "build" / "e2e-hosts"
NODES = 6
HOST_RANGE = "10.219.0.128/25"
S3_PORT = 19000
STALL_BOUND_SECONDS = RESPONSE_BOUND_SECONDS + 5
"""What a client may wait for one request when a host fails: the gateway's bound (it answers within
it or replies 503, docs/several-hosts.md), plus slack for a loaded machine."""


@dataclass
class Cluster:
    sim: SimulatedHosts
    engine: Engine
    outputs: dict
    config: dict

    @property
    def first(self) -> Host:
        return self.sim.hosts[0]

    def s3(self, read_timeout: float = 300):
        return boto3.client(
            "s3",
            endpoint_url=f"http://{self.first.address}:{S3_PORT}",
            aws_access_key_id=self.outputs["minio_root_user"],
            aws_secret_access_key=self.outputs["minio_root_password"],
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                # One attempt (botocore's max_attempts counts retries): what is measured is the
                # gateway's answer, not the SDK's retry of it.
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=read_timeout,
            ),
        )

    def nodes_on(self, host: Host) -> list[str]:
        return sorted(
            host.docker(
                "ps", "--filter", "label=com.minio-platform.role=minio", "--format", "{{.Names}}"
            ).split()
        )

    def healthy(self, host: Host) -> bool:
        states = [
            host.docker("inspect", "-f", "{{.State.Health.Status}}", name, check=False)
            for name in self.nodes_on(host)
        ]
        return bool(states) and all(s == "healthy" for s in states)


@pytest.fixture(scope="module")
def cluster(pulumi_cli, images) -> Iterator[Cluster]:
    require("root (network namespaces and a bridge)", os.geteuid() == 0, "run the tier as root")
    require(
        "iproute2, iptables and curl",
        all(shutil.which(tool) for tool in ("ip", "iptables", "curl")),
        "apt-get install iproute2 iptables curl",
    )
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir(parents=True)
    with SimulatedHosts(3) as sim:
        sim.load_images(images["minio"], images["nginx"], images["keycloak"])
        first = sim.hosts[0]
        # The services (the sign-in bridge among them) run on the first host alone.
        sim.load_images(images["signin"], hosts=[first])
        engine = Engine(pulumi_cli, BUILD, prefix=("ip", "netns", "exec", first.namespace))
        config = stack_config(
            images,
            cluster={"nodes": NODES, "drivesPerNode": 1, "image": images["minio"]},
            hosts=[{"name": h.name, "dockerHost": h.docker_host, "address": h.address} for h in sim.hosts],
            networks={"hostSubnet": SUBNET, "hostRange": HOST_RANGE},
            gateway={"bindAddress": first.address, "s3Port": S3_PORT},
        )
        engine.write_config(config)
        try:
            up = engine.make_up(check=False)
            if up.returncode != 0:
                report = [
                    f"`make up` on three hosts exited {up.returncode} after {up.seconds:.0f} s",
                    up.diagnostics(),
                ]
                for host in sim.hosts:
                    report.append(
                        f"{host.name}: "
                        + host.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=False)
                    )
                (BUILD / "first-up-failure.txt").write_text("\n".join(report) + "\n")
                pytest.fail("\n".join(report), pytrace=False)
            (BUILD / "timings.json").write_text(
                json.dumps({"up on three hosts": round(up.seconds, 1)}) + "\n"
            )
            yield Cluster(sim, engine, engine.outputs(), config)
        finally:
            for host in sim.hosts:
                if not host.pid_file.exists():
                    sim.start(host)
            engine.run("destroy", "--yes", *engine.stack_args(), check=False, timeout=600)


def put_and_get(client, bucket: str, key: str, size: int = 256 * 1024) -> float:
    """One PUT and GET of fresh bytes, checked; the seconds they took together."""
    body = os.urandom(size)
    started = time.monotonic()
    client.put_object(Bucket=bucket, Key=key, Body=body)
    got = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    seconds = time.monotonic() - started
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    return seconds


def record(what: str, seconds: float) -> None:
    """Measured durations, kept in build/e2e-hosts/timings.json (docs/several-hosts.md quotes them)."""
    path = BUILD / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[what] = round(seconds, 1)
    path.write_text(json.dumps(timings, indent=2) + "\n")


def heal(cluster: Cluster, bucket: str) -> None:
    """``mc admin heal -r`` from minio1 (the mc in the image, over TLS): what docs/several-hosts.md
    tells the operator to run when a host returns."""
    user, password = cluster.outputs["minio_root_user"], cluster.outputs["minio_root_password"]
    subprocess.run(
        ["docker", "-H", cluster.first.socket, "exec", "-e", f"MC_HOST_platform=https://{user}:{password}@localhost:9000",
         "minio1", "mc", "admin", "heal", "-r", "--quiet", f"platform/{bucket}"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip


def wait_for(what: str, check, seconds: float, interval: float = 1) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def test_up_places_two_nodes_on_each_of_three_hosts(cluster):
    placed = {host.name: cluster.nodes_on(host) for host in cluster.sim.hosts}
    assert placed == {
        "host1": ["minio1", "minio4"],
        "host2": ["minio2", "minio5"],
        "host3": ["minio3", "minio6"],
    }
    assert all(cluster.healthy(host) for host in cluster.sim.hosts)


def test_s3_through_the_gateway(cluster):
    client = cluster.s3()
    client.create_bucket(Bucket="several-hosts")
    put_and_get(client, "several-hosts", "first")


def test_internode_traffic_is_tls_and_plain_http_is_refused(cluster, tmp_path):
    # minio2 runs on host2; its address on the hosts' network, which this machine's bridge reaches.
    node = cluster.sim.hosts[1].docker(
        "inspect", "-f", '{{(index .NetworkSettings.Networks "storage-hosts-net").IPAddress}}', "minio2"
    )
    ca = tmp_path / "ca.crt"
    ca.write_text(cluster.first.docker("exec", "minio1", "cat", "/etc/minio/certs/CAs/ca.crt") + "\n")
    plain = subprocess.run(
        [
            "curl",
            "-sS",
            "-m",
            "10",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            f"http://{node}:9000/minio/health/live",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    body, _, status = plain.stdout.rpartition("\n")
    assert status == "400" and "HTTPS" in body, (status, body, plain.stderr)
    verified = subprocess.run(
        [
            "curl",
            "-sS",
            "-m",
            "10",
            "--cacert",
            str(ca),
            "--resolve",
            f"minio:9000:{node}",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "https://minio:9000/minio/health/live",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.stdout == "200", verified.stderr


def test_a_stopped_host_costs_a_bounded_stall_and_heals_when_it_returns(cluster):
    client = cluster.s3()
    third = cluster.sim.hosts[2]
    cluster.sim.stop(third)
    stall = put_and_get(client, "several-hosts", "while-host3-is-down")
    record("host stopped: first PUT and GET", stall)
    assert stall < STALL_BOUND_SECONDS
    for i in range(5):
        put_and_get(client, "several-hosts", f"while-host3-is-down-{i}")
    cluster.sim.start(third)
    cluster.sim.wait(third)
    back = wait_for("host3's nodes healthy again", lambda: cluster.healthy(third), 180)
    record("host stopped: back healthy after its daemon started", back)
    healed = wait_healed(cluster, third, "minio3", "while-host3-is-down")
    record("host stopped: healed after mc admin heal", healed)
    print(
        f"host stopped: first PUT+GET {stall:.1f} s; back healthy in {back:.0f} s, healed in {healed:.0f} s"
    )


def wait_healed(cluster: Cluster, host: Host, node: str, key: str) -> float:
    """``mc admin heal -r`` again until the object is on the node's drive (right after a host returns,
    its peers may still see its drives offline); the seconds it took."""
    return wait_for(
        f"{key} healed onto {node}'s drive",
        lambda: heal(cluster, "several-hosts") or _exists(host, node, f"/data/several-hosts/{key}/xl.meta"),
        120,
        interval=5,
    )


def _exists(host: Host, container: str, path: str) -> bool:
    return (
        subprocess.run(
            ["docker", "-H", host.socket, "exec", container, "test", "-f", path],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def test_a_cut_off_host_costs_a_bounded_stall(cluster):
    client = cluster.s3()
    second = cluster.sim.hosts[1]
    cluster.sim.cut(second)
    try:
        stall = put_and_get(client, "several-hosts", "while-host2-is-cut-off")
        record("host cut off: first PUT and GET", stall)
        assert stall < STALL_BOUND_SECONDS
        print(f"host cut off: first PUT+GET {stall:.1f} s")
    finally:
        cluster.sim.reconnect(second)
    wait_for("host2's nodes healthy again", lambda: cluster.healthy(second), 180)


def test_two_hosts_down_is_a_clear_error_within_the_bound(cluster):
    client = cluster.s3()
    second, third = cluster.sim.hosts[1:]
    cluster.sim.stop(second)
    cluster.sim.stop(third)
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            attempt = pool.submit(client.get_object, Bucket="several-hosts", Key="first")
            try:
                # Twice the bound: a late answer is measured and reported rather than cut off.
                attempt.result(timeout=2 * STALL_BOUND_SECONDS)
                raise AssertionError("a read succeeded with 2 of 6 drives (read quorum 3)")
            except ClientError as err:
                seconds = time.monotonic() - started
                code = err.response["Error"]["Code"]
                status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            except FutureTimeout:
                raise AssertionError(
                    f"no answer within {2 * STALL_BOUND_SECONDS} s below quorum: the client hangs"
                ) from None
        record("two hosts down: the gateway's answer", seconds)
        assert status == 503 and code in ("ServiceUnavailable", "SlowDown"), (status, code)
        assert seconds < STALL_BOUND_SECONDS, seconds
        print(f"two hosts down: {status} {code} after {seconds:.1f} s")
    finally:
        for host in (second, third):
            cluster.sim.start(host)
        for host in (second, third):
            cluster.sim.wait(host)
    for host in (second, third):
        wait_for(f"{host.name}'s nodes healthy again", lambda h=host: cluster.healthy(h), 180)
    wait_takes_writes(cluster.s3(), "several-hosts", nodes=6)


def _node_ids(host: Host) -> dict[str, str]:
    listed = host.docker(
        "ps",
        "--no-trunc",
        "--filter",
        "label=com.minio-platform.role=minio",
        "--format",
        "{{.Names}} {{.ID}}",
    )
    return dict(line.split() for line in listed.splitlines())


def test_the_host_down_procedure_changes_the_stack_without_the_host_and_takes_it_back(cluster):
    """docs/several-hosts.md, "Operating with a host down": mark the host down, forget it in the
    state, `pulumi up` a change to the rest; then the way back onto the same machine."""
    client = cluster.s3()
    objects = {f"before-host3-down-{i}": os.urandom(64 * 1024) for i in range(3)}
    for key, body in objects.items():
        client.put_object(Bucket="several-hosts", Key=key, Body=body)
    first, second, third = cluster.sim.hosts
    # Written on every drive before a host goes: a write that lands while a node still counts its
    # returned peers offline is on fewer drives, and with host3 gone it could not be read (seen:
    # NoSuchKey). That is the earlier test's aftermath, not what this test is about.
    for host in cluster.sim.hosts:
        for node in cluster.nodes_on(host):
            for key in objects:
                wait_healed(cluster, host, node, key)
    survivors = {**_node_ids(first), **_node_ids(second)}
    cluster.sim.stop(third)
    config = json.loads(json.dumps(cluster.config))
    config["hosts"][2]["down"] = True
    config["gateway"]["maxBodySize"] = "6g"  # a change to the rest, which replaces the gateway
    cluster.engine.write_config(config)
    backend = f"PULUMI_BACKEND_URL=file://{cluster.engine.state}"
    cluster.engine._run(
        ["make", "--no-print-directory", "host-down", "STACK=e2e", "HOST=host3", backend],
        check=True,
        timeout=300,
    )
    up = cluster.engine.up()
    record("host down: pulumi up without it", up.seconds)
    assert {**_node_ids(first), **_node_ids(second)} == survivors, "a surviving node was touched"
    assert "client_max_body_size 6g;" in cluster.first.docker(
        "exec", "gateway", "cat", "/etc/nginx/nginx.conf"
    )
    for key, body in objects.items():
        got = cluster.s3().get_object(Bucket="several-hosts", Key=key)["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key
    put_and_get(cluster.s3(), "several-hosts", "while-host3-is-marked-down")

    # The way back: the machine returns, its nodes rejoin with its daemon; the stack takes them
    # back after its stale containers and network are removed (the drives stay).
    cluster.sim.start(third)
    cluster.sim.wait(third)
    third.docker("rm", "-f", "-v", "minio3", "minio3-files", "minio6", "minio6-files")
    third.docker("network", "rm", "storage-hosts-net")
    config["hosts"][2]["down"] = False
    cluster.engine.write_config(config)
    cluster.engine.up()
    wait_for("host3's nodes healthy under the stack again", lambda: cluster.healthy(third), 180)
    assert _exists(third, "minio3", "/data/several-hosts/first/xl.meta"), "minio3 came back without its drive"
    assert {**_node_ids(first), **_node_ids(second)} == survivors
    cluster.engine.preview("--expect-no-changes")
    wait_healed(cluster, third, "minio3", "while-host3-is-marked-down")
    cluster.config = config
