"""Secret stack values, held as SecretStr so they never print."""

from __future__ import annotations

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)
from pydantic.alias_generators import to_camel

from components.settings.base import (
    Section,
)

ROOT_PASSWORD_MIN = 16
CLIENT_SECRET_MIN = 32
SEAL_KEY_MIN = 32
"""What day2/backups.py accepts as a seal key (SEAL_KEY_MINIMUM; a test keeps the two equal)."""


class Secrets(Section):
    """Secret stack values. Each must be a ``secure:`` value; unset ones are generated where possible."""

    root_password: SecretStr | None = Field(
        None,
        description=f"MinIO root password, at least {ROOT_PASSWORD_MIN} characters; generated "
        "(40 characters) when unset",
    )
    tls_certificate: SecretStr | None = Field(
        None, description="PEM certificate chain for both host names (gateway.tls provided)"
    )
    tls_private_key: SecretStr | None = Field(None, description="Its PEM private key (gateway.tls provided)")
    keycloak_admin_password: SecretStr | None = Field(
        None,
        description="Password of identity.adminUser, at least 8 characters: the deployed Keycloak's "
        "permanent admin (generated when unset); with identity.mode external, outside prod, the "
        "automation's sign-in instead of a client secret",
    )
    keycloak_admin_client_secret: SecretStr | None = Field(
        None,
        description=f"Secret of the service account identity.adminClientId, at least {CLIENT_SECRET_MIN} "
        "characters: how the program signs in to Keycloak (client credentials); required with "
        "identity.mode external in prod; generated for a deployed Keycloak when unset",
    )
    grafana_auth: SecretStr | None = Field(
        None,
        description="Service-account token of the existing Grafana: required in observability.mode external",
    )
    loki_password: SecretStr | None = Field(
        None, description="Basic-auth password of the existing Loki, with observability.lokiUsername"
    )
    loki_bearer_token: SecretStr | None = Field(
        None, description="Bearer token of the existing Loki (instead of basic auth)"
    )
    metrics_secret_key: SecretStr | None = Field(
        None, description="Secret key of observability.metricsAccessKey: it signs Prometheus's bearer token"
    )
    alert_smtp_password: SecretStr | None = Field(
        None, description="Password of the SMTP account of the e-mail receivers (observability.alerting)"
    )
    alert_webhook_token: SecretStr | None = Field(
        None, description="Bearer token Alertmanager sends to the webhook receivers, if they want one"
    )
    alert_slack_url: SecretStr | None = Field(
        None, description="Slack incoming-webhook URL of the Slack receivers (observability.alerting)"
    )
    backup_secret_key: SecretStr | None = Field(
        None, description="Secret key of backups.accessKey, an identity made outside the stack"
    )
    backup_seal_key: SecretStr | None = Field(
        None,
        description="The HMAC key backups are sealed with, at least 32 characters: generated when the "
        "stack has a bucket with backups: true; give the same key to every tool that restores",
    )
    backup_pgpass: SecretStr | None = Field(
        None,
        description="The backup service's database passwords, in libpq's pgpass format "
        "(host:port:database:user:password per line; database * for a schedule with a drill)",
    )
    iam_user_passwords: SecretStr | None = Field(
        None,
        description="Passwords of iam.users, one name=password per line (at least 8 characters each)",
    )
    cluster_secret_environment: SecretStr | None = Field(
        None,
        description="Secret MinIO server settings for every node, one MINIO_NAME=value per line (for "
        "example a notification target's token); they reach the nodes in their secrets file",
    )

    @field_validator("root_password")
    @classmethod
    def _root_password_length(cls, value: SecretStr | None) -> SecretStr | None:
        """The root user opens everything: longer than MinIO's own minimum of 8."""
        return _at_least(
            value,
            ROOT_PASSWORD_MIN,
            "the root user can do anything; leave it unset to have a 40-character one generated",
        )

    @field_validator("root_password")
    @classmethod
    def _root_password_one_line(cls, value: SecretStr | None) -> SecretStr | None:
        """The nodes read it from a file of one ``KEY="value"`` line per secret (components/cluster.py)."""
        if value is not None and any(c in value.get_secret_value() for c in "\r\n"):
            raise ValueError("one line: the nodes read it from a file, line by line")
        return value

    @field_validator("keycloak_admin_password")
    @classmethod
    def _password_length(cls, value: SecretStr | None) -> SecretStr | None:
        return _at_least(value, 8, "Keycloak refuses shorter passwords")

    @field_validator("keycloak_admin_client_secret")
    @classmethod
    def _client_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        """A service account with Keycloak's admin role: as long as a generated one is short."""
        value = _at_least(
            value,
            CLIENT_SECRET_MIN,
            "the service account administers Keycloak; Keycloak's own generated client secrets are 32",
        )
        text = "" if value is None else value.get_secret_value()
        if any(c in text for c in "\\\r\n") or "${" in text or text != text.strip():
            # Keycloak reads it from a properties file (components/sso.py, keycloak_secrets), where a
            # backslash escapes, ${...} expands and edges are trimmed.
            raise ValueError(
                "one line without backslashes, '${' or spaces at its ends: "
                "Keycloak reads it from a properties file"
            )
        return value


def _at_least(value: SecretStr | None, minimum: int, why: str) -> SecretStr | None:
    """``value`` unless it is set and shorter than ``minimum`` characters."""
    if value is not None and len(value.get_secret_value()) < minimum:
        raise ValueError(f"at least {minimum} characters ({why})")
    return value


SECRET_KEYS = tuple(to_camel(name) for name in Secrets.model_fields)
