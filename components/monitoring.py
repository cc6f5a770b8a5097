"""Prometheus for the cluster: the scrape configuration, its bearer token, the alert rules, and the
Prometheus container (Grafana's part: components/grafana.py; Alertmanager's: components/alerting.py).

Pure renderers. Both files reference their companions by paths relative to the configuration's
folder (``minio.token``, ``minio-alerts.yml``), so the very same text works in the Prometheus
container (``/etc/prometheus/``) and in a test beside a temporary copy.

The alert rules are the single source of truth for alerting: they are plain Prometheus rules that
``promtool test rules`` proves fire and stay quiet as intended, and they work the same with the
deployed Prometheus (dev) and an existing one (prod).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import jwt
import pulumi
import pulumi_docker as docker
import yaml

from components.cluster import S3_PORT
from components.conventions import SECRET_FILE_MODE, Hardening, loopback_service
from components.grafana import GrafanaArgs, StackGrafana
from components.internode_tls import SHARED_NAME
from components.pools import PoolLayout
from components.settings import (
    DEFAULT_LOG_QUEUE_SIZE,
    ObservabilityMode,
    ObservabilitySettings,
    ResourceSettings,
)

TOKEN_FILE = "minio.token"  # noqa: S105 (a file name)
RULES_FILE = "minio-alerts.yml"
NODE_CA_FILE = "internode-ca.crt"
"""The internode CA beside prometheus.yml, with several hosts (nodes serve HTTPS)."""
DAY_SECONDS = 86_400
EPOCH = date(1970, 1, 1)

JOBS = {
    "minio-cluster": "/minio/v2/metrics/cluster",
    "minio-nodes": "/minio/v2/metrics/node",
    "minio-buckets": "/minio/v2/metrics/bucket",
}


def token_expiry(days: int, today: date | None = None) -> int:
    """When a metrics token issued today expires (Unix seconds, a UTC midnight).

    Time is cut into periods of ``days`` days from 1970-01-01 UTC; a token issued in a period expires
    at the end of the next one. So every ``pulumi up`` leaves a token valid for more than ``days``
    days and at most ``2 * days``, and the token (with the Prometheus container that reads it) stays
    the same for every run within a period: previews show no change until a period ends, then one
    ``pulumi up`` reissues it. The program has no time resource to anchor a lifetime to; the date
    of the run is the anchor, cut into periods so that runs on different days of a period agree.
    """
    today = today or datetime.now(UTC).date()
    period = (today - EPOCH).days // days
    return (period + 2) * days * DAY_SECONDS


def metrics_token(access_key: str, secret_key: str, expires: int) -> str:
    """The bearer token MinIO accepts on its metrics endpoints (as ``mc admin prometheus generate``),
    valid until ``expires`` (Unix seconds; MinIO refuses it afterwards)."""
    with warnings.catch_warnings():
        # MinIO fixes both HS512 and the key (the identity's secret, at most 40 characters), so
        # PyJWT's advice to use a 64-byte key cannot be followed.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(
            {"exp": expires, "sub": access_key, "iss": "prometheus"}, secret_key, algorithm="HS512"
        )


@dataclass(frozen=True)
class ScrapeTargets:
    cluster: str
    """One ``host:port`` serving the cluster-wide and bucket metrics (the gateway: any live node answers)."""
    nodes: Sequence[str]
    """Every node's ``host:port``: node metrics are per node."""
    scheme: str = "http"
    node_tls_name: str | None = None
    """Nodes serve HTTPS with the internode CA (several hosts): the name their certificates share."""


def render_scrape_config(
    targets: ScrapeTargets,
    scrape_interval: str = "30s",
    alertmanager: str | None = None,
    backups: str | None = None,
) -> str:
    """``prometheus.yml``: the three MinIO jobs, authenticated with the bearer token file, the
    backup service's (``host:port``, plain HTTP on the private network) when the stack runs it, and
    the Alertmanager (``host:port``) that firing alerts go to."""
    authorization = {"type": "Bearer", "credentials_file": TOKEN_FILE}

    def job(name: str, hosts: Sequence[str]) -> dict:
        return {
            "job_name": name,
            "metrics_path": JOBS[name],
            "scheme": targets.scheme,
            "authorization": authorization,
            "static_configs": [{"targets": list(hosts)}],
        }

    nodes = job("minio-nodes", targets.nodes)
    if targets.node_tls_name is not None:
        nodes["scheme"] = "https"
        nodes["tls_config"] = {"ca_file": NODE_CA_FILE, "server_name": targets.node_tls_name}

    config: dict = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            job("minio-cluster", [targets.cluster]),
            nodes,
            job("minio-buckets", [targets.cluster]),
        ],
    }
    if backups is not None:
        config["scrape_configs"].append({"job_name": BACKUP_JOB, "static_configs": [{"targets": [backups]}]})
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return "# Rendered by minio-platform (components/monitoring.py).\n" + yaml.safe_dump(
        config, sort_keys=False
    )


def _rule(name: str, expr: str, duration: str, severity: str, summary: str, runbook: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "runbook": runbook},
    }


@dataclass(frozen=True)
class TokenLifetime:
    """The metrics token's expiry and the period it is reissued after (``token_expiry``)."""

    expires: int
    """Unix seconds."""
    days: int

    @classmethod
    def from_today(cls, days: int) -> TokenLifetime:
        return cls(token_expiry(days), days)


BACKUP_JOB = "minio-backups"
"""The backup service's scrape job (its name matches MinIOMetricsDown's ``minio-.*``)."""
BACKUP_ALERTS = (
    "MinIOBackupOverdue",
    "MinIOBackupFailed",
    "MinIORestoreDrillFailed",
    "MinIOConfigExportFailed",
)
"""The alerts about the backup service's schedules, rendered only when it runs."""
LOG_ALERTS = ("MinIOLogDeliveryFailing", "MinIOLogQueueFull")
"""The alerts about the log pipeline, which read the nodes' log webhook counters."""
QUEUE_FULL_SHARE = 0.9
"""MinIOLogQueueFull fires when a node's in-memory log buffer is this full (a batch in flight keeps
it just under its capacity while it drops)."""


def _weakest(pools: Sequence[PoolLayout]) -> PoolLayout:
    """The pool that stops writing after the fewest node losses."""
    return min(pools, key=lambda pool: pool.erasure.node_losses_writable)


def left_out_alerts(pools: Sequence[PoolLayout], logs: bool, backups: bool) -> dict[str, str]:
    """The rules a stack does not render, each with why: the backup rules without the backup
    service, the log-pipeline rules without log webhooks, the quorum rule for a single node with no
    drive to spare (one drive, or two at EC:1: there is no warning to give before writes stop)."""
    left_out = {}
    if not backups:
        left_out |= dict.fromkeys(BACKUP_ALERTS, "the stack runs no backup service (backups.schedules)")
    if not logs:
        left_out |= dict.fromkeys(LOG_ALERTS, "the nodes post no log webhooks (observability.mode metrics)")
    weakest = _weakest(pools)
    if weakest.single_node and weakest.erasure.drive_losses_writable < 1:
        left_out["MinIOWriteQuorumAtRisk"] = (
            "a single node with no drive to spare stops writing at its first drive loss "
            "(cluster.drivesPerNode)"
        )
    return left_out


def _write_quorum_rule(weakest: PoolLayout, cluster: str, consequence: str) -> dict:
    """MinIOWriteQuorumAtRisk: one more node loss stops writes. A single node counts drives instead
    (losing the node stops everything: MinIOMetricsDown says so)."""
    erasure = weakest.erasure
    if not weakest.single_node:
        return _rule(
            "MinIOWriteQuorumAtRisk",
            f"max(minio_cluster_nodes_offline_total{cluster}) >= {erasure.node_losses_writable}",
            "1m",
            "critical",
            f"MinIO: one more node loss {consequence} (write quorum {erasure.write_quorum} of "
            f"{erasure.set_size} drives per set)",
            "Bring the offline node(s) back before anything else; do not restart healthy nodes.",
        )
    return _rule(
        "MinIOWriteQuorumAtRisk",
        f"max(minio_cluster_drive_offline_total{cluster}) >= {erasure.drive_losses_writable}",
        "1m",
        "critical",
        f"MinIO: one more drive loss stops every write (single node: write quorum {erasure.write_quorum} "
        f"of {erasure.set_size} drives)",
        "Bring the offline drive(s) back (mc admin info lists them: their volumes or host folders) "
        "before anything else.",
    )


def alert_rules(
    pools: Sequence[PoolLayout],
    token: TokenLifetime,
    log_queue_size: int = DEFAULT_LOG_QUEUE_SIZE,
    alert_for: Mapping[str, str] | None = None,
    logs: bool = True,
    backup_overdue_seconds: float | None = None,
) -> list[dict]:
    """The note's three alerts, plus drives offline, quorum at risk, the log pipeline away, log
    events being dropped, a silent scrape and a metrics token nobody reissued. ``alert_for``
    replaces a rule's ``for`` by its name (observability.alertFor); without ``logs`` (the nodes
    post no log webhooks: observability.mode metrics) the two log-pipeline alerts are left out.
    With ``backup_overdue_seconds`` (the stack runs the backup service: backups.overdueAfter) the
    three backup alerts are in: a backup overdue by that long, the last backup failed, the last
    restore drill failed.

    With several pools the quorum alert takes the least tolerant pool and counts offline nodes
    cluster-wide: it fires when one more loss could stop writes in some pool (early rather than late,
    since losing any whole pool stops I/O for all of them).
    """
    nodes = sum(pool.nodes for pool in pools)
    weakest = _weakest(pools)
    consequence = "stops every write" if len(pools) == 1 else f"can stop writes in pool {weakest.number}"
    cluster = '{job="minio-cluster"}'
    # MinIO exposes minio_s3_requests_errors_total per node on the node endpoint only (its cluster
    # endpoint carries the 4xx/5xx split instead), so the error rate sums the nodes.
    nodes_job = '{job="minio-nodes"}'
    rules = [
        _rule(
            "MinIONodeDown",
            f"max(minio_cluster_nodes_online_total{cluster}) < {nodes}",
            "5m",
            "warning",
            "MinIO: {{ $value }} of " + str(nodes) + " nodes online",
            "Find the node (mc admin info), read its container log, restart it; it rejoins and heals itself.",
        ),
        _rule(
            "MinIOHighStorageUsage",
            f"(max(minio_cluster_capacity_usable_total_bytes{cluster})"
            f" - max(minio_cluster_capacity_usable_free_bytes{cluster}))"
            f" / max(minio_cluster_capacity_usable_total_bytes{cluster}) > 0.85",
            "10m",
            "warning",
            "MinIO usable capacity is {{ $value | humanizePercentage }} used",
            "Shorten bucket retention, delete what is no longer needed, or add a server pool.",
        ),
        _rule(
            "MinIOHighErrorRate",
            f"sum(rate(minio_s3_requests_errors_total{nodes_job}[5m])) > 10",
            "5m",
            "warning",
            "MinIO answers {{ $value }} failed S3 requests per second",
            "Break errors down by API (minio_s3_requests_errors_total by api) and check the gateway log.",
        ),
        _rule(
            "MinIODrivesOffline",
            f"max(minio_cluster_drive_offline_total{cluster}) > 0",
            "5m",
            "warning",
            "MinIO: {{ $value }} drive(s) offline",
            "mc admin info lists the offline drives; check their volumes and nodes.",
        ),
        _write_quorum_rule(weakest, cluster, consequence),
        _rule(
            "MinIOLogDeliveryFailing",
            f"sum by (instance) (increase(minio_audit_failed_messages{nodes_job}[10m])) > 0",
            "0m",
            "warning",
            "MinIO node {{ $labels.instance }} cannot deliver audit or server-log events to the log pipeline",
            "Bring Alloy and Loki back. Meanwhile each node queues observability.logQueueSize events per "
            "webhook on its volume and as many again in memory (lost on a restart); past that it drops "
            "them (MinIOLogQueueFull). The counter also grows with every failed redelivery, so this fires "
            "for as long as the pipeline is away.",
        ),
        _rule(
            "MinIOLogQueueFull",
            f"max by (instance) (minio_audit_target_queue_length{nodes_job}) "
            f">= {int(QUEUE_FULL_SHARE * log_queue_size)}",
            "0m",
            "critical",
            "MinIO node {{ $labels.instance }} is dropping audit or server-log events: its queues are full",
            "The log pipeline has been away long enough to fill the node's queue folder and its memory "
            "buffer (observability.logQueueSize each): new events are lost, counted in "
            "minio_audit_failed_messages. Bring Alloy and Loki back now.",
        ),
        _rule(
            "MinIOMetricsDown",
            'up{job=~"minio-.*"} == 0',
            "5m",
            "warning",
            "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}",
            "Check the target, and that the metrics token is still valid (MinIOMetricsTokenExpiring; "
            "its identity's secret unchanged).",
        ),
        # Past its issuing period the token has fewer than `days` days left: a pulumi up is due.
        # Rendered with the token's own expiry, so the rule changes with the token it watches.
        _rule(
            "MinIOMetricsTokenExpiring",
            f"vector({token.expires} - time()) < {token.days * DAY_SECONDS}",
            "1h",
            "warning",
            "The metrics token Prometheus scrapes MinIO with has {{ $value | humanizeDuration }} left",
            "Run pulumi up on the stack: it reissues the token (observability.metricsTokenDays). An "
            "existing Prometheus then needs the new metrics_bearer_token output in its token file. Once "
            "the token has expired every scrape is refused (MinIOMetricsDown).",
        ),
    ]
    backups = f'{{job="{BACKUP_JOB}"}}'
    overdue = f"{backup_overdue_seconds or 0:g}"
    rules += [
        _rule(
            "MinIOBackupOverdue",
            f"time() - minio_platform_backup_due_timestamp_seconds{backups} > {overdue} "
            f"and minio_platform_backup_due_timestamp_seconds{backups} > 0",
            "0m",
            "critical",
            "A backup of {{ $labels.database }} was due {{ $value | humanizeDuration }} ago and none "
            "has succeeded since",
            "Read the backup service's log (docker logs backup: one JSON line per run) and run the backup by "
            "hand (python -m day2 backup); check the database's server, its pgpass line and the bucket.",
        ),
        _rule(
            "MinIOBackupFailed",
            f"minio_platform_backup_last_failed{backups} == 1",
            "0m",
            "warning",
            "The last scheduled backup of {{ $labels.database }} failed",
            "docker logs backup names the error of its last run; the next run retries, and "
            "MinIOBackupOverdue fires if none succeeds in time.",
        ),
        _rule(
            "MinIORestoreDrillFailed",
            f"minio_platform_drill_last_failed{backups} == 1",
            "0m",
            "warning",
            "The last restore drill of {{ $labels.database }} failed: its newest backup may not restore",
            "docker logs backup names the failure; run python -m day2 drill --database <name> by hand and "
            "read its table (a missing table, an empty one, or a restore error).",
        ),
        _rule(
            "MinIOConfigExportFailed",
            f"minio_platform_config_export_last_failed{backups} == 1",
            "0m",
            "warning",
            "The last scheduled export of the cluster's configuration failed",
            "docker logs backup names the error (event config-export); run python -m day2 export-config by "
            "hand as the config-export account; the newest export in config/ of the backups bucket is older.",
        ),
    ]
    left_out = left_out_alerts(pools, logs, backups=backup_overdue_seconds is not None)
    rules = [rule for rule in rules if rule["alert"] not in left_out]
    for rule in rules:
        rule["for"] = (alert_for or {}).get(rule["alert"], rule["for"])
    return rules


def render_alert_rules(
    pools: Sequence[PoolLayout],
    token: TokenLifetime,
    log_queue_size: int = DEFAULT_LOG_QUEUE_SIZE,
    alert_for: Mapping[str, str] | None = None,
    logs: bool = True,
    backup_overdue_seconds: float | None = None,
) -> str:
    rules = alert_rules(pools, token, log_queue_size, alert_for, logs, backup_overdue_seconds)
    document = {"groups": [{"name": "minio", "rules": rules}]}
    return "# Rendered by minio-platform (components/monitoring.py).\n" + yaml.safe_dump(
        document, sort_keys=False
    )


# --- the component ------------------------------------------------------------------------------

PROMETHEUS_PORT = 9090
PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
PROMETHEUS_HARDENING = Hardening(
    # Prometheus's image runs as nobody and owns /etc/prometheus and /prometheus (the named
    # volume); group 0 reads the metrics token.
    user="65534:0",
    seeded=(PROMETHEUS_CONFIG_DIR,),
)


@dataclass(frozen=True)
class MonitoringArgs:
    settings: ObservabilitySettings
    pools: Sequence[PoolLayout]
    node_names: Sequence[str]
    monitoring_network: docker.Network
    metrics_access_key: str
    metrics_secret_key: pulumi.Input[str]
    """Secret of the metrics identity: it signs the bearer token."""
    grafana_auth: pulumi.Input[str] | None = None
    """Secret service-account token of an existing Grafana (observability.mode external)."""
    loki_url: str | None = None
    """Where Grafana finds Loki (components.logs.loki_url); no Loki data source when None."""
    labels: dict[str, str] = field(default_factory=dict)
    node_hosts: Mapping[str, str] = field(default_factory=dict)
    """Several hosts: the other hosts' nodes' addresses, by name (Prometheus's /etc/hosts; the first
    host's nodes are on monitoring-net)."""
    node_ca: pulumi.Input[str] | None = None
    """Several hosts: the internode CA the nodes' HTTPS certificates are signed by."""
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    """Every service's CPU and memory limits."""
    alertmanager: str | None = None
    """The stack's Alertmanager (``host:port`` on monitoring-net), where Prometheus sends alerts."""
    backups: str | None = None
    """The stack's backup service (``host:port`` on monitoring-net), scraped, with its alerts."""
    backup_overdue_seconds: float | None = None
    """How long past due a backup may be before MinIOBackupOverdue (backups.overdueAfter)."""


class Monitoring(pulumi.ComponentResource):
    """Prometheus's scrape configuration and alert rules; modes deploy and metrics also run
    Prometheus on monitoring-net, and Grafana (deployed or existing) gets the dashboard."""

    scrape_config: str
    alert_rules: str
    token: pulumi.Output[str]
    """Secret."""
    token_expires: str
    """When the token expires (ISO 8601, UTC); any pulumi up after its issuing period reissues it."""
    prometheus: docker.Container | None
    grafana: docker.Container | None
    dashboard_url: pulumi.Output[str] | None
    """None without Grafana (observability.mode metrics)."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:monitoring:Monitoring", name, None, opts)
        self._name = name
        # Inside Docker: the gateway answers cluster-wide and bucket metrics from any live node;
        # node metrics come from each node itself. Both are on monitoring-net.
        targets = ScrapeTargets(
            cluster=f"gateway:{S3_PORT}",
            nodes=[f"{n}:{S3_PORT}" for n in args.node_names],
            node_tls_name=None if args.node_ca is None else SHARED_NAME,
        )
        self.scrape_config = render_scrape_config(
            targets, args.settings.scrape_interval, args.alertmanager, args.backups
        )
        lifetime = TokenLifetime.from_today(args.settings.metrics_token_days)
        self.token_expires = datetime.fromtimestamp(lifetime.expires, UTC).isoformat().replace("+00:00", "Z")
        backup_overdue = args.backup_overdue_seconds if args.backups else None
        self.alert_rules = render_alert_rules(
            args.pools,
            lifetime,
            args.settings.log_queue_size,
            args.settings.alert_for,
            logs=args.settings.ships_logs,
            backup_overdue_seconds=backup_overdue,
        )
        # The rules' own reading of what this stack leaves out (alert_rules filters by it).
        left_out = left_out_alerts(args.pools, args.settings.ships_logs, backups=backup_overdue is not None)
        for alert in sorted(set(args.settings.alert_for) & set(left_out)):
            pulumi.log.warn(
                f"observability.alertFor.{alert} changes nothing: this stack renders no {alert} rule, since "
                f"{left_out[alert]}",
                resource=self,
            )
        self.token = pulumi.Output.secret(
            pulumi.Output.from_input(args.metrics_secret_key).apply(
                lambda secret: metrics_token(args.metrics_access_key, secret, lifetime.expires)
            )
        )
        self.prometheus = self._prometheus(args) if args.settings.runs_prometheus else None
        self.grafana_url: str | None = None
        """Where people open Grafana: the existing one's URL, or the deployed one on loopback."""
        self.grafana_admin_password: pulumi.Output[str] | None = None
        """Generated for a deployed Grafana (secret); an existing Grafana keeps its own."""
        self.grafana: docker.Container | None = None
        self.dashboard_url: pulumi.Output[str] | None = None
        if args.settings.mode is not ObservabilityMode.METRICS:
            # Grafana's resources are this component's children (their URNs unchanged since they
            # were written here); components/grafana.py holds them.
            stack_grafana = StackGrafana(
                self,
                self._name,
                GrafanaArgs(
                    settings=args.settings,
                    monitoring_network=args.monitoring_network,
                    limits=args.resources.grafana,
                    prometheus_url=(
                        f"http://prometheus:{PROMETHEUS_PORT}"
                        if args.settings.runs_prometheus
                        else args.settings.prometheus_url
                    ),
                    grafana_auth=args.grafana_auth,
                    loki_url=args.loki_url,
                    labels=args.labels,
                ),
            )
            self.grafana = stack_grafana.container
            self.grafana_url = stack_grafana.url
            self.grafana_admin_password = stack_grafana.admin_password
            self.dashboard_url = stack_grafana.dashboard_url
        self.register_outputs({"dashboard_url": self.dashboard_url})

    def _prometheus(self, args: MonitoringArgs) -> docker.Container:
        settings = args.settings
        return loopback_service(
            self,
            self._name,
            "prometheus",
            settings.prometheus_image,
            args.monitoring_network,
            args.labels,
            port=PROMETHEUS_PORT,
            published_port=settings.prometheus_port,
            data_path="/prometheus",
            health_path="/-/ready",
            retries=6,
            start_period="10s",
            wait_timeout=120,
            hardening=PROMETHEUS_HARDENING,
            limits=args.resources.prometheus,
            command=[
                f"--config.file={PROMETHEUS_CONFIG_DIR}/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={settings.retention_days}d",
            ],
            uploads=[
                docker.ContainerUploadArgs(
                    file=f"{PROMETHEUS_CONFIG_DIR}/prometheus.yml",
                    content=self.scrape_config,
                    permissions="0644",
                ),
                docker.ContainerUploadArgs(
                    file=f"{PROMETHEUS_CONFIG_DIR}/{RULES_FILE}", content=self.alert_rules, permissions="0644"
                ),
                # Read through group 0 (PROMETHEUS_HARDENING), like every secret file.
                docker.ContainerUploadArgs(
                    file=f"{PROMETHEUS_CONFIG_DIR}/{TOKEN_FILE}",
                    content=self.token,
                    permissions=SECRET_FILE_MODE,
                ),
                *(
                    [
                        docker.ContainerUploadArgs(
                            file=f"{PROMETHEUS_CONFIG_DIR}/{NODE_CA_FILE}",
                            content=args.node_ca,
                            permissions="0444",
                        )
                    ]
                    if args.node_ca is not None
                    else []
                ),
            ],
            hosts=[docker.ContainerHostArgs(host=n, ip=a) for n, a in sorted(args.node_hosts.items())]
            or None,
        )
