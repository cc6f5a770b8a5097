"""Monitoring settings: Prometheus, Loki, Grafana and the log agent."""

from __future__ import annotations

from typing import Self

from pydantic import (
    Field,
    model_validator,
)

from components.settings.base import (
    DEFAULT_ALLOY_IMAGE,
    DEFAULT_GRAFANA_IMAGE,
    DEFAULT_LOG_QUEUE_SIZE,
    DEFAULT_LOKI_IMAGE,
    DEFAULT_METRICS_TOKEN_DAYS,
    DEFAULT_PROMETHEUS_IMAGE,
    URL_RE,
    ImageRef,
    Invalid,
    ObservabilityMode,
    Port,
    Section,
    raise_all,
)


class ObservabilitySettings(Section):
    """Prometheus, Loki, Grafana (deployed in dev, existing endpoints in prod) and the log agent."""

    mode: ObservabilityMode = Field(
        ObservabilityMode.DEPLOY,
        description="deploy (containers here), external (existing URLs; Alloy still runs here) or none "
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
    grafana_port: Port = Field(3000, description="Host port (127.0.0.1 only) of the deployed Grafana")
    retention_days: int = Field(15, gt=0, description="Prometheus TSDB and Loki retention")
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
    prometheus_image: ImageRef = Field(DEFAULT_PROMETHEUS_IMAGE, description="Prometheus image (mode deploy)")
    loki_image: ImageRef = Field(DEFAULT_LOKI_IMAGE, description="Loki image (mode deploy)")
    grafana_image: ImageRef = Field(DEFAULT_GRAFANA_IMAGE, description="Grafana image (mode deploy)")
    alloy_image: ImageRef = Field(
        DEFAULT_ALLOY_IMAGE, description="Grafana Alloy, the log agent (modes deploy and external)"
    )

    @model_validator(mode="after")
    def _urls_for_mode(self) -> Self:
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
        raise_all(found)
        return self

    @property
    def enabled(self) -> bool:
        return self.mode is not ObservabilityMode.NONE
