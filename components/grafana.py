"""Grafana for the cluster: the deployed one (observability.mode deploy) or an existing one
(external), its Prometheus and Loki data sources, the MinIO folder and the MinIO Overview dashboard
(generated from dashboards/overview.py).

Its resources are children of the Monitoring component (components/monitoring.py), where they were
first written: their names and parents, and so their URNs, are the same as before the move.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_random as random
from pulumiverse_grafana import Provider as GrafanaProvider
from pulumiverse_grafana import oss as grafana

from components.conventions import SECRETS_DIR, Hardening, Limits, loopback_service, secret_file
from components.settings import ObservabilityMode, ObservabilitySettings

GRAFANA_ADMIN_USER = "admin"
"""The deployed Grafana's admin (its password is generated: stack output grafana_admin_password)."""
GRAFANA_PASSWORD_FILE = "grafana-admin-password"  # noqa: S105 (a file name)
GRAFANA_HARDENING = Hardening(
    # Grafana's image runs as uid 472 in group 0 (which reads the secret files) and owns
    # /var/lib/grafana (the named volume).
    user="472:0",
    seeded=(SECRETS_DIR,),
    scratch=("/tmp", "/var/log/grafana"),  # noqa: S108 (private tmpfs)
)
GRAFANA_PORT = 3000
DASHBOARD_FILE = Path(__file__).resolve().parent.parent / "dashboards" / "minio-overview.json"
PROMETHEUS_DATASOURCE_UID = "prometheus"
"""The dashboard's panels name their data sources by these uids."""
LOKI_DATASOURCE_UID = "loki"


def load_dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


@dataclass(frozen=True)
class GrafanaArgs:
    settings: ObservabilitySettings
    monitoring_network: docker.Network
    limits: Limits
    prometheus_url: str | None
    """Where Grafana finds Prometheus: the stack's, or observability.prometheusUrl."""
    grafana_auth: pulumi.Input[str] | None = None
    """Secret service-account token of an existing Grafana (observability.mode external)."""
    loki_url: str | None = None
    """Where Grafana finds Loki (components.logs.loki_url); no Loki data source when None."""
    labels: Mapping[str, str] = field(default_factory=dict)


class StackGrafana:
    """The stack's Grafana and what it owns there, registered as children of ``parent``."""

    container: docker.Container | None
    """The deployed Grafana; None with an existing one."""
    url: str | None
    """Where people open Grafana: the existing one's URL, or the deployed one on loopback."""
    admin_password: pulumi.Output[str] | None
    """Generated for a deployed Grafana (secret); an existing Grafana keeps its own."""
    dashboard_url: pulumi.Output[str]

    def __init__(self, parent: pulumi.Resource, prefix: str, args: GrafanaArgs) -> None:
        self._parent, self._prefix = parent, prefix
        self.container, self.url, self.admin_password = None, args.settings.grafana_url, None
        existing = args.settings.mode is ObservabilityMode.EXTERNAL
        provider = self._existing(args) if existing else self._deployed(args)
        self.dashboard_url = self._dashboard(args, provider)

    def _existing(self, args: GrafanaArgs) -> GrafanaProvider:
        if args.grafana_auth is None:
            raise ValueError("an existing Grafana needs the grafanaAuth secret")
        return GrafanaProvider(
            f"{self._prefix}-grafana",
            url=args.settings.grafana_url,
            auth=pulumi.Output.secret(args.grafana_auth),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )

    def _deployed(self, args: GrafanaArgs) -> GrafanaProvider:
        settings = args.settings
        password = pulumi.Output.secret(
            random.RandomPassword(
                f"{self._prefix}-grafana-admin-password",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self._parent),
            ).result
        )
        public_url = f"http://localhost:{settings.grafana_port}"
        self.url, self.admin_password = public_url, password
        self.container = loopback_service(
            self._parent,
            self._prefix,
            "grafana",
            settings.grafana_image,
            args.monitoring_network,
            args.labels,
            port=GRAFANA_PORT,
            published_port=settings.grafana_port,
            data_path="/var/lib/grafana",
            health_path="/api/health",
            retries=12,
            start_period="20s",
            wait_timeout=180,
            hardening=GRAFANA_HARDENING,
            limits=args.limits,
            uploads=[secret_file(GRAFANA_PASSWORD_FILE, password)],
            envs=[
                f"GF_SECURITY_ADMIN_USER={GRAFANA_ADMIN_USER}",
                # Grafana reads any setting's value from the file a ``__FILE`` variable names.
                f"GF_SECURITY_ADMIN_PASSWORD__FILE={SECRETS_DIR}/{GRAFANA_PASSWORD_FILE}",
                f"GF_SERVER_ROOT_URL={public_url}",
                "GF_USERS_ALLOW_SIGN_UP=false",
                "GF_AUTH_ANONYMOUS_ENABLED=false",
                "GF_ANALYTICS_REPORTING_ENABLED=false",
            ],
        )
        return GrafanaProvider(
            f"{self._prefix}-grafana",
            url=public_url,
            auth=pulumi.Output.secret(pulumi.Output.concat(f"{GRAFANA_ADMIN_USER}:", password)),
            opts=pulumi.ResourceOptions(parent=self._parent, depends_on=[self.container]),
        )

    def _dashboard(self, args: GrafanaArgs, provider: GrafanaProvider) -> pulumi.Output[str]:
        via_grafana = pulumi.ResourceOptions(parent=self._parent, provider=provider)
        datasource = grafana.DataSource(
            f"{self._prefix}-prometheus-datasource",
            type="prometheus",
            name="Prometheus (MinIO)",
            uid=PROMETHEUS_DATASOURCE_UID,
            url=args.prometheus_url,
            access_mode="proxy",
            is_default=True,
            opts=via_grafana,
        )
        if args.loki_url is not None:
            grafana.DataSource(
                f"{self._prefix}-loki-datasource",
                type="loki",
                name="Loki (MinIO logs)",
                uid=LOKI_DATASOURCE_UID,
                url=args.loki_url,
                access_mode="proxy",
                opts=via_grafana,
            )
        folder = grafana.Folder(f"{self._prefix}-folder", title="MinIO", uid="minio", opts=via_grafana)
        dashboard = grafana.Dashboard(
            f"{self._prefix}-overview",
            config_json=json.dumps(load_dashboard(), sort_keys=True),
            folder=folder.uid,
            overwrite=True,
            opts=pulumi.ResourceOptions(parent=self._parent, provider=provider, depends_on=[datasource]),
        )
        return dashboard.url
