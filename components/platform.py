"""The whole platform for one stack, wired in dependency order (README "Architecture")."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_minio as minio
from pydantic import SecretStr

from components.addressing import plan_host_addresses, plan_storage_addresses
from components.alerting import CONFIG_FILE as ALERTMANAGER_CONFIG_FILE
from components.alerting import Alerting, AlertingArgs
from components.backup_service import BACKUP_HOST, BackupService, BackupServiceArgs
from components.buckets import Buckets, BucketsArgs, TaggingAccess
from components.cluster import MinioCluster, MinioClusterArgs, MultiHost, NodeSite
from components.conventions import stack_labels
from components.gateway import Gateway, GatewayArgs, provider_endpoint, public_urls
from components.hosts import node_placement
from components.identities import (
    Identities,
    IdentitiesArgs,
    PlatformAdministrator,
    group_policy_documents,
    pretty,
)
from components.internode_tls import InternodeTls
from components.layout_guard import PoolLayoutGuard
from components.logs import (
    ALLOY_CONFIG_FILE,
    GATE_CONFIG_FILE,
    GATE_HOST,
    LOG_QUEUE_PATH,
    LogPipeline,
    LogPipelineArgs,
    minio_log_environment,
)
from components.monitoring import RULES_FILE, Monitoring, MonitoringArgs
from components.network import (
    HostsNetworks,
    HostsNetworksArgs,
    PlatformNetworks,
    PlatformNetworksArgs,
)
from components.pools import node_name
from components.settings import (
    ADMIN_USER,
    PROJECT,
    Environment,
    HostSettings,
    PlatformSettings,
    TlsMode,
)
from components.settings.alerting import duration_seconds
from components.settings.cluster import ClusterSettings, drive_source
from components.signin_bridge import SigninBridge, SigninBridgeArgs
from components.sso import CLIENT_ID, SSO_SESSION_MAX_SECONDS, SingleSignOn, SingleSignOnArgs
from day2.schedules import METRICS_PORT

REGION = "us-east-1"
"""MinIO's default region: what SDKs must sign for."""


@dataclass(frozen=True)
class PlatformArgs:
    settings: PlatformSettings
    """The validated stack settings (components.settings.load_settings)."""
    stack: str
    """Stack name, recorded in a label on every Docker object."""


def drive_sources(cluster: ClusterSettings) -> dict[int, list[str]] | None:
    """Where each node's drives live, for the layout guard; None while every drive is a plain
    volume (a stack's record then stays as it was before cluster.drives existed)."""
    if cluster.drives is None and not any(p.drives for p in cluster.pools or ()):
        return None
    return {
        number: [
            drive_source(cluster.drive_options(pool.number, node, drive))
            for drive in range(1, pool.drives_per_node + 1)
        ]
        for pool in cluster.layout
        for number, node in zip(pool.node_numbers, pool.node_names, strict=True)
    }


class Platform(pulumi.ComponentResource):
    """Networks, the log pipeline, the MinIO cluster, the gateway, identity, buckets and IAM, monitoring."""

    pool_layout: PoolLayoutGuard
    """The recorded pool layout: its check refuses to reshape a pool (components/layout_guard.py)."""
    docker: docker.Provider
    """The Docker provider of the one host, or of the first of several (it runs the services)."""
    host_providers: dict[str, docker.Provider]
    """Several hosts: the Docker provider of every host not marked down, by host name (empty with one
    host)."""
    hosts_networks: HostsNetworks | None
    """Several hosts: storage-hosts-net on every host."""
    internode_tls: InternodeTls | None
    """Several hosts: the CA and node certificates that make node traffic TLS."""
    networks: PlatformNetworks
    logs: LogPipeline | None
    """None with ``observability.mode: none`` or ``metrics``."""
    cluster: MinioCluster
    sso: SingleSignOn
    signin: SigninBridge | None
    """The console's sign-in bridge; None with ``identity.consoleSignIn: form``."""
    gateway: Gateway
    minio: minio.Provider | None
    """Signs in as ``platform-admin``. None when the stack manages nothing inside MinIO
    (``PlatformSettings.manages_minio_objects``), and so is ``administrator``."""
    administrator: PlatformAdministrator | None
    buckets: Buckets | None
    identities: Identities | None
    monitoring: Monitoring | None
    """None with ``observability.mode: none``."""
    alerting: Alerting | None
    """Alertmanager: where the stack runs Prometheus (observability.mode deploy or metrics)."""
    backup_service: BackupService | None
    """The scheduled backups (backups.schedules); None without schedules."""
    seal_key: pulumi.Output[str] | None
    """The key backups are sealed with (secret): backupSealKey, or generated with a backups bucket."""
    generated_files: dict[str, pulumi.Input[str]]
    """Configuration files the platform renders, by file name (the offline synth writes them out)."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:index:Platform", name, None, opts)
        settings = args.settings
        labels = stack_labels(PROJECT, args.stack)
        addresses = plan_storage_addresses(settings.networks.storage_subnet, settings.cluster.last_node)
        node_numbers = [number for pool in settings.cluster.layout for number in pool.node_numbers]
        node_addresses = {node_name(n): str(addresses.nodes[n - 1]) for n in node_numbers}
        self.generated_files = {}
        for warning in settings.warnings():
            pulumi.log.warn(warning, resource=self)

        # First, and the Docker provider waits for it: a change to a pool that holds data is refused
        # by this resource's check, in preview and up, before any container or volume is touched.
        self.pool_layout = PoolLayoutGuard(
            f"{name}-pool-layout",
            settings.cluster.layout,
            one_pool_form=settings.cluster.pools is None,
            placement=None
            if settings.hosts is None
            else node_placement(settings.cluster.layout, settings.hosts),
            first_host=None if settings.hosts is None else settings.hosts[0].name,
            drives=drive_sources(settings.cluster),
            opts=pulumi.ResourceOptions(parent=self),
        )

        # One explicit Docker provider for every container, network and volume, so the target daemon
        # is stack config rather than whatever DOCKER_HOST the operator's shell happens to carry (CI
        # sets the key from its DOCKER_HOST secret). Secret: an ssh:// address names a deploy user
        # and host, and previews are posted on pull requests.
        # Several hosts: one provider per host; the first host's takes this name, so a stack that
        # grows from one host to several keeps its services where they are.
        daemons = (
            {"": settings.docker_host}
            if settings.hosts is None
            else {host.name: host.docker_host for host in settings.hosts if not host.down}
        )
        providers = {
            host: docker.Provider(
                f"{name}-docker" if i == 0 else f"{name}-docker-{host}",
                host=pulumi.Output.secret(daemon),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pool_layout]),
            )
            for i, (host, daemon) in enumerate(daemons.items())
        }
        self.docker = next(iter(providers.values()))
        self.host_providers = {} if settings.hosts is None else providers
        self.hosts_networks = self.internode_tls = None
        multi_host = keycloak_certificate = None
        # Several hosts: the services stay on the first host's bridge networks and publish what the
        # other hosts' nodes call (Keycloak's HTTPS, Alloy's webhooks) on its address.
        first_address = None if settings.hosts is None else str(settings.hosts[0].address)
        upstreams = list(node_addresses.values())
        if settings.hosts is not None:
            multi_host = self._several_hosts(name, settings, settings.hosts, labels)
            if settings.identity.deployed:
                keycloak_certificate = multi_host.tls.issue(
                    "keycloak", ["keycloak"], [str(settings.hosts[0].address)]
                )
            # The first host's nodes by storage-net (it cannot reach its own macvlan containers),
            # the others by their address on the hosts' network.
            upstreams = [
                node_addresses[node] if host == multi_host.first_host else multi_host.addresses[node]
                for node, host in multi_host.hosts_of.items()
            ]

        self.networks = PlatformNetworks(
            f"{name}-networks",
            PlatformNetworksArgs(
                settings=settings.networks,
                storage_dynamic_range=str(addresses.dynamic_range),
                labels=labels,
                with_logs=settings.observability.ships_logs,
            ),
            opts=self._child(),
        )

        # Before the nodes: MinIO sends its logs and audit events to Alloy from its first request.
        self.logs = None
        log_environment: dict[str, str] = {}
        if settings.observability.ships_logs:
            self.logs = LogPipeline(
                f"{name}-logs",
                LogPipelineArgs(
                    settings=settings.observability,
                    monitoring_network=self.networks.monitoring,
                    log_network=self.networks.logs,
                    alloy_address=settings.networks.alloy_address,
                    loki_credential=_secret(
                        settings.secrets.loki_password or settings.secrets.loki_bearer_token
                    ),
                    labels=labels,
                    publish_on=first_address,
                    gate_image=settings.gateway.image,
                    resources=settings.resources,
                ),
                opts=self._child(),
            )
            self.generated_files[ALLOY_CONFIG_FILE] = self.logs.alloy_config
            self.generated_files[GATE_CONFIG_FILE] = self.logs.gate_config
            log_environment = minio_log_environment(settings.observability.log_queue_size)

        # Known from settings alone, so the nodes' environment does not wait for the gateway.
        console_url, _ = public_urls(settings.gateway)

        self.sso = SingleSignOn(
            f"{name}-sso",
            SingleSignOnArgs(
                identity=settings.identity,
                console_url=console_url,
                storage_network=self.networks.storage,
                edge_network=self.networks.monitoring,
                demo_users=settings.environment is Environment.DEV,
                admin_password=_secret(settings.secrets.keycloak_admin_password),
                admin_client_secret=_secret(settings.secrets.keycloak_admin_client_secret),
                labels=labels,
                publish_https_on=first_address if keycloak_certificate is not None else None,
                https_certificate=keycloak_certificate,
                resources=settings.resources,
            ),
            opts=self._child(),
        )
        self.cluster = MinioCluster(
            f"{name}-cluster",
            MinioClusterArgs(
                settings=settings.cluster,
                environment_kind=settings.environment,
                storage_network=self.networks.storage,
                monitoring_network=self.networks.monitoring,
                node_addresses=node_addresses,
                root_password=_secret(settings.secrets.root_password),
                # The console builds its links and OAuth callback from this: the gateway path, no
                # trailing slash.
                extra_environment={
                    "MINIO_BROWSER_REDIRECT_URL": console_url,
                    **self.sso.minio_environment,
                    **log_environment,
                    # The operator's own (cluster.extraEnvironment): the settings refused the names above.
                    **settings.cluster.extra_environment,
                },
                secret_environment={
                    **self.sso.minio_secret_environment,
                    **(self.logs.minio_secret_environment if self.logs else {}),
                    **{
                        name: pulumi.Output.secret(value)
                        for name, value in settings.cluster_secret_environment.items()
                    },
                },
                log_queue_path=LOG_QUEUE_PATH if self.logs else None,
                # MinIO's IAM, console and cluster health wait for the OIDC discovery document;
                # its log and audit webhooks should find Alloy listening.
                depends_on=[*self.sso.ready, *([self.logs.gate, self.logs.alloy] if self.logs else [])],
                labels=labels,
                multi_host=multi_host,
            ),
            opts=self._child(),
        )
        self.generated_files["minio.env"] = self.cluster.environment_file

        self.signin = None
        if settings.identity.bridge:
            self.signin = SigninBridge(
                f"{name}-signin",
                SigninBridgeArgs(
                    identity=settings.identity,
                    console_url=console_url,
                    discovery_url=self.sso.discovery_url,
                    client_id=CLIENT_ID,
                    client_secret=self.sso.client_secret,
                    max_session_seconds=SSO_SESSION_MAX_SECONDS,
                    storage_network=self.networks.storage,
                    address=str(addresses.signin),
                    gateway_address=str(addresses.gateway),
                    edge_network=self.networks.monitoring,
                    labels=labels,
                    depends_on=self.sso.ready,
                    resources=settings.resources,
                ),
                opts=self._child(),
            )

        self.gateway = Gateway(
            f"{name}-gateway",
            GatewayArgs(
                settings=settings.gateway,
                storage_network=self.networks.storage,
                # Published ports need a non-internal network; monitoring-net is one.
                edge_network=self.networks.monitoring,
                database_network=self.networks.database,
                gateway_address=str(addresses.gateway),
                node_addresses=upstreams,
                nodes=self.cluster.anchors,
                tls_certificate=_secret(settings.secrets.tls_certificate),
                tls_private_key=_secret(settings.secrets.tls_private_key),
                labels=labels,
                node_ca=None if self.internode_tls is None else self.internode_tls.ca_certificate,
                signin_address=None if self.signin is None else self.signin.address,
                resources=settings.resources,
            ),
            opts=self._child(),
        )
        self.generated_files["nginx.conf"] = self.gateway.nginx_conf

        self.minio = self.administrator = self.buckets = self.identities = None
        if settings.manages_minio_objects:
            self._inside_minio(name, settings, labels)
        # Backups are sealed with the key given, or the one the stack made with its backups bucket.
        self.seal_key = _secret(settings.secrets.backup_seal_key) or (
            self.buckets.seal_key if self.buckets is not None else None
        )
        self.backup_service = None
        if settings.backups.enabled:
            self._backup_service(name, settings, labels)
        self.alerting = self.monitoring = None
        if settings.observability.enabled:
            self._monitoring(name, settings, labels, multi_host)

        self.register_outputs(
            {
                "minio_nodes": self.cluster.node_names,
                "s3_endpoint": self.gateway.s3_endpoint,
                "console_url": self.gateway.console_url,
            }
        )

    def _several_hosts(
        self, name: str, settings: PlatformSettings, hosts: tuple[HostSettings, ...], labels: dict[str, str]
    ) -> MultiHost:
        """storage-hosts-net on every host, the internode CA and certificates, each node's host."""
        network = settings.networks
        if network.host_subnet is None or network.host_range is None:
            raise ValueError("networks.hostSubnet and networks.hostRange are required with hosts")
        host_addresses = plan_host_addresses(network.host_range, settings.cluster.last_node)
        self.hosts_networks = HostsNetworks(
            f"{name}-hosts-net",
            HostsNetworksArgs(
                subnet=str(network.host_subnet),
                address_range=str(network.host_range),
                interface=network.host_interface,
                providers=self.host_providers,
                labels=labels,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        placement = node_placement(settings.cluster.layout, hosts)
        addresses = {node_name(n): str(host_addresses.nodes[n - 1]) for n in placement}
        self.internode_tls = InternodeTls(
            f"{name}-internode-tls", addresses, opts=pulumi.ResourceOptions(parent=self)
        )
        first = hosts[0]
        services = [
            *(["keycloak"] if settings.identity.deployed else []),
            # The nodes' webhooks post to the log gate (its ports published on the first host).
            *([GATE_HOST] if settings.observability.ships_logs else []),
        ]
        return MultiHost(
            hosts_of={node_name(n): host for n, host in sorted(placement.items())},
            sites={
                host: NodeSite(host, provider, self.hosts_networks.networks[host])
                for host, provider in self.host_providers.items()
            },
            addresses=addresses,
            first_host=first.name,
            services=dict.fromkeys(services, str(first.address)),
            tls=self.internode_tls,
        )

    def _inside_minio(self, name: str, settings: PlatformSettings, labels: dict[str, str]) -> None:
        """Buckets and IAM: everything that talks to MinIO through the minio provider."""
        # Both minio providers talk to the cluster through the gateway's S3 listener, and only once
        # the gateway and every node are healthy. Root creates the program's administrator and
        # nothing else; the provider that does the work signs in as that administrator. It keeps
        # the URN the root provider had before it existed: a stack made then sees its provider's
        # credentials change (an update), not a new provider, which would replace every bucket.
        endpoint, use_tls = provider_endpoint(settings.gateway)

        def provider(resource_name: str, user: pulumi.Input[str], password: pulumi.Input[str]):
            return minio.Provider(
                resource_name,
                minio_server=endpoint,
                minio_ssl=use_tls,
                # A self-signed gateway certificate cannot be verified; only dev uses one.
                minio_insecure=settings.gateway.tls is TlsMode.SELF_SIGNED,
                minio_region=REGION,
                minio_user=user,
                minio_password=password,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.gateway.container, *self.cluster.anchors]
                ),
            )

        bootstrap = provider(f"{name}-minio-bootstrap", self.cluster.root_user, self.cluster.root_password)
        self.administrator = PlatformAdministrator(
            f"{name}-administrator",
            opts=pulumi.ResourceOptions(parent=self, providers={"minio": bootstrap}),
        )
        self.generated_files[f"policy-{ADMIN_USER}-policy.json"] = pretty(self.administrator.document)
        self.minio = provider(f"{name}-minio", self.administrator.user_name, self.administrator.password)
        through_minio = pulumi.ResourceOptions(parent=self, providers={"minio": self.minio})
        self.buckets = Buckets(
            f"{name}-buckets",
            BucketsArgs(
                buckets=settings.buckets,
                kms_key_id=self.cluster.kms_key_id,
                protect=settings.environment is Environment.PROD,
                generate_seal_key=settings.secrets.backup_seal_key is None,
                tagging=TaggingAccess(
                    f"{'https' if use_tls else 'http'}://{endpoint}",
                    self.administrator.user_name,
                    self.administrator.password,
                    insecure=settings.gateway.tls is TlsMode.SELF_SIGNED,
                ),
            ),
            opts=through_minio,
        )
        self.identities = Identities(
            f"{name}-iam",
            IdentitiesArgs(
                service_accounts=settings.service_accounts,
                buckets=list(self.buckets.buckets.values()),
                group_policies=group_policy_documents(settings),
                metrics_identity=settings.observability.creates_metrics_identity,
                metrics_secret_generation=settings.observability.metrics_secret_generation,
                iam=settings.iam,
                iam_passwords=settings.iam_user_passwords,
            ),
            opts=through_minio,
        )
        for policy_name, document in self.identities.documents.items():
            self.generated_files[f"policy-{policy_name}.json"] = pretty(document)

    def _backup_service(self, name: str, settings: PlatformSettings, labels: dict[str, str]) -> None:
        """The backup service on database-net (and monitoring-net where Prometheus runs), signed in
        as the backup account or the identity given; the settings checked the bucket, who signs in,
        the seal key and the passwords."""
        backups, secrets = settings.backups, settings.secrets
        if backups.access_key is not None:
            access_key: pulumi.Input[str] = backups.access_key
            secret_key = _secret(secrets.backup_secret_key)
        elif self.identities is not None:
            access_key = self.identities.access_keys[backups.account]
            secret_key = self.identities.secret_keys[backups.account]
        else:
            raise ValueError("backups.schedules need the backup service account or backups.accessKey")
        export_keys = None
        if backups.config_export is not None:
            if self.identities is None:
                raise ValueError("backups.configExport needs the stack's config-export service account")
            account = backups.config_export.account
            export_keys = (self.identities.access_keys[account], self.identities.secret_keys[account])
        bucket = settings.backups_bucket_name
        pgpass = _secret(secrets.backup_pgpass)
        if secret_key is None or self.seal_key is None or pgpass is None or bucket is None:
            raise ValueError("backups.schedules need a bucket, a secret key, the seal key and backupPgpass")
        self.backup_service = BackupService(
            f"{name}-backups",
            BackupServiceArgs(
                settings=backups,
                bucket=bucket,
                lock=settings.backups_lock,
                endpoint=self.gateway.database_s3_endpoint,
                region=REGION,
                access_key=access_key,
                secret_key=secret_key,
                seal_key=self.seal_key,
                pgpass=pgpass,
                config_export_keys=export_keys,
                gateway_certificate=self.gateway.self_signed_certificate,
                database_network=self.networks.database,
                monitoring_network=self.networks.monitoring
                if settings.observability.runs_prometheus
                else None,
                labels=labels,
                depends_on=[
                    self.gateway.container,
                    *(self.buckets.buckets.values() if self.buckets is not None else ()),
                ],
                resources=settings.resources,
            ),
            opts=self._child(),
        )
        self.generated_files["backup-service.json"] = self.backup_service.config

    def _monitoring(
        self, name: str, settings: PlatformSettings, labels: dict[str, str], multi_host: MultiHost | None
    ) -> None:
        """Prometheus's files (and Prometheus, Alertmanager and Grafana where the stack runs them),
        scraping as the metrics identity: the program's own or an existing one."""
        observability = settings.observability
        if observability.metrics_access_key is not None and settings.secrets.metrics_secret_key is not None:
            metrics_access_key: str | None = observability.metrics_access_key
            metrics_secret_key = _secret(settings.secrets.metrics_secret_key)
        elif self.identities is not None:
            metrics_access_key = self.identities.metrics_access_key
            metrics_secret_key = self.identities.metrics_secret_key
        else:
            metrics_access_key = metrics_secret_key = None
        if not metrics_access_key or metrics_secret_key is None:
            raise ValueError("monitoring needs the metrics identity: observability is off")
        if observability.ships_logs and self.logs is None:
            raise ValueError("monitoring with logs needs the log pipeline: observability is off")
        if observability.runs_prometheus:
            secrets = settings.secrets
            self.alerting = Alerting(
                f"{name}-alerting",
                AlertingArgs(
                    settings=observability.alerting,
                    image=observability.alertmanager_image,
                    published_port=observability.alertmanager_port,
                    monitoring_network=self.networks.monitoring,
                    limits=settings.resources.alertmanager,
                    smtp_password=_secret(secrets.alert_smtp_password),
                    webhook_token=_secret(secrets.alert_webhook_token),
                    slack_url=_secret(secrets.alert_slack_url),
                    labels=labels,
                ),
                opts=self._child(),
            )
            self.generated_files[ALERTMANAGER_CONFIG_FILE] = self.alerting.config
        self.monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                settings=settings.observability,
                pools=settings.cluster.layout,
                node_names=self.cluster.node_names,
                monitoring_network=self.networks.monitoring,
                metrics_access_key=metrics_access_key,
                metrics_secret_key=metrics_secret_key,
                grafana_auth=_secret(settings.secrets.grafana_auth),
                loki_url=None if self.logs is None else self.logs.loki_url,
                labels=labels,
                node_hosts={}
                if multi_host is None
                else {
                    node: multi_host.addresses[node]
                    for node, host in multi_host.hosts_of.items()
                    if host != multi_host.first_host
                },
                node_ca=None if self.internode_tls is None else self.internode_tls.ca_certificate,
                resources=settings.resources,
                alertmanager=None if self.alerting is None else self.alerting.url,
                backups=None if self.backup_service is None else f"{BACKUP_HOST}:{METRICS_PORT}",
                backup_overdue_seconds=duration_seconds(settings.backups.overdue_after),
            ),
            opts=self._child(),
        )
        self.generated_files["prometheus.yml"] = self.monitoring.scrape_config
        self.generated_files[RULES_FILE] = self.monitoring.alert_rules

    def _child(self) -> pulumi.ResourceOptions:
        """Options for a direct child: parented here, Docker resources through this stack's provider."""
        return pulumi.ResourceOptions(parent=self, providers={"docker": self.docker})


def _secret(value: SecretStr | None) -> pulumi.Output[str] | None:
    """A secret stack value as a secret Output (None stays None)."""
    return None if value is None else pulumi.Output.secret(value.get_secret_value())
