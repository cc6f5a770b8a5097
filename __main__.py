"""minio-platform: settings -> platform -> stack outputs."""

import json

import pulumi

from components.gateway import BREAK_GLASS_ARGUMENT
from components.grafana import GRAFANA_ADMIN_USER
from components.hosts import node_placement
from components.platform import REGION, Platform, PlatformArgs
from components.pools import node_name
from components.settings import load_settings

# Validated first: a bad stack config stops here, before any resource registers.
settings = load_settings()

platform = Platform("minio", PlatformArgs(settings=settings, stack=pulumi.get_stack()))

pulumi.export("environment", settings.environment.value)
pulumi.export("s3_endpoint", platform.gateway.s3_endpoint)
pulumi.export("console_url", platform.gateway.console_url)
# Containers on the database network (PostgreSQL, the backup job) reach S3 here, inside Docker.
pulumi.export("database_network", platform.networks.database.name)
pulumi.export("database_s3_endpoint", platform.gateway.database_s3_endpoint)
pulumi.export("sso_issuer_url", platform.sso.issuer_url)
pulumi.export("sso_login_url", platform.sso.login_url)
if platform.signin is not None:
    pulumi.export("console_break_glass_url", f"{platform.gateway.console_url}/login?{BREAK_GLASS_ARGUMENT}=1")
if platform.sso.demo_users:
    pulumi.export("sso_demo_users", pulumi.Output.secret(platform.sso.demo_users))
if platform.monitoring and platform.monitoring.dashboard_url is not None:
    pulumi.export("grafana_dashboard_url", platform.monitoring.dashboard_url)
    pulumi.export("grafana_url", platform.monitoring.grafana_url)
    if platform.monitoring.grafana_admin_password is not None:
        pulumi.export("grafana_admin_user", GRAFANA_ADMIN_USER)
        pulumi.export("grafana_admin_password", platform.monitoring.grafana_admin_password)
if settings.identity.deployed:
    # The deployed Keycloak's permanent admin, a person (the automation signs in as a service account).
    pulumi.export("keycloak_admin_url", platform.sso.admin_console_url)
    pulumi.export("keycloak_admin_user", settings.identity.admin_user)
    pulumi.export("keycloak_admin_password", platform.sso.admin_password)
pulumi.export("region", REGION)
pulumi.export("buckets", platform.buckets.names if platform.buckets else [])
identities = platform.identities
pulumi.export("service_account_access_keys", identities.access_keys if identities else {})
pulumi.export(
    "service_account_secret_keys", pulumi.Output.secret(identities.secret_keys if identities else {})
)
# What the day-2 verifier checks the live cluster against (day2/verify.py).
pulumi.export(
    "service_account_policies",
    {a.name: json.loads(identities.documents[f"{a.name}-policy"]) for a in settings.service_accounts}
    if identities
    else {},
)
pulumi.export(
    "bucket_configuration",
    {
        b.name: {
            "retention_days": b.retention_days,
            "versioning": b.versioned,
            "noncurrent_retention_days": b.noncurrent_retention_days if b.versioned else None,
            "encryption": b.encryption,
            "object_lock": {"mode": b.lock.mode.value, "days": b.lock.days} if b.lock else None,
            "backups": b.backups,
        }
        for b in settings.buckets
    },
)
if platform.seal_key is not None:
    # The day-2 backup tool seals each backup with it, and restore checks the seal (docs/day2.md).
    pulumi.export("backup_seal_key", platform.seal_key)
if platform.alerting is not None:
    # Where the stack runs Prometheus and Alertmanager: their pages, on this machine only.
    pulumi.export("prometheus_url", f"http://127.0.0.1:{settings.observability.prometheus_port}")
    pulumi.export("alertmanager_url", f"http://127.0.0.1:{settings.observability.alertmanager_port}")
if platform.monitoring:
    pulumi.export("metrics_bearer_token", platform.monitoring.token)
    pulumi.export("metrics_token_expires", platform.monitoring.token_expires)
pulumi.export("minio_nodes", platform.cluster.node_names)
pulumi.export("minio_internal_endpoints", platform.cluster.internal_endpoints)
pulumi.export("minio_root_user", platform.cluster.root_user)
pulumi.export("minio_root_password", platform.cluster.root_password)
if identities and identities.auditor_access_key:
    # The day-2 verify and compliance sign in as this read-only identity, not as root.
    pulumi.export("minio_auditor_user", identities.auditor_access_key)
    pulumi.export("minio_auditor_password", identities.auditor_secret_key)
# Per pool: its nodes, MinIO's argument for it (what `mc admin decommission` names) and its quorum.
pulumi.export(
    "erasure_coding",
    {
        "parity": settings.cluster.effective_parity,
        "pools": [
            {
                "pool": pool.number,
                "nodes": pool.node_names,
                "argument": pool.endpoint_argument(secure=settings.hosts is not None),
                "drives_per_node": pool.drives_per_node,
                "set_size": pool.erasure.set_size,
                "sets": pool.erasure.set_count,
                "read_quorum": pool.erasure.read_quorum,
                "write_quorum": pool.erasure.write_quorum,
                "node_losses_readable": pool.erasure.node_losses_readable,
                "node_losses_writable": pool.erasure.node_losses_writable,
                "drive_losses_readable": pool.erasure.drive_losses_readable,
                "drive_losses_writable": pool.erasure.drive_losses_writable,
            }
            for pool in settings.cluster.layout
        ],
    },
)
if settings.hosts is not None:
    # Per host: its nodes, and what its loss would do (None: every pool keeps reading and writing).
    losses = settings.host_losses()
    placement = sorted(node_placement(settings.cluster.layout, settings.hosts).items())
    pulumi.export(
        "hosts",
        {
            host.name: {
                "nodes": [node_name(n) for n, on in placement if on == host.name],
                "if_lost": next(
                    (loss.describe() for loss in losses if loss.host == host.name and not loss.writable), None
                ),
            }
            for host in settings.hosts
        },
    )
