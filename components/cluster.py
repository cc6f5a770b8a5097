"""The erasure-coded MinIO cluster: one container per node, one protected volume per drive.

Every node runs the same image with the same command and the same ``MINIO_*`` environment: MinIO
peers compare a hash of each other's ``MINIO_*`` variables at start-up and refuse a peer that
differs ("mismatching configuration"), so the environment is rendered once, by a pure function,
and the one list is given to every container.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.conventions import (
    ROLE_LABEL,
    SECRET_FILE_MODE,
    SECRETS_DIR,
    Hardening,
    docker_labels,
    hardened_container,
    healthy_service,
    secret_file,
)
from components.internode_tls import CERTS_DIR, MC_CA_PATH, InternodeTls
from components.pools import S3_PORT, PoolLayout, drive_paths, server_arguments
from components.settings import ClusterSettings, Environment

CONSOLE_PORT = 9001
KMS_KEY_ID = "minio-platform-sse"
"""Name of the cluster's built-in KMS key: buckets are encrypted with it (SSE-KMS)."""
HOST_LABEL = "com.minio-platform.host"
"""The stack's name of the host a node runs on (several hosts only)."""
LOCAL = "local"
"""The one host of a single-host stack."""
HEALTH_WAIT_SECONDS = 300
"""How long `pulumi up` waits for a node to report healthy: the whole cluster has to form first."""


def server_command(pools: Sequence[PoolLayout], *, secure: bool = False) -> list[str]:
    """``minio server`` arguments naming every drive of every pool, one argument per pool.

    ``--json`` makes the console log one JSON object per line, which the log pipeline parses.
    ``secure``: internode TLS (components/internode_tls.py), with the certificates in CERTS_DIR.
    """
    return [
        "server",
        "--json",
        "--address",
        f":{S3_PORT}",
        "--console-address",
        f":{CONSOLE_PORT}",
        *(["--certs-dir", CERTS_DIR] if secure else []),
        *server_arguments(pools, secure=secure),
    ]


def kms_secret_key(raw_key: str) -> str:
    """``MINIO_KMS_SECRET_KEY``: ``<key id>:<base64 of exactly 32 bytes>``."""
    key = raw_key.encode()
    if len(key) != 32:
        raise ValueError(f"the KMS key must be 32 bytes, got {len(key)}")
    return f"{KMS_KEY_ID}:{base64.b64encode(key).decode()}"


LOCK_RETRY_VARIABLE = "_MINIO_LOCK_RETRY_INTERVAL"
"""MinIO's internal setting (internal/dsync/drwmutex.go) for the first wait before a lock retry, ms."""


def minio_environment(
    settings: ClusterSettings, extra: Mapping[str, pulumi.Input[str]]
) -> dict[str, pulumi.Input[str]]:
    """The ``MINIO_*`` environment every node carries (root password excluded: it is added as a secret)."""
    environment: dict[str, pulumi.Input[str]] = {
        "MINIO_ROOT_USER": settings.root_user,
        # Metrics need a bearer token signed by an identity allowed admin:Prometheus (never public).
        "MINIO_PROMETHEUS_AUTH_TYPE": "jwt",
    }
    if settings.effective_parity:
        # A single node's single drive has no parity to set: MinIO stores it without erasure coding.
        environment["MINIO_STORAGE_CLASS_STANDARD"] = f"EC:{settings.effective_parity}"
    if settings.lock_retry_interval_ms is not None:
        # A PUT's write lock races the asynchronous release of its own read lock (docs/performance.md):
        # a refused attempt waits up to this plus 100 ms instead of up to 350 ms. Not a MINIO_*
        # variable, so MinIO does not compare it between peers; every node gets the same anyway.
        environment[LOCK_RETRY_VARIABLE] = str(settings.lock_retry_interval_ms)
    clashes = sorted(set(environment) & set(extra))
    if clashes:
        raise ValueError(f"extra MinIO environment may not override {clashes}")
    environment.update(extra)
    return environment


MINIO_HARDENING = Hardening(
    # images/minio: the minio user, in group 0 (which reads the secret files). The image creates
    # every folder a node's volumes mount on (the drives, the log queue) owned by it, and Docker
    # gives a new volume its mount point's owner (docs/security.md, for volumes made before).
    user="1001:0",
    # The certificates (CERTS_DIR) and mc's configuration (MC_CONFIG_DIR in the image, with
    # MC_CA_PATH), owned by minio in the image; and the secret file.
    seeded=("/etc/minio", SECRETS_DIR),
    # The user's home: MinIO creates ~/.minio/certs/CAs at start even when it is given no TLS.
    scratch=("/tmp", "/home/minio"),  # noqa: S108 (a private tmpfs)
)
"""How every node runs (images/minio/Dockerfile creates the user and the folders)."""

SECRETS_FILE = "minio-config.env"
"""The nodes' secrets (root password, KMS key, client secret, webhook tokens), under SECRETS_DIR."""
CONFIG_ENV_VARIABLE = "MINIO_CONFIG_ENV_FILE"
"""MinIO reads ``KEY=value`` lines from the file this names into its environment at start-up."""


def environment_list(environment: Mapping[str, pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    """``KEY=value`` entries sorted by key."""
    entries: list[pulumi.Input[str]] = []
    for key in sorted(environment):
        value = environment[key]
        entries.append(f"{key}={value}" if isinstance(value, str) else pulumi.Output.concat(key, "=", value))
    return entries


def _config_env_line(key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        # The value itself never appears in an error.
        raise ValueError(f"{key} must be one line: MinIO reads {SECRETS_FILE} line by line")
    # MinIO trims each line, then strips one pair of quotes: quoted, a value keeps its edges.
    return f'{key}="{value}"\n'


def config_env_file(secrets: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """The content of :data:`SECRETS_FILE`: one ``KEY="value"`` line per secret, sorted; secret.

    MinIO (cmd/common-main.go, ``loadEnvVarsFromFiles``) sets these before it reads its settings, so
    a node sees the same variables as before while ``docker inspect`` shows none of their values.
    """
    keys = sorted(secrets)
    values = [pulumi.Output.from_input(secrets[key]) for key in keys]
    return pulumi.Output.secret(
        pulumi.Output.all(*values).apply(
            lambda resolved: "".join(_config_env_line(k, v) for k, v in zip(keys, resolved, strict=True))
        )
    )


def render_environment_file(
    environment: Mapping[str, pulumi.Input[str]], secret_keys: Sequence[str]
) -> pulumi.Output[str]:
    """What the nodes are configured with, as a reviewable ``KEY=value`` file: the environment,
    and the secrets MinIO reads from :data:`SECRETS_FILE` shown as ``[secret]``."""
    keys = sorted({*environment, *secret_keys})
    values = [pulumi.Output.from_input("[secret]" if k in secret_keys else environment[k]) for k in keys]
    return pulumi.Output.all(*values).apply(
        lambda resolved: "".join(f"{k}={v}\n" for k, v in zip(keys, resolved, strict=True))
    )


@dataclass(frozen=True)
class NodeSite:
    """Where one node of a multi-host stack runs: its host's Docker provider and storage-hosts-net there."""

    host: str
    provider: docker.Provider
    network: docker.Network
    """The host's ``storage-hosts-net`` (macvlan on the hosts' own network)."""


@dataclass(frozen=True)
class MultiHost:
    """A stack on several Docker hosts (None: one host, every node on storage-net)."""

    hosts_of: Mapping[str, str]
    """Every node's host, by node name (a down host's nodes too: every node names them)."""
    sites: Mapping[str, NodeSite]
    """Every host that is up, by host name. A host marked down has none: its nodes, drives and image
    are not registered (docs/several-hosts.md "Operating with a host down")."""
    addresses: Mapping[str, str]
    """Every node's address on storage-hosts-net, by name: each node's /etc/hosts names the others."""
    first_host: str
    """The host that runs the services. Its nodes also stay on storage-net and monitoring-net, where
    the gateway, Keycloak, Alloy and Prometheus reach them (a host cannot reach its own macvlan
    containers)."""
    services: Mapping[str, str]
    """What the other hosts' nodes resolve to the first host's address, where those services publish
    their ports (``keycloak``, ``alloy``)."""
    tls: InternodeTls


@dataclass(frozen=True)
class MinioClusterArgs:
    settings: ClusterSettings
    environment_kind: Environment
    storage_network: docker.Network
    """Internal network the nodes talk on; each node gets a fixed address on it."""
    monitoring_network: docker.Network
    node_addresses: Mapping[str, str]
    """Fixed storage-network address of every node, by node name (with several hosts, the first
    host's nodes use theirs)."""
    root_password: pulumi.Input[str] | None = None
    """A secret root password from config; generated (pulumi-random) when None."""
    extra_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """More ``MINIO_*`` variables from other components (console URL, OIDC, KMS), identical on every node."""
    secret_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secret ``MINIO_*`` variables (client secret, KMS key), identical on every node."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist before a node can become healthy (e.g. the OIDC realm and client)."""
    log_queue_path: str | None = None
    """Where each node mounts a volume of its own for its log and audit webhook queues (None: no
    webhooks, no volume)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    multi_host: MultiHost | None = None
    """Several hosts: each node on its host's provider and storage-hosts-net, TLS between nodes."""

    def __post_init__(self) -> None:
        drives = sorted({d for pool in self.settings.layout for d in drive_paths(pool.drives_per_node)})
        queue = None if self.log_queue_path is None else PurePosixPath(self.log_queue_path)
        overlaps = [
            d
            for d in drives
            if queue is not None and (queue.is_relative_to(d) or PurePosixPath(d).is_relative_to(queue))
        ]
        if overlaps:
            raise ValueError(
                f"the log queue ({queue}) and the drives ({', '.join(overlaps)}) must not overlap"
            )


@dataclass(frozen=True)
class _Placement:
    node: str
    number: int
    """The node's number across the cluster (``minio<number>``)."""
    pool: int
    """Its pool's position, 1-based."""
    address: str
    """Its fixed address (storage-net, or storage-hosts-net with several hosts)."""
    site: NodeSite | None = None
    """Its host (None: the one host)."""


class MinioCluster(pulumi.ComponentResource):
    """Every pool's nodes (``minio1``...) on ``storage-net``, one parity, no published ports.

    Every node carries the whole pool list in its command, so appending a pool changes every node's
    command: `pulumi up` replaces all nodes at once (delete, then create; the containers are
    independent and run in parallel), which is the simultaneous restart MinIO requires for a new
    pool list. The drives are volumes that outlive the containers, so the data stays.
    """

    node_names: list[str]
    """Container names, host names and aliases of the nodes."""
    internal_endpoints: list[str]
    """S3 endpoints of the nodes on the storage network (``http://minio1:9000``...)."""
    root_user: pulumi.Output[str]
    root_password: pulumi.Output[str]
    """Secret."""
    kms_key_id: str
    """The KMS key buckets are encrypted with (SSE-KMS)."""
    environment_file: pulumi.Output[str]
    """``minio.env``: every node's environment with secret values masked (for review)."""
    containers: list[docker.Container]
    anchors: list[docker.Container]
    """What the gateway and the minio provider wait for: every node with one host; with several, the
    first host's (healthy means the cluster takes writes). Never another host's: with a host marked
    down, its nodes leave the state without taking anything else along (docs/several-hosts.md)."""
    volumes: list[docker.Volume]

    def __init__(self, name: str, args: MinioClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:storage:MinioCluster", name, None, opts)
        settings = args.settings
        missing = [n for n in settings.node_names if n not in args.node_addresses]
        if missing:
            raise ValueError(f"nodes without a storage-network address: {missing}")
        self._name = name

        self.root_user = pulumi.Output.from_input(settings.root_user)
        self.root_password = self._root_password(args)
        self.kms_key_id = KMS_KEY_ID
        multi = args.multi_host
        images = self._images(settings.image, multi)
        extra = dict(args.extra_environment)
        if multi is not None:
            # `mc ready local` (the health check) over TLS; not a MINIO_* variable.
            extra["MC_HOST_local"] = f"https://localhost:{S3_PORT}"
        plain_environment = minio_environment(settings, extra)
        secret_environment = {
            "MINIO_ROOT_PASSWORD": self.root_password,
            "MINIO_KMS_SECRET_KEY": self._kms_secret_key(args),
            **args.secret_environment,
        }
        # The secrets reach MinIO in a file (conventions.secret_file), named by a plain variable.
        plain_environment[CONFIG_ENV_VARIABLE] = f"{SECRETS_DIR}/{SECRETS_FILE}"
        environment = environment_list(plain_environment)
        self._secrets_upload = secret_file(SECRETS_FILE, config_env_file(secret_environment))
        self.environment_file = render_environment_file(plain_environment, list(secret_environment))
        command = server_command(settings.layout, secure=multi is not None)

        self.node_names = settings.node_names
        scheme = "http" if multi is None else "https"
        self.internal_endpoints = [f"{scheme}://{n}:{S3_PORT}" for n in self.node_names]
        self.volumes = []
        self.containers = []
        self.anchors = []
        for pool in settings.layout:
            for number, node in zip(pool.node_numbers, pool.node_names, strict=True):
                site = None if multi is None else multi.sites.get(multi.hosts_of[node])
                if multi is not None and site is None:
                    continue  # its host is down: nothing of it is registered until it is back
                volumes = self._volumes(node, pool, args, site)
                self.volumes.extend(volumes)
                mounts = [
                    docker.ContainerVolumeArgs(volume_name=volume.name, container_path=path)
                    for volume, path in zip(volumes, drive_paths(pool.drives_per_node), strict=True)
                ]
                if args.log_queue_path is not None:
                    queue = self._queue_volume(node, args, site)
                    mounts.append(
                        docker.ContainerVolumeArgs(volume_name=queue.name, container_path=args.log_queue_path)
                    )
                placement = _Placement(node, number, pool.number, args.node_addresses[node], site)
                image = images[LOCAL if site is None else site.host]
                container = self._node(placement, image, command, environment, mounts, args)
                self.containers.append(container)
                if multi is None or multi.hosts_of[node] == multi.first_host:
                    self.anchors.append(container)

        self.register_outputs(
            {
                "node_names": self.node_names,
                "internal_endpoints": self.internal_endpoints,
                "root_user": self.root_user,
                "root_password": self.root_password,
            }
        )

    def _images(self, ref: str, multi: MultiHost | None) -> dict[str, docker.RemoteImage]:
        """The image on every host that runs nodes, by host (``LOCAL`` with one host). Kept when
        the stack is destroyed: other stacks or a rollback may need it."""
        if multi is None:
            return {
                LOCAL: docker.RemoteImage(
                    f"{self._name}-image",
                    name=ref,
                    keep_locally=True,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            }
        providers = {host: site.provider for host, site in multi.sites.items()}
        return {
            host: docker.RemoteImage(
                f"{self._name}-image-{host}",
                name=ref,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            for host, provider in providers.items()
        }

    def _root_password(self, args: MinioClusterArgs) -> pulumi.Output[str]:
        if args.root_password is not None:
            return pulumi.Output.secret(args.root_password)
        generated = random.RandomPassword(
            f"{self._name}-root-password",
            length=40,
            # Letters and digits only: the value travels through env files, URLs and shells unquoted.
            special=False,
            keepers={"generation": str(args.settings.root_password_generation)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.secret(generated.result)

    def _kms_secret_key(self, args: MinioClusterArgs) -> pulumi.Output[str]:
        # 32 random letters and digits are the key's 32 bytes (about 190 bits of entropy). A
        # RandomPassword keeps them secret in the state, unlike a RandomId whose id is the value.
        # Losing or changing this key makes every encrypted object and MinIO's IAM data
        # unreadable: it has no rotation knob, and prod protects it.
        raw = random.RandomPassword(
            f"{self._name}-kms-key",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.environment_kind is Environment.PROD),
        )
        return pulumi.Output.secret(raw.result.apply(kms_secret_key))

    def _volumes(
        self, node: str, pool: PoolLayout, args: MinioClusterArgs, site: NodeSite | None
    ) -> list[docker.Volume]:
        volumes = []
        for drive, path in enumerate(drive_paths(pool.drives_per_node), start=1):
            volume_name = f"{node}-{path.strip('/')}"
            # cluster.drives: a host folder (the local driver binds it) or the driver's own options
            # (a block device); none: a volume in Docker's own folder.
            options = args.settings.drive_options(pool.number, node, drive)
            volumes.append(
                docker.Volume(
                    f"{self._name}-{volume_name}",
                    name=volume_name,
                    driver="local",
                    driver_opts=options or None,
                    labels=docker_labels(docker.VolumeLabelArgs, args.labels),
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        provider=None if site is None else site.provider,
                        # The volumes hold the objects. A replaced or destroyed volume resource
                        # leaves the Docker volume in place (Docker hands the same named volume
                        # back on create), and prod refuses deletion outright.
                        retain_on_delete=True,
                        protect=args.environment_kind is Environment.PROD,
                    ),
                )
            )
        return volumes

    def _queue_volume(self, node: str, args: MinioClusterArgs, site: NodeSite | None) -> docker.Volume:
        """``<node>-log-queue``: the audit and log events a node could not deliver yet. Kept when the
        container is replaced or the stack destroyed, and protected in prod, like the drives: it is
        evidence."""
        return docker.Volume(
            f"{self._name}-{node}-log-queue",
            name=f"{node}-log-queue",
            driver="local",
            labels=docker_labels(docker.VolumeLabelArgs, args.labels),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=None if site is None else site.provider,
                retain_on_delete=True,
                protect=args.environment_kind is Environment.PROD,
            ),
        )

    def _node(
        self,
        placement: _Placement,
        image: docker.RemoteImage,
        command: list[str],
        environment: list[pulumi.Input[str]],
        mounts: list[docker.ContainerVolumeArgs],
        args: MinioClusterArgs,
    ) -> docker.Container:
        settings, node = args.settings, placement.node
        multi, site = args.multi_host, placement.site
        local = [
            docker.ContainerNetworksAdvancedArgs(
                name=args.storage_network.name, aliases=[node], ipv4_address=placement.address
            ),
            docker.ContainerNetworksAdvancedArgs(name=args.monitoring_network.name, aliases=[node]),
        ]
        hosts: list[docker.ContainerHostArgs] = []
        uploads: list[docker.ContainerUploadArgs] = [self._secrets_upload]
        networks = local
        if multi is not None and site is not None:
            # The other nodes by the names in /etc/hosts, at their addresses on the hosts' network.
            between_hosts = docker.ContainerNetworksAdvancedArgs(
                name=site.network.name, aliases=[node], ipv4_address=multi.addresses[node]
            )
            names = {n: a for n, a in multi.addresses.items() if n != node}
            if site.host == multi.first_host:
                networks = [*local, between_hosts]
            else:
                networks = [between_hosts]
                names.update(multi.services)
            hosts = [docker.ContainerHostArgs(host=n, ip=a) for n, a in sorted(names.items())]
            uploads += self._tls_uploads(node, multi.tls)
        return hardened_container(
            f"{self._name}-{node}",
            name=node,
            hostname=node,
            image=image.image_id,
            hardening=MINIO_HARDENING,
            command=command,
            envs=environment,
            networks_advanced=networks,
            hosts=hosts or None,
            uploads=uploads,
            volumes=mounts,
            # `mc ready local` (shipped in the image) succeeds once this node serves S3 with write
            # quorum, so a node is healthy only when the cluster it belongs to can take writes.
            **healthy_service(
                ["CMD", "mc", "ready", "local"],
                interval="5s",
                timeout="5s",
                retries=6,
                start_period="60s",
                wait_timeout=HEALTH_WAIT_SECONDS,
                limits=settings,
            ),
            labels={
                **args.labels,
                ROLE_LABEL: "minio",
                "com.minio-platform.node": str(placement.number),
                "com.minio-platform.pool": str(placement.pool),
                # Only with several hosts: a new label would replace a one-host stack's nodes.
                **({} if site is None else {HOST_LABEL: site.host}),
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=None if site is None else site.provider,
                depends_on=list(args.depends_on),
                # The provider silently ignores healthcheck edits; force a replacement instead.
                replace_on_changes=["healthcheck"],
            ),
        )

    @staticmethod
    def _tls_uploads(node: str, tls: InternodeTls) -> list[docker.ContainerUploadArgs]:
        """The node's certificate and key, and the CA for MinIO's peers and for ``mc`` (the health check)."""
        own = tls.nodes[node]
        return [
            docker.ContainerUploadArgs(
                file=f"{CERTS_DIR}/public.crt", content=own.certificate, permissions="0644"
            ),
            # Read through group 0 (MINIO_HARDENING), like every secret file.
            docker.ContainerUploadArgs(
                file=f"{CERTS_DIR}/private.key", content=own.private_key, permissions=SECRET_FILE_MODE
            ),
            docker.ContainerUploadArgs(
                file=f"{CERTS_DIR}/CAs/ca.crt", content=tls.ca_certificate, permissions="0644"
            ),
            docker.ContainerUploadArgs(file=MC_CA_PATH, content=tls.ca_certificate, permissions="0644"),
        ]
