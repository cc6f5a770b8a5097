"""The MinIO cluster's settings: its pools of nodes and drives, parity, image and limits."""

from __future__ import annotations

import re
from typing import Self

from pydantic import (
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.pools import PoolLayout, PoolPlanError, PoolShape, plan_pools, pool_problems
from components.settings.base import (
    DEFAULT_MINIO_IMAGE,
    Cpus,
    ImageRef,
    Invalid,
    Section,
    assignment_lines,
    raise_all,
)

MANAGED_VARIABLES = frozenset(
    {
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "MINIO_STORAGE_CLASS_STANDARD",
        "MINIO_PROMETHEUS_AUTH_TYPE",
        "MINIO_BROWSER_REDIRECT_URL",
        "MINIO_CONFIG_ENV_FILE",
        "MINIO_KMS_SECRET_KEY",
        "MINIO_VOLUMES",
        "MINIO_OPTS",
        "MINIO_CERTS_DIR",
        "_MINIO_LOCK_RETRY_INTERVAL",
        "_MINIO_SERVER_LOCAL",
    }
)
"""The nodes' variables the program sets (components/cluster.py, sso.py, logs.py) or that would
change what it sets (the drives, the certificates): cluster.extraEnvironment and
clusterSecretEnvironment refuse them by name."""
MANAGED_PREFIXES = ("MINIO_IDENTITY_OPENID_", "MINIO_LOGGER_WEBHOOK_", "MINIO_AUDIT_WEBHOOK_", "MINIO_KMS_")
"""Whole families the program owns: the console's sign-in, the log and audit webhooks, the KMS."""
VARIABLE_RE = re.compile(r"_?MINIO_[A-Z0-9_]+")
SECRET_NAME_RE = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|(^|_)KEY(_|$)")
"""A variable whose name says it holds a secret: only clusterSecretEnvironment may carry it."""


def environment_problem(name: str) -> str | None:
    """Why ``name`` cannot be an extra variable of the nodes, or None."""
    if not VARIABLE_RE.fullmatch(name):
        return "a MinIO variable: MINIO_ or _MINIO_ and capitals, digits, underscores"
    if name in MANAGED_VARIABLES or name.startswith(MANAGED_PREFIXES):
        return "set by the program (docs/cluster.md, 'Extra server settings'): use its own setting"
    return None


def secret_environment_lines(text: str) -> list[tuple[str, str]]:
    """``NAME=value`` per line (blank lines and ``#`` comments skipped) as (name, value), in order.
    Raises ValueError naming the line, never its value."""
    found = []
    for number, name, value in assignment_lines(text):
        if not name or not value:
            raise ValueError(f"line {number} is not NAME=value")
        found.append((name, value))
    return found


DRIVE_OPTION_KEYS = ("type", "device", "o")
"""What Docker's local volume driver takes (the options of mount(8))."""
_PLACEHOLDER_RE = re.compile(r"\{([^}]*)\}")


class DriveSettings(Section):
    """Where a pool's drives live: Docker volumes (the default), a host folder per drive (bind
    mounts), or volumes with the local driver's options (a block device)."""

    host_path: str | None = Field(
        None,
        description="A host folder per drive, with {node} and {drive} in it (/srv/minio/{node}/data{drive}); "
        "bind-mounted; the folders must exist, owned by uid 1001 (docs/cluster.md, 'Where drives live')",
    )
    driver_options: dict[str, str] = Field(
        default_factory=dict,
        description="The local volume driver's options for every drive (type, device, o), {node} and {drive} "
        "allowed in values: {type: xfs, device: /dev/disk/by-label/{node}-{drive}}",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        """A host folder or driver options, not both; an absolute path; the driver's option names;
        no placeholder but {node} and {drive}."""
        if self.host_path is not None and self.driver_options:
            raise Invalid("driverOptions", self.driver_options, "give hostPath or driverOptions, not both")
        if self.host_path is not None and (
            not self.host_path.startswith("/") or "/../" in f"{self.host_path}/"
        ):
            raise Invalid("hostPath", self.host_path, "an absolute path without '..'")
        unknown = sorted(set(self.driver_options) - set(DRIVE_OPTION_KEYS))
        if unknown:
            raise Invalid("driverOptions", unknown, f"the local driver takes {', '.join(DRIVE_OPTION_KEYS)}")
        for key, text in [("hostPath", self.host_path or ""), *self.driver_options.items()]:
            odd = sorted(set(_PLACEHOLDER_RE.findall(text)) - {"node", "drive"})
            if odd:
                raise Invalid(key, text, f"only {{node}} and {{drive}} are filled in, not {odd}")
        return self

    def options(self, node: str, drive: int) -> dict[str, str]:
        """The driver options of ``node``'s drive number ``drive`` (1-based); empty: a plain volume."""
        if self.host_path is not None:
            return {"type": "none", "o": "bind", "device": _fill(self.host_path, node, drive)}
        return {k: _fill(v, node, drive) for k, v in self.driver_options.items()}


def _fill(text: str, node: str, drive: int) -> str:
    return text.replace("{node}", node).replace("{drive}", str(drive))


def drive_source(options: dict[str, str]) -> str:
    """How the layout guard records one drive: ``volume``, ``bind <path>`` or the driver options."""
    if not options:
        return "volume"
    if options.get("o") == "bind" and options.get("type") == "none":
        return f"bind {options['device']}"
    return "local " + ",".join(f"{k}={v}" for k, v in sorted(options.items()))


class PoolSettings(Section):
    """One server pool: ``nodes`` containers with ``drives_per_node`` volumes each."""

    nodes: int = Field(description="MinIO nodes (containers) in the pool; 4 to 32 (1: only as the one pool)")
    drives_per_node: int = Field(1, ge=1, le=16, description="Docker volumes (drives) per node")
    drives: DriveSettings | None = Field(
        None, description="Where this pool's drives live (default: cluster.drives, else Docker volumes)"
    )
    first_node: int | None = Field(
        None,
        ge=1,
        description="Number N of the pool's first node (minioN); unset: right after the previous pool's "
        "last. Give it to the pools after one you retire, so their names and addresses stay",
    )


class ClusterSettings(Section):
    """The erasure-coded MinIO cluster: one pool (``nodes`` x ``drives_per_node``) or a list of ``pools``.

    Growing means appending a pool; a pool that holds data never changes shape (docs/cluster.md).
    """

    nodes: int = Field(
        4,
        description="MinIO nodes (containers) of a one-pool cluster; 4 to 32 (more pools: pools), or 1: "
        "single-node mode, for dev and CI (docs/cluster.md, 'Single-node mode'; prod refuses it)",
    )
    drives_per_node: int = Field(
        1, ge=1, le=16, description="Docker volumes (drives) per node of a one-pool cluster"
    )
    pools: tuple[PoolSettings, ...] | None = Field(
        None,
        min_length=1,
        description="Server pools, in order, each {nodes, drivesPerNode, firstNode}: instead of nodes and "
        "drivesPerNode. Append a pool to grow; never change one that holds data",
    )
    parity: int | None = Field(
        None,
        ge=1,
        description="EC parity of every erasure set in every pool; MinIO's default for the first pool's "
        "set size when unset",
    )
    image: ImageRef = Field(DEFAULT_MINIO_IMAGE, description="MinIO server image, pinned")
    root_user: str = Field(
        "minio-root",
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="Root access key (the password is the rootPassword secret or generated)",
    )
    root_password_generation: int = Field(
        1, ge=1, description="Bump to rotate the generated root password (replaces every node together)"
    )
    cpus: Cpus | None = Field(
        None,
        gt=0,
        description="CPU limit per node (Docker --cpus); none by default: erasure coding and checksums "
        "are the work a node's cores are for",
    )
    memory_mb: int | None = Field(
        4096, ge=512, description="Memory limit per node in MiB (Docker --memory); null: none"
    )
    lock_retry_interval_ms: int | None = Field(
        50,
        ge=10,
        le=250,
        description="How long MinIO waits before retrying a refused distributed lock, in ms (its "
        "internal _MINIO_LOCK_RETRY_INTERVAL; null leaves MinIO's 250). 50 cuts the stall a share of "
        "small PUTs takes (docs/performance.md)",
    )
    drives: DriveSettings | None = Field(
        None,
        description="Where the drives live: {hostPath} (a host folder per drive) or {driverOptions} (the "
        "local volume driver's); default: Docker volumes. pools[].drives overrides it per pool",
    )
    extra_environment: dict[str, str] = Field(
        default_factory=dict,
        description="More MinIO server settings for every node, {MINIO_NAME: value} (docs/cluster.md, 'Extra "
        "server settings'); the program's own variables and names of secrets are refused (secrets: the "
        "clusterSecretEnvironment secret)",
    )

    @model_validator(mode="after")
    def _extra_environment(self) -> Self:
        """Each extra variable by its key; a value is shown only when its name is not a secret's."""
        found = []
        for name, value in self.extra_environment.items():
            key = f"extraEnvironment.{name}"
            problem = environment_problem(name)
            if problem is None and SECRET_NAME_RE.search(name):
                found.append(Invalid(key, "[not shown]", "its name says it holds a secret: give it in the "
                                     "clusterSecretEnvironment secret"))  # fmt: skip
            elif problem is None and ("\n" in value or "\r" in value):
                found.append(Invalid(key, value, "one line (MinIO reads its variables line by line)"))
            elif problem is not None:
                found.append(Invalid(key, "[not shown]" if SECRET_NAME_RE.search(name) else value, problem))
        raise_all(found)
        return self

    @model_validator(mode="after")
    def _erasure_layout(self) -> Self:
        """Every pool splits into MinIO erasure sets of 2-16 drives spread evenly over its nodes; one
        parity for all pools, at most half of every pool's set; pools numbered in order; either
        pools or the one-pool form."""
        if self.pools is not None:
            given = sorted({"nodes", "drives_per_node"} & self.model_fields_set)
            if given:
                raise Invalid(
                    "pools",
                    "[...]",
                    f"give either pools or the one-pool form ({', '.join(to_camel(k) for k in given)}), "
                    "not both: move them into pools[0]",
                )
        shapes = self.pool_shapes
        raise_all([self._invalid(problem, shapes) for problem in pool_problems(shapes, self.parity)])
        return self

    def _invalid(self, problem: PoolPlanError, shapes: tuple[PoolShape, ...]) -> Invalid:
        """The problem under the key the user wrote: ``nodes`` in the one-pool form, ``pools[i].nodes``."""
        if problem.pool is None:
            return Invalid(problem.field, self.parity if problem.field == "parity" else None, str(problem))
        shape = shapes[problem.pool]
        value = {"nodes": shape.nodes, "drivesPerNode": shape.drives_per_node, "firstNode": shape.first_node}
        key = problem.field if self.pools is None else f"pools[{problem.pool}].{problem.field}"
        return Invalid(key, value[problem.field], str(problem))

    @model_validator(mode="after")
    def _one_drive_per_path(self) -> Self:
        """No two drives on one host folder or device, nor one folder inside another's."""
        if self.drives is None and not any(p.drives for p in self.pools or ()):
            return self
        seen: dict[str, str] = {}
        found = []
        for pool in self.layout:
            settings = self.drives_of(pool.number)
            if settings is None:
                continue
            own = self.pools is not None and self.pools[pool.number - 1].drives is not None
            key = (f"pools[{pool.number - 1}].drives" if own else "drives") + (
                ".hostPath" if settings.host_path is not None else ".driverOptions.device")  # fmt: skip
            for node in pool.node_names:
                for drive in range(1, pool.drives_per_node + 1):
                    where = settings.options(node, drive).get("device")
                    if where is None:
                        continue
                    clash = seen.get(where) or next(
                        (
                            other
                            for other in seen
                            if where.startswith(f"{other}/") or other.startswith(f"{where}/")
                        ),
                        None,
                    )
                    if clash is not None:
                        found.append(Invalid(key, where, f"one drive per path: {node} drive {drive} and "
                                             f"{seen.get(clash, clash)} share it (or one holds the other): "
                                             "put {node} and {drive} in it"))  # fmt: skip
                        break
                    seen[where] = f"{node} drive {drive}"
                if found:
                    break
            if found:
                break
        raise_all(found)
        return self

    def drives_of(self, pool_number: int) -> DriveSettings | None:
        """Pool ``pool_number``'s (1-based) drive settings: its own, else cluster.drives."""
        own = self.pools[pool_number - 1].drives if self.pools is not None else None
        return own if own is not None else self.drives

    def drive_options(self, pool_number: int, node: str, drive: int) -> dict[str, str]:
        settings = self.drives_of(pool_number)
        return settings.options(node, drive) if settings is not None else {}

    @property
    def pool_shapes(self) -> tuple[PoolShape, ...]:
        if self.pools is None:
            return (PoolShape(self.nodes, self.drives_per_node),)
        return tuple(PoolShape(p.nodes, p.drives_per_node, p.first_node) for p in self.pools)

    @property
    def layout(self) -> tuple[PoolLayout, ...]:
        """Every pool as MinIO runs it (validated: never raises on a loaded settings object)."""
        return plan_pools(self.pool_shapes, self.parity)

    @property
    def node_names(self) -> list[str]:
        return [name for pool in self.layout for name in pool.node_names]

    @property
    def last_node(self) -> int:
        """The highest node number: the storage subnet holds addresses up to it."""
        return max(pool.last_node for pool in self.layout)

    @property
    def single_node(self) -> bool:
        """Single-node mode: one pool of one node (dev and CI)."""
        return self.layout[0].single_node

    @property
    def effective_parity(self) -> int:
        """EC:N of every set (the configured parity, or the first pool's default)."""
        return self.layout[0].erasure.parity
