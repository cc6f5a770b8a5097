"""The e2e tier: the program's own `pulumi up` on a real Docker engine (marker ``e2e``).

Needs a Docker engine, the Pulumi CLI with the random, tls, keycloak and docker plugins
(`../shared/pulumi-engine/build.sh` builds them) and the local images (`make images`). Without one
of them the tier skips, naming what is missing; with REQUIRE_E2E=1 (CI) it fails instead.

One stack for the whole session: the tests run in file order against it (test_server_pools.py,
which grows the cluster by a pool, sorts last), and the fixture destroys it at the end. Every
command's output is appended to ``build/e2e/pulumi.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.e2e.engine import (
    BUILD,
    Engine,
    Result,
    docker_available,
    e2e_images,
    image_present,
    require,
    stack_config,
)

pytestmark = pytest.mark.e2e


@dataclass
class Deployment:
    engine: Engine
    config: dict
    first_up: Result
    timings: dict[str, float] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)
    """Objects the tier wrote, by key, with their SHA-256 (the later survival checks read them)."""

    def record(self, what: str, seconds: float) -> None:
        self.timings[what] = round(seconds, 1)
        (BUILD / "timings.json").write_text(json.dumps(self.timings, indent=2) + "\n")


STACK_LABEL = "label=com.minio-platform.stack=e2e"


def docker(*args: str) -> str:
    """A docker CLI command's standard output; raises with its error when it fails."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def inspect(name: str, template: str) -> str:
    """``docker inspect -f template name``, or "absent" when there is no such container."""
    try:
        return docker("inspect", "-f", template, name)
    except RuntimeError:
        return "absent"


def owned(kind: str) -> list[str]:
    """Names of the containers, networks or volumes the tier's stack owns (by its stack label)."""
    listing = ["ps", "-a"] if kind == "container" else [kind, "ls"]
    return sorted(docker(*listing, "--filter", STACK_LABEL, "--format", "{{.Name}}" if kind != "container"
                         else "{{.Names}}").split())  # fmt: skip


def network_endpoints(network: str) -> dict[str, bool]:
    """The endpoints Docker lists on a network, by name: whether a container of that id exists."""
    listed = json.loads(docker("network", "inspect", "-f", "{{json .Containers}}", network) or "{}") or {}
    return {entry["Name"]: inspect(ident, "{{.Id}}") != "absent" for ident, entry in listed.items()}


def remove_leftovers() -> None:
    """A stack left over by an interrupted run: its containers, networks and volumes (the data is
    the tier's own, kept only within a run)."""
    for kind in ("container", "network", "volume"):
        names = owned(kind)
        if names:
            # -v: a container's anonymous volumes (a files container's seeded folders) go with it.
            volumes = ["-v"] if kind == "container" else []
            subprocess.run(["docker", kind, "rm", "-f", *volumes, *names], capture_output=True, check=False)


@pytest.fixture(scope="session")
def pulumi_cli() -> str:
    path = os.environ.get("MINIO_PLATFORM_PULUMI") or shutil.which("pulumi") or ""
    require("the Pulumi CLI", bool(path), "run ../shared/pulumi-engine/build.sh and put its bin/ on PATH")
    return path


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    require("a Docker engine", docker_available(), "install docker.io and start dockerd")
    found = e2e_images()
    missing = [name or role for role, name in found.items() if not name or not image_present(name)]
    require(f"the local images {missing}", not missing, "run `make images` (or the tier through `make test`)")
    return found


def containers_report(tail: int = 12) -> str:
    """Every stack container's state; for those not running and healthy, the last health probe's
    answer and the last lines of their log (what a failed health wait leaves to go on)."""
    report = []
    for name in owned("container"):
        state = inspect(name, "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}"
                        " restarts={{.RestartCount}} exit={{.State.ExitCode}}")  # fmt: skip
        report.append(f"{name}: {state}")
        if state.startswith("running/healthy"):
            continue
        health = json.loads(inspect(name, "{{json .State.Health}}").replace("absent", "null") or "null")
        if health and health.get("Log"):
            last = health["Log"][-1]
            report.append(f"  last health probe: exit {last['ExitCode']}: {last['Output'].strip()[-300:]!r}")
        logs = subprocess.run(["docker", "logs", "--tail", str(tail), name], capture_output=True, text=True)
        report.extend(f"  | {line}" for line in (logs.stdout + logs.stderr).splitlines()[-tail:])
    return "\n".join(report) or "(no container of the stack exists)"


def machine_report() -> str:
    """Load, memory and free disk where the state and Docker's data live: a slow or full machine
    explains a health wait that ran out."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    available = int(meminfo["MemAvailable"].split()[0]) // 1024
    docker_root = docker("info", "--format", "{{.DockerRootDir}}")
    disks = [f"{p}: {shutil.disk_usage(p).free // 2**20} MiB free" for p in (BUILD, Path(docker_root))]
    return f"machine: load {' '.join(load)}; {available} MiB memory available; " + "; ".join(disks)


DRIVES = BUILD / "drives"
"""The host folders the session's stack keeps its drives in (cluster.drives.hostPath, #33 item 1)."""
DRIVE_OWNER = (1001, 0)
"""The nodes' user (images/minio): a bind-mounted folder is the host's, so the host gives it to them."""


def host_drive_folders(nodes: int = 8) -> None:
    """The folders of every node the tier's stack will have (its second pool's too), as an operator
    makes them before `pulumi up`: the program cannot create folders on the host."""
    for number in range(1, nodes + 1):
        folder = DRIVES / f"minio{number}" / "data1"
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, *DRIVE_OWNER)
        folder.chmod(0o770)


@pytest.fixture(scope="session")
def deployment(pulumi_cli, images) -> Iterator[Deployment]:
    """`pulumi up` of a fresh stack on a fresh backend; destroyed (volumes too) at the end.

    When that first `up` fails, every test of the tier errors at once with what failed (Pulumi's
    diagnostics and the containers' states and logs, also in ``build/e2e/first-up-failure.txt``)
    instead of each failing later on a stack that is not there.
    """
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir(parents=True)
    remove_leftovers()
    engine = Engine(pulumi_cli, BUILD)
    config = stack_config(images, cluster={"drives": {"hostPath": str(DRIVES / "{node}" / "data{drive}")}})
    host_drive_folders()
    engine.write_config(config)
    try:
        first_up = engine.make_up(check=False)
        if first_up.returncode != 0:
            report = (
                f"the first `make up` exited {first_up.returncode} after {first_up.seconds:.0f} s\n"
                f"{first_up.diagnostics()}\n\ncontainers:\n{containers_report()}\n\n{machine_report()}"
            )
            (BUILD / "first-up-failure.txt").write_text(report + "\n")
            pytest.fail(report, pytrace=False)
        deployment = Deployment(engine, config, first_up)
        deployment.record("first pulumi up", first_up.seconds)
        yield deployment
    finally:
        engine.run("destroy", "--yes", *engine.stack_args(), check=False)
        remove_leftovers()


def wait_healthy(names: list[str], seconds: float = 240) -> dict[str, str]:
    """Poll ``docker inspect`` until every container is healthy (or the time is up); their states."""
    deadline = time.monotonic() + seconds
    while True:
        states = {
            name: inspect(name, "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}")
            for name in names
        }
        if all(s == "running/healthy" for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(2)


def assert_hardened(name: str) -> None:
    """The container runs as a non-root user, read-only, with every capability dropped and a memory
    limit: as Docker was told (``docker inspect``) and as the kernel applies it to its main process
    (its uids and effective capabilities in /proc/1/status, a write to / refused)."""
    user = inspect(name, "{{.Config.User}}")
    assert user.partition(":")[0] not in ("", "0", "root"), f"{name} runs as {user!r}"
    assert inspect(name, "{{.HostConfig.ReadonlyRootfs}}") == "true", name
    assert json.loads(inspect(name, "{{json .HostConfig.CapDrop}}")) == ["ALL"], name
    assert json.loads(inspect(name, "{{json .HostConfig.CapAdd}}")) in (None, []), name
    assert int(inspect(name, "{{.HostConfig.Memory}}")) > 0, name
    status = dict(
        line.split(":", 1)
        for line in docker("exec", name, "cat", "/proc/1/status").splitlines()
        if ":" in line
    )
    assert "0" not in status["Uid"].split(), f"{name}: uids {status['Uid'].split()}"
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, f"{name}: {status['CapEff']}"
    refused = subprocess.run(
        ["docker", "exec", name, "sh", "-c", "echo x > /probe"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr, f"{name}: {refused}"


def wait_takes_writes(client, bucket: str, nodes: int, seconds: float = 120, settle: float = 10) -> float:
    """Until rounds of ``2 * nodes`` PUTs and their DELETEs have passed through the gateway for
    ``settle`` seconds in a row; the seconds waited.

    A node's health (``mc ready local``) is its own view at its last check: right after an up that
    restarted nodes, one may still count two peers offline and answer ``503 SlowDownWrite`` (seen
    in CI: 30 PUTs passed, then the next CreateMultipartUpload failed three attempts in a row), or
    the gateway may briefly find no node answering (seen in CI: eight PUTs passed after a root
    password rotation, then a DELETE got the gateway's ``503 ServiceUnavailable`` four times). The
    gateway spreads sequential requests over the nodes in turn (``least_conn`` with none open), so a
    round of twice the nodes asks each node's view at least twice, for writes and for deletes. A
    round that meets a busy answer starts again, and so does the ``settle`` window: one round passed
    3.5 s after a destroy-and-up, and the next 30 PUTs met the gateway's 503 (no node answered in
    time) three attempts running (seen in CI). The tests that follow an up are about what the up
    kept or changed, not about those seconds: they wait here first.
    """
    busy = ("SlowDownWrite", "SlowDown", "ServiceUnavailable")
    answers: list[str] = []

    def one_round() -> bool:
        try:
            for probe in range(2 * nodes):
                client.put_object(Bucket=bucket, Key=f"write-probe-{probe}", Body=b"probe")
            for probe in range(2 * nodes):
                client.delete_object(Bucket=bucket, Key=f"write-probe-{probe}")
        except ClientError as err:
            if err.response["Error"]["Code"] not in busy:
                raise
            answers.append(f"{err.operation_name}: {err.response['Error']['Code']}")
            return False
        return True

    started = time.monotonic()
    calm_since: float | None = None
    while calm_since is None or time.monotonic() - calm_since < settle:
        calm_since = (calm_since or time.monotonic()) if one_round() else None
        if calm_since is None and time.monotonic() - started > seconds:
            raise AssertionError(
                f"writes and deletes through the gateway did not pass for {settle:.0f} s in a row within "
                f"{seconds:.0f} s; busy answers: {answers[-5:]}"
            )
        time.sleep(1)
    waited = time.monotonic() - started
    if answers:
        print(f"\nwrites through the gateway passed after {waited:.1f} s; busy answers met: {answers}")
    return waited
