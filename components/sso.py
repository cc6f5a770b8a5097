"""Keycloak single sign-on for the MinIO console.

dev runs Keycloak itself (``start-dev``); prod configures an existing Keycloak. Either way the
realm, its user profile, a client scope emitting the ``policy`` claim, the confidential client
``minio-console`` and the groups that carry MinIO policies are resources of the stack.

**One issuer.** The browser and MinIO must see the same issuer URL, yet MinIO reaches Keycloak
inside Docker (``http://keycloak:8080``) while the browser uses the published port. Keycloak's
hostname options do exactly that: ``KC_HOSTNAME`` fixes the public URL, so the issuer and every
browser-facing endpoint always name it, and ``KC_HOSTNAME_BACKCHANNEL_DYNAMIC`` lets the
server-to-server endpoints (token, keys, userinfo) follow the URL the caller used. MinIO fetches
discovery from the internal URL, sends users to the public login page, and validates tokens whose
issuer is the public URL in both cases.

**Roles are data.** Groups carry a ``policy`` attribute naming a MinIO policy; a user-attribute
mapper that aggregates group attributes puts every policy of every group a user belongs to into
the multivalued ``policy`` claim MinIO reads. Keycloak 24+ drops user attributes its user profile
does not declare, so the realm's user profile declares ``policy`` (editable by admins only).

**A service account signs in.** The keycloak provider uses client credentials, never a person's
password: on a deployed Keycloak, the temporary admin service account Keycloak makes from
``KC_BOOTSTRAP_ADMIN_CLIENT_*``; on an existing one, a confidential client the operator made. The
person's admin of a deployed Keycloak is a permanent user the automation makes; there is no
bootstrap user. A deployed Keycloak keeps its state on the ``keycloak-data`` volume, so a replaced
container finds its realm and accounts again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker
import pulumi_keycloak as keycloak
import pulumi_random as random

from components.conventions import (
    ROLE_LABEL,
    SECRET_FILE_MODE,
    SECRETS_DIR,
    Hardening,
    bash_http_probe,
    docker_labels,
    hardened_container,
    healthy_service,
    secret_file,
)
from components.internode_tls import Certificate
from components.settings import GroupSettings, IdentitySettings, ResourceSettings
from components.signin_bridge import SIGNIN_PATH

CLIENT_ID = "minio-console"
POLICY_CLAIM = "policy"
POLICY_SCOPE = "minio-policy"
KEYCLOAK_HOST = "keycloak"
KEYCLOAK_HTTP_PORT = 8080
KEYCLOAK_HTTPS_PORT = 8443
"""With several hosts: where nodes on other hosts fetch the discovery document and signing keys, over
TLS with a certificate from the internode CA (their answers decide which tokens MinIO accepts)."""
KEYCLOAK_TLS_DIR = "/opt/keycloak/conf/internode"
KEYCLOAK_MANAGEMENT_PORT = 9000
KEYCLOAK_DATA_DIR = "/opt/keycloak/data"
KEYCLOAK_SECRETS_FILE = "keycloak.conf"
"""Keycloak's settings that are secrets (keycloak.conf format), under SECRETS_DIR: KC_CONFIG_FILE."""
KEYCLOAK_HARDENING = Hardening(
    # Keycloak's user (its images' uid 1000) in group 0, which reads the secret files.
    user="1000:0",
    # KEYCLOAK_TLS_DIR's uploads; start-dev rebuilds Keycloak into lib/quarkus at every start
    # (both owned by the user in the image); the secret file.
    seeded=("/opt/keycloak/conf", "/opt/keycloak/lib/quarkus", SECRETS_DIR),
)
"""How Keycloak runs (images/keycloak; KEYCLOAK_DATA_DIR is its named volume)."""
"""The deployed Keycloak's state (start-dev's H2 database): on the ``keycloak-data`` volume."""
MASTER_REALM = "master"
KEYCLOAK_ADMIN_ROLE = "admin"
"""The master realm's role that administers every realm."""
KEYCLOAK_CLIENT_TIMEOUT = 60
"""Seconds the keycloak provider waits for one admin API answer."""

# The realm's own defences (docs/sso.md "Realm defences"): after 5 wrong passwords an account waits
# 60 s, growing by 60 s per further failure up to 15 min; failures are forgotten after 12 h; two
# attempts within 1 s also cost a 60 s wait. Never a permanent lock-out (an attacker could lock
# every user out).
BRUTE_FORCE_DETECTION = {
    "max_login_failures": 5,
    "wait_increment_seconds": 60,
    "max_failure_wait_seconds": 900,
    "failure_reset_time_seconds": 12 * 3600,
    "quick_login_check_milli_seconds": 1000,
    "minimum_quick_login_wait_seconds": 60,
    "permanent_lockout": False,
}
ACCESS_TOKEN_LIFESPAN = "5m"  # noqa: S105 (a lifetime, not a token)
"""Short: a token is exchanged for MinIO STS credentials right away, which carry their own expiry."""
SSO_SESSION_IDLE_TIMEOUT = "30m"
SSO_SESSION_MAX_SECONDS = 10 * 3600
"""The longest Keycloak session, and so the longest console session the sign-in bridge opens."""
SSO_SESSION_MAX_LIFESPAN = f"{SSO_SESSION_MAX_SECONDS // 3600}h"
PKCE_METHOD = "S256"
"""PKCE on top of the client secret: a code intercepted on its way back is useless without the verifier."""
# Keycloak 26 attaches these to every new OIDC client; the default-scopes resource is
# authoritative, so listing fewer would show a diff on every preview (and "basic" carries `sub`).
BUILTIN_DEFAULT_SCOPES = ("acr", "basic", "email", "profile", "roles", "web-origins")


@dataclass(frozen=True)
class SsoEndpoints:
    public_url: str
    """What browsers use, and the issuer's base."""
    internal_url: str
    """What the MinIO containers use."""
    admin_url: str
    """What the keycloak provider uses, from where `pulumi up` runs."""


def sso_endpoints(identity: IdentitySettings, across_hosts: bool = False) -> SsoEndpoints:
    """``across_hosts``: the nodes reach a deployed Keycloak over the hosts' network, by HTTPS."""
    if identity.deployed:
        public = f"http://localhost:{identity.port}"
        internal = (
            f"https://{KEYCLOAK_HOST}:{KEYCLOAK_HTTPS_PORT}"
            if across_hosts
            else f"http://{KEYCLOAK_HOST}:{KEYCLOAK_HTTP_PORT}"
        )
        return SsoEndpoints(public, internal, public)
    if identity.url is None:
        raise ValueError(
            f"identity.url is required with identity.mode {identity.mode.value}: the existing Keycloak"
        )
    return SsoEndpoints(identity.url, identity.url, identity.url)


def issuer_url(identity: IdentitySettings) -> str:
    return f"{sso_endpoints(identity).public_url}/realms/{identity.realm}"


def minio_openid_environment(identity: IdentitySettings, across_hosts: bool = False) -> dict[str, str]:
    """The non-secret ``MINIO_IDENTITY_OPENID_*`` variables, identical on every node."""
    realm_url = f"{sso_endpoints(identity, across_hosts).internal_url}/realms/{identity.realm}"
    return {
        "MINIO_IDENTITY_OPENID_CONFIG_URL": f"{realm_url}/.well-known/openid-configuration",
        "MINIO_IDENTITY_OPENID_CLIENT_ID": CLIENT_ID,
        "MINIO_IDENTITY_OPENID_CLAIM_NAME": POLICY_CLAIM,
        "MINIO_IDENTITY_OPENID_SCOPES": "openid,profile,email",
        "MINIO_IDENTITY_OPENID_DISPLAY_NAME": "Keycloak",
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def bridge_callback(console_url: str) -> str:
    """Where Keycloak sends the browser back to the sign-in bridge: the console's origin."""
    return f"{_origin(console_url)}{SIGNIN_PATH}/callback"


@dataclass(frozen=True)
class SingleSignOnArgs:
    identity: IdentitySettings
    console_url: str
    """The console's public URL. With the sign-in bridge Keycloak redirects back to
    ``<console origin>/sso/callback``; without it, to ``<console_url>/oauth_callback``."""
    storage_network: docker.Network
    edge_network: docker.Network
    """Non-internal network the deployed Keycloak publishes its port on."""
    demo_users: bool
    """One user per group with a generated password (dev only)."""
    admin_password: pulumi.Input[str] | None = None
    """Secret: the deployed Keycloak's permanent admin's password (generated when None); with an
    existing Keycloak and no ``admin_client_secret``, what the automation signs in with."""
    admin_client_secret: pulumi.Input[str] | None = None
    """Secret: of the service account ``identity.admin_client_id`` the automation signs in as
    (generated for a deployed Keycloak when None)."""
    labels: dict[str, str] = field(default_factory=dict)
    publish_https_on: str | None = None
    """Several hosts: the first host's address, where the other hosts' nodes fetch the OpenID
    discovery document and signing keys (Keycloak's HTTPS port is published there)."""
    https_certificate: Certificate | None = None
    """Several hosts: the deployed Keycloak's certificate (from the internode CA)."""
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    """Every service's CPU and memory limits."""


def keycloak_secrets(automation_secret: pulumi.Input[str]) -> pulumi.Output[str]:
    """The content of :data:`KEYCLOAK_SECRETS_FILE` (secret): the automation's bootstrap secret.

    Keycloak reads the file as Java properties and expands ``${...}`` in values; the settings refuse
    a given secret that either would change (components/settings/secrets.py), and a generated one
    is letters and digits.
    """
    return pulumi.Output.secret(
        pulumi.Output.concat(
            "# Written by minio-platform. Read at every start; used on the data volume's first.\n",
            "bootstrap-admin-client-secret=",
            automation_secret,
            "\n",
        )
    )


class SingleSignOn(pulumi.ComponentResource):
    """Keycloak (deployed or existing), realm, client, policy claim and groups."""

    issuer_url: str
    login_url: str
    client_secret: pulumi.Output[str]
    """Secret; known before Keycloak exists, so MinIO's environment does not wait for it."""
    minio_environment: dict[str, str]
    minio_secret_environment: dict[str, pulumi.Output[str]]
    ready: list[pulumi.Resource]
    """What must exist before MinIO can become healthy: its IAM waits for the discovery document."""
    demo_users: dict[str, pulumi.Output[str]]
    """dev: password of each demo user by user name (secret)."""
    container: docker.Container | None

    def __init__(self, name: str, args: SingleSignOnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:identity:SingleSignOn", name, None, opts)
        self._name = name
        identity = args.identity
        endpoints = sso_endpoints(identity)
        self.issuer_url = issuer_url(identity)
        self.discovery_url = (
            f"{endpoints.internal_url}/realms/{identity.realm}/.well-known/openid-configuration"
        )
        """Where a service on storage-net (the sign-in bridge) reads the realm's discovery document."""
        self.redirect_uri = (
            bridge_callback(args.console_url) if identity.bridge else f"{args.console_url}/oauth_callback"
        )
        self.login_url = (
            f"{_origin(args.console_url)}{SIGNIN_PATH}/login"
            if identity.bridge
            else f"{args.console_url}/login"
        )

        self.client_secret = self._secret_or_generated(None, "client-secret", 48, generate=True)
        admin_password = self._secret_or_generated(
            args.admin_password, "admin-password", 32, identity.deployed
        )
        automation_secret = self._secret_or_generated(
            args.admin_client_secret, "automation-secret", 48, identity.deployed
        )
        self.container = self._keycloak(args, endpoints, automation_secret) if identity.deployed else None
        self.admin_console_url = f"{endpoints.public_url}/admin/master/console/"
        self.admin_password = admin_password
        """The permanent Keycloak admin's password (secret): generated unless keycloakAdminPassword is set."""

        # The automation signs in as a service account (client credentials): the deployed Keycloak's
        # is the temporary admin service account Keycloak bootstraps from KC_BOOTSTRAP_ADMIN_CLIENT_*,
        # an existing Keycloak's a confidential client the operator made. A person's password only
        # with an existing Keycloak outside prod, where the settings allow it.
        sign_in: dict[str, pulumi.Input[str]] = (
            {"client_id": identity.admin_client_id, "client_secret": automation_secret}
            if automation_secret is not None
            else {"client_id": "admin-cli", "username": identity.admin_user, "password": admin_password}
        )
        provider = keycloak.Provider(
            f"{name}-keycloak",
            url=endpoints.admin_url,
            realm=MASTER_REALM,
            **sign_in,
            # Log in lazily, so `pulumi preview` works before Keycloak runs.
            initial_login=False,
            # The SDK's default is 5 s; a Keycloak just started on a busy host took longer to
            # create the realm ("Client.Timeout exceeded", seen with the real engine).
            client_timeout=KEYCLOAK_CLIENT_TIMEOUT,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container] if self.container else []),
        )
        via_keycloak = pulumi.ResourceOptions(parent=self, provider=provider)
        if self.container is not None:
            self._permanent_admin(identity.admin_user, admin_password, provider, via_keycloak)
        realm = keycloak.Realm(
            f"{name}-realm",
            realm=identity.realm,
            display_name="MinIO platform",
            enabled=True,
            ssl_required="all" if endpoints.public_url.startswith("https://") else "external",
            registration_allowed=False,
            login_with_email_allowed=True,
            duplicate_emails_allowed=False,
            password_policy="length(12) and notUsername",  # noqa: S106 (a rule, not a password)
            access_token_lifespan=ACCESS_TOKEN_LIFESPAN,
            sso_session_idle_timeout=SSO_SESSION_IDLE_TIMEOUT,
            sso_session_max_lifespan=SSO_SESSION_MAX_LIFESPAN,
            security_defenses=keycloak.RealmSecurityDefensesArgs(
                brute_force_detection=keycloak.RealmSecurityDefensesBruteForceDetectionArgs(
                    **BRUTE_FORCE_DETECTION
                )
            ),
            opts=via_keycloak,
        )
        profile = self._user_profile(realm, via_keycloak)
        scope, mapper = self._policy_claim(realm, via_keycloak)
        client = keycloak.openid.Client(
            f"{name}-client",
            realm_id=realm.id,
            client_id=CLIENT_ID,
            name="MinIO console",
            access_type="CONFIDENTIAL",
            client_secret=self.client_secret,
            standard_flow_enabled=True,
            implicit_flow_enabled=False,
            direct_access_grants_enabled=False,
            service_accounts_enabled=False,
            pkce_code_challenge_method=PKCE_METHOD,
            valid_redirect_uris=[self.redirect_uri],
            valid_post_logout_redirect_uris=[args.console_url],
            web_origins=[_origin(args.console_url)],
            opts=via_keycloak,
        )
        default_scopes = keycloak.openid.ClientDefaultScopes(
            f"{name}-client-default-scopes",
            realm_id=realm.id,
            client_id=client.id,
            default_scopes=[*BUILTIN_DEFAULT_SCOPES, scope.name],
            opts=via_keycloak,
        )
        groups = self._groups(identity.groups, realm, via_keycloak)
        self.demo_users = (
            self._demo_users(identity.groups, groups, realm, via_keycloak) if args.demo_users else {}
        )

        self.minio_environment = minio_openid_environment(identity, args.https_certificate is not None)
        self.minio_secret_environment = {"MINIO_IDENTITY_OPENID_CLIENT_SECRET": self.client_secret}
        self.ready = [realm, profile, mapper, client, default_scopes]
        self.register_outputs({"issuer_url": self.issuer_url, "login_url": self.login_url})

    def _secret_or_generated(
        self, given: pulumi.Input[str] | None, what: str, length: int, generate: bool
    ) -> pulumi.Output[str] | None:
        """``given`` as a secret, else (where ``generate``) a generated one."""
        if given is not None:
            return pulumi.Output.secret(given)
        if not generate:
            return None
        generated = random.RandomPassword(
            f"{self._name}-{what}", length=length, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        return pulumi.Output.secret(generated.result)

    def _keycloak(
        self, args: SingleSignOnArgs, endpoints: SsoEndpoints, automation_secret: pulumi.Output[str]
    ) -> docker.Container:
        identity = args.identity
        image = docker.RemoteImage(
            f"{self._name}-image",
            name=identity.image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The realm, the admins and the sessions live here, so a replaced container (a new image, a
        # changed setting) comes back to the same Keycloak. The volume goes with the stack: what it
        # holds is what the stack declares, and a destroyed stack's Keycloak must not meet the next
        # up with the old realm and the old bootstrap secret.
        data = docker.Volume(
            f"{self._name}-keycloak-data",
            name="keycloak-data",
            driver="local",
            labels=docker_labels(docker.VolumeLabelArgs, args.labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        envs: list[pulumi.Input[str]] = [
            # Keycloak creates this temporary admin service account with the master realm, on the
            # volume's first start, and ignores it and its secret (in the file) afterwards. No
            # bootstrap user: the person's admin is a permanent user the stack declares (_permanent_admin).
            f"KC_BOOTSTRAP_ADMIN_CLIENT_ID={identity.admin_client_id}",
            f"KC_CONFIG_FILE={SECRETS_DIR}/{KEYCLOAK_SECRETS_FILE}",
            f"KC_HOSTNAME={endpoints.public_url}",
            "KC_HOSTNAME_BACKCHANNEL_DYNAMIC=true",
            "KC_HTTP_ENABLED=true",
            # Keycloak 26.7's start-dev listens on localhost alone (26.4 took every interface):
            # the nodes, the gateway and the published port reach it from outside the container.
            "KC_HTTP_HOST=0.0.0.0",
            f"KC_HTTP_PORT={KEYCLOAK_HTTP_PORT}",
            "KC_HEALTH_ENABLED=true",
        ]
        uploads = [secret_file(KEYCLOAK_SECRETS_FILE, keycloak_secrets(automation_secret))]
        if args.https_certificate is not None:
            envs += [
                f"KC_HTTPS_PORT={KEYCLOAK_HTTPS_PORT}",
                f"KC_HTTPS_CERTIFICATE_FILE={KEYCLOAK_TLS_DIR}/tls.crt",
                f"KC_HTTPS_CERTIFICATE_KEY_FILE={KEYCLOAK_TLS_DIR}/tls.key",
                # The management port (health) would inherit HTTPS; the health probe speaks HTTP.
                "KC_HTTP_MANAGEMENT_SCHEME=http",
            ]
            uploads += [
                docker.ContainerUploadArgs(
                    file=f"{KEYCLOAK_TLS_DIR}/tls.crt",
                    content=args.https_certificate.certificate,
                    permissions="0444",
                ),
                # Uploads belong to root: Keycloak reads its key through group 0, like its secrets.
                docker.ContainerUploadArgs(
                    file=f"{KEYCLOAK_TLS_DIR}/tls.key",
                    content=args.https_certificate.private_key,
                    permissions=SECRET_FILE_MODE,
                ),
            ]
        return hardened_container(
            f"{self._name}-keycloak-container",
            name=KEYCLOAK_HOST,
            hostname=KEYCLOAK_HOST,
            image=image.image_id,
            hardening=KEYCLOAK_HARDENING,
            command=["start-dev"],
            envs=envs,
            uploads=uploads,
            volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path=KEYCLOAK_DATA_DIR)],
            networks_advanced=[
                # The nodes reach Keycloak on the storage network (which has no way out).
                docker.ContainerNetworksAdvancedArgs(name=args.storage_network.name, aliases=[KEYCLOAK_HOST]),
                docker.ContainerNetworksAdvancedArgs(name=args.edge_network.name, aliases=[KEYCLOAK_HOST]),
            ],
            # The provider and browsers on this machine only.
            ports=[
                docker.ContainerPortArgs(internal=KEYCLOAK_HTTP_PORT, external=identity.port, ip="127.0.0.1"),
                *(
                    [
                        docker.ContainerPortArgs(
                            internal=KEYCLOAK_HTTPS_PORT,
                            external=KEYCLOAK_HTTPS_PORT,
                            ip=args.publish_https_on,
                        )
                    ]
                    if args.publish_https_on
                    else []
                ),
            ],
            **healthy_service(
                # The management port's readiness probe.
                bash_http_probe(KEYCLOAK_MANAGEMENT_PORT, "/health/ready", '"UP"'),
                interval="5s",
                timeout="5s",
                retries=12,
                start_period="30s",
                wait_timeout=300,
                limits=args.resources.keycloak,
            ),
            labels={**args.labels, ROLE_LABEL: "keycloak"},
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["healthcheck"]),
        )

    def _permanent_admin(
        self,
        username: str,
        password: pulumi.Output[str],
        provider: keycloak.Provider,
        opts: pulumi.ResourceOptions,
    ) -> keycloak.UserRoles:
        """The person's admin of a deployed Keycloak: a permanent master-realm user with the admin role.

        Keycloak means its bootstrap accounts to be temporary: they exist to make permanent admins.
        The automation makes this one; nobody signs in to the admin console as a temporary account.
        """
        admin_role = keycloak.get_role_output(
            realm_id=MASTER_REALM,
            name=KEYCLOAK_ADMIN_ROLE,
            opts=pulumi.InvokeOutputOptions(provider=provider, depends_on=[self.container]),
        )
        user = keycloak.User(
            f"{self._name}-admin",
            realm_id=MASTER_REALM,
            username=username,
            # The master realm's user profile requires nothing but the username (Keycloak relaxes it
            # there), so an admin needs no email to sign in.
            enabled=True,
            initial_password=keycloak.UserInitialPasswordArgs(value=password, temporary=False),
            opts=opts,
        )
        return keycloak.UserRoles(
            f"{self._name}-admin-roles",
            realm_id=MASTER_REALM,
            user_id=user.id,
            role_ids=[admin_role.id],
            # Keep the realm's default roles the user got on creation.
            exhaustive=False,
            opts=opts,
        )

    def _user_profile(self, realm: keycloak.Realm, opts: pulumi.ResourceOptions) -> keycloak.RealmUserProfile:
        everyone = keycloak.RealmUserProfileAttributePermissionsArgs(
            views=["admin", "user"], edits=["admin", "user"]
        )
        length_255 = keycloak.RealmUserProfileAttributeValidatorArgs(name="length", config={"max": "255"})
        person_name = keycloak.RealmUserProfileAttributeValidatorArgs(
            name="person-name-prohibited-characters"
        )
        # The profile resource owns the whole profile: Keycloak's four standard attributes, as
        # Keycloak declares them, plus the policy attribute.
        return keycloak.RealmUserProfile(
            f"{self._name}-user-profile",
            realm_id=realm.id,
            attributes=[
                keycloak.RealmUserProfileAttributeArgs(
                    name="username",
                    display_name="${username}",
                    permissions=everyone,
                    validators=[
                        keycloak.RealmUserProfileAttributeValidatorArgs(
                            name="length", config={"min": "3", "max": "255"}
                        ),
                        keycloak.RealmUserProfileAttributeValidatorArgs(
                            name="username-prohibited-characters"
                        ),
                        keycloak.RealmUserProfileAttributeValidatorArgs(name="up-username-not-idn-homograph"),
                    ],
                ),
                keycloak.RealmUserProfileAttributeArgs(
                    name="email",
                    display_name="${email}",
                    permissions=everyone,
                    validators=[keycloak.RealmUserProfileAttributeValidatorArgs(name="email"), length_255],
                ),
                keycloak.RealmUserProfileAttributeArgs(
                    name="firstName",
                    display_name="${firstName}",
                    permissions=everyone,
                    validators=[length_255, person_name],
                ),
                keycloak.RealmUserProfileAttributeArgs(
                    name="lastName",
                    display_name="${lastName}",
                    permissions=everyone,
                    validators=[length_255, person_name],
                ),
                keycloak.RealmUserProfileAttributeArgs(
                    name=POLICY_CLAIM,
                    display_name="MinIO policies",
                    multi_valued=True,
                    # Users must not grant themselves policies: admins only.
                    permissions=keycloak.RealmUserProfileAttributePermissionsArgs(
                        views=["admin"], edits=["admin"]
                    ),
                ),
            ],
            opts=opts,
        )

    def _policy_claim(
        self, realm: keycloak.Realm, opts: pulumi.ResourceOptions
    ) -> tuple[keycloak.openid.ClientScope, keycloak.openid.UserAttributeProtocolMapper]:
        scope = keycloak.openid.ClientScope(
            f"{self._name}-policy-scope",
            realm_id=realm.id,
            name=POLICY_SCOPE,
            description="MinIO policies of the user and of the user's groups, in the `policy` claim",
            include_in_token_scope=True,
            opts=opts,
        )
        mapper = keycloak.openid.UserAttributeProtocolMapper(
            f"{self._name}-policy-mapper",
            realm_id=realm.id,
            client_scope_id=scope.id,
            name=POLICY_CLAIM,
            user_attribute=POLICY_CLAIM,
            claim_name=POLICY_CLAIM,
            claim_value_type="String",
            multivalued=True,
            # Group attributes count too: membership in a group is what grants a policy.
            aggregate_attributes=True,
            add_to_id_token=True,
            add_to_access_token=True,
            add_to_userinfo=True,
            opts=opts,
        )
        return scope, mapper

    def _groups(
        self, groups: Sequence[GroupSettings], realm: keycloak.Realm, opts: pulumi.ResourceOptions
    ) -> dict[str, keycloak.Group]:
        return {
            group.name: keycloak.Group(
                f"{self._name}-group-{group.name}",
                realm_id=realm.id,
                name=group.name,
                attributes={POLICY_CLAIM: group.minio_policy},
                opts=opts,
            )
            for group in groups
        }

    def _demo_users(
        self,
        settings: Sequence[GroupSettings],
        groups: dict[str, keycloak.Group],
        realm: keycloak.Realm,
        opts: pulumi.ResourceOptions,
    ) -> dict[str, pulumi.Output[str]]:
        passwords: dict[str, pulumi.Output[str]] = {}
        for group in settings:
            username = f"demo-{group.name}"
            password = pulumi.Output.secret(
                random.RandomPassword(
                    f"{self._name}-{username}-password", length=20, opts=pulumi.ResourceOptions(parent=self)
                ).result
            )
            user = keycloak.User(
                f"{self._name}-{username}",
                realm_id=realm.id,
                username=username,
                email=f"{username}@example.invalid",
                email_verified=True,
                first_name="Demo",
                last_name=group.name,
                enabled=True,
                initial_password=keycloak.UserInitialPasswordArgs(value=password, temporary=False),
                opts=opts,
            )
            keycloak.GroupMemberships(
                f"{self._name}-{username}-membership",
                realm_id=realm.id,
                group_id=groups[group.name].id,
                members=[user.username],
                opts=opts,
            )
            passwords[username] = password
        return passwords
