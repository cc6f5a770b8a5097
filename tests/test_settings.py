"""Stack settings: defaults from the user's note, and one clear message per bad value."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pulumi
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from components.erasure import ErasureLayoutError, plan_erasure
from components.settings import (
    PROJECT,
    Environment,
    SettingsError,
    load_settings,
    settings_from_config,
)

MINIO_DIGEST = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:" + "a" * 64
NGINX_DIGEST = "nginx:1.28.0-alpine@sha256:" + "b" * 64
ALLOY_DIGEST = "grafana/alloy:v1.11.3@sha256:" + "c" * 64
SIGNIN_DIGEST = "registry.example.com/minio-platform/signin:1@sha256:" + "d" * 64
SECRETS = frozenset(
    {"tlsCertificate", "tlsPrivateKey", "keycloakAdminPassword", "keycloakAdminClientSecret", "grafanaAuth"}
)
NO_IDENTITIES = {"serviceAccounts": [], "identity": {"groups": []}}
"""For tests of the bucket list alone: the default accounts and groups name default buckets."""


def problems(values: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_from_config(values, secret_keys)
    return caught.value.problems


def the_problem(values: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> str:
    found = problems(values, secret_keys)
    assert len(found) == 1, found
    return found[0]


def prod(**changes: Any) -> dict[str, Any]:
    """A valid prod configuration, with top-level keys replaced by ``changes``."""
    values: dict[str, Any] = {
        "environment": "prod",
        "cluster": {"image": MINIO_DIGEST},
        "gateway": {
            "image": NGINX_DIGEST,
            "tls": "provided",
            "s3Host": "s3.example.com",
            "consoleHost": "example.com",
        },
        "identity": {"mode": "external", "url": "https://sso.example.com", "signinImage": SIGNIN_DIGEST},
        "observability": {
            "mode": "external",
            "prometheusUrl": "https://p.example.com",
            "lokiUrl": "https://l.example.com",
            "grafanaUrl": "https://g.example.com",
            "alloyImage": ALLOY_DIGEST,
        },
        "tlsCertificate": "-----BEGIN CERTIFICATE-----",
        "tlsPrivateKey": "-----BEGIN PRIVATE KEY-----",
        "keycloakAdminClientSecret": "a-service-accounts-secret-of-32-characters",
        "grafanaAuth": "glsa_service-account-token",
    }
    values.update(changes)
    return values


# --- defaults -----------------------------------------------------------------------------------


def test_defaults_follow_the_users_note():
    settings = settings_from_config({})
    assert settings.environment is Environment.DEV
    assert (settings.cluster.nodes, settings.cluster.drives_per_node) == (4, 1)
    assert str(settings.networks.storage_subnet) == "172.40.0.0/24"
    assert str(settings.networks.monitoring_subnet) == "172.31.0.0/24"
    assert str(settings.networks.database_subnet) == "172.23.0.0/24"
    assert settings.gateway.max_body_size == "5g"
    backups = next(b for b in settings.buckets if b.name == "backups-postgresql")
    assert backups.retention_days == 30
    assert backups.versioning is False  # the note's right-to-deletion default
    assert [a.name for a in settings.service_accounts] == ["backup-service"]


def test_note_subnet_outside_private_space_is_reported_not_refused():
    settings = settings_from_config({})
    assert list(settings.networks.non_private()) == ["storageSubnet"]


def test_a_valid_prod_configuration_is_accepted():
    settings = settings_from_config(prod(), SECRETS)
    assert settings.environment is Environment.PROD
    assert settings.secrets.tls_private_key is not None


def test_template_bucket_rules():
    per_bucket = the_problem({"serviceAccounts": [{"name": "reader", "policy": "bucket-readonly"}]})
    assert per_bucket == (
        f"{PROJECT}:serviceAccounts[0].buckets = []: "
        "template 'bucket-readonly' is per bucket: name at least one bucket"
    )
    everywhere = the_problem({"serviceAccounts": [{"name": "ops", "policy": "admin", "buckets": ["logs"]}]})
    assert everywhere.startswith(
        f"{PROJECT}:serviceAccounts[0].buckets = [\"logs\"]: template 'admin' applies"
    )


@pytest.mark.parametrize("name", ["prometheus-metrics", "minio-root", "platform-admin", "platform-auditor"])
def test_reserved_identity_names(name):
    message = the_problem({"serviceAccounts": [{"name": name, "policy": "admin"}]})
    assert message.startswith(f"{PROJECT}:serviceAccounts[0].name = {name!r}: a name other than")


# --- one message per bad value: key, value, what is allowed ---------------------------------------


def test_fewer_than_four_nodes():
    message = the_problem({"cluster": {"nodes": 3}})
    assert message.startswith(f"{PROJECT}:cluster.nodes = 3:")
    assert "at least 4" in message


def test_drive_count_minio_cannot_split_into_sets():
    message = the_problem({"cluster": {"nodes": 17}})
    assert message.startswith(f"{PROJECT}:cluster.nodes = 17:")
    assert "not divisible by any erasure set size from 2 to 16" in message


def test_drives_per_node_named_when_it_is_the_multiplier():
    message = the_problem({"cluster": {"nodes": 19, "drivesPerNode": 2}})
    assert message.startswith(f"{PROJECT}:cluster.drivesPerNode = 2:")


def test_parity_above_half_a_set():
    message = the_problem({"cluster": {"parity": 3}})
    assert message.startswith(f"{PROJECT}:cluster.parity = 3:")
    assert "EC:1 to EC:2" in message


@pytest.mark.parametrize(
    "name",
    [
        "Backups",
        "ab",
        "a" * 64,
        "-backups",
        "back..ups",
        "192.168.1.10",
        "xn--backups",
        "data-s3alias",
        "b_u",
    ],
)
def test_bucket_names_s3_rejects(name):
    message = the_problem({"buckets": [{"name": name, "retentionDays": 30}], **NO_IDENTITIES})
    assert message.startswith(f"{PROJECT}:buckets[0].name = {name!r}:")
    assert "not a valid S3 bucket name" in message


def test_duplicate_buckets():
    message = the_problem(
        {
            "buckets": [{"name": "logs", "retentionDays": 30}, {"name": "logs", "retentionDays": 7}],
            **NO_IDENTITIES,
        }
    )
    assert message == f"{PROJECT}:buckets[1].name = 'logs': bucket names must be unique"


@pytest.mark.parametrize("days", [0, -5])
def test_retention_must_be_positive(days):
    message = the_problem({"buckets": [{"name": "logs", "retentionDays": days}], **NO_IDENTITIES})
    assert message.startswith(f"{PROJECT}:buckets[0].retentionDays = {days}:")
    assert "greater than 0" in message


def test_service_account_with_unknown_template():
    message = the_problem({"serviceAccounts": [{"name": "app", "policy": "superuser"}]})
    assert message == (
        f"{PROJECT}:serviceAccounts[0].policy = 'superuser': "
        "one of the templates ['admin', 'auditor', 'backup-service', 'bucket-readonly', 'config-export', "
        "'metrics', 'platform-admin']"
    )


def test_service_account_with_unknown_bucket():
    message = the_problem(
        {"serviceAccounts": [{"name": "app", "policy": "bucket-readonly", "buckets": ["logs", "nope"]}]}
    )
    assert message.startswith(
        f"{PROJECT}:serviceAccounts[0].buckets[1] = 'nope': a bucket configured in buckets"
    )


def test_overlapping_subnets():
    message = the_problem({"networks": {"databaseSubnet": "172.40.0.128/25"}})
    assert message == (
        f"{PROJECT}:networks.databaseSubnet = '172.40.0.128/25': "
        "must not overlap storageSubnet (172.40.0.0/24); "
        "pick disjoint subnets"
    )


def test_a_log_subnet_too_small_for_the_gate_and_alloy_is_refused():
    message = the_problem({"networks": {"logSubnet": "172.24.0.0/30"}})
    assert message == (
        f"{PROJECT}:networks.logSubnet = '172.24.0.0/30': "
        "a /29 or larger: Docker's bridge, Alloy and the log gate"
    )
    settings_from_config({"networks": {"logSubnet": "172.24.0.8/29"}})


def test_subnet_with_host_bits_is_refused():
    message = the_problem({"networks": {"storageSubnet": "172.40.0.7/24"}})
    assert message.startswith(f"{PROJECT}:networks.storageSubnet = '172.40.0.7/24':")


def test_port_used_twice():
    message = the_problem({"observability": {"grafanaPort": 9000}})
    assert message.startswith(
        f"{PROJECT}:observability.grafanaPort = 9000: host port 9000 is already used by gateway.s3Port"
    )


def test_prod_without_tls_material():
    values = prod()
    del values["tlsCertificate"], values["tlsPrivateKey"]
    found = problems(values, SECRETS)
    assert [p.split(" = ")[0] for p in found] == [f"{PROJECT}:tlsCertificate", f"{PROJECT}:tlsPrivateKey"]
    assert all("required when gateway.tls is 'provided'" in p for p in found)


def test_prod_without_tls():
    message = the_problem(prod(gateway={"image": NGINX_DIGEST, "tls": "none"}), SECRETS)
    assert "set gateway.tls to 'provided'" in message
    assert message.startswith(f"{PROJECT}:gateway.tls = 'none': prod terminates TLS")


def test_prod_without_pinned_images():
    message = the_problem(
        prod(cluster={"image": "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"}), SECRETS
    )
    assert message.startswith(
        f"{PROJECT}:cluster.image = 'quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z':"
    )
    assert "by digest" in message


PROD_IMAGE_KEYS = {
    ("cluster", "image"): MINIO_DIGEST,
    ("gateway", "image"): NGINX_DIGEST,
    ("identity", "signinImage"): SIGNIN_DIGEST,
    ("observability", "prometheusImage"): "prom/prometheus:v3.7.3@sha256:" + "e" * 64,
    ("observability", "alertmanagerImage"): "prom/alertmanager:v0.28.1@sha256:" + "9" * 64,
    ("observability", "lokiImage"): "grafana/loki:3.5.8@sha256:" + "f" * 64,
    ("observability", "grafanaImage"): "grafana/grafana:12.2.1@sha256:" + "0" * 64,
    ("observability", "alloyImage"): ALLOY_DIGEST,
}
"""Every image a prod stack can deploy (the sign-in bridge, and the monitoring services with mode
deploy; Keycloak is never deployed in prod)."""


def prod_deploying_everything() -> dict[str, Any]:
    """A valid prod stack that runs every image it may itself (all but Keycloak's), each pinned by digest."""
    values = prod(
        observability={"mode": "deploy"},
        tlsCertificate="-----BEGIN CERTIFICATE-----",
    )
    del values["grafanaAuth"]
    for (section, key), ref in PROD_IMAGE_KEYS.items():
        values.setdefault(section, {})[key] = ref
    return values


def test_prod_deploying_every_image_pinned_by_digest_is_valid():
    settings = settings_from_config(prod_deploying_everything(), SECRETS)
    assert settings.observability.mode.value == "deploy"


@pytest.mark.parametrize(("section", "key"), list(PROD_IMAGE_KEYS), ids=lambda part: str(part))
def test_prod_refuses_each_image_key_without_a_digest(section, key):
    """Not only the cluster's: every image key prod deploys, one at a time, is named when it lacks
    a digest (the list is written here, not read from the settings, so a key the check forgets fails)."""
    values = prod_deploying_everything()
    tag_only = PROD_IMAGE_KEYS[(section, key)].split("@", 1)[0]
    values[section][key] = tag_only
    message = the_problem(values, SECRETS)
    assert message.startswith(f"{PROJECT}:{section}.{key} = {tag_only!r}:"), message
    assert "by digest" in message


@pytest.mark.parametrize(("ref", "why"), [("minio/minio", "not pinned"), ("minio/minio:latest", "'latest'")])
def test_unpinned_images_are_refused_in_every_stack(ref, why):
    assert why in the_problem({"cluster": {"image": ref}})


def test_secret_set_in_plain_text_is_refused_without_echoing_it():
    message = the_problem({"rootPassword": "hunter22-plain-text"})
    assert "rootPassword is set in plain text" in message
    assert "hunter22-plain-text" not in message


@pytest.mark.parametrize("password", ["short", "fifteen-chars-x"])
def test_short_root_password_is_refused_without_echoing_it(password):
    """The root user can do anything: 16 characters at least, not MinIO's own minimum of 8."""
    message = the_problem({"rootPassword": password}, frozenset({"rootPassword"}))
    assert message == (
        f"{PROJECT}:rootPassword = '[secret]': at least 16 characters (the root user can do anything; "
        "leave it unset to have a 40-character one generated)"
    )


def test_a_root_password_on_two_lines_is_refused_without_echoing_it():
    """The nodes read it from their secrets file, one ``KEY="value"`` line per secret."""
    password = "first-line-of-it\nsecond-line"
    message = the_problem({"rootPassword": password}, frozenset({"rootPassword"}))
    assert (
        message
        == f"{PROJECT}:rootPassword = '[secret]': one line: the nodes read it from a file, line by line"
    )
    assert "first-line" not in message


@pytest.mark.parametrize(
    "secret",
    [
        "a-service-accounts-secret-${env:HOME}-32",
        "a-service-accounts-secret-with-a-\\-in-it",
        "a-service-accounts-secret-of-32-characters\nkc-db=postgres",
        " a-service-accounts-secret-of-32-characters",
    ],
)
def test_a_keycloak_client_secret_its_properties_file_would_change_is_refused(secret):
    values = prod(identity={"mode": "deploy"}, keycloakAdminClientSecret=secret)
    found = [
        p
        for p in problems(values, frozenset({"keycloakAdminClientSecret"}))
        if "keycloakAdminClientSecret" in p
    ]
    assert found and "Keycloak reads it from a properties file" in found[0], found
    assert secret.strip() not in found[0]


def test_a_sixteen_character_root_password_is_accepted():
    settings = settings_from_config({"rootPassword": "sixteen-chars-xy"}, frozenset({"rootPassword"}))
    assert len(settings.secrets.root_password.get_secret_value()) == 16


def test_the_gateway_binds_to_loopback_unless_told_otherwise():
    """Nothing is published beyond this machine by default; beyond loopback, plain HTTP is for dev
    only: prod requires TLS (gateway.tls provided) whatever the address."""
    assert str(settings_from_config({}).gateway.bind_address) == "127.0.0.1"
    plain_public = prod(gateway={"image": NGINX_DIGEST, "tls": "none", "bindAddress": "0.0.0.0"})  # noqa: S104
    assert "set gateway.tls to 'provided'" in the_problem(plain_public, SECRETS)


def test_unknown_key_is_named():
    message = the_problem({"clustre": {"nodes": 4}})
    assert message.startswith(f"{PROJECT}:clustre: unknown key")


def test_unknown_field_inside_a_section_is_named():
    message = the_problem({"cluster": {"node": 4}})
    assert message.startswith(f"{PROJECT}:cluster.node = 4:")


def test_every_problem_is_reported_at_once():
    found = problems({"cluster": {"nodes": 3}, "gateway": {"maxBodySize": "5 gigabytes"}})
    assert [p.split(" = ")[0] for p in found] == [
        f"{PROJECT}:cluster.nodes",
        f"{PROJECT}:gateway.maxBodySize",
    ]


def test_rules_between_sections_are_all_reported_together():
    """A duplicate bucket and a port clash: both, not the first one found."""
    found = problems(
        {
            "buckets": [{"name": "logs", "retentionDays": 30}, {"name": "logs", "retentionDays": 7}],
            **NO_IDENTITIES,
            "gateway": {"httpPort": 9000, "s3Port": 9000},
        }
    )
    assert [p.split(" = ")[0] for p in found] == [f"{PROJECT}:buckets[1].name", f"{PROJECT}:gateway.s3Port"]


def test_rules_between_sections_run_beside_a_section_that_is_wrong():
    """A field error in the cluster does not hide a duplicate bucket; the groups' rule, which reads
    the broken bucket list, is left out rather than reported against defaults."""
    found = problems(
        {
            "cluster": {"nodes": 3},
            "buckets": [{"name": "logs", "retentionDays": 30}, {"name": "logs", "retentionDays": 7}],
            **NO_IDENTITIES,
        }
    )
    assert [p.split(" = ")[0] for p in found] == [f"{PROJECT}:cluster.nodes", f"{PROJECT}:buckets[1].name"]
    only_the_name = problems({"buckets": [{"name": "Bad_Name", "retentionDays": 30}]})
    assert [p.split(" = ")[0] for p in only_the_name] == [f"{PROJECT}:buckets[0].name"]


def test_unknown_keys_and_plain_text_secrets_come_with_the_rest():
    found = problems({"clustre": {}, "rootPassword": "correct-horse-battery", "cluster": {"nodes": 3}})
    assert [p.split(" = ")[0].split(" ")[0].rstrip(":") for p in found] == [
        f"{PROJECT}:clustre",
        f"{PROJECT}:rootPassword",
        f"{PROJECT}:cluster.nodes",
    ]


def test_every_overlapping_subnet_is_named():
    found = problems({"networks": {"monitoringSubnet": "172.40.0.0/24", "databaseSubnet": "172.40.0.0/25"}})
    assert [p.split(" = ")[0] for p in found] == [
        f"{PROJECT}:networks.monitoringSubnet",
        f"{PROJECT}:networks.databaseSubnet",
        f"{PROJECT}:networks.databaseSubnet",
    ]


def test_prod_signs_in_to_keycloak_as_a_service_account_only():
    values = prod()
    del values["keycloakAdminClientSecret"]
    message = the_problem(values, SECRETS)
    assert message.startswith(
        f"{PROJECT}:keycloakAdminClientSecret = None: required in prod with identity.mode external"
    )
    # A person's password does not stand in for it in prod, and is refused beside it.
    values["keycloakAdminPassword"] = "correct-horse-battery"
    assert problems(values, SECRETS) == [message]
    message = the_problem(prod(keycloakAdminPassword="correct-horse-battery"), SECRETS)
    assert message.startswith(f"{PROJECT}:keycloakAdminPassword = '(set)': not used in prod")


def test_outside_prod_an_existing_keycloak_takes_one_way_to_sign_in():
    external = {"identity": {"mode": "external", "url": "https://sso.example.com"}}
    message = the_problem(external, SECRETS)
    assert message.startswith(f"{PROJECT}:keycloakAdminClientSecret = None: required with identity.mode")
    secret = {"keycloakAdminClientSecret": "a-service-accounts-secret-of-32-characters"}
    password = {"keycloakAdminPassword": "correct-horse-battery"}
    assert settings_from_config({**external, **secret}, SECRETS).identity.admin_client_id == (
        "minio-platform-automation"
    )
    assert settings_from_config({**external, **password}, SECRETS).identity.admin_user == "admin"
    message = the_problem({**external, **secret, **password}, SECRETS)
    assert "set keycloakAdminClientSecret or keycloakAdminPassword, not both" in message


def test_prod_refuses_a_deployed_keycloak():
    pinned = "quay.io/keycloak/keycloak:26.7.3@sha256:" + "d" * 64
    message = the_problem(
        prod(identity={"mode": "deploy", "image": pinned, "signinImage": SIGNIN_DIGEST}), SECRETS
    )
    assert message.startswith(f"{PROJECT}:identity.mode = 'deploy': prod configures an existing Keycloak")


def test_a_short_service_account_secret_is_refused():
    message = the_problem(prod(keycloakAdminClientSecret="x" * 31), SECRETS)
    assert message.startswith(f"{PROJECT}:keycloakAdminClientSecret")
    assert "at least 32 characters" in message


def test_default_groups_map_to_the_issue_policies():
    settings = settings_from_config({})
    groups = {g.name: (g.minio_policy, settings.group_buckets(g)) for g in settings.identity.groups}
    assert groups == {
        "storage-admins": ("consoleAdmin", ()),
        "storage-readonly": ("storage-readonly-policy", ("backups-postgresql", "logs", "application-files")),
        "backup-operators": ("backup-operators-policy", ("backups-postgresql",)),
    }


def test_dropping_a_bucket_a_default_group_names_is_reported():
    message = the_problem({"buckets": [{"name": "logs", "retentionDays": 9}], "serviceAccounts": []})
    assert message == (
        f"{PROJECT}:identity.groups[2].buckets[0] = 'backups-postgresql': "
        "a bucket configured in buckets: ['logs']"
    )


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ({"name": "ops", "policy": "superuser"}, "a MinIO built-in"),
        ({"name": "ops", "policy": "consoleAdmin", "buckets": ["logs"]}, "takes no buckets"),
    ],
)
def test_group_policy_must_exist_and_fit(group, message):
    assert message in the_problem({"identity": {"groups": [group]}})


def test_external_identity_needs_a_url():
    message = the_problem({"identity": {"mode": "external"}})
    assert message.startswith(f"{PROJECT}:identity.url = None:")


@pytest.mark.parametrize("mode", ["deploy", "metrics"])
def test_an_existing_services_url_where_the_stack_runs_its_own_is_a_warning(mode):
    """Modes deploy and metrics read no prometheusUrl, lokiUrl or grafanaUrl (mode none refuses
    them, mode external needs them): a stack file that sets one hears that it is ignored."""
    urls = {"prometheusUrl": "https://p.example.com", "grafanaUrl": "https://g.example.com"}
    warnings = settings_from_config({"observability": {"mode": mode, **urls}}).warnings()
    ignored = [w for w in warnings if "is read only in mode external" in w]
    assert ignored == [
        f"observability.prometheusUrl (https://p.example.com) is read only in mode external; in mode {mode} "
        "the stack runs its own services, so it is ignored",
        f"observability.grafanaUrl (https://g.example.com) is read only in mode external; in mode {mode} "
        "the stack runs its own services, so it is ignored",
    ]
    assert not [w for w in settings_from_config(prod(), SECRETS).warnings() if "observability" in w]


# --- property-based ------------------------------------------------------------------------------


@given(nodes=st.integers(-2, 40), drives=st.integers(0, 20), parity=st.none() | st.integers(0, 9))
def test_cluster_shape_accepted_exactly_when_minio_could_form_it(nodes, drives, parity):
    cluster: dict[str, Any] = {"nodes": nodes, "drivesPerNode": drives}
    if parity is not None:
        cluster["parity"] = parity
    try:
        # One node is single-node mode; parity, when given, is at least EC:1 (one drive takes none).
        possible = (
            (nodes == 1 or 4 <= nodes <= 32)
            and 1 <= drives <= 16
            and parity != 0
            and bool(plan_erasure(nodes, drives, parity))
        )
    except ErasureLayoutError:
        possible = False
    try:
        settings_from_config({"cluster": cluster})
    except SettingsError as err:
        assert not possible, err
        assert all(p.startswith(f"{PROJECT}:cluster.") for p in err.problems)
    else:
        assert possible


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@given(
    labels=st.lists(_LABEL, min_size=1, max_size=4), separators=st.lists(st.sampled_from(".-"), max_size=3)
)
def test_well_formed_bucket_names_are_accepted(labels, separators):
    name = labels[0] + "".join(sep + label for sep, label in zip(separators, labels[1:], strict=False))
    assume(3 <= len(name) <= 63 and not name.startswith("xn--") and not name.endswith("-s3alias"))
    try:
        ipaddress.IPv4Address(name)
        assume(False)
    except ValueError:
        pass
    settings = settings_from_config({"buckets": [{"name": name, "retentionDays": 1}], **NO_IDENTITIES})
    assert settings.buckets[0].name == name


@given(name=st.text(min_size=0, max_size=70))
def test_accepted_bucket_names_satisfy_s3_rules(name):
    try:
        settings_from_config({"buckets": [{"name": name, "retentionDays": 1}], **NO_IDENTITIES})
    except SettingsError as err:
        assert err.problems[0].startswith(f"{PROJECT}:buckets[0].name")
        return
    assert 3 <= len(name) <= 63
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-")
    assert name[0].isalnum() and name[-1].isalnum()
    assert ".." not in name


_SUBNET = st.builds(
    lambda a, b, prefix: ipaddress.IPv4Network((f"172.{a}.{b}.0", prefix), strict=False),
    st.integers(16, 31),
    st.integers(0, 255),
    st.sampled_from([16, 20, 24, 26]),
)


@given(storage=_SUBNET, monitoring=_SUBNET, database=_SUBNET, log=_SUBNET)
def test_subnets_accepted_exactly_when_disjoint(storage, monitoring, database, log):
    nets = [storage, monitoring, database, log]
    disjoint = not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    values = {
        "networks": {
            "storageSubnet": str(storage),
            "monitoringSubnet": str(monitoring),
            "databaseSubnet": str(database),
            "logSubnet": str(log),
        }
    }
    try:
        settings_from_config(values)
    except SettingsError as err:
        assert not disjoint
        assert "must not overlap" in err.problems[0]
    else:
        assert disjoint


@given(ports=st.lists(st.integers(1, 65535), min_size=5, max_size=5))
def test_published_ports_accepted_exactly_when_distinct(ports):
    http, s3, keycloak, prometheus, grafana = ports
    values = {
        "gateway": {"httpPort": http, "s3Port": s3},
        "identity": {"port": keycloak},
        "observability": {"prometheusPort": prometheus, "grafanaPort": grafana},
    }
    try:
        settings_from_config(values)
    except SettingsError as err:
        assert len(set(ports)) < 5
        assert "is already used by" in err.problems[0]
    else:
        assert len(set(ports)) == 5


@given(tail=st.text(min_size=0, max_size=30))
def test_secret_values_never_appear_in_messages(tail):
    # A distinctive prefix: the check must find the value only if the message echoes it.
    password = "Qz7" + tail
    for secret_keys in (frozenset(), frozenset({"rootPassword"})):
        try:
            settings_from_config({"rootPassword": password, "cluster": {"nodes": 3}}, secret_keys)
        except SettingsError as err:
            assert password not in str(err)


# --- reading pulumi.Config ------------------------------------------------------------------------


@pytest.fixture
def stack_config():
    def apply(values: dict[str, Any], secret: tuple[str, ...] = ()) -> None:
        encoded = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        pulumi.runtime.set_all_config(encoded, [f"{PROJECT}:{k}" for k in secret])

    yield apply
    pulumi.runtime.set_all_config({}, [])


def test_load_settings_reads_objects_and_secrets(stack_config):
    stack_config(
        {"cluster": {"nodes": 8, "drivesPerNode": 2}, "rootPassword": "correct-horse-battery"},
        secret=("rootPassword",),
    )
    settings = load_settings()
    assert settings.cluster.layout[0].erasure.set_size == 16
    assert settings.secrets.root_password.get_secret_value() == "correct-horse-battery"


def test_load_settings_knows_a_plain_text_secret(stack_config):
    stack_config({"rootPassword": "correct-horse"})
    with pytest.raises(SettingsError, match="rootPassword is set in plain text"):
        load_settings()


def test_load_settings_names_an_object_key_holding_garbage(stack_config):
    stack_config({"cluster": "nodes=4", "gateway": {"httpPort": 0}})
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems == [
        f"{PROJECT}:cluster = 'nodes=4': a YAML object or list is expected",
        f"{PROJECT}:gateway.httpPort = 0: Input should be greater than or equal to 1",
    ]


@pytest.mark.parametrize(
    ("key", "value"), [("metricsTokenDays", 0), ("metricsTokenDays", 367), ("metricsSecretGeneration", 0)]
)
def test_metrics_token_settings_out_of_range_are_refused_naming_the_key(key, value):
    message = the_problem({"observability": {key: value}})
    assert message.startswith(f"{PROJECT}:observability.{key} = {value!r}:"), message
