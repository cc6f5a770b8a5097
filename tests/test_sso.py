"""Keycloak single sign-on on the mocked graph: client, claim, groups, MinIO wiring, secrets."""

from __future__ import annotations

import uuid

import pytest

from components.conventions import SECRET_FILE_MODE
from components.sso import BUILTIN_DEFAULT_SCOPES, POLICY_SCOPE
from synth.mocks import is_secret
from tests.graph import CONTAINER, env_of, minio_nodes, minio_settings_of, named_volumes, plain, uploads_of

CLIENT = "keycloak:openid/client:Client"
DEFAULT_SCOPES = "keycloak:openid/clientDefaultScopes:ClientDefaultScopes"
MAPPER = "keycloak:openid/userAttributeProtocolMapper:UserAttributeProtocolMapper"
SCOPE = "keycloak:openid/clientScope:ClientScope"
REALM = "keycloak:index/realm:Realm"
PROFILE = "keycloak:index/realmUserProfile:RealmUserProfile"
GROUP = "keycloak:index/group:Group"
USER = "keycloak:index/user:User"
MEMBERSHIPS = "keycloak:index/groupMemberships:GroupMemberships"
USER_ROLES = "keycloak:index/userRoles:UserRoles"
VOLUME = "docker:index/volume:Volume"
PROVIDER = "pulumi:providers:keycloak"


def one(synthesis, type_):
    (resource,) = synthesis.of_type(type_)
    return resource


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_confidential_client_with_standard_flow_only(synth, stack):
    synthesis = synth(stack)
    client = one(synthesis, CLIENT).inputs
    console = synthesis.outputs["console_url"]
    assert client["clientId"] == "minio-console"
    assert client["accessType"] == "CONFIDENTIAL"
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    origin = console.removesuffix("/minio-console")
    # dev signs in through the bridge on the console's origin; prod as shipped keeps the form.
    callback = f"{origin}/sso/callback" if stack == "dev" else f"{console}/oauth_callback"
    assert client["validRedirectUris"] == [callback]
    assert client["validPostLogoutRedirectUris"] == [console]
    assert client["webOrigins"] == [origin]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_client_secret_is_generated_secret_and_shared_with_minio(synth, stack):
    synthesis = synth(stack)
    client = one(synthesis, CLIENT)
    assert is_secret(client.inputs["clientSecret"])
    secret = plain(client.inputs["clientSecret"])
    assert len(secret) >= 32
    for node in minio_nodes(synthesis.resources):
        assert minio_settings_of(synthesis, node)["MINIO_IDENTITY_OPENID_CLIENT_SECRET"] == secret
        assert "MINIO_IDENTITY_OPENID_CLIENT_SECRET" not in env_of(node)
    assert "MINIO_IDENTITY_OPENID_CLIENT_SECRET=[secret]" in synthesis.files["minio.env"]


def test_policy_claim_mapper_aggregates_group_attributes(synth):
    synthesis = synth("dev")
    scope = one(synthesis, SCOPE)
    mapper = one(synthesis, MAPPER).inputs
    assert mapper["clientScopeId"] == f"{scope.name}-id"
    assert (mapper["userAttribute"], mapper["claimName"]) == ("policy", "policy")
    assert mapper["multivalued"] is True
    assert mapper["aggregateAttributes"] is True
    assert mapper["addToIdToken"] is True and mapper["addToAccessToken"] is True


def test_policy_scope_is_a_default_scope_beside_the_builtins(synth):
    synthesis = synth("dev")
    default_scopes = one(synthesis, DEFAULT_SCOPES)
    assert default_scopes.inputs["clientId"] == one(synthesis, CLIENT).state["id"]  # the client's UUID
    assert default_scopes.inputs["defaultScopes"] == [*BUILTIN_DEFAULT_SCOPES, POLICY_SCOPE]
    assert {"profile", "email", "roles", "web-origins"} <= set(default_scopes.inputs["defaultScopes"])


def test_user_profile_declares_policy_for_admins_only(synth):
    attributes = {a["name"]: a for a in one(synth("dev"), PROFILE).inputs["attributes"]}
    assert {"username", "email", "firstName", "lastName", "policy"} <= set(attributes)
    policy = attributes["policy"]
    assert policy["multiValued"] is True
    assert policy["permissions"] == {"views": ["admin"], "edits": ["admin"]}


def test_groups_carry_their_minio_policy(synth):
    groups = {g.inputs["name"]: g.inputs["attributes"] for g in synth("dev").of_type(GROUP)}
    assert groups == {
        "storage-admins": {"policy": "consoleAdmin"},
        "storage-readonly": {"policy": "storage-readonly-policy"},
        "backup-operators": {"policy": "backup-operators-policy"},
    }


def test_group_policies_exist_in_minio(synth):
    names = {p.inputs["name"] for p in synth("dev").of_type("minio:index/iamPolicy:IamPolicy")}
    assert {"storage-readonly-policy", "backup-operators-policy"} <= names


@pytest.mark.parametrize(
    ("stack", "config_url"),
    [
        ("dev", "http://keycloak:8080/realms/minio/.well-known/openid-configuration"),
        ("prod", "https://sso.example.com/realms/minio/.well-known/openid-configuration"),
    ],
)
def test_every_node_carries_the_identical_openid_settings(synth, stack, config_url):
    nodes = minio_nodes(synth(stack).resources)
    for node in nodes:
        env = env_of(node)
        assert env["MINIO_IDENTITY_OPENID_CONFIG_URL"] == config_url
        assert env["MINIO_IDENTITY_OPENID_CLIENT_ID"] == "minio-console"
        assert env["MINIO_IDENTITY_OPENID_CLAIM_NAME"] == "policy"
        assert env["MINIO_IDENTITY_OPENID_SCOPES"] == "openid,profile,email"
        assert env["MINIO_IDENTITY_OPENID_DISPLAY_NAME"] == "Keycloak"
    assert len({tuple(sorted(env_of(n).items())) for n in nodes}) == 1


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_minio_nodes_wait_for_realm_and_client(synth, stack):
    synthesis = synth(stack)
    realm, client = one(synthesis, REALM), one(synthesis, CLIENT)
    mapper, scopes = one(synthesis, MAPPER), one(synthesis, DEFAULT_SCOPES)
    for node in minio_nodes(synthesis.resources):
        assert {realm.urn, client.urn, mapper.urn, scopes.urn} <= set(node.dependencies)


def test_dev_runs_keycloak_with_one_issuer_for_browser_and_minio(synth):
    synthesis = synth("dev")
    keycloak = synthesis.named(CONTAINER, "minio-sso-keycloak-container").inputs
    env = dict(e.split("=", 1) for e in plain(keycloak["envs"]))
    assert env["KC_HOSTNAME"] == "http://localhost:8080"
    assert env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    # Found on the real engine: Keycloak 26.7's start-dev binds localhost alone, and the provider's
    # first token request through the published port was reset.
    assert env["KC_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 (every interface of the container, on purpose)
    assert synthesis.outputs["sso_issuer_url"] == f"{env['KC_HOSTNAME']}/realms/minio"
    assert keycloak["command"] == ["start-dev"]
    assert keycloak["ports"] == [
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"}
    ] or [{k: v for k, v in p.items() if k != "protocol"} for p in keycloak["ports"]] == [
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1"}
    ]
    assert {n["name"] for n in keycloak["networksAdvanced"]} == {"storage-net", "monitoring-net"}
    assert keycloak["wait"] is True and "health/ready" in keycloak["healthcheck"]["tests"][-1]


def test_dev_automation_signs_in_as_keycloaks_bootstrap_service_account(synth):
    """Client credentials of the temporary admin service account Keycloak makes from
    KC_BOOTSTRAP_ADMIN_CLIENT_*; no bootstrap user, and no person's password in the provider."""
    synthesis = synth("dev")
    keycloak = synthesis.named(CONTAINER, "minio-sso-keycloak-container")
    provider = one(synthesis, PROVIDER)
    assert not is_secret(keycloak.inputs["envs"])
    env = env_of(keycloak)
    assert not {
        "KC_BOOTSTRAP_ADMIN_USERNAME",
        "KC_BOOTSTRAP_ADMIN_PASSWORD",
        "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET",
    } & set(env)
    assert provider.inputs["clientId"] == env["KC_BOOTSTRAP_ADMIN_CLIENT_ID"] == "minio-platform-automation"
    assert is_secret(provider.inputs["clientSecret"])
    # The secret in the properties file KC_CONFIG_FILE names, readable through group 0.
    assert keycloak.inputs["user"] == "1000:0"
    conf = uploads_of(synthesis, keycloak)[env["KC_CONFIG_FILE"]]
    assert conf["permissions"] == SECRET_FILE_MODE
    settings = dict(
        line.split("=", 1) for line in conf["content"].splitlines() if line and not line.startswith("#")
    )
    assert settings == {"bootstrap-admin-client-secret": plain(provider.inputs["clientSecret"])}
    assert len(settings["bootstrap-admin-client-secret"]) >= 32
    assert "username" not in provider.inputs and "password" not in provider.inputs
    assert provider.inputs["url"] == "http://localhost:8080"
    assert provider.inputs["initialLogin"] == "false"
    assert keycloak.urn in provider.dependencies


def test_dev_the_persons_admin_is_a_permanent_user_with_the_admin_role(synth):
    synthesis = synth("dev")
    (admin,) = [u for u in synthesis.of_type(USER) if u.inputs["realmId"] == "master"]
    assert admin.inputs["username"] == synthesis.outputs["keycloak_admin_user"] == "admin"
    assert is_secret(admin.inputs["initialPassword"]) or is_secret(admin.inputs["initialPassword"]["value"])
    assert plain(admin.inputs["initialPassword"]) == {
        "value": plain(synthesis.outputs["keycloak_admin_password"]),
        "temporary": False,
    }
    (roles,) = synthesis.of_type(USER_ROLES)
    assert roles.inputs["realmId"] == "master" and roles.inputs["exhaustive"] is False
    assert roles.inputs["userId"] == f"{admin.name}-id"  # the user's id, as the mocks give ids
    # The mocks answer getRole with the id of the role asked for: the master realm's admin.
    assert roles.inputs["roleIds"] == [str(uuid.uuid5(uuid.NAMESPACE_URL, "master/admin"))]
    assert admin.provider == roles.provider and admin.provider.startswith(one(synthesis, PROVIDER).urn)


def test_dev_keycloak_keeps_its_state_on_a_volume_that_goes_with_the_stack(synth):
    synthesis = synth("dev")
    keycloak = synthesis.named(CONTAINER, "minio-sso-keycloak-container")
    volume = synthesis.named(VOLUME, "minio-sso-keycloak-data")
    assert named_volumes(keycloak) == [{"volumeName": "keycloak-data", "containerPath": "/opt/keycloak/data"}]
    assert volume.inputs["name"] == "keycloak-data"
    # Destroyed with the stack: a later up must not meet the old realm and bootstrap secret.
    assert not volume.options.get("retainOnDelete") and not volume.options.get("protect")


def test_prod_uses_the_existing_keycloak_as_a_service_account(synth):
    synthesis = synth("prod")
    assert not any(c.inputs["name"] == "keycloak" for c in synthesis.of_type(CONTAINER))
    assert not [u for u in synthesis.of_type(USER) if u.inputs["realmId"] == "master"]
    provider = one(synthesis, PROVIDER)
    assert provider.inputs["url"] == "https://sso.example.com"
    assert provider.inputs["clientId"] == "pulumi-minio-platform"
    assert plain(provider.inputs["clientSecret"]) == "offline-synth-placeholder-for-keycloakAdminClientSecret"
    assert is_secret(provider.inputs["clientSecret"])
    assert "username" not in provider.inputs and "password" not in provider.inputs
    assert one(synthesis, REALM).inputs["sslRequired"] == "all"
    assert synthesis.outputs["sso_issuer_url"] == "https://sso.example.com/realms/minio"


def test_dev_with_an_existing_keycloak_may_sign_in_with_a_password(synth):
    synthesis = synth(
        "dev",
        {
            "identity": {"mode": "external", "url": "https://sso.example.com"},
            "keycloakAdminPassword": {"secure": "v1:not-ciphertext"},
        },
    )
    provider = one(synthesis, PROVIDER)
    assert provider.inputs["clientId"] == "admin-cli" and provider.inputs["username"] == "admin"
    assert is_secret(provider.inputs["password"]) and "clientSecret" not in provider.inputs


def test_dev_demo_users_one_per_group_with_secret_passwords(synth):
    synthesis = synth("dev")
    users = {u.inputs["username"]: u for u in synthesis.of_type(USER) if u.inputs["realmId"] != "master"}
    assert set(users) == {"demo-storage-admins", "demo-storage-readonly", "demo-backup-operators"}
    for user in users.values():
        assert is_secret(user.inputs["initialPassword"]["value"]) or is_secret(user.inputs["initialPassword"])
        assert plain(user.inputs["initialPassword"])["temporary"] is False
    members = {plain(m.inputs["groupId"]): m.inputs["members"] for m in synthesis.of_type(MEMBERSHIPS)}
    assert members == {
        "minio-sso-group-storage-admins-id": ["demo-storage-admins"],
        "minio-sso-group-storage-readonly-id": ["demo-storage-readonly"],
        "minio-sso-group-backup-operators-id": ["demo-backup-operators"],
    }
    assert is_secret(synthesis.outputs["sso_demo_users"])
    assert set(plain(synthesis.outputs["sso_demo_users"])) == set(users)


def test_prod_has_no_demo_users(synth):
    synthesis = synth("prod")
    assert not synthesis.of_type(USER)
    assert "sso_demo_users" not in synthesis.outputs


def test_login_url_is_the_bridges_sign_in_or_the_console_form(synth):
    assert synth("dev").outputs["sso_login_url"] == "http://localhost/sso/login"
    assert synth("prod").outputs["sso_login_url"] == "https://storage.example.com/minio-console/login"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_realm_defends_itself(synth, stack):
    """Brute-force detection with a temporary lock-out, short tokens, bounded sessions, PKCE."""
    synthesis = synth(stack)
    realm = one(synthesis, REALM).inputs
    detection = realm["securityDefenses"]["bruteForceDetection"]
    assert detection == {
        "maxLoginFailures": 5,
        "waitIncrementSeconds": 60,
        "maxFailureWaitSeconds": 900,
        "failureResetTimeSeconds": 43200,
        "quickLoginCheckMilliSeconds": 1000,
        "minimumQuickLoginWaitSeconds": 60,
        "permanentLockout": False,
    }
    assert (realm["accessTokenLifespan"], realm["ssoSessionIdleTimeout"], realm["ssoSessionMaxLifespan"]) == (
        "5m",
        "30m",
        "10h",
    )
    assert one(synthesis, CLIENT).inputs["pkceCodeChallengeMethod"] == "S256"
