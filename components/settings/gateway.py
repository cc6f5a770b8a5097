"""The NGINX gateway's settings: ports, host names, TLS."""

from __future__ import annotations

import ipaddress
import re
from typing import Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from components.settings.base import (
    DEFAULT_NGINX_IMAGE,
    ImageRef,
    Invalid,
    Port,
    Section,
    TlsMode,
)


class GatewaySettings(Section):
    """The NGINX gateway, the only container that publishes host ports."""

    image: ImageRef = Field(DEFAULT_NGINX_IMAGE, description="NGINX image, pinned")
    bind_address: ipaddress.IPv4Address = Field(
        # Reachable from this machine only until a stack says otherwise (prod: 0.0.0.0, under TLS).
        ipaddress.IPv4Address("127.0.0.1"),
        description="Host address the gateway's published ports bind to: loopback unless set (0.0.0.0 "
        "for every interface); beyond loopback without TLS only in dev",
    )
    http_port: Port = Field(
        80, description="Console (/minio-console/) and health; redirects to HTTPS under TLS"
    )
    s3_port: Port = Field(9000, description="S3 API at the root of its own listener (plain HTTP mode)")
    https_port: Port = Field(443, description="TLS listener for both host names (TLS modes only)")
    console_host: str = Field("localhost", description="Host name users type for the console")
    s3_host: str = Field("localhost", description="Host name of the S3 endpoint")
    max_body_size: str = Field("5g", pattern=r"^[0-9]+[kmgKMG]?$", description="nginx client_max_body_size")
    tls: TlsMode = Field(
        TlsMode.NONE,
        description="none (plain HTTP), self-signed (a generated certificate, dev only) or provided "
        "(tlsCertificate and tlsPrivateKey; required in prod)",
    )

    @field_validator("console_host", "s3_host")
    @classmethod
    def _host_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?", value):
            raise ValueError(f"{value!r} is not a host name")
        return value

    @model_validator(mode="after")
    def _distinct_hosts_under_tls(self) -> Self:
        """Under TLS, s3Host differs from consoleHost (the host name selects S3 on the shared port)."""
        # Under TLS both names share the HTTPS port, so the host name is what selects S3.
        if self.tls is not TlsMode.NONE and self.s3_host == self.console_host:
            raise Invalid(
                "s3Host",
                self.s3_host,
                "under TLS the S3 host name must differ from consoleHost "
                "(S3 is served at the root of its own host name)",
            )
        return self
