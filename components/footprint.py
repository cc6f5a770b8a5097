"""What a stack puts on its Docker hosts: the host ports it publishes and the images it runs.

Pure functions of the settings' sections, keyed by the config key that sets each value, so a rule
that reads them (every published port distinct, every prod image pinned by digest) names that key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.settings.base import ObservabilityMode, TlsMode

if TYPE_CHECKING:
    from components.settings.backup_service import BackupServiceSettings
    from components.settings.cluster import ClusterSettings
    from components.settings.gateway import GatewaySettings
    from components.settings.identity import IdentitySettings
    from components.settings.observability import ObservabilitySettings


def published_ports(
    gateway: GatewaySettings, identity: IdentitySettings, observability: ObservabilitySettings
) -> dict[str, int]:
    """Every host port the stack publishes, by the config key that sets it."""
    ports = {"gateway.httpPort": gateway.http_port}
    if gateway.tls is TlsMode.NONE:
        ports["gateway.s3Port"] = gateway.s3_port
    else:
        ports["gateway.httpsPort"] = gateway.https_port
    if identity.deployed:
        ports["identity.port"] = identity.port
    if observability.runs_prometheus:
        ports["observability.prometheusPort"] = observability.prometheus_port
        ports["observability.alertmanagerPort"] = observability.alertmanager_port
    if observability.mode is ObservabilityMode.DEPLOY:
        ports["observability.grafanaPort"] = observability.grafana_port
    return ports


def deployed_images(
    cluster: ClusterSettings,
    gateway: GatewaySettings,
    identity: IdentitySettings,
    observability: ObservabilitySettings,
    backups: BackupServiceSettings | None = None,
) -> dict[str, str]:
    """Every image the stack runs, by the config key that sets it."""
    images = {"cluster.image": cluster.image, "gateway.image": gateway.image}
    if backups is not None and backups.enabled:
        images["backups.image"] = backups.image
    if identity.deployed:
        images["identity.image"] = identity.image
    if identity.bridge:
        images["identity.signinImage"] = identity.signin_image
    if observability.runs_prometheus:
        images["observability.prometheusImage"] = observability.prometheus_image
        images["observability.alertmanagerImage"] = observability.alertmanager_image
    if observability.mode is ObservabilityMode.DEPLOY:
        images["observability.lokiImage"] = observability.loki_image
        images["observability.grafanaImage"] = observability.grafana_image
    # The log agent runs on the Docker host wherever MinIO's logs are shipped (deploy, external).
    if observability.ships_logs:
        images["observability.alloyImage"] = observability.alloy_image
    return images
