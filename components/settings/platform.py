"""The whole stack's settings and the rules that span sections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Self

from pydantic import (
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from components.addressing import AddressPlanError, plan_host_addresses, plan_storage_addresses
from components.footprint import deployed_images, published_ports
from components.hosts import HostLoss, PlacementError, host_losses, node_placement
from components.policies import takes_buckets, template_names
from components.settings.backup_service import BackupServiceSettings, pgpass_covers, pgpass_entries
from components.settings.base import (
    ADMIN_USER,
    AUDITOR_USER,
    METRICS_USER,
    UNCHECKED,
    Environment,
    Invalid,
    ObservabilityMode,
    Section,
    TlsMode,
    image_is_digest_pinned,
    raise_all,
    repeated,
)
from components.settings.buckets import (
    AnonymousAccess,
    BucketSettings,
    ObjectLockSettings,
    ServiceAccountSettings,
    _default_buckets,
    _default_service_accounts,
)
from components.settings.cluster import ClusterSettings, environment_problem, secret_environment_lines
from components.settings.gateway import GatewaySettings
from components.settings.hosts import DOCKER_HOST_PATTERN, HostSettings
from components.settings.iam import PASSWORD_MIN, IamSettings, password_lines
from components.settings.identity import BUILTIN_POLICIES, GroupSettings, IdentitySettings
from components.settings.network import NetworkSettings, is_rfc1918
from components.settings.observability import ObservabilitySettings
from components.settings.resources import ResourceSettings
from components.settings.secrets import SEAL_KEY_MIN, Secrets


class PlatformSettings(Section):
    """Everything one stack needs, validated as a whole."""

    environment: Environment = Field(
        Environment.DEV,
        description="prod requires gateway.tls provided and every deployed image pinned by digest, and "
        "protects volumes, buckets and the KMS key",
    )
    docker_host: str = Field(
        "unix:///var/run/docker.sock",
        pattern=DOCKER_HOST_PATTERN,
        description="Docker daemon the stack deploys to (unix://, tcp://, ssh://user@host); may be a secret. "
        "Several hosts: hosts instead",
    )
    hosts: tuple[HostSettings, ...] | None = Field(
        None,
        min_length=2,
        description="Several Docker hosts, each {name, dockerHost, address, nodes}: the first runs the "
        'gateway and the services, the nodes are spread over all (README "Several Docker hosts")',
    )
    cluster: ClusterSettings = ClusterSettings()
    networks: NetworkSettings = NetworkSettings()
    gateway: GatewaySettings = GatewaySettings()
    identity: IdentitySettings = IdentitySettings()
    buckets: tuple[BucketSettings, ...] = Field(
        default_factory=_default_buckets, description="Private buckets, each with one expiry rule"
    )
    service_accounts: tuple[ServiceAccountSettings, ...] = Field(
        default_factory=_default_service_accounts,
        description="Applications' identities: a MinIO user and service account holding a rendered template",
    )
    observability: ObservabilitySettings = ObservabilitySettings()
    iam: IamSettings = Field(
        default_factory=IamSettings,
        description='Custom policies, MinIO users and groups (docs/buckets-and-iam.md "IAM in the stack")',
    )
    backups: BackupServiceSettings = Field(
        default_factory=BackupServiceSettings,
        description="The backup service: scheduled PostgreSQL backups and restore drills "
        '(docs/day2.md "The backup service")',
    )
    resources: ResourceSettings = Field(
        default_factory=ResourceSettings,
        description="CPU and memory limits of the services beside the nodes, each {cpus, memoryMb}",
    )
    secrets: Secrets = Secrets()

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Self:
        """Every rule between sections (:meth:`_checks`), all reported together."""
        # Sections that failed their own validation stand in as defaults here (settings_from_config):
        # the checks that read them are skipped, the others still run, so every problem shows at once.
        unchecked: frozenset[str] = (info.context or {}).get(UNCHECKED, frozenset())
        found = [
            problem for sections, check in self._checks() if not sections & unchecked for problem in check()
        ]
        raise_all(found)
        return self

    def _checks(self) -> list[tuple[frozenset[str], Callable[[], Iterator[Invalid]]]]:
        """Every rule that spans sections, with the sections (field names) it reads."""
        return [
            (frozenset({"networks", "cluster"}), self._check_storage_addresses),
            (frozenset({"cluster", "environment", "hosts"}), self._check_single_node),
            (frozenset({"hosts", "docker_host", "networks", "cluster", "identity"}), self._check_hosts),
            (frozenset({"hosts", "cluster", "environment"}), self._check_host_losses),
            (frozenset({"buckets", "environment"}), self._check_buckets),
            (frozenset({"service_accounts", "buckets", "cluster"}), self._check_service_accounts),
            (frozenset({"identity", "buckets"}), self._check_groups),
            (frozenset({"gateway", "identity", "observability"}), self._check_ports),
            (frozenset({"gateway", "secrets", "environment"}), self._check_tls),
            (frozenset({"identity", "secrets", "environment"}), self._check_identity_secrets),
            (frozenset({"observability", "secrets"}), self._check_observability_secrets),
            (frozenset({"backups", "buckets", "service_accounts", "secrets"}), self._check_backup_service),
            (frozenset({"cluster", "secrets"}), self._check_cluster_secret_environment),
            (frozenset({"buckets", "cluster", "secrets"}), self._check_notifications),
            (frozenset({"iam", "service_accounts", "identity", "observability", "secrets"}), self._check_iam),
            (
                frozenset({"environment", "cluster", "gateway", "identity", "observability", "backups"}),
                self._check_prod_images,
            ),
        ]

    @property
    def cluster_secret_environment(self) -> dict[str, str]:
        """clusterSecretEnvironment as {name: value} (checked by the settings: valid when they load)."""
        secret = self.secrets.cluster_secret_environment
        return dict(secret_environment_lines(secret.get_secret_value())) if secret is not None else {}

    def _check_cluster_secret_environment(self) -> Iterator[Invalid]:
        """Each line MINIO_NAME=value, a name the program does not set and the plain map does not
        repeat; never a value in the message."""
        secret = self.secrets.cluster_secret_environment
        if secret is None:
            return
        try:
            lines = secret_environment_lines(secret.get_secret_value())
        except ValueError as err:
            yield Invalid("clusterSecretEnvironment", "[secret]", str(err))
            return
        for number, (name, _) in enumerate(lines, start=1):
            problem = environment_problem(name)
            if problem is None and name in self.cluster.extra_environment:
                problem = "also in cluster.extraEnvironment: give it once"
            if problem is None and name in (n for n, _ in lines[: number - 1]):
                problem = "given again"
            if problem is not None:
                yield Invalid("clusterSecretEnvironment", "[secret]", f"variable {number}, {name}: {problem}")

    @property
    def iam_user_passwords(self) -> dict[str, str]:
        """iamUserPasswords as {user: password} (checked by the settings: valid when they load)."""
        secret = self.secrets.iam_user_passwords
        return password_lines(secret.get_secret_value()) if secret is not None else {}

    def _check_iam(self) -> Iterator[Invalid]:
        """iam's users are not the program's own identities and its policies not the ones the program
        writes; each user has a password of MinIO's length in iamUserPasswords, and no line names
        another; never a password in the message."""
        iam, secret = self.iam, self.secrets.iam_user_passwords
        programs = {a.name for a in self.service_accounts} | {ADMIN_USER, AUDITOR_USER, METRICS_USER}
        if self.observability.metrics_access_key:
            programs.add(self.observability.metrics_access_key)
        for i, user in enumerate(iam.users):
            if user.name in programs:
                yield Invalid(f"iam.users[{i}].name", user.name, "the program's own identity: choose another")
        written = {g.minio_policy for g in self.identity.groups}
        for i, policy in enumerate(iam.policies):
            if policy.name in written:
                yield Invalid(
                    f"iam.policies[{i}].name", policy.name, "a policy the program writes: choose another"
                )
        if secret is None:
            for i, user in enumerate(iam.users):
                yield Invalid(
                    f"iam.users[{i}]", user.name, "its password: a line name=password of iamUserPasswords"
                )
            return
        try:
            passwords = password_lines(secret.get_secret_value())
        except ValueError as err:
            yield Invalid("iamUserPasswords", "[secret]", str(err))
            return
        names = {u.name for u in iam.users}
        for i, user in enumerate(iam.users):
            if user.name not in passwords:
                yield Invalid(
                    f"iam.users[{i}]", user.name, "its password: a line name=password of iamUserPasswords"
                )
            elif len(passwords[user.name]) < PASSWORD_MIN:
                yield Invalid(
                    "iamUserPasswords",
                    "[secret]",
                    f"{user.name}'s password: at least {PASSWORD_MIN} characters",
                )
        for name in sorted(set(passwords) - names):
            yield Invalid("iamUserPasswords", "[secret]", f"a password for {name}, who is not in iam.users")

    def _check_storage_addresses(self) -> Iterator[Invalid]:
        """The storage subnet holds the gateway and every node at fixed addresses in its lower half."""
        try:
            plan_storage_addresses(self.networks.storage_subnet, self.cluster.last_node)
        except AddressPlanError as err:
            yield Invalid("networks.storageSubnet", str(self.networks.storage_subnet), str(err))

    def _check_single_node(self) -> Iterator[Invalid]:
        """Single-node mode is for dev and CI, on one host: prod refuses it, and so do hosts."""
        if not self.cluster.single_node:
            return
        key = "cluster.nodes" if self.cluster.pools is None else "cluster.pools[0].nodes"
        if self.environment is Environment.PROD:
            yield Invalid(
                key,
                1,
                "prod runs 4 or more nodes: a single node stops serving when it stops, whatever its "
                "drives (docs/cluster.md, 'Single-node mode')",
            )
        if self.hosts is not None:
            yield Invalid(
                "hosts", "[...]", "a single node runs on one host: remove hosts (or give it dockerHost)"
            )

    def _check_hosts(self) -> Iterator[Invalid]:
        """Several hosts: unique names, daemons and addresses in hostSubnet outside hostRange; every
        node placed once (on every host or on none); hostSubnet and hostRange given and large enough."""
        if self.hosts is None:
            for key in ("host_subnet", "host_range"):
                if getattr(self.networks, key) is not None:
                    yield Invalid(
                        f"networks.{to_camel(key)}", str(getattr(self.networks, key)), "only used with hosts"
                    )
            return
        if "docker_host" in self.model_fields_set:
            yield Invalid(
                "dockerHost", "[...]", "give either dockerHost or hosts, not both: move it into hosts"
            )
        for field in ("name", "docker_host", "address"):
            for i, value in repeated(getattr(host, field) for host in self.hosts):
                shown = "[...]" if field == "docker_host" else str(value)
                yield Invalid(
                    f"hosts[{i}].{to_camel(field)}", shown, f"every host's {to_camel(field)} is its own"
                )
        if self.hosts[0].down:
            yield Invalid(
                "hosts[0].down",
                True,
                "the first host runs the gateway and the services: nothing can be served or changed "
                "without it; bring its daemon back",
            )
        explicit = [host.nodes is not None for host in self.hosts]
        if not self._host_names_unique:
            pass  # a placement by name means nothing until the names are fixed
        elif any(explicit) and not all(explicit):
            missing = [i for i, given in enumerate(explicit) if not given]
            yield Invalid(
                f"hosts[{missing[0]}].nodes",
                None,
                "give nodes on every host or on none (none: an even spread)",
            )
        else:
            try:
                node_placement(self.cluster.layout, self.hosts)
            except PlacementError as err:
                yield Invalid("hosts", "[...nodes]", str(err))
        yield from self._check_host_network(self.hosts)

    def _check_host_network(self, hosts: tuple[HostSettings, ...]) -> Iterator[Invalid]:
        subnet, block = self.networks.host_subnet, self.networks.host_range
        if subnet is None or block is None:
            for key, value in (("hostSubnet", subnet), ("hostRange", block)):
                if value is None:
                    yield Invalid(
                        f"networks.{key}",
                        None,
                        "required with hosts: the hosts' network and the stack's block of it",
                    )
            return
        for i, host in enumerate(hosts):
            if host.address not in subnet or host.address in block:
                yield Invalid(
                    f"hosts[{i}].address",
                    str(host.address),
                    f"an address in networks.hostSubnet ({subnet}) outside networks.hostRange ({block})",
                )
        try:
            plan_host_addresses(block, self.cluster.last_node)
        except AddressPlanError as err:
            yield Invalid("networks.hostRange", str(block), str(err))
        if self.identity.deployed and not is_rfc1918(subnet):
            yield Invalid(
                "networks.hostSubnet",
                str(subnet),
                "a private network (RFC 1918) with identity.mode deploy: the deployed Keycloak's realm "
                "refuses plain HTTP from other addresses, and the nodes on other hosts are its clients; "
                "or use identity.mode external",
            )

    @property
    def _host_names_unique(self) -> bool:
        return self.hosts is None or len({host.name for host in self.hosts}) == len(self.hosts)

    def host_losses(self) -> list[HostLoss]:
        """What losing each host does to each pool (empty with one host, or while the hosts' names
        or placement are wrong: those are reported on their own)."""
        if self.hosts is None or not self._host_names_unique:
            return []
        try:
            placement = node_placement(self.cluster.layout, self.hosts)
        except PlacementError:
            return []
        return host_losses(self.cluster.layout, placement)

    def _check_host_losses(self) -> Iterator[Invalid]:
        """No single host's loss may make data unreadable; in prod, none may stop writes either (dev
        is warned at `pulumi up`). A single node is refused with hosts on its own (_check_single_node)."""
        if self.hosts is None or self.cluster.single_node:
            return
        index = {host.name: i for i, host in enumerate(self.hosts)}
        fix = "place the pool's nodes on more hosts (hosts[].nodes, or more hosts) or raise cluster.parity"
        for loss in self.host_losses():
            host = self.hosts[index[loss.host]]
            key, value = (
                (f"hosts[{index[loss.host]}]", host.name)
                if host.nodes is None
                else (f"hosts[{index[loss.host]}].nodes", list(host.nodes))
            )
            if not loss.readable:
                yield Invalid(key, value, f"{loss.describe()}: {fix}")
            elif not loss.writable and self.environment is Environment.PROD:
                yield Invalid(key, value, f"{loss.describe()} (prod refuses this): {fix}")

    def warnings(self) -> list[str]:
        """What a valid stack should still hear about: a host marked down, drives the program cannot
        size, an existing service's URL where the stack runs its own; in dev, a host whose loss
        stops writes."""
        found = [
            f"hosts[{i}] ({host.name}) is marked down: nothing is registered on it. Before the first "
            f"`pulumi up` in this state, remove its resources from the state: `make host-down "
            f'HOST={host.name}` (docs/several-hosts.md, "Operating with a host down")'
            for i, host in enumerate(self.hosts or ())
            if host.down
        ]
        placed = self.cluster.drives is not None or any(p.drives for p in self.cluster.pools or ())
        if placed:
            found.append(
                "cluster.drives: the drives are host folders or devices whose sizes the program cannot "
                "see. MinIO uses each erasure set's smallest drive as the size of every drive in it: give "
                "the nodes equal disks, and no two drives of one node the same disk (docs/cluster.md, "
                "'Where drives live')"
            )
        found += self.observability.ignored_urls()
        if self.environment is Environment.PROD:
            return found
        return found + [loss.describe() for loss in self.host_losses() if loss.readable and not loss.writable]

    def _check_notifications(self) -> Iterator[Invalid]:
        """A bucket notifies only a webhook target the nodes have: enabled in cluster.extraEnvironment,
        its endpoint there or in clusterSecretEnvironment."""
        plain = self.cluster.extra_environment
        try:
            secret = self.cluster_secret_environment
        except ValueError:  # _check_cluster_secret_environment names the line
            secret = {}
        for i, bucket in enumerate(self.buckets):
            for j, notification in enumerate(bucket.notifications):
                target = notification.webhook
                enabled = plain.get(f"MINIO_NOTIFY_WEBHOOK_ENABLE_{target}", "").lower() == "on"
                endpoint = f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{target}"
                if not enabled or not (endpoint in plain or endpoint in secret):
                    yield Invalid(
                        f"buckets[{i}].notifications[{j}].webhook",
                        target,
                        f"a target of the nodes: MINIO_NOTIFY_WEBHOOK_ENABLE_{target}: 'on' and {endpoint} "
                        "in cluster.extraEnvironment (docs/buckets-and-iam.md, 'Notifications')",
                    )

    def _check_buckets(self) -> Iterator[Invalid]:
        """Bucket names are unique; in prod, a bucket open to anyone says it is on purpose."""
        for i, name in repeated(bucket.name for bucket in self.buckets):
            yield Invalid(f"buckets[{i}].name", name, "bucket names must be unique")
        if self.environment is not Environment.PROD:
            return
        for i, bucket in enumerate(self.buckets):
            if bucket.anonymous is not AnonymousAccess.NONE and not bucket.public_on_purpose:
                yield Invalid(
                    f"buckets[{i}].anonymous",
                    bucket.anonymous.value,
                    "anonymous access in prod: give the bucket publicOnPurpose: true if that is intended",
                )

    def _check_service_accounts(self) -> Iterator[Invalid]:
        """Service accounts: unique names other than the root user and the program's own identities
        (metrics, administrator, auditor); a template policy; buckets exactly when the template is
        per bucket, each one configured."""
        templates = template_names()
        buckets = {b.name for b in self.buckets}
        for i, name in repeated(account.name for account in self.service_accounts):
            yield Invalid(f"serviceAccounts[{i}].name", name, "service account names must be unique")
        for i, account in enumerate(self.service_accounts):
            if account.name in (METRICS_USER, ADMIN_USER, AUDITOR_USER, self.cluster.root_user):
                yield Invalid(
                    f"serviceAccounts[{i}].name",
                    account.name,
                    f"a name other than the root user and the program's own identities "
                    f"({METRICS_USER}, {ADMIN_USER}, {AUDITOR_USER})",
                )
            if account.policy not in templates:
                yield Invalid(
                    f"serviceAccounts[{i}].policy", account.policy, f"one of the templates {templates}"
                )
                continue
            if takes_buckets(account.policy) != bool(account.buckets):
                allowed = (
                    f"template {account.policy!r} is per bucket: name at least one bucket"
                    if takes_buckets(account.policy)
                    else f"template {account.policy!r} applies to every bucket: leave buckets empty"
                )
                yield Invalid(f"serviceAccounts[{i}].buckets", list(account.buckets), allowed)
            for j, name in enumerate(account.buckets):
                if name not in buckets:
                    yield Invalid(
                        f"serviceAccounts[{i}].buckets[{j}]",
                        name,
                        f"a bucket configured in buckets: {sorted(buckets)}",
                    )

    def _check_groups(self) -> Iterator[Invalid]:
        """Groups: unique names; a MinIO built-in or template policy; a per-bucket template has a
        bucket to apply to; buckets only for per-bucket templates, each one configured."""
        templates = template_names()
        buckets = {b.name for b in self.buckets}
        for i, name in repeated(group.name for group in self.identity.groups):
            yield Invalid(f"identity.groups[{i}].name", name, "group names must be unique")
        for i, group in enumerate(self.identity.groups):
            key = f"identity.groups[{i}]"
            if group.policy not in (*BUILTIN_POLICIES, *templates):
                yield Invalid(
                    f"{key}.policy",
                    group.policy,
                    f"a MinIO built-in {list(BUILTIN_POLICIES)} or a template {templates}",
                )
                continue
            if group.uses_template and takes_buckets(group.policy) and not self.group_buckets(group):
                yield Invalid(
                    f"{key}.policy",
                    group.policy,
                    f"template {group.policy!r} is per bucket and the group has no bucket to apply it to: "
                    f"configure buckets or choose a MinIO built-in {list(BUILTIN_POLICIES)}",
                )
            if group.buckets is None:
                continue
            if not group.uses_template or not takes_buckets(group.policy):
                yield Invalid(
                    f"{key}.buckets", list(group.buckets), f"policy {group.policy!r} takes no buckets"
                )
            for j, name in enumerate(group.buckets):
                if name not in buckets:
                    yield Invalid(
                        f"{key}.buckets[{j}]", name, f"a bucket configured in buckets: {sorted(buckets)}"
                    )

    def group_buckets(self, group: GroupSettings) -> tuple[str, ...]:
        """The buckets a group's template policy is rendered for (every bucket when unset)."""
        if not group.uses_template or not takes_buckets(group.policy):
            return ()
        return group.buckets if group.buckets is not None else tuple(b.name for b in self.buckets)

    def _check_ports(self) -> Iterator[Invalid]:
        """Every published host port is distinct."""
        owner: dict[int, str] = {}
        for key, port in published_ports(self.gateway, self.identity, self.observability).items():
            if port in owner:
                yield Invalid(
                    key,
                    port,
                    f"host port {port} is already used by {owner[port]}; each published port "
                    f"must be distinct",
                )
            owner[port] = key

    def _check_identity_secrets(self) -> Iterator[Invalid]:
        """Prod configures an existing Keycloak and signs in to it as a service account (client
        credentials); outside prod an existing Keycloak takes the service account's secret or, failing
        that, identity.adminUser's password, never both."""
        identity, secrets = self.identity, self.secrets
        prod = self.environment is Environment.PROD
        if identity.deployed:
            if prod:
                yield Invalid(
                    "identity.mode",
                    identity.mode.value,
                    "prod configures an existing Keycloak (external): the deployed one runs start-dev, "
                    "its realm in an H2 file, made for development",
                )
            return
        client_secret, password = secrets.keycloak_admin_client_secret, secrets.keycloak_admin_password
        if prod and client_secret is None:
            yield Invalid(
                "keycloakAdminClientSecret",
                None,
                "required in prod with identity.mode external: the secret of identity.adminClientId, the "
                "service account (client credentials) the program signs in to Keycloak as",
            )
        elif prod and password is not None:
            yield Invalid(
                "keycloakAdminPassword",
                "(set)",
                "not used in prod: the program signs in to Keycloak as the service account "
                "identity.adminClientId (keycloakAdminClientSecret), never with a person's password",
            )
        elif client_secret is None and password is None:
            yield Invalid(
                "keycloakAdminClientSecret",
                None,
                "required with identity.mode external: the secret of identity.adminClientId (or, outside "
                "prod, keycloakAdminPassword, the password of identity.adminUser)",
            )
        elif client_secret is not None and password is not None:
            yield Invalid(
                "keycloakAdminPassword",
                "(set)",
                "set keycloakAdminClientSecret or keycloakAdminPassword, not both: the program signs in "
                "to an existing Keycloak one way",
            )

    @property
    def backups_bucket_name(self) -> str | None:
        """Where the backup service writes: ``backups.bucket``, or the one bucket with backups: true."""
        if self.backups.bucket is not None:
            return self.backups.bucket
        marked = [b.name for b in self.buckets if b.backups]
        return marked[0] if len(marked) == 1 else None

    @property
    def backups_bucket(self) -> BucketSettings | None:
        """The backup service's bucket, when the stack configures it."""
        return next((b for b in self.buckets if b.name == self.backups_bucket_name), None)

    @property
    def backups_lock(self) -> ObjectLockSettings | None:
        """The lock the backup service gives each backup: its bucket's, or backups.objectLock."""
        bucket = self.backups_bucket
        return bucket.lock if bucket is not None else self.backups.object_lock

    def _check_backup_service(self) -> Iterator[Invalid]:
        """Schedules: a bucket (a configured one with backups: true, or, with an identity made
        outside the stack, any); who signs in (the backup-service account on that bucket, or
        backups.accessKey with backupSecretKey; for configExport, a config-export account on that
        bucket); the seal key (generated with a backups bucket, or
        backupSealKey); backupPgpass with a password for each schedule (any database, for a drill)."""
        backups, secrets = self.backups, self.secrets
        if not backups.enabled:
            for key, value in (
                ("backupPgpass", secrets.backup_pgpass),
                ("backupSecretKey", secrets.backup_secret_key),
                ("backups.accessKey", backups.access_key),
            ):
                if value is not None:
                    yield Invalid(
                        key,
                        "[secret]" if key.startswith("backup") else value,
                        "only used with backups.schedules",
                    )
            if backups.config_export is not None:
                yield Invalid(
                    "backups.configExport", "{...}", "runs in the backup service: only with backups.schedules"
                )
            return
        name, bucket = self.backups_bucket_name, self.backups_bucket
        marked = [b.name for b in self.buckets if b.backups]
        if name is None:
            yield Invalid(
                "backups.bucket",
                None,
                f"name the bucket: one of {marked}" if marked else "name the bucket the backups go to",
            )
        elif bucket is not None and not bucket.backups:
            yield Invalid("backups.bucket", name, f"a bucket with backups: true (those: {marked})")
        elif bucket is None and backups.access_key is None:
            yield Invalid(
                "backups.bucket",
                name,
                f"a bucket configured in buckets with backups: true (those: {marked}), or give "
                "backups.accessKey for a bucket and identity made outside the stack",
            )
        if bucket is not None and backups.object_lock is not None:
            yield Invalid(
                "backups.objectLock", "{...}", f"the bucket's own objectLock applies: set it on {name}"
            )
        if backups.access_key is not None:
            if secrets.backup_secret_key is None:
                yield Invalid(
                    "backupSecretKey", None, "backups.accessKey needs its secret key as this secret"
                )
        else:
            account = next((a for a in self.service_accounts if a.name == backups.account), None)
            if (
                account is None
                or account.policy != "backup-service"
                or (name and name not in account.buckets)
            ):
                yield Invalid(
                    "backups.account",
                    backups.account,
                    "a service account of serviceAccounts with policy backup-service on the backups bucket",
                )
        export = backups.config_export
        if export is not None:
            account = next((a for a in self.service_accounts if a.name == export.account), None)
            if account is None or account.policy != "config-export" or (name and name not in account.buckets):
                yield Invalid(
                    "backups.configExport.account",
                    export.account,
                    "a service account of serviceAccounts with policy config-export on the backups bucket",
                )
        if secrets.backup_seal_key is None and not marked:
            yield Invalid(
                "backupSealKey",
                None,
                "the stack makes a seal key only with a bucket of backups: true: give one as this secret",
            )
        if (
            secrets.backup_seal_key is not None
            and len(secrets.backup_seal_key.get_secret_value()) < SEAL_KEY_MIN
        ):
            yield Invalid("backupSealKey", "[secret]", f"at least {SEAL_KEY_MIN} characters")
        if secrets.backup_pgpass is None:
            yield Invalid(
                "backupPgpass",
                None,
                "backups.schedules need the databases' passwords: a secret in pgpass format "
                '(pulumi config set --secret backupPgpass "$(cat pgpass)")',
            )
            return
        try:
            entries = pgpass_entries(secrets.backup_pgpass.get_secret_value())
        except ValueError as err:
            yield Invalid("backupPgpass", "[secret]", f"libpq's pgpass format: {err}")
            return
        for i, schedule in enumerate(backups.schedules):
            where = f"{schedule.user}@{schedule.host}:{schedule.port}"
            if not pgpass_covers(entries, schedule):
                yield Invalid(
                    f"backups.schedules[{i}]",
                    schedule.database,
                    f"backupPgpass has no line for {where}/{schedule.database}",
                )
            elif schedule.drill and not pgpass_covers(entries, schedule, "*"):
                yield Invalid(
                    f"backups.schedules[{i}].drill",
                    schedule.drill,
                    f"a drill connects to a scratch database: backupPgpass needs a line for {where} with "
                    "database *",
                )

    def _check_observability_secrets(self) -> Iterator[Invalid]:
        """observability.mode external needs grafanaAuth, and no other mode takes it; Loki's
        credentials (lokiUsername with lokiPassword, or lokiBearerToken) only with mode external,
        one kind at a time, the user and password together."""
        external = self.observability.mode is ObservabilityMode.EXTERNAL
        if external and self.secrets.grafana_auth is None:
            yield Invalid(
                "grafanaAuth",
                None,
                "required with observability.mode external: a service-account token of the existing Grafana",
            )
        if not external and self.secrets.grafana_auth is not None:
            yield Invalid(
                "grafanaAuth",
                "[secret]",
                f"only used with observability.mode external (mode is {self.observability.mode.value}): "
                "remove it with `pulumi config rm grafanaAuth`",
            )
        yield from self._check_loki_credentials(external)
        yield from self._check_alerting_secrets()

    def _check_alerting_secrets(self) -> Iterator[Invalid]:
        """The metrics identity's key and secret together; each receiver secret exactly where a
        receiver uses it."""
        observability, secrets = self.observability, self.secrets
        if observability.metrics_access_key is not None and secrets.metrics_secret_key is None:
            yield Invalid("metricsSecretKey", None, "required with observability.metricsAccessKey")
        if observability.metrics_access_key is None and secrets.metrics_secret_key is not None:
            yield Invalid(
                "metricsSecretKey",
                "[secret]",
                "only used with observability.metricsAccessKey (the program makes its own metrics identity)",
            )
        alerting = observability.alerting
        for key, used, why in (
            ("alertSmtpPassword", alerting.needs_smtp_password, "an e-mail receiver with a username"),
            ("alertWebhookToken", alerting.uses_webhooks, "a receiver with webhookUrl"),
            ("alertSlackUrl", alerting.uses_slack, "a receiver with slackChannel"),
        ):
            given = getattr(secrets, to_snake(key)) is not None
            if given and not used:
                yield Invalid(key, "[secret]", f"only used by {why} in observability.alerting.receivers")
        if alerting.needs_smtp_password and secrets.alert_smtp_password is None:
            yield Invalid("alertSmtpPassword", None, "required by the e-mail receivers with a username")
        if alerting.uses_slack and secrets.alert_slack_url is None:
            yield Invalid("alertSlackUrl", None, "required by the receivers with slackChannel")

    def _check_loki_credentials(self, external: bool) -> Iterator[Invalid]:
        user, password = self.observability.loki_username, self.secrets.loki_password
        token = self.secrets.loki_bearer_token
        given = {
            "observability.lokiUsername": user,
            "lokiPassword": None if password is None else "[secret]",
            "lokiBearerToken": None if token is None else "[secret]",
        }
        if not external:
            for key, value in given.items():
                if value is not None:
                    yield Invalid(
                        key, value, "Loki credentials are only used with observability.mode external"
                    )
            return
        if user is not None and password is None:
            yield Invalid("lokiPassword", None, "required with observability.lokiUsername (basic auth)")
        if password is not None and user is None:
            yield Invalid(
                "observability.lokiUsername", None, "required with the lokiPassword secret (basic auth)"
            )
        if token is not None and (user is not None or password is not None):
            yield Invalid(
                "lokiBearerToken", "[secret]", "choose basic auth or a bearer token for Loki, not both"
            )

    @property
    def manages_minio_objects(self) -> bool:
        """Whether the stack creates buckets, policies or identities inside MinIO (the minio provider).

        False only when there are no buckets, no service accounts, nothing in iam, SSO groups on
        MinIO's built-in policies alone, and no metrics identity to create (no monitoring, or an
        existing identity in observability.metricsAccessKey): such a stack registers no minio
        provider at all.
        """
        return bool(
            self.buckets
            or self.service_accounts
            or self.iam.used
            or any(group.uses_template for group in self.identity.groups)
            or self.observability.creates_metrics_identity
        )

    def _check_tls(self) -> Iterator[Invalid]:
        """gateway.tls provided needs tlsCertificate and tlsPrivateKey; prod needs gateway.tls provided."""
        if self.gateway.tls is TlsMode.PROVIDED:
            for key in ("tls_certificate", "tls_private_key"):
                if getattr(self.secrets, key) is None:
                    yield Invalid(
                        to_camel(key),
                        None,
                        "required when gateway.tls is 'provided' (set it with `pulumi config set --secret`)",
                    )
        if self.environment is Environment.PROD and self.gateway.tls is not TlsMode.PROVIDED:
            yield Invalid(
                "gateway.tls",
                self.gateway.tls.value,
                "prod terminates TLS with a provided certificate: set gateway.tls to 'provided' and the "
                "tlsCertificate and tlsPrivateKey secrets",
            )

    def _check_prod_images(self) -> Iterator[Invalid]:
        """prod pins every image it deploys by digest."""
        if self.environment is not Environment.PROD:
            return
        for key, ref in deployed_images(
            self.cluster, self.gateway, self.identity, self.observability, self.backups
        ).items():
            if not image_is_digest_pinned(ref):
                yield Invalid(key, ref, "prod pins every image by digest: repository:tag@sha256:<64 hex>")
