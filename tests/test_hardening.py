"""Issue #30, item 1: every container runs as a non-root user, read-only, with every capability
dropped, no-new-privileges and CPU and memory limits from the settings; what the program uploads
lands where Docker can copy it (the e2e tier checks the same containers with `docker inspect`)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest

from components.conventions import (
    FILES_OF_LABEL,
    FILES_ROLE,
    FILES_SUFFIX,
    NO_NEW_PRIVILEGES,
    ROLE_LABEL,
    Hardening,
    docker_cpus,
)
from components.logs import LOG_QUEUE_PATH
from components.pools import drive_paths
from components.settings import SettingsError, settings_from_config
from components.settings.resources import DEFAULT_LIMITS
from tests.conftest import ROOT
from tests.graph import plain
from tests.test_hosts import several

CONTAINER = "docker:index/container:Container"
EVERYTHING: dict[str, Any] = {
    # Every kind of container the program makes: the dev stack deploys the monitoring, the logs,
    # Keycloak and the bridge; several hosts add the nodes' TLS files.
    "observability": {"mode": "deploy"},
    **several(2),
}


def containers(synthesis) -> list:
    return synthesis.of_type(CONTAINER)


def _label(container, key: str) -> str | None:
    return next(
        (entry["value"] for entry in plain(container.inputs["labels"]) if entry["label"] == key), None
    )


def is_files(container) -> bool:
    return _label(container, ROLE_LABEL) == FILES_ROLE


@pytest.fixture(scope="module")
def stacks(synth):
    return [synth("dev"), synth("dev", EVERYTHING)]


def services(synthesis) -> list:
    return [c for c in containers(synthesis) if not is_files(c)]


def test_every_service_is_hardened(stacks):
    roles = set()
    for synthesis in stacks:
        for container in services(synthesis):
            inputs = container.inputs
            roles.add(inputs["name"])
            uid = inputs["user"].partition(":")[0]
            assert uid.isdigit() and int(uid) != 0, (container.name, inputs["user"])
            assert inputs["readOnly"] is True, container.name
            assert plain(inputs["capabilities"]) == {"drops": ["ALL"]}, container.name
            assert inputs["securityOpts"] == [NO_NEW_PRIVILEGES], container.name
            assert inputs["memory"] > 0, container.name
            assert "uploads" not in inputs, container.name
    assert {
        "minio1",
        "gateway",
        "keycloak",
        "signin",
        "prometheus",
        "grafana",
        "loki",
        "alloy",
        "log-gate",
    } <= roles


def test_every_files_container_never_runs_and_belongs_to_its_service(stacks):
    """The provider copies uploads through "/", which Docker refuses on a read-only root filesystem
    (seen with the real engine): a service's files go to a files container, created and never
    started, whose volumes the service mounts."""
    checked = 0
    for synthesis in stacks:
        by_name = {c.name: c for c in containers(synthesis)}
        for files in filter(is_files, containers(synthesis)):
            service = by_name[files.name.removesuffix(FILES_SUFFIX)]
            inputs = files.inputs
            assert inputs["name"] == service.inputs["name"] + FILES_SUFFIX
            assert _label(files, FILES_OF_LABEL) == service.inputs["name"]
            assert (inputs["start"], inputs["mustRun"], inputs["networkMode"]) == (False, False, "none")
            assert inputs["user"] == service.inputs["user"]
            assert plain(inputs["capabilities"]) == {"drops": ["ALL"]}
            assert inputs["securityOpts"] == [NO_NEW_PRIVILEGES]
            assert inputs["removeVolumes"] is True
            assert {"fromContainer": f"{files.name}-id"} in plain(service.inputs["volumes"])
            seeded = {PurePosixPath(m["target"]) for m in plain(inputs["mounts"]) if m["type"] == "volume"}
            scratch = {PurePosixPath(m["target"]) for m in plain(service.inputs.get("mounts") or [])}
            for upload in plain(inputs.get("uploads") or []):
                path = PurePosixPath(upload["file"])
                # In one of the volumes the service mounts, not under a tmpfs that would hide it.
                assert any(path.is_relative_to(folder) for folder in seeded), (files.name, str(path))
                assert not any(path.is_relative_to(folder) for folder in scratch), (files.name, str(path))
                checked += 1
    assert checked > 20


def test_service_limits_come_from_the_settings_with_a_default_for_each(synth):
    by_name = {
        c.inputs["name"]: c.inputs for c in containers(synth("dev", {"observability": {"mode": "deploy"}}))
    }
    for name, service in [("gateway", "gateway"), ("keycloak", "keycloak"), ("signin", "signin"),
                          ("prometheus", "prometheus"), ("grafana", "grafana"), ("loki", "loki"),
                          ("alloy", "alloy"), ("log-gate", "log_gate")]:  # fmt: skip
        limits = DEFAULT_LIMITS[service]
        assert by_name[name]["memory"] == limits.memory_mb, name
        assert by_name[name]["cpus"] == docker_cpus(limits.cpus), name
        # No swap beyond the limit (Docker's default doubles it, and the provider reads that back).
        assert by_name[name]["memorySwap"] == limits.memory_mb, name
    changed = {
        c.inputs["name"]: c.inputs
        for c in containers(
            synth("dev", {"resources": {"gateway": {"memoryMb": 512}, "keycloak": {"cpus": None}}})
        )
    }
    assert (changed["gateway"]["memory"], changed["gateway"]["cpus"]) == (512, "1.0")
    assert changed["keycloak"]["memory"] == DEFAULT_LIMITS["keycloak"].memory_mb
    assert "cpus" not in changed["keycloak"]


@pytest.mark.parametrize(
    ("resources", "key"),
    [
        ({"gateway": {"memoryMb": 16}}, "resources.gateway.memoryMb"),
        ({"signin": {"cpus": 0}}, "resources.signin.cpus"),
        ({"grafana": {"disk": 1}}, "resources.grafana.disk"),
        ({"postgres": {"cpus": 1}}, "resources.postgres"),
        ({"gateway": {"cpus": 0.05}}, "resources.gateway.cpus"),
    ],
)
def test_bad_limits_are_refused_naming_the_key(resources, key):
    with pytest.raises(SettingsError) as raised:
        settings_from_config({"resources": resources})
    assert any(key in problem for problem in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"user": "0:0"}, "non-root"),
        ({"user": "root"}, "non-root"),
        ({"user": "1000"}, "uid:gid"),
        ({"user": "1000:0", "seeded": ("etc/x",)}, "absolute path"),
        ({"user": "1000:0", "scratch": ("/",)}, "absolute path"),
    ],
)
def test_a_hardening_that_is_none_is_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        Hardening(**arguments)


def test_the_minio_image_owns_every_folder_a_node_mounts():
    """Docker gives a new volume its mount point's owner: the image creates the drives (up to the
    16 a node may have), the log queue and /etc/minio as the minio user the nodes run as."""
    dockerfile = (ROOT / "images" / "minio" / "Dockerfile").read_text()
    assert "--uid 1001 --gid 0" in dockerfile and "USER 1001:0" in dockerfile
    line = next(line for line in dockerfile.splitlines() if "-m 0700" in line)
    assert drive_paths(1) == ["/data"] and drive_paths(16)[-1] == "/data16"
    assert "/data $(seq -f /data%g 1 16)" in line and LOG_QUEUE_PATH in line.split()
    with pytest.raises(SettingsError):
        settings_from_config({"cluster": {"drivesPerNode": 17}})
    assert "install -d -o 1001 -g 0 -m 0750 /etc/minio " in dockerfile


@pytest.mark.parametrize(
    ("cpus", "read_back"),
    # The provider's reading of Docker's NanoCPUs (terraform-provider-docker helpers.go), quirks
    # included: "2.0" for 2 (the real engine's answer), "10." for 10, 0.05 rounded to "0.1".
    [
        (1, "1.0"),
        (2, "2.0"),
        (0.5, "0.5"),
        (0.25, "0.25"),
        (1.5, "1.5"),
        (0.125, "0.125"),
        (10, "10."),
        (0.05, "0.1"),
    ],
)
def test_cpus_are_written_as_the_provider_reads_them_back(cpus, read_back):
    assert docker_cpus(cpus) == read_back


def test_a_cpu_limit_the_provider_would_change_is_refused_naming_the_key():
    with pytest.raises(SettingsError) as raised:
        settings_from_config({"cluster": {"cpus": 0.05}})
    (problem,) = raised.value.problems
    assert problem.startswith("minio-platform:cluster.cpus = 0.05") and "back as 0.1" in problem
    assert settings_from_config({"cluster": {"cpus": 10}}).cluster.cpus == 10


@pytest.mark.parametrize("file", ["nginx.conf", "log-gate.conf"])
def test_every_nginx_writes_only_to_its_scratch_tmpfs(synth, file):
    """nginx creates the temp folder of every module it was built with at start: left at the built-in
    place (/var/cache/nginx in nginx's own images, the dev default) a read-only, non-root gateway or
    log gate would stop there. Every one, and the pid file, point into the scratch tmpfs."""
    from components.gateway import NGINX_HARDENING

    (scratch,) = NGINX_HARDENING.scratch
    text = synth("dev", {"observability": {"mode": "deploy"}}).files[file]
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (path,) = re.findall(rf"^\s*{kind}_temp_path (\S+);", text, re.M)
        assert path.startswith(f"{scratch}/"), (kind, path)
    (pid,) = re.findall(r"^pid (\S+);", text, re.M)
    assert pid.startswith(f"{scratch}/")
