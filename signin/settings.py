"""The bridge's settings: plain values from its environment, secrets from files.

Secrets never travel in the environment (``docker inspect`` shows it): the client secret and the
cookie key are read from the files the ``*_FILE`` variables name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

PREFIX = "SIGNIN_"
COOKIE_KEY_MIN = 32
FILE_FIELDS = ("client_secret", "cookie_key")
"""Read from the file ``SIGNIN_<FIELD>_FILE`` names, never from the environment."""


class SigninSettings(BaseModel):
    """What the bridge needs to know; each field comes from ``SIGNIN_<FIELD>`` (upper case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    discovery_url: str = Field(
        description="Keycloak's OpenID discovery document for the realm, at the address the bridge reaches"
    )
    client_id: str = Field(min_length=1, description="The console's confidential Keycloak client")
    client_secret: SecretStr = Field(description="Its secret (from SIGNIN_CLIENT_SECRET_FILE)")
    cookie_key: SecretStr = Field(description="Signs the flow cookie (from SIGNIN_COOKIE_KEY_FILE)")
    console_url: str = Field(description="The console's public URL, what browsers open")
    console_api: str = Field(description="Where the bridge reaches the console's API (no trailing slash)")
    sts_endpoint: str = Field(description="Where the bridge reaches MinIO's STS (the S3 endpoint)")
    max_session_seconds: int = Field(
        36000, ge=900, description="The longest console session, whatever Keycloak allows (STS needs 900 s)"
    )
    contact: str = Field(
        "your storage administrators", min_length=1, description="Whom a user without a storage role asks"
    )

    @field_validator("discovery_url", "console_url", "console_api", "sts_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("an http(s):// URL")
        return value.rstrip("/")

    @field_validator("cookie_key")
    @classmethod
    def _long_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < COOKIE_KEY_MIN:
            raise ValueError(f"at least {COOKIE_KEY_MIN} characters")
        return value

    @property
    def secure_cookies(self) -> bool:
        """Under TLS every cookie the browser holds is ``Secure``."""
        return self.console_url.startswith("https://")

    @property
    def console_path(self) -> str:
        """The path the console lives under (``/`` or a subpath); ``next`` stays inside it."""
        return urlsplit(self.console_url).path or "/"

    @property
    def callback_url(self) -> str:
        return f"{self.console_origin}/sso/callback"

    @property
    def console_origin(self) -> str:
        parts = urlsplit(self.console_url)
        return f"{parts.scheme}://{parts.netloc}"


class SettingsProblem(ValueError):
    """The bridge cannot start: every variable at fault, named."""


def from_environment(environ: Mapping[str, str] = os.environ) -> SigninSettings:
    """Settings from ``SIGNIN_*``; ``SIGNIN_CLIENT_SECRET_FILE`` and ``SIGNIN_COOKIE_KEY_FILE`` are read."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for name in SigninSettings.model_fields:
        key = PREFIX + name.upper()
        if name in FILE_FIELDS:
            path = environ.get(key + "_FILE")
            if key in environ:
                problems.append(f"{key}: a secret comes from a file ({key}_FILE), never the environment")
            elif path:
                try:
                    values[name] = Path(path).read_text().strip()
                except OSError as err:
                    problems.append(f"{key}_FILE={path}: cannot be read ({err.strerror})")
        elif key in environ:
            values[name] = environ[key]
    if not problems:
        try:
            return SigninSettings(**values)
        except ValidationError as err:
            for error in err.errors():
                name = str(error["loc"][0])
                variable = PREFIX + name.upper() + ("_FILE" if name in FILE_FIELDS else "")
                problems.append(f"{variable}: {error['msg']}")
    raise SettingsProblem("; ".join(problems))
