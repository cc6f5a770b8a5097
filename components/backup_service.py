"""The backup service as a service of the stack (the service itself: ``day2/service.py``).

It runs the stack's backup schedules (``backups.schedules``): each database's ``pg_dump`` into the
backups bucket at its cron times, sealed and locked like every backup of the day-2 tool, and each
schedule's restore drill. It sits on ``database-net``, where it reaches S3 at the gateway
(``database_s3_endpoint``) and the databases (containers there, or servers outside Docker), and on
``monitoring-net`` when the stack runs Prometheus, which scrapes its metrics (``backup:9187``).
Nothing of it is published on the host.

It signs in as the backup service account (``backups.account``, template backup-service: it may
write and lock, never delete). Its secrets are files, never its environment: that account's secret
key, the stack's backup seal key, and ``backupPgpass`` (libpq's pgpass file). With
``backups.configExport`` it also exports the cluster's configuration on its schedule, signed in as
the config-export account (template config-export: reads IAM and bucket settings, writes
``config/`` of the backups bucket), whose secret key is one more file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.conventions import (
    SECRETS_DIR,
    Hardening,
    docker_labels,
    healthy_service,
    secret_file,
    service_container,
)
from components.settings import BackupServiceSettings, ObjectLockSettings, ResourceSettings
from day2.schedules import METRICS_PORT

BACKUP_HOST = "backup"
"""Container name and network alias of the service."""
CONFIG_DIR = "/etc/backup"
WORK_DIR = "/var/lib/backup"
"""Where a drill downloads the dump it restores (a volume of its own: dumps outgrow memory)."""
CONFIG_FILE = f"{CONFIG_DIR}/service.json"
SECRET_KEY_FILE = f"{SECRETS_DIR}/s3-secret-key"
SEAL_KEY_FILE = f"{SECRETS_DIR}/backup-seal-key"
PGPASS_FILE = f"{SECRETS_DIR}/pgpass"
CONFIG_EXPORT_KEY_FILE = f"{SECRETS_DIR}/config-export-secret-key"
"""The config-export account's secret key (with backups.configExport)."""
GATEWAY_CERTIFICATE_FILE = f"{CONFIG_DIR}/gateway.crt"
"""The gateway's generated certificate (gateway.tls self-signed): the only authority the service
trusts then. Public, so not a secret file."""
HEALTH_PROBE = [
    "CMD",
    "/opt/backup/venv/bin/python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics', timeout=2)",
]
"""Healthy once the metrics answer: the service has read its config and files (images/backup has no wget)."""
BACKUP_HARDENING = Hardening(
    # The service's uid (images/backup) in group 0, which reads the secret files. A backup's dump
    # streams through memory; a drill's download goes to WORK_DIR, its pgpass copy to /tmp.
    user="10002:0",
    seeded=(CONFIG_DIR, SECRETS_DIR),
)


def service_config(
    settings: BackupServiceSettings,
    bucket: str,
    lock: ObjectLockSettings | None,
    *,
    endpoint: str,
    region: str,
    access_key: str,
    config_export_access_key: str | None = None,
    trusts_gateway_certificate: bool = False,
) -> dict:
    """What ``python -m day2 serve`` reads (day2/service.py ``ServiceConfig``): no secret, only
    the paths of the secret files (and of the gateway's certificate where it is self-signed)."""
    trust = {"ca_file": GATEWAY_CERTIFICATE_FILE} if trusts_gateway_certificate else {}
    return {
        "bucket": bucket,
        "endpoint": endpoint,
        "region": region,
        "access_key": access_key,
        "secret_key_file": SECRET_KEY_FILE,
        "seal_key_file": SEAL_KEY_FILE,
        "pgpass_file": PGPASS_FILE,
        "lock": {"mode": lock.mode.value, "days": lock.days} if lock else None,
        "metrics_port": METRICS_PORT,
        "work_dir": WORK_DIR,
        "schedules": [
            {
                "database": s.database,
                "host": s.host,
                "port": s.port,
                "user": s.user,
                "schedule": s.schedule,
                "drill": s.drill,
            }
            for s in settings.schedules
        ],
        "config_export": {
            "schedule": settings.config_export.schedule,
            "access_key": config_export_access_key,
            "secret_key_file": CONFIG_EXPORT_KEY_FILE,
        }
        if settings.config_export is not None
        else None,
        **trust,
    }


@dataclass(frozen=True)
class BackupServiceArgs:
    settings: BackupServiceSettings
    bucket: str
    lock: ObjectLockSettings | None
    """What each backup is locked for (the bucket's objectLock, or backups.objectLock)."""
    endpoint: str
    """S3 as the service reaches it on database-net (the gateway's database listener)."""
    region: str
    access_key: pulumi.Input[str]
    secret_key: pulumi.Input[str]
    """Secret: the backup account's."""
    seal_key: pulumi.Input[str]
    """Secret: the stack's backup seal key."""
    pgpass: pulumi.Input[str]
    """Secret: the backupPgpass stack secret."""
    config_export_keys: tuple[pulumi.Input[str], pulumi.Input[str]] | None
    """The config-export account's access key and secret key (secret), with backups.configExport."""
    gateway_certificate: pulumi.Input[str] | None
    """The gateway's self-signed certificate, which the service then trusts (None: the system's
    authorities, for plain HTTP or a provided certificate)."""
    database_network: docker.Network
    monitoring_network: docker.Network | None
    """Where Prometheus scrapes it (None: the stack runs no Prometheus)."""
    labels: dict[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    resources: ResourceSettings = field(default_factory=ResourceSettings)


class BackupService(pulumi.ComponentResource):
    """The backup service's container and its files."""

    container: docker.Container
    config: pulumi.Output[str]
    """The service's config (JSON), as uploaded."""

    def __init__(
        self, name: str, args: BackupServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("minio-platform:backups:BackupService", name, None, opts)
        export_keys = args.config_export_keys
        self.config = pulumi.Output.all(
            args.access_key, export_keys[0] if export_keys is not None else None
        ).apply(
            lambda keys: json.dumps(
                service_config(
                    args.settings,
                    args.bucket,
                    args.lock,
                    endpoint=args.endpoint,
                    region=args.region,
                    access_key=keys[0],
                    config_export_access_key=keys[1],
                    trusts_gateway_certificate=args.gateway_certificate is not None,
                ),
                indent=2,
            )
        )
        work = docker.Volume(
            f"{name}-work",
            name="backup-work",
            labels=docker_labels(docker.VolumeLabelArgs, args.labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        more = (
            [docker.ContainerNetworksAdvancedArgs(name=args.monitoring_network.name, aliases=[BACKUP_HOST])]
            if args.monitoring_network is not None
            else []
        )
        self.container = service_container(
            self,
            name,
            BACKUP_HOST,
            args.settings.image,
            args.database_network,
            args.labels,
            pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), replace_on_changes=["healthcheck"]
            ),
            hardening=BACKUP_HARDENING,
            more_networks=more,
            volumes=[docker.ContainerVolumeArgs(volume_name=work.name, container_path=WORK_DIR)],
            uploads=[
                docker.ContainerUploadArgs(file=CONFIG_FILE, content=self.config),
                secret_file("s3-secret-key", args.secret_key),
                secret_file("backup-seal-key", args.seal_key),
                secret_file("pgpass", args.pgpass),
                *(
                    [secret_file("config-export-secret-key", export_keys[1])]
                    if export_keys is not None
                    else []
                ),
                *(
                    [
                        docker.ContainerUploadArgs(
                            file=GATEWAY_CERTIFICATE_FILE,
                            content=args.gateway_certificate,
                            permissions="0644",
                        )
                    ]
                    if args.gateway_certificate is not None
                    else []
                ),
            ],
            **healthy_service(
                HEALTH_PROBE,
                interval="5s",
                timeout="3s",
                retries=6,
                start_period="5s",
                wait_timeout=120,
                limits=args.resources.backup,
            ),
        )
        self.register_outputs({})
