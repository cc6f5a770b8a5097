"""Who hears about an alert: Alertmanager's receivers, routing by severity, and its timings.

Read with the rest of ``observability`` (the ``alerting`` object): Alertmanager runs wherever the
stack runs Prometheus (observability.mode deploy or metrics). The receivers' secrets are stack
secrets (``alertSmtpPassword``, ``alertWebhookToken``, ``alertSlackUrl``): Alertmanager reads
them from files, never from its configuration.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import Field, model_validator

from components.settings.base import URL_RE, Identifier, Invalid, Section, raise_all

SEVERITIES = ("critical", "warning")
"""Every rule's ``severity`` label (components/monitoring.py): what receivers route on."""

DURATION_RE = re.compile(r"[1-9][0-9]*(ms|s|m|h|d|w)")
_ADDRESS_RE = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+")
_HOST_PORT_RE = re.compile(r"[A-Za-z0-9.\-]+:[0-9]{1,5}")
_CHANNEL_RE = re.compile(r"[#@][^\s]{1,80}")

Duration = Annotated[
    str, Field(pattern=f"^{DURATION_RE.pattern}$", description="A Prometheus duration: 30s, 5m, 4h")
]
Severity = Annotated[str, Field(pattern="^(" + "|".join(SEVERITIES) + ")$")]


def duration_seconds(duration: str) -> float:
    """A one-unit Prometheus duration (``Duration``) in seconds."""
    match = DURATION_RE.fullmatch(duration)
    if match is None:
        raise ValueError(f"{duration!r} is not a duration such as 30s, 5m or 4h")
    unit = match.group(1)
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit]
    return int(duration[: -len(unit)]) * scale


class EmailSettings(Section):
    """Mail over SMTP; the account's password is the ``alertSmtpPassword`` secret."""

    to: str = Field(pattern=f"^{_ADDRESS_RE.pattern}$", description="Where the mail goes")
    sender: str = Field(alias="from", pattern=f"^{_ADDRESS_RE.pattern}$", description="Its From address")
    smarthost: str = Field(pattern=f"^{_HOST_PORT_RE.pattern}$", description="The SMTP server, host:port")
    username: str | None = Field(
        None, min_length=1, description="SMTP account (its password: the alertSmtpPassword secret)"
    )
    require_tls: bool = Field(True, description="Refuse to send unless the server offers STARTTLS")


class ReceiverSettings(Section):
    """One receiver: the severities it hears and at least one way to reach it."""

    name: Identifier = Field(description="How routes and Alertmanager's page name it")
    severities: tuple[Severity, ...] = Field(
        SEVERITIES, min_length=1, description="The alerts it receives, by their severity label"
    )
    webhook_url: str | None = Field(
        None,
        description="POST Alertmanager's JSON here (a bearer token, if any: the alertWebhookToken secret)",
    )
    email: EmailSettings | None = Field(None, description="{to, from, smarthost, username, requireTls}")
    slack_channel: str | None = Field(
        None,
        pattern=f"^{_CHANNEL_RE.pattern}$",
        description="Post to this Slack channel (#name) through the incoming webhook in the "
        "alertSlackUrl secret",
    )
    send_resolved: bool = Field(True, description="Also tell it when the alert has resolved")

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        """At least one way to reach it, a webhook URL that is http(s)://, each severity once."""
        found = []
        if self.webhook_url is None and self.email is None and self.slack_channel is None:
            found.append(Invalid("webhookUrl", None, "a receiver needs webhookUrl, email or slackChannel"))
        if self.webhook_url is not None and not URL_RE.fullmatch(self.webhook_url):
            found.append(Invalid("webhookUrl", self.webhook_url, "an http(s):// URL"))
        if len(set(self.severities)) != len(self.severities):
            found.append(Invalid("severities", list(self.severities), "each severity once"))
        raise_all(found)
        return self


class AlertingSettings(Section):
    """Alertmanager: receivers by severity, how alerts are grouped, and how often they repeat."""

    receivers: tuple[ReceiverSettings, ...] = Field(
        (),
        description="Each {name, severities, webhookUrl | email | slackChannel, sendResolved}; every alert "
        "goes to each receiver that hears its severity. None: alerts stay in Alertmanager's own page",
    )
    group_by: tuple[str, ...] = Field(
        ("alertname",), min_length=1, description="Labels that gather alerts into one notification"
    )
    group_wait: Duration = Field(
        "30s", description="How long a new group waits for more alerts before the first notification"
    )
    group_interval: Duration = Field(
        "5m", description="How long a group waits before telling of changes to it"
    )
    repeat_interval: Duration = Field("4h", description="How often a firing alert is told again")

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        """Routes name their receiver: each name once."""
        names = [receiver.name for receiver in self.receivers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise Invalid("receivers", repeated, "each receiver name once")
        return self

    @property
    def needs_smtp_password(self) -> bool:
        return any(r.email is not None and r.email.username is not None for r in self.receivers)

    @property
    def uses_webhooks(self) -> bool:
        return any(r.webhook_url is not None for r in self.receivers)

    @property
    def uses_slack(self) -> bool:
        return any(r.slack_channel is not None for r in self.receivers)
