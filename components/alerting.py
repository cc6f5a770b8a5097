"""Alertmanager: who hears about an alert, and the container that tells them.

Prometheus evaluates the rules (components/monitoring.py) and sends what fires here; Alertmanager
groups it, keeps quiet what another alert already says (inhibition), and notifies each receiver
that hears the alert's severity (``observability.alerting``). The configuration is a pure renderer,
checked by ``amtool check-config`` in the tests; it names the receivers' secrets by file, so the
rendered text holds none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import yaml

from components.conventions import SECRETS_DIR, Hardening, Limits, loopback_service, secret_file
from components.settings import AlertingSettings, ReceiverSettings

ALERTMANAGER_PORT = 9093
ALERTMANAGER_HOST = "alertmanager"
"""Its name on monitoring-net, where Prometheus sends alerts."""
CONFIG_DIR = "/etc/alertmanager"
CONFIG_FILE = "alertmanager.yml"
DATA_DIR = "/alertmanager"
SMTP_PASSWORD_FILE = "alert-smtp-password"  # noqa: S105 (a file name)
WEBHOOK_TOKEN_FILE = "alert-webhook-token"  # noqa: S105 (a file name)
SLACK_URL_FILE = "alert-slack-url"
NOBODY = "nobody"
"""The root route's receiver: an alert no receiver hears stops here (Alertmanager's page shows it)."""
HARDENING = Hardening(
    # Alertmanager's images run as nobody and own /alertmanager (the named volume) and the
    # configuration folder; group 0 reads the receivers' secret files.
    user="65534:0",
    seeded=(CONFIG_DIR, SECRETS_DIR),
)

INHIBITIONS = (
    # (source, targets, why): while the source fires, the targets stay quiet.
    (
        "MinIOWriteQuorumAtRisk",
        ("MinIONodeDown", "MinIODrivesOffline"),
        "the quorum alert already says nodes are offline, and what it risks",
    ),
    ("MinIONodeDown", ("MinIODrivesOffline",), "a node that is down takes its drives with it"),
    ("MinIOLogQueueFull", ("MinIOLogDeliveryFailing",), "a full queue means delivery has been failing"),
)
"""Where one alert implies another: a person gets the one that says most."""


def secret_path(file_name: str) -> str:
    return f"{SECRETS_DIR}/{file_name}"


def _receiver(receiver: ReceiverSettings) -> dict:
    entry: dict = {"name": receiver.name}
    resolved = {"send_resolved": receiver.send_resolved}
    if receiver.webhook_url is not None:
        webhook = {"url": receiver.webhook_url, **resolved}
        entry["webhook_configs"] = [webhook]
    if receiver.email is not None:
        email = receiver.email
        mail = {
            "to": email.to,
            "from": email.sender,
            "smarthost": email.smarthost,
            "require_tls": email.require_tls,
            **resolved,
        }
        if email.username is not None:
            mail |= {"auth_username": email.username, "auth_password_file": secret_path(SMTP_PASSWORD_FILE)}
        entry["email_configs"] = [mail]
    if receiver.slack_channel is not None:
        entry["slack_configs"] = [
            {"api_url_file": secret_path(SLACK_URL_FILE), "channel": receiver.slack_channel, **resolved}
        ]
    return entry


def render_alertmanager_config(settings: AlertingSettings, webhook_token: bool = False) -> str:
    """``alertmanager.yml``: one route per receiver, matching the severities it hears (``continue``:
    an alert goes to every receiver that hears it), the inhibitions, and secrets by file.

    ``webhook_token``: the webhooks get ``Authorization: Bearer`` with the alertWebhookToken secret.
    """
    receivers = [_receiver(r) for r in settings.receivers]
    if webhook_token:
        token = {"authorization": {"type": "Bearer", "credentials_file": secret_path(WEBHOOK_TOKEN_FILE)}}
        for entry in receivers:
            for webhook in entry.get("webhook_configs", []):
                webhook["http_config"] = token
    config = {
        "route": {
            "receiver": NOBODY,
            "group_by": list(settings.group_by),
            "group_wait": settings.group_wait,
            "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval,
            "routes": [
                {
                    "receiver": r.name,
                    "matchers": [f'severity=~"{"|".join(r.severities)}"'],
                    "continue": True,
                }
                for r in settings.receivers
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{source}"'],
                "target_matchers": [f'alertname=~"{"|".join(targets)}"'],
            }
            for source, targets, _ in INHIBITIONS
        ],
        "receivers": [{"name": NOBODY}, *receivers],
    }
    return "# Rendered by minio-platform (components/alerting.py).\n" + yaml.safe_dump(
        config, sort_keys=False
    )


@dataclass(frozen=True)
class AlertingArgs:
    settings: AlertingSettings
    image: str
    published_port: int
    monitoring_network: docker.Network
    limits: Limits
    smtp_password: pulumi.Input[str] | None = None
    webhook_token: pulumi.Input[str] | None = None
    slack_url: pulumi.Input[str] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class Alerting(pulumi.ComponentResource):
    """Alertmanager on monitoring-net (published on 127.0.0.1), its state in a retained volume."""

    config: str
    container: docker.Container
    url: str
    """Where Prometheus reaches it."""

    def __init__(self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:alerting:Alerting", name, None, opts)
        self.config = render_alertmanager_config(args.settings, webhook_token=args.webhook_token is not None)
        self.url = f"{ALERTMANAGER_HOST}:{ALERTMANAGER_PORT}"
        secrets = [
            secret_file(file_name, value)
            for file_name, value in (
                (SMTP_PASSWORD_FILE, args.smtp_password),
                (WEBHOOK_TOKEN_FILE, args.webhook_token),
                (SLACK_URL_FILE, args.slack_url),
            )
            if value is not None
        ]
        self.container = loopback_service(
            self,
            name,
            ALERTMANAGER_HOST,
            args.image,
            args.monitoring_network,
            args.labels,
            port=ALERTMANAGER_PORT,
            published_port=args.published_port,
            data_path=DATA_DIR,
            health_path="/-/ready",
            retries=6,
            start_period="10s",
            wait_timeout=120,
            hardening=HARDENING,
            limits=args.limits,
            command=[
                f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
                f"--storage.path={DATA_DIR}",
                f"--web.listen-address=:{ALERTMANAGER_PORT}",
                # One Alertmanager: no gossip port for peers that do not exist.
                "--cluster.listen-address=",
            ],
            uploads=[
                docker.ContainerUploadArgs(
                    file=f"{CONFIG_DIR}/{CONFIG_FILE}", content=self.config, permissions="0644"
                ),
                *secrets,
            ],
        )
        self.register_outputs({"url": self.url})
