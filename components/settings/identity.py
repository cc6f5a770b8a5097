"""Single sign-on settings: Keycloak, its realm and the groups' policies."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import (
    Field,
    model_validator,
)

from components.policies import template_names
from components.settings.base import (
    DEFAULT_KEYCLOAK_IMAGE,
    DEFAULT_SIGNIN_IMAGE,
    URL_RE,
    BucketName,
    Identifier,
    ImageRef,
    Invalid,
    Mode,
    Port,
    Section,
)

AUTOMATION_CLIENT_ID = "minio-platform-automation"


class ConsoleSignIn(StrEnum):
    SSO = "sso"
    """The platform's sign-in bridge: the console's sign-in leads to Keycloak (access keys on the
    break-glass path)."""
    FORM = "form"
    """No bridge: the console's own access-key form, as community MinIO ships it."""


BUILTIN_POLICIES = ("consoleAdmin", "readwrite", "readonly", "writeonly", "diagnostics")
"""Policies every MinIO server has. A group may name one; no template in policies/iam/ takes one of
these names, so a name means the same policy in MinIO and here (tests/test_policies.py)."""


class GroupSettings(Section):
    """A Keycloak group whose members get ``policy`` in their token's ``policy`` claim."""

    name: Identifier = Field(description="Keycloak group name")
    policy: str = Field(description="A MinIO built-in policy or a template in policies/iam/")
    buckets: tuple[BucketName, ...] | None = Field(
        None, description="For a per-bucket template: its buckets (unset: every configured bucket)"
    )

    @property
    def uses_template(self) -> bool:
        return self.policy in template_names()

    @property
    def minio_policy(self) -> str:
        """The MinIO policy the group's members get: ``<group>-policy`` for a template, else the built-in."""
        return f"{self.name}-policy" if self.uses_template else self.policy


def _default_groups() -> tuple[GroupSettings, ...]:
    return (
        GroupSettings(name="storage-admins", policy="consoleAdmin"),
        GroupSettings(name="storage-readonly", policy="bucket-readonly"),
        GroupSettings(name="backup-operators", policy="backup-service", buckets=("backups-postgresql",)),
    )


class IdentitySettings(Section):
    """Keycloak single sign-on: the realm, the client and the groups whose policies MinIO's STS grants."""

    mode: Mode = Field(Mode.DEPLOY, description="deploy a Keycloak container, or configure an external one")
    realm: Identifier = Field("minio", description="The realm the console's client and the groups live in")
    url: str | None = Field(None, description="Base URL of an existing Keycloak (mode: external)")
    admin_user: str = Field(
        "admin",
        min_length=1,
        description="The deployed Keycloak's permanent admin, a person (its password: keycloakAdminPassword "
        "or generated); with mode external outside prod, the user the automation signs in as when no "
        "keycloakAdminClientSecret is set",
    )
    admin_client_id: Identifier = Field(
        AUTOMATION_CLIENT_ID,
        description="The service account (master realm, admin role) the program signs in as, by client "
        "credentials: Keycloak's temporary bootstrap account on a deployed Keycloak, an existing "
        "confidential client with mode external",
    )
    image: ImageRef = Field(DEFAULT_KEYCLOAK_IMAGE, description="Keycloak image of the deployed one, pinned")
    port: Port = Field(8080, description="Host port (127.0.0.1 only) of the deployed Keycloak")
    console_sign_in: ConsoleSignIn = Field(
        ConsoleSignIn.SSO,
        description="sso: the console signs in with Keycloak through the platform's sign-in bridge "
        "(access keys stay on the break-glass path); form: the console's access-key form only",
    )
    signin_image: ImageRef = Field(
        DEFAULT_SIGNIN_IMAGE, description="Image of the sign-in bridge (built locally: make signin-image)"
    )
    contact: str = Field(
        "your storage administrators",
        min_length=1,
        max_length=200,
        description="Whom the sign-in bridge tells a user without a storage role to ask",
    )
    groups: tuple[GroupSettings, ...] = Field(
        default_factory=_default_groups,
        description="Keycloak groups and the MinIO policy their members get (the policy claim)",
    )

    @model_validator(mode="after")
    def _url_for_external(self) -> Self:
        """identity.mode external needs identity.url; a URL is http(s)://."""
        if self.mode is Mode.EXTERNAL and not self.url:
            raise Invalid(
                "url", self.url, "an http(s):// URL of the existing Keycloak is required in mode external"
            )
        if self.url and not URL_RE.fullmatch(self.url):
            raise Invalid("url", self.url, "an http(s):// URL")
        if self.url:
            object.__setattr__(self, "url", self.url.rstrip("/"))
        return self

    @property
    def deployed(self) -> bool:
        return self.mode is Mode.DEPLOY

    @property
    def bridge(self) -> bool:
        """The console signs in through the platform's sign-in bridge."""
        return self.console_sign_in is ConsoleSignIn.SSO
