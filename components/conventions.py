"""Conventions every Docker object of a stack follows: ownership and role labels, bounded logs,
health waits, retained data volumes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, TypeVar

import pulumi
import pulumi_docker as docker

LabelArgs = TypeVar("LabelArgs")

ROLE_LABEL = "com.minio-platform.role"
"""What a container is to the platform (minio, gateway, keycloak, prometheus, loki...)."""


def stack_labels(project: str, stack: str) -> dict[str, str]:
    """Labels on every network, volume and container: which project and stack own it."""
    return {"com.minio-platform.project": project, "com.minio-platform.stack": stack}


def docker_labels(label_type: Callable[..., LabelArgs], labels: Mapping[str, str]) -> list[LabelArgs]:
    """``labels`` as the provider's label arguments (Network/Volume/ContainerLabelArgs), sorted."""
    return [label_type(label=key, value=value) for key, value in sorted(labels.items())]


BOUNDED_JSON_LOGS: dict[str, Any] = {
    "log_driver": "json-file",
    # 250 MB of logs per container at most. MinIO's own logs reach Loki through its webhooks
    # (components/logs.py); these files are `docker logs` history.
    "log_opts": {"max-size": "50m", "max-file": "5"},
}
"""Container arguments: Docker's json-file driver, rotated."""

NO_NEW_PRIVILEGES = "no-new-privileges:true"
"""A security option every container carries: no process in it gains privileges through a setuid
or file-capability binary (CIS Docker 5.25). None of the services execs one."""


_DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def docker_cpus(cpus: float) -> str:
    """``cpus`` as the provider reads Docker's NanoCPUs back (``nanoInt64ToDecimalString`` in
    terraform-provider-docker's helpers.go): nine decimals less their trailing zeros, or one
    decimal (rounded, halves away from zero) when the nine-decimal form holds exactly nine zeros:
    "2.0" for 2, "0.5", "0.25". Written as "2", it was a replacement at every preview (seen with
    the real engine).
    """
    nano = round(Fraction(cpus) * 10**9)
    if nano <= 0:
        raise ValueError(f"a CPU limit is at least a billionth of a CPU, got {cpus!r}")
    whole, part = divmod(nano, 10**9)
    digits = f"{whole}.{part:09d}"
    if digits.count("0") == 9:
        tenths = (nano + 5 * 10**7) // 10**8  # FloatString(1): to the nearest tenth, halves up
        return f"{tenths // 10}.{tenths % 10}"
    return digits.rstrip("0")


def docker_duration(text: str) -> str:
    """``text`` ("60s", "2m"...) the way Docker reports a duration back: Go's ``time.Duration``.

    The provider reads a healthcheck back from the engine and compares strings, so "60s" written
    and "1m0s" read is a diff on every preview (seen with the real engine).
    """
    match = _DURATION_RE.match(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a duration of whole seconds, minutes or hours")
    total = sum(int(match.group(unit) or 0) * factor for unit, factor in (("h", 3600), ("m", 60), ("s", 1)))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


class Limits(Protocol):
    """A service's resource limits as the settings give them (None: no limit)."""

    @property
    def cpus(self) -> float | None: ...

    @property
    def memory_mb(self) -> int | None: ...


SCRATCH_BYTES = 64 * 1024 * 1024
"""The size of each tmpfs a hardened container writes to (it counts against its memory limit)."""


@dataclass(frozen=True)
class Hardening:
    """How a service runs with the least it needs (docs/security.md, "Hardened containers").

    Every container runs as ``user`` (never root), on a read-only root filesystem, with every
    capability dropped and ``no-new-privileges``. What it writes goes to its named volumes (given
    by the component), to ``scratch`` (a tmpfs, empty at every start) or to ``seeded``: volumes
    that start as a copy of the image's folder, with its owner, held by the service's files
    container (:func:`hardened_container`), where the program's uploads land.
    """

    user: str
    """``uid:gid``. Non-root services run in group 0, which reads the secret files (SECRET_FILE_MODE)."""
    seeded: tuple[str, ...] = ()
    scratch: tuple[str, ...] = ("/tmp",)  # noqa: S108 (a private tmpfs)

    def __post_init__(self) -> None:
        uid, _, gid = self.user.partition(":")
        if not uid.isdigit() or not gid.isdigit() or int(uid) == 0:
            raise ValueError(f"a hardened service runs as a numeric non-root uid:gid, got {self.user!r}")
        for path in (*self.seeded, *self.scratch):
            if not path.startswith("/") or path == "/":
                raise ValueError(f"a writable folder is an absolute path below /, got {path!r}")


FILES_SUFFIX = "-files"
"""A files container's name: its service's, with this suffix (resource and container names)."""
FILES_ROLE = "files"
"""A files container's role label; ``FILES_OF_LABEL`` names its service."""
FILES_OF_LABEL = "com.minio-platform.files-of"


def hardened_container(
    resource_name: str,
    *,
    name: str,
    image: pulumi.Input[str],
    hardening: Hardening,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    uploads: Sequence[docker.ContainerUploadArgs] = (),
    volumes: Sequence[docker.ContainerVolumeArgs] = (),
    **arguments: Any,
) -> docker.Container:
    """The service's container, hardened, and the files container that holds what it is given.

    The provider copies every upload into a container through its root folder (its ``dstPath`` is
    always "/"), and Docker refuses that on a read-only root filesystem ("container rootfs is
    marked read-only", seen with the real engine), even for a file that lands in a volume. So the
    uploads go to ``<name>-files``: a container of the same image that is created and never
    started, without network or capabilities, whose anonymous volumes at ``hardening.seeded`` start
    as copies of the image's folders and receive the uploads. The service mounts those volumes
    (``volumes_from`` its id: a new files container, for new files, replaces the service too).
    Removing the files container removes its volumes. ``labels`` (with the service's role) go on
    the service; the files container has the same with its own role and its service's name.
    """
    mounts = [
        docker.ContainerMountArgs(
            target=path,
            type="tmpfs",
            tmpfs_options=docker.ContainerMountTmpfsOptionsArgs(size_bytes=SCRATCH_BYTES),
        )
        for path in hardening.scratch
    ]
    if uploads and not hardening.seeded:
        raise ValueError(f"{name} is given files but has no seeded folder to receive them")
    held: list[docker.ContainerVolumeArgs] = []
    if hardening.seeded:
        files = docker.Container(
            f"{resource_name}{FILES_SUFFIX}",
            name=f"{name}{FILES_SUFFIX}",
            image=image,
            start=False,
            must_run=False,
            network_mode="none",
            user=hardening.user,
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=[NO_NEW_PRIVILEGES],
            mounts=[docker.ContainerMountArgs(target=path, type="volume") for path in hardening.seeded],
            uploads=list(uploads) or None,
            remove_volumes=True,
            labels=docker_labels(
                docker.ContainerLabelArgs, {**labels, ROLE_LABEL: FILES_ROLE, FILES_OF_LABEL: name}
            ),
            opts=opts,
        )
        held = [docker.ContainerVolumeArgs(from_container=files.id)]
    return docker.Container(
        resource_name,
        name=name,
        image=image,
        user=hardening.user,
        read_only=True,
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        mounts=mounts or None,
        volumes=[*volumes, *held] or None,
        labels=docker_labels(docker.ContainerLabelArgs, labels),
        opts=opts,
        **arguments,
    )


def healthy_service(
    test: list[str],
    *,
    interval: str,
    timeout: str,
    retries: int,
    start_period: str,
    wait_timeout: int,
    limits: Limits,
) -> dict[str, Any]:
    """Container arguments every long-running service shares.

    It restarts unless stopped; ``depends_on`` only orders creation, so it has a healthcheck and
    `pulumi up` waits (``wait``) until the check passes before anything that depends on it starts.
    The provider ignores healthcheck edits unless the container is replaced, so pair this with
    ``replace_on_changes=["healthcheck"]``.

    No ``start_interval``: Docker refuses it below API 1.44 (Engine 25), and Debian bookworm's
    engine speaks 1.41 ("specify health-check start interval requires API version 1.44", seen with
    the real engine). The first check runs one ``interval`` after the start, so keep it short.

    And :data:`NO_NEW_PRIVILEGES` and the service's ``limits`` (Docker's ``--cpus`` and
    ``--memory``). The rest of the hardening is :func:`hardened_container`'s: docs/security.md.
    """
    return {
        "restart": "unless-stopped",
        "healthcheck": docker.ContainerHealthcheckArgs(
            tests=test,
            interval=docker_duration(interval),
            timeout=docker_duration(timeout),
            retries=retries,
            start_period=docker_duration(start_period),
        ),
        "wait": True,
        "wait_timeout": wait_timeout,
        "security_opts": [NO_NEW_PRIVILEGES],
        "cpus": None if limits.cpus is None else docker_cpus(limits.cpus),
        "memory": limits.memory_mb,
        # No swap: Docker's default with a memory limit is as much swap again, which the provider
        # then reads back as a change at every preview (seen with the real engine).
        "memory_swap": limits.memory_mb,
        **BOUNDED_JSON_LOGS,
    }


def wget_http_probe(port: int, path: str) -> list[str]:
    """A healthcheck for images with wget (busybox or GNU): ``GET 127.0.0.1:<port><path>`` is 2xx."""
    return ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"]


def bash_http_probe(port: int, path: str, expect: str) -> list[str]:
    """A healthcheck for images with bash but neither curl nor wget (Keycloak's, Alloy's).

    Sends ``GET <path>`` to ``127.0.0.1:<port>`` through bash's /dev/tcp and passes when the
    answer contains ``expect``.
    """
    request = f"GET {path} HTTP/1.0\\r\\n\\r\\n"
    return [
        "CMD",
        "bash",
        "-c",
        f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf '{request}' >&3 && grep -q '{expect}' <&3",
    ]


SECRETS_DIR = "/run/secrets"
"""Where a container finds its secrets, one file each (Docker's own convention for secrets)."""
SECRET_FILE_MODE = "0440"  # noqa: S105 (file permissions)
"""A secret file's permissions. The provider uploads files as root:root (the Docker plugin built
here has no upload ``owner``), so the service reads its secrets through its group: every non-root
service runs in group 0 (root's group, which carries no privilege of its own: the convention of
OpenShift and of Keycloak's, Grafana's and Bitnami's images). Other users cannot read them, and
nothing in the container can change them."""


def secret_file(name: str, content: pulumi.Input[str]) -> docker.ContainerUploadArgs:
    """``content`` uploaded to ``SECRETS_DIR/name``, secret in the state, :data:`SECRET_FILE_MODE`.

    Secrets go to files, never to a container's environment: ``docker inspect`` and
    ``/proc/<pid>/environ`` show an environment to anyone who can read them on the host.
    """
    if "/" in name:
        raise ValueError(f"a secret file's name is one path segment under {SECRETS_DIR}, got {name!r}")
    return docker.ContainerUploadArgs(
        file=f"{SECRETS_DIR}/{name}",
        content=pulumi.Output.secret(content),
        permissions=SECRET_FILE_MODE,
    )


def data_volume(parent: pulumi.Resource, prefix: str, role: str, labels: Mapping[str, str]) -> docker.Volume:
    """``<role>-data``, kept when the stack is destroyed: a service's state outlives its container."""
    return docker.Volume(
        f"{prefix}-{role}-data",
        name=f"{role}-data",
        labels=docker_labels(docker.VolumeLabelArgs, labels),
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
    )


def service_container(
    parent: pulumi.Resource,
    prefix: str,
    role: str,
    image_ref: str,
    network: docker.Network,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    hardening: Hardening,
    more_networks: Sequence[docker.ContainerNetworksAdvancedArgs] = (),
    **container: Any,
) -> docker.Container:
    """A service named after its ``role``: its pinned image, that host name on ``network`` (and
    ``more_networks``, as given), a role label; hardened (:func:`hardened_container`)."""
    image = docker.RemoteImage(
        f"{prefix}-{role}-image",
        name=image_ref,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return hardened_container(
        f"{prefix}-{role}",
        name=role,
        hostname=role,
        image=image.image_id,
        hardening=hardening,
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[role]),
            *more_networks,
        ],
        labels={**labels, ROLE_LABEL: role},
        opts=opts,
        **container,
    )


def loopback_service(
    parent: pulumi.Resource,
    prefix: str,
    role: str,
    image_ref: str,
    network: docker.Network,
    labels: Mapping[str, str],
    *,
    port: int,
    published_port: int,
    data_path: str,
    health_path: str,
    retries: int,
    start_period: str,
    wait_timeout: int,
    hardening: Hardening,
    limits: Limits,
    **container: Any,
) -> docker.Container:
    """A service on ``network`` published on 127.0.0.1, its data in a retained volume
    (:func:`data_volume`), healthy once ``GET <health_path>`` answers 2xx (Prometheus, Grafana)."""
    data = data_volume(parent, prefix, role, labels)
    return service_container(
        parent,
        prefix,
        role,
        image_ref,
        network,
        labels,
        pulumi.ResourceOptions(parent=parent, replace_on_changes=["healthcheck"]),
        hardening=hardening,
        volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path=data_path)],
        ports=[docker.ContainerPortArgs(internal=port, external=published_port, ip="127.0.0.1")],
        **healthy_service(
            wget_http_probe(port, health_path),
            interval="5s",
            timeout="3s",
            retries=retries,
            start_period=start_period,
            wait_timeout=wait_timeout,
            limits=limits,
        ),
        **container,
    )
