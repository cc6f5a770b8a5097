"""Monitoring settings: Prometheus and Alertmanager, Loki, Grafana and the log agent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Self

from pydantic import (
    Field,
    model_validator,
)

from components.settings.alerting import DURATION_RE, AlertingSettings, Duration
from components.settings.base import (
    DEFAULT_ALERTMANAGER_IMAGE,
    DEFAULT_ALLOY_IMAGE,
    DEFAULT_GRAFANA_IMAGE,
    DEFAULT_LOG_QUEUE_SIZE,
    DEFAULT_LOKI_IMAGE,
    DEFAULT_METRICS_TOKEN_DAYS,
    DEFAULT_PROMETHEUS_IMAGE,
    METRICS_USER,
    URL_RE,
    ImageRef,
    Invalid,
    ObservabilityMode,
    Port,
    Section,
    raise_all,
)

ALERT_NAMES = (
    "MinIONodeDown",
    "MinIOHighStorageUsage",
    "MinIOHighErrorRate",
    "MinIODrivesOffline",
    "MinIOWriteQuorumAtRisk",
    "MinIOLogDeliveryFailing",
    "MinIOLogQueueFull",
    "MinIOMetricsDown",
    "MinIOMetricsTokenExpiring",
    "MinIOBackupOverdue",
    "MinIOBackupFailed",
    "MinIORestoreDrillFailed",
    "MinIOConfigExportFailed",
)
"""Every alert rule the program renders (components/monitoring.py, a test keeps the two equal)."""


class ObservabilitySettings(Section):
    """Prometheus and Alertmanager, Loki, Grafana (deployed in dev, existing endpoints in prod) and
    the log agent."""

    mode: ObservabilityMode = Field(
        ObservabilityMode.DEPLOY,
        description="deploy (every container here), metrics (Prometheus and Alertmanager here; no Grafana, "
        "Loki or Alloy, no log webhooks), external (existing URLs; Alloy still runs here) or none "
        "(no monitoring container, no log webhooks, no metrics identity)",
    )
    prometheus_url: str | None = Field(None, description="Existing Prometheus (mode external)")
    loki_url: str | None = Field(None, description="Existing Loki push API base URL (mode external)")
    loki_username: str | None = Field(
        None,
        min_length=1,
        description="Basic-auth user of the existing Loki (mode external; its password: lokiPassword)",
    )
    grafana_url: str | None = Field(None, description="Existing Grafana (mode external; token: grafanaAuth)")
    prometheus_port: Port = Field(9090, description="Host port (127.0.0.1 only) of the deployed Prometheus")
    alertmanager_port: Port = Field(
        9093, description="Host port (127.0.0.1 only) of the deployed Alertmanager (modes deploy and metrics)"
    )
    grafana_port: Port = Field(3000, description="Host port (127.0.0.1 only) of the deployed Grafana")
    retention_days: int = Field(15, gt=0, description="Prometheus TSDB and Loki retention")
    scrape_interval: Duration = Field(
        "30s", description="How often Prometheus scrapes MinIO and evaluates the alert rules"
    )
    alert_for: dict[str, str] = Field(
        default_factory=dict,
        description="How long a rule must hold before its alert fires, by alert name (MinIONodeDown: 1m), "
        "for the rules whose default does not suit the stack",
    )
    alerting: AlertingSettings = Field(
        default_factory=AlertingSettings,
        description="Alertmanager (modes deploy and metrics): {receivers, groupBy, groupWait, "
        "groupInterval, repeatInterval}",
    )
    metrics_access_key: str | None = Field(
        None,
        min_length=3,
        description=f"An existing MinIO identity Prometheus scrapes as (its secret: metricsSecretKey), for "
        f"stacks whose IAM is kept outside the program; unset, the program creates {METRICS_USER}",
    )
    log_queue_size: int = Field(
        DEFAULT_LOG_QUEUE_SIZE,
        ge=1_000,
        le=10_000_000,
        description="Audit events (and, apart, server-log events) each node keeps on its queue volume "
        "while the log pipeline is unreachable; once full, newer events are dropped",
    )
    metrics_token_days: int = Field(
        DEFAULT_METRICS_TOKEN_DAYS,
        ge=1,
        le=366,
        description="Lifetime period of the metrics bearer token: each pulumi up leaves it valid for "
        "at least this many days and at most twice as many, reissuing it once a period (counted in "
        "whole periods from 1970-01-01 UTC) has passed",
    )
    metrics_secret_generation: int = Field(
        1,
        ge=1,
        description="Bump to replace the metrics identity's secret: every metrics token issued "
        "before stops working at once (revocation)",
    )
    prometheus_image: ImageRef = Field(
        DEFAULT_PROMETHEUS_IMAGE, description="Prometheus image (modes deploy and metrics)"
    )
    alertmanager_image: ImageRef = Field(
        DEFAULT_ALERTMANAGER_IMAGE, description="Alertmanager image (modes deploy and metrics)"
    )
    loki_image: ImageRef = Field(DEFAULT_LOKI_IMAGE, description="Loki image (mode deploy)")
    grafana_image: ImageRef = Field(DEFAULT_GRAFANA_IMAGE, description="Grafana image (mode deploy)")
    alloy_image: ImageRef = Field(
        DEFAULT_ALLOY_IMAGE, description="Grafana Alloy, the log agent (modes deploy and external)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Mode external needs all three URLs, mode none takes none (each http(s)://); alertFor names
        rules the program renders, with Prometheus durations; alertFor and alerting only where the
        stack runs Prometheus; metricsAccessKey not with mode none."""
        raise_all([*self._urls_for_mode(), *self._alerts_for_prometheus_here()])
        return self

    def _urls_for_mode(self) -> Iterator[Invalid]:
        """Mode external needs all three URLs, mode none takes none; each is http(s)://."""
        urls = (
            ("prometheusUrl", self.prometheus_url),
            ("lokiUrl", self.loki_url),
            ("grafanaUrl", self.grafana_url),
        )
        found = []
        for key, value in urls:
            if self.mode is ObservabilityMode.EXTERNAL and not value:
                found.append(Invalid(key, value, "an http(s):// URL is required in mode external"))
            elif self.mode is ObservabilityMode.NONE and value:
                found.append(
                    Invalid(key, value, "mode none monitors nothing: remove it or choose mode external")
                )
            elif value and not URL_RE.fullmatch(value):
                found.append(Invalid(key, value, "an http(s):// URL"))
        return iter(found)

    def _alerts_for_prometheus_here(self) -> Iterator[Invalid]:
        """alertFor names rules the program renders; alertFor and alerting need a Prometheus of the
        stack's own (an existing one keeps its own rules and Alertmanager)."""
        found = []
        unknown = sorted(set(self.alert_for) - set(ALERT_NAMES))
        if unknown:
            found.append(Invalid("alertFor", unknown, f"alert names, among {', '.join(ALERT_NAMES)}"))
        for alert, duration in sorted(self.alert_for.items()):
            if not DURATION_RE.fullmatch(duration):
                found.append(Invalid(f"alertFor.{alert}", duration, "a Prometheus duration: 30s, 5m, 4h"))
        if not self.runs_prometheus:
            why = (
                "only used where the stack runs Prometheus, modes deploy and metrics "
                f"(mode is {self.mode.value})"
            )
            if self.alert_for:
                found.append(Invalid("alertFor", dict(self.alert_for), why))
            if self.alerting != AlertingSettings():
                found.append(Invalid("alerting", "(set)", why))
        if self.mode is ObservabilityMode.NONE and self.metrics_access_key is not None:
            found.append(Invalid("metricsAccessKey", self.metrics_access_key, "mode none scrapes nothing"))
        return iter(found)

    @property
    def enabled(self) -> bool:
        """Any monitoring: Prometheus scrapes the nodes (here or an existing one)."""
        return self.mode is not ObservabilityMode.NONE

    @property
    def runs_prometheus(self) -> bool:
        """Prometheus and Alertmanager run as containers of the stack."""
        return self.mode in (ObservabilityMode.DEPLOY, ObservabilityMode.METRICS)

    def ignored_urls(self) -> list[str]:
        """Warnings for the existing services' URLs given where the stack runs its own (modes
        deploy and metrics read none of them; mode none refuses them)."""
        if self.mode not in (ObservabilityMode.DEPLOY, ObservabilityMode.METRICS):
            return []
        urls = (
            ("prometheusUrl", self.prometheus_url),
            ("lokiUrl", self.loki_url),
            ("grafanaUrl", self.grafana_url),
        )
        return [
            f"observability.{key} ({value}) is read only in mode external; in mode {self.mode.value} the "
            "stack runs its own services, so it is ignored"
            for key, value in urls
            if value
        ]

    @property
    def ships_logs(self) -> bool:
        """Alloy runs here and the nodes post their logs and audit events to it."""
        return self.mode in (ObservabilityMode.DEPLOY, ObservabilityMode.EXTERNAL)

    @property
    def creates_metrics_identity(self) -> bool:
        """The program creates the metrics identity in MinIO (unless an existing one is given)."""
        return self.enabled and self.metrics_access_key is None
