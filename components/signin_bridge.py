"""The console's sign-in bridge as a service of the stack (the service itself: ``signin/``).

Community MinIO's console lost its SSO button; the bridge does what the button did. The gateway
sends the console's sign-in to it on the console's own origin (``<origin>/sso/``); it signs the user
in at Keycloak, exchanges the ID token at MinIO's STS and opens a console session with the
temporary credentials (docs/sso.md "The sign-in bridge").

Where it sits: on ``storage-net`` at a fixed address (the gateway's upstream, by address like the
nodes, so a replaced bridge is found again), with no published port. It reaches MinIO's STS and the
console's login API on the gateway's internal listener (``BRIDGE_LISTEN``, for the bridge's
address alone, published nowhere), where neither the public sign-in limit nor the STS limit
applies: every sign-in comes from the bridge's one address, and each browser's is limited at
``/sso/``. It also joins the edge network, like the nodes: there it reaches a deployed Keycloak by
a private address (the realm refuses plain HTTP from addresses outside private space, and dev's
storage-net, 172.40.0.0/24, is one: seen on the real stack as "HTTPS required"), and an existing
Keycloak outside.

Its two secrets are files: the Keycloak client's secret (the one MinIO holds) and the key that signs
its flow cookie and seals its session cookie (generated here). The environment holds neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.conventions import (
    ROLE_LABEL,
    SECRET_FILE_MODE,
    Hardening,
    bash_http_probe,
    hardened_container,
    healthy_service,
)
from components.settings import IdentitySettings, ResourceSettings

SIGNIN_HOST = "signin"
"""Container name and network alias of the bridge."""
SIGNIN_PORT = 8080
"""Where the bridge listens inside its container (``signin/__main__.py``)."""
SIGNIN_PATH = "/sso"
"""The bridge's paths on the console's origin."""
BRIDGE_LISTEN = 8081
"""The gateway's internal listener for the bridge (STS and the console's login API): the bridge's
address alone may use it."""
SECRETS_DIR = "/run/signin"
CLIENT_SECRET_FILE = f"{SECRETS_DIR}/client-secret"
COOKIE_KEY_FILE = f"{SECRETS_DIR}/cookie-key"
COOKIE_KEY_LENGTH = 48
SIGNIN_HARDENING = Hardening(
    # The bridge's uid (images/signin) in group 0, which reads the secret files (uploads belong to root).
    user="10001:0",
    seeded=(SECRETS_DIR,),
)
"""How the bridge runs: it writes nothing but its secret files' uploads."""


def bridge_environment(
    identity: IdentitySettings,
    *,
    console_url: str,
    discovery_url: str,
    gateway_internal: str,
    client_id: str,
    max_session_seconds: int,
) -> dict[str, str]:
    """The bridge's ``SIGNIN_*`` environment: plain values and the paths of its secret files."""
    return {
        "SIGNIN_DISCOVERY_URL": discovery_url,
        "SIGNIN_CLIENT_ID": client_id,
        "SIGNIN_CLIENT_SECRET_FILE": CLIENT_SECRET_FILE,
        "SIGNIN_COOKIE_KEY_FILE": COOKIE_KEY_FILE,
        "SIGNIN_CONSOLE_URL": console_url,
        # The console sits under the same path on the internal listener as on the public one.
        "SIGNIN_CONSOLE_API": gateway_internal + _path_of(console_url),
        "SIGNIN_STS_ENDPOINT": gateway_internal,
        "SIGNIN_MAX_SESSION_SECONDS": str(max_session_seconds),
        "SIGNIN_CONTACT": identity.contact,
    }


def _path_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


@dataclass(frozen=True)
class SigninBridgeArgs:
    identity: IdentitySettings
    console_url: str
    """The console's public URL, what browsers open."""
    discovery_url: str
    """The realm's OpenID discovery document, at the address the bridge reaches."""
    client_id: str
    client_secret: pulumi.Input[str]
    """Secret: the console client's, shared with MinIO."""
    max_session_seconds: int
    """The longest console session: the realm's SSO session maximum."""
    storage_network: docker.Network
    address: str
    """The bridge's fixed address on ``storage-net``."""
    gateway_address: str
    """The gateway's address on ``storage-net``: its internal listener."""
    edge_network: docker.Network
    """The non-internal network Keycloak and the nodes share (see the module's docstring)."""
    labels: dict[str, str] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What must exist before a sign-in can work (the realm and the client)."""
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    """Every service's CPU and memory limits."""


class SigninBridge(pulumi.ComponentResource):
    """The sign-in bridge's container, its cookie key and its secret files."""

    container: docker.Container
    address: str
    environment: dict[str, str]

    def __init__(self, name: str, args: SigninBridgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:identity:SigninBridge", name, None, opts)
        self.address = args.address
        self.environment = bridge_environment(
            args.identity,
            console_url=args.console_url,
            discovery_url=args.discovery_url,
            gateway_internal=f"http://{args.gateway_address}:{BRIDGE_LISTEN}",
            client_id=args.client_id,
            max_session_seconds=args.max_session_seconds,
        )
        cookie_key = random.RandomPassword(
            f"{name}-cookie-key",
            length=COOKIE_KEY_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        image = docker.RemoteImage(
            f"{name}-image",
            name=args.identity.signin_image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        networks = [
            docker.ContainerNetworksAdvancedArgs(
                name=args.storage_network.name, aliases=[SIGNIN_HOST], ipv4_address=args.address
            ),
            docker.ContainerNetworksAdvancedArgs(name=args.edge_network.name, aliases=[SIGNIN_HOST]),
        ]
        self.container = hardened_container(
            f"{name}-container",
            name=SIGNIN_HOST,
            hostname=SIGNIN_HOST,
            image=image.image_id,
            hardening=SIGNIN_HARDENING,
            envs=[f"{key}={value}" for key, value in self.environment.items()],
            uploads=[
                docker.ContainerUploadArgs(
                    file=CLIENT_SECRET_FILE,
                    content=pulumi.Output.secret(args.client_secret),
                    permissions=SECRET_FILE_MODE,
                ),
                docker.ContainerUploadArgs(
                    file=COOKIE_KEY_FILE,
                    content=pulumi.Output.secret(cookie_key.result),
                    permissions=SECRET_FILE_MODE,
                ),
            ],
            networks_advanced=networks,
            **healthy_service(
                bash_http_probe(SIGNIN_PORT, f"{SIGNIN_PATH}/health", "200 OK"),
                interval="5s",
                timeout="3s",
                retries=6,
                start_period="5s",
                wait_timeout=120,
                limits=args.resources.signin,
            ),
            labels={**args.labels, ROLE_LABEL: SIGNIN_HOST},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=args.depends_on, replace_on_changes=["healthcheck"]
            ),
        )
        self.register_outputs({"address": self.address})
