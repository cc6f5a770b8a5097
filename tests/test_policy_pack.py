"""The policy pack: each rule passes a good resource and flags a bad one; both stacks pass."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies" / "pack"
sys.path.insert(0, str(PACK))  # the pack imports its modules as siblings, as the CLI runs it

import crossguard  # noqa: E402
import rules  # noqa: E402
from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import (  # noqa: E402
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)
from rules import Resource  # noqa: E402

from components.policies import policy_json, render_policy  # noqa: E402
from components.settings import DEFAULT_MINIO_IMAGE, SettingsError  # noqa: E402
from synth.manifest import render_documents  # noqa: E402

MINIO_LABELS = [{"label": "com.minio-platform.role", "value": "minio"}]
GATEWAY_LABELS = [{"label": "com.minio-platform.role", "value": "gateway"}]


def node(**props) -> Resource:
    return Resource(rules.CONTAINER, "minio1", {"labels": MINIO_LABELS, **props})


# --- each rule: one resource that passes, one that violates ---------------------------------------


def test_minio_nodes_publish_no_ports():
    assert rules.minio_nodes_publish_no_ports(node()) == []
    assert rules.minio_nodes_publish_no_ports(node(ports=[{"internal": 9000, "external": 9000}]))
    assert rules.minio_nodes_publish_no_ports(node(publishAllPorts=True))
    gateway = Resource(rules.CONTAINER, "gateway", {"labels": GATEWAY_LABELS, "ports": [{"internal": 80}]})
    assert rules.minio_nodes_publish_no_ports(gateway) == []


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", True),
        ("nginx:1.28.0-alpine@sha256:" + "a" * 64, True),
        ("localhost:5000/minio@sha256:" + "b" * 64, True),
        ("sha256:" + "c" * 64, True),
        ("nginx:latest", False),
        ("nginx", False),
        ("localhost:5000/minio", False),
    ],
)
def test_images_pinned(reference, pinned):
    image = Resource(rules.REMOTE_IMAGE, "img", {"name": reference})
    assert (rules.images_pinned(image) == []) is pinned


def test_buckets_have_lifecycle():
    bucket = Resource(rules.BUCKET, "b", {"bucket": "logs"})
    lifecycle = Resource(rules.LIFECYCLE, "l", {"bucket": "logs"})
    assert rules.buckets_have_lifecycle([bucket, lifecycle]) == []
    assert rules.buckets_have_lifecycle([bucket]) == ["bucket logs has no lifecycle policy"]


def test_no_wildcard_grants_except_the_admin_template():
    admin = Resource(rules.IAM_POLICY, "ops", {"policy": policy_json(render_policy("admin"))})
    backup = Resource(
        rules.SERVICE_ACCOUNT, "k", {"policy": policy_json(render_policy("backup-service", ["b1"]))}
    )
    assert rules.no_wildcard_grants(admin) == []
    assert rules.no_wildcard_grants(backup) == []
    sneaky = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b1/*"]}],
    }
    assert rules.no_wildcard_grants(Resource(rules.IAM_POLICY, "p", {"policy": json.dumps(sneaky)}))
    admin_like = render_policy("admin")
    admin_like["Statement"].append(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::x/*"]}
    )
    assert rules.no_wildcard_grants(Resource(rules.IAM_POLICY, "p", {"policy": json.dumps(admin_like)}))


def test_credentials_are_secret():
    assert (
        rules.credentials_are_secret(Resource(rules.MINIO_PROVIDER, "p", {"minioPassword": "[secret]"})) == []
    )
    assert rules.credentials_are_secret(Resource(rules.MINIO_PROVIDER, "p", {"minioPassword": "hunter22"}))
    assert rules.credentials_are_secret(node(envs="[secret]")) == []
    assert rules.credentials_are_secret(node(envs=["MINIO_ROOT_USER=root", "MINIO_ROOT_PASSWORD=hunter22"]))
    assert rules.credentials_are_secret(Resource(rules.KEYCLOAK_CLIENT, "c", {"clientSecret": "abc"}))
    assert rules.credentials_are_secret(Resource(rules.GRAFANA_PROVIDER, "g", {"auth": "admin:hunter22"}))
    assert rules.credentials_are_secret(node(envs=["GF_SECURITY_ADMIN_PASSWORD=hunter22"]))
    key_upload = {"file": "/etc/nginx/tls/tls.key", "content": "-----BEGIN PRIVATE KEY-----"}
    assert rules.credentials_are_secret(Resource(rules.CONTAINER, "gateway", {"uploads": [key_upload]}))


@pytest.mark.parametrize(
    "entry",
    [
        "MINIO_ROOT_PASSWORD=hunter22",
        "MINIO_KMS_SECRET_KEY=minio-platform-sse:a2V5",
        "MINIO_IDENTITY_OPENID_CLIENT_SECRET=abc",
        "MINIO_AUDIT_WEBHOOK_AUTH_TOKEN_alloy=Bearer abc",
        "MINIO_SECRET_KEY=legacy",
        "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET=abc",
        "KC_DB_PASSWORD=abc",
        "GF_SECURITY_ADMIN_PASSWORD=abc",
        "LOKI_BEARER_TOKEN=abc",
        "POSTGRES_PASSWORD=abc",
        "my_api_key=abc",
        "MC_HOST_backup=https://backup:s3cret-key@minio1:9000",
    ],
)
def test_no_secrets_in_environment_refuses_a_secret_looking_variable(entry):
    (found,) = rules.no_secrets_in_environment(node(envs=["MINIO_ROOT_USER=root", entry]))
    key = entry.split("=", 1)[0]
    assert f"sets {key}" in found and "file" in found
    assert entry.split("=", 1)[1] not in found, "the message repeats the secret"


def test_no_secrets_in_environment_passes_paths_to_secret_files_and_plain_settings():
    plain_settings = [
        "MINIO_ROOT_USER=minio-root",
        "MINIO_CONFIG_ENV_FILE=/run/secrets/minio-config.env",
        "MINIO_ROOT_PASSWORD_FILE=/run/secrets/root-password",
        "GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana-admin-password",
        "KC_CONFIG_FILE=/run/secrets/keycloak.conf",
        "SIGNIN_CLIENT_SECRET_FILE=/run/signin/client-secret",
        "MC_HOST_local=https://localhost:9000",
        "MINIO_IDENTITY_OPENID_CONFIG_URL=http://keycloak:8080/realms/minio/.well-known/openid-configuration",
    ]
    assert rules.no_secrets_in_environment(node(envs=plain_settings)) == []
    assert rules.no_secrets_in_environment(node()) == []
    # A secret element makes the synth manifest mark the whole list: that is a secret in the environment.
    assert rules.no_secrets_in_environment(node(envs="[secret]"))
    assert rules.no_secrets_in_environment(Resource(rules.BUCKET, "b", {"envs": ["X_TOKEN=1"]})) == []


def test_no_new_privileges():
    assert rules.no_new_privileges(node(securityOpts=["no-new-privileges:true"])) == []
    assert rules.no_new_privileges(node(securityOpts=["no-new-privileges=true"])) == []
    (found,) = rules.no_new_privileges(node())
    assert found == "minio1 lacks the security option no-new-privileges:true"
    assert rules.no_new_privileges(node(securityOpts=["no-new-privileges:false"]))
    assert rules.no_new_privileges(Resource(rules.BUCKET, "b", {})) == []


HARDENED = {
    "user": "1001:0",
    "readOnly": True,
    "capabilities": {"drops": ["ALL"]},
    "memory": 4096,
}


def test_containers_hardened_passes_a_hardened_container():
    assert rules.containers_hardened(node(**HARDENED)) == []
    assert rules.containers_hardened(node(**{**HARDENED, "user": "nobody"})) == []
    assert rules.containers_hardened(Resource(rules.BUCKET, "b", {})) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user": None}, "minio1 runs as root"),
        ({"user": "0:0"}, "minio1 runs as root"),
        ({"user": "root"}, "minio1 runs as root"),
        ({"readOnly": False}, "minio1 has a writable root filesystem"),
        ({"readOnly": None}, "minio1 has a writable root filesystem"),
        ({"capabilities": {"drops": ["NET_RAW"]}}, "minio1 keeps Docker's default capabilities"),
        ({"capabilities": None}, "minio1 keeps Docker's default capabilities"),
        ({"memory": None}, "minio1 has no memory limit"),
    ],
)
def test_containers_hardened_names_each_missing_part(change, message):
    (found,) = rules.containers_hardened(node(**{**HARDENED, **change}))
    assert found.startswith(message)


def test_a_files_container_that_never_runs_needs_only_a_user_and_no_capabilities():
    files = {"start": False, "mustRun": False, "networkMode": "none"}
    assert rules.containers_hardened(node(user="1001:0", capabilities={"drops": ["ALL"]}, **files)) == []
    found = rules.containers_hardened(node(**files))
    assert [f.split(":")[0] for f in found] == [
        "minio1 runs as root",
        "minio1 keeps Docker's default capabilities",
    ]
    # Started, or on a network, it is a service like any other.
    for change in ({"start": True}, {"mustRun": True}, {"networkMode": "bridge"}):
        assert (
            len(
                rules.containers_hardened(
                    node(user="1001:0", capabilities={"drops": ["ALL"]}, **{**files, **change})
                )
            )
            == 2
        )


def test_containers_hardened_waits_for_a_computed_user():
    with pytest.raises(rules.Unknowable):
        rules.containers_hardened(node(**{**HARDENED, "user": rules.UNKNOWN}))


def test_prod_gateway_terminates_tls():
    tls = Resource(
        rules.CONTAINER,
        "gateway",
        {
            "labels": GATEWAY_LABELS,
            "ports": [{"internal": 443}],
            "uploads": [{"file": "/etc/nginx/tls/tls.key"}],
        },
    )
    plain_http = Resource(
        rules.CONTAINER, "gateway", {"labels": GATEWAY_LABELS, "ports": [{"internal": 9000}], "uploads": []}
    )
    assert rules.prod_gateway_terminates_tls([tls]) == []
    # As the program deploys it: the key is in the gateway's files container.
    hardened = Resource(
        rules.CONTAINER,
        "gateway",
        {"name": "gateway", "labels": GATEWAY_LABELS, "ports": [{"internal": 443}]},
    )
    files = Resource(
        rules.CONTAINER,
        "gateway-files",
        {
            "labels": [{"label": rules.FILES_OF_LABEL, "value": "gateway"}],
            "uploads": [{"file": "/etc/nginx/tls/tls.key"}],
        },
    )
    assert rules.prod_gateway_terminates_tls([hardened, files]) == []
    assert rules.prod_gateway_terminates_tls([hardened]) == ["the prod gateway carries no TLS key"]
    assert rules.prod_gateway_terminates_tls([plain_http]) == [
        "the prod gateway does not publish 443",
        "the prod gateway carries no TLS key",
    ]


def container(name: str = "keycloak", **props) -> Resource:
    return Resource(
        rules.CONTAINER, name, {"labels": [{"label": "com.minio-platform.role", "value": name}], **props}
    )


def test_prod_keycloak_not_in_dev_mode():
    assert rules.prod_keycloak_not_in_dev_mode(container(command=["start", "--optimized"])) == []
    assert rules.prod_keycloak_not_in_dev_mode(container(command=["nginx", "-g", "daemon off;"])) == []
    (refused,) = rules.prod_keycloak_not_in_dev_mode(container(command=["start-dev"]))
    assert "development mode" in refused and "identity.mode external" in refused


@pytest.mark.parametrize(
    ("props", "why"),
    [
        ({"privileged": True}, "runs privileged"),
        ({"networkMode": "host"}, "shares the host's network"),
        (
            {"volumes": [{"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"}]},
            "Docker socket",
        ),
        ({"mounts": [{"type": "bind", "source": "/run/docker.sock", "target": "/sock"}]}, "Docker socket"),
    ],
)
def test_no_host_access(props, why):
    assert rules.no_host_access(container()) == []
    assert (
        rules.no_host_access(container(volumes=[{"volumeName": "grafana-data", "containerPath": "/data"}]))
        == []
    )
    (violation,) = rules.no_host_access(container(**props))
    assert why in violation


def test_only_the_gateway_is_public():
    loopback = [{"internal": 8080, "external": 8080, "ip": "127.0.0.1"}]
    assert rules.only_the_gateway_is_public(container(ports=loopback)) == []
    assert (
        rules.only_the_gateway_is_public(container("gateway", ports=[{"internal": 80, "external": 80}])) == []
    )
    (anywhere,) = rules.only_the_gateway_is_public(container(ports=[{"internal": 8080, "external": 8080}]))
    assert "keycloak publishes 8080 on 0.0.0.0" in anywhere
    assert rules.only_the_gateway_is_public(container(ports=[{"internal": 3000, "ip": "192.168.1.5"}]))


def test_advisory_rules():
    pinned = Resource(rules.REMOTE_IMAGE, "img", {"name": "nginx:1.28.0-alpine@sha256:" + "a" * 64})
    tagged = Resource(rules.REMOTE_IMAGE, "img", {"name": "nginx:1.28.0-alpine"})
    assert rules.images_digest_pinned(pinned) == [] and rules.images_digest_pinned(tagged)
    private = Resource(rules.NETWORK, "n", {"ipamConfigs": [{"subnet": "172.28.40.0/24"}]})
    public = Resource(rules.NETWORK, "n", {"ipamConfigs": [{"subnet": "172.40.0.0/24"}]})
    assert rules.private_subnets(private) == [] and rules.private_subnets(public)
    bucket = Resource(rules.BUCKET, "b", {"bucket": "logs"})
    encryption = Resource(rules.ENCRYPTION, "e", {"bucket": "logs"})
    assert rules.prod_buckets_encrypted([bucket, encryption]) == [] and rules.prod_buckets_encrypted([bucket])
    assert rules.prod_nodes_have_limits(node(cpus="2", memory=8192)) == [] and rules.prod_nodes_have_limits(
        node()
    )


def test_rule_levels_match_the_issue():
    mandatory = {r.name for r in rules.RULES if r.mandatory}
    assert mandatory == {
        "minio-nodes-publish-no-ports",
        "images-pinned",
        "buckets-have-lifecycle",
        "no-wildcard-grants",
        "credentials-are-secret",
        "no-secrets-in-environment",
        "no-new-privileges",
        "containers-hardened",
        "prod-gateway-terminates-tls",
        "gateway-shields-known-flaws",
        "prod-minio-image-has-the-2025-fix",
        "prod-keycloak-not-in-dev-mode",
        "prod-buckets-not-anonymous",
        "prod-nodes-have-peers",
        "no-host-access",
        "only-the-gateway-is-public",
    }
    assert {r.name for r in rules.RULES if not r.mandatory} == {
        "private-subnets",
        "images-digest-pinned",
        "prod-buckets-encrypted",
        "prod-nodes-have-limits",
        "minio-image-has-the-2025-fix",
    }


# --- the CrossGuard wrappers ---------------------------------------------------------------------------


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _run(policy, args) -> list[str]:
    violations: list[str] = []
    policy.validate(args, lambda message, urn=None: violations.append(message))
    return violations


def test_live_pack_flags_a_minio_node_with_ports_as_mandatory():
    policy = next(p for p in crossguard.policies() if p.name == "minio-nodes-publish-no-ports")
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    props = {"labels": MINIO_LABELS, "ports": [{"internal": 9000}]}
    args = ResourceValidationArgs(rules.CONTAINER, props, "urn:x", "minio1", _options(), None, {})
    assert _run(policy, args) == ["MinIO node minio1 publishes host ports: only the gateway may"]


def _preview_args(props: dict, name: str = "minio1") -> ResourceValidationArgs:
    """Arguments as the SDK hands them over during preview: properties behind its unknown-checking proxy."""
    return ResourceValidationArgs(
        rules.CONTAINER, unknown_checking_proxy(props), "urn:x", name, _options(), None, {}
    )


def test_at_preview_a_computed_image_does_not_stop_the_rules_that_need_other_values():
    """A container's image is its RemoteImage's id, unknown on a fresh stack: the SDK raises on it,
    and a rule that copied every property never ran (seen with the real engine)."""
    props = {"image": UNKNOWN_STRING_VALUE, "labels": MINIO_LABELS, "ports": [{"internal": 9000}]}
    ports = next(p for p in crossguard.policies() if p.name == "minio-nodes-publish-no-ports")
    assert _run(ports, _preview_args(props)) == [
        "MinIO node minio1 publishes host ports: only the gateway may"
    ]


def test_at_preview_a_rule_that_needs_a_computed_value_is_reported_not_skipped():
    props = {"image": UNKNOWN_STRING_VALUE, "labels": MINIO_LABELS}
    pinned = next(p for p in crossguard.policies() if p.name == "images-pinned")
    assert _run(pinned, _preview_args(props)) == []
    unjudged = next(p for p in crossguard.policies() if p.name == rules.UNJUDGED)
    assert unjudged.enforcement_level == EnforcementLevel.ADVISORY
    (message,) = _run(unjudged, _preview_args(props))
    assert message.startswith("images-pinned cannot judge minio1 during preview: image is computed")


def test_an_unknown_inside_a_list_is_an_unknown_too():
    props = {"labels": [UNKNOWN_OBJECT_VALUE], "ports": []}
    messages, unknown = rules.judge(
        next(r for r in rules.RULES if r.name == "minio-nodes-publish-no-ports"),
        Resource(rules.CONTAINER, "minio1", crossguard.plain(unknown_checking_proxy(props))),
    )
    assert (messages, unknown) == ([], "labels[0]")


def test_live_pack_applies_prod_rules_only_with_prod_config():
    policy = next(p for p in crossguard.policies() if p.name == "prod-gateway-terminates-tls")
    gateway = PolicyResource(
        rules.CONTAINER, {"labels": GATEWAY_LABELS, "ports": [{"internal": 80}], "uploads": []},
        "urn:g", "gateway", _options(), None, None, [], {},
    )  # fmt: skip
    assert _run(policy, StackValidationArgs([gateway], {"environment": "dev"})) == []
    assert len(_run(policy, StackValidationArgs([gateway], {"environment": "prod"}))) == 2


def test_live_pack_leaves_secrecy_to_the_manifest_check():
    assert "credentials-are-secret" not in {p.name for p in crossguard.policies()}
    assert (PACK / "prod.json").is_file()
    # Every rule that depends on the environment reads it from its own config: prod-only rules turn
    # on with prod.json, their advisory dev twins off.
    assert set(json.loads((PACK / "prod.json").read_text())) == {
        r.name for r in rules.RULES if r.prod_only or r.dev_only
    }


# --- both stacks' synth manifests ------------------------------------------------------------------


FIXED_BUILD = (
    "registry.example.com/minio-platform/minio:source-20260212201848-7aac2a2c5b7c@sha256:" + "e" * 64
)
"""prod's cluster.image once the operator has pushed `make images`' build (docs/cluster.md)."""


def findings_of(synthesis, stack: str, tmp_path) -> list[rules.Finding]:
    manifest = tmp_path / "resources.json"
    manifest.write_text(render_documents(synthesis)["resources.json"])
    return rules.check_manifest(manifest, stack)


def test_prod_with_a_deployed_keycloak_is_refused_and_dev_is_not(synth, tmp_path):
    """The settings refuse identity.mode deploy in prod before anything registers; the pack refuses
    the dev-mode container too (dev's graph judged as a prod stack's), and only in prod."""
    keycloak = {"mode": "deploy", "image": "quay.io/keycloak/keycloak:26.7.3@sha256:" + "d" * 64}
    with pytest.raises(SettingsError, match=r"identity\.mode = 'deploy': prod configures an existing"):
        synth("prod", {"identity": keycloak})
    as_prod = findings_of(synth("dev"), "prod", tmp_path)
    (refused,) = [f for f in as_prod if f.rule == "prod-keycloak-not-in-dev-mode"]
    assert refused.mandatory and "minio-sso-keycloak-container" in refused.message
    dev = findings_of(synth("dev"), "dev", tmp_path)
    assert not [f for f in dev if f.rule == "prod-keycloak-not-in-dev-mode"]


def test_a_single_node_is_refused_in_prod_by_the_settings_and_by_the_pack(synth, tmp_path):
    """#33 item 2: the settings refuse it before anything registers; the pack refuses the node a
    single-node graph has (dev's judged as prod's), and not a cluster's nodes."""
    with pytest.raises(SettingsError, match=r"cluster\.nodes = 1: prod runs 4 or more nodes"):
        synth("prod", {"cluster": {"nodes": 1, "drivesPerNode": 4}})
    single = findings_of(synth("dev", {"cluster": {"nodes": 1, "drivesPerNode": 4}}), "prod", tmp_path)
    (refused,) = [f for f in single if f.rule == "prod-nodes-have-peers"]
    assert refused.mandatory and "/data{1...4} alone" in refused.message
    assert not [f for f in findings_of(synth("dev"), "prod", tmp_path) if f.rule == "prod-nodes-have-peers"]
    assert not [
        f
        for f in findings_of(synth("dev", {"cluster": {"nodes": 1}}), "dev", tmp_path)
        if f.rule == "prod-nodes-have-peers"
    ]


ANONYMOUS = [
    {"name": "backups-postgresql", "retentionDays": 90},
    {"name": "downloads", "retentionDays": 30, "anonymous": "download"},
]


def test_an_anonymous_bucket_in_prod_needs_its_mark_in_the_settings_and_in_the_pack(synth, tmp_path):
    """#33: the settings refuse it without publicOnPurpose before anything registers; the pack
    refuses the bucket policy the program writes without the mark (dev's graph judged as prod's),
    and passes it with the mark."""
    from components.buckets import ON_PURPOSE_SID

    assert rules.ON_PURPOSE_SID == ON_PURPOSE_SID
    with pytest.raises(
        SettingsError, match=r"buckets\[1\]\.anonymous = 'download': anonymous access in prod"
    ):
        synth("prod", {"buckets": ANONYMOUS})
    unmarked = findings_of(synth("dev", {"buckets": ANONYMOUS}), "prod", tmp_path)
    (refused,) = [f for f in unmarked if f.rule == "prod-buckets-not-anonymous"]
    assert refused.mandatory and "s3:GetObject" in refused.message and "downloads" in refused.message
    assert not [f for f in findings_of(synth("dev", {"buckets": ANONYMOUS}), "dev", tmp_path)
                if f.rule == "prod-buckets-not-anonymous"]  # fmt: skip
    marked = [ANONYMOUS[0], {**ANONYMOUS[1], "publicOnPurpose": True}]
    prod = synth("prod", {"buckets": marked, "cluster": {"image": FIXED_BUILD}})
    assert not [f for f in findings_of(prod, "prod", tmp_path) if f.rule == "prod-buckets-not-anonymous"]
    anyone = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::x/*"],
    }
    planted = Resource(rules.BUCKET_POLICY, "p", {"policy": json.dumps({"Statement": [anyone]})})
    assert rules.prod_buckets_not_anonymous(planted)
    assert rules.prod_buckets_not_anonymous(Resource(rules.BUCKET, "b", {"acl": "public-read"}))
    assert rules.prod_buckets_not_anonymous(Resource(rules.BUCKET, "b", {"acl": "private"})) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_stack_passes_every_mandatory_rule(synth, stack, tmp_path):
    """prod with the image it ships (the last published, without CVE-2025-62506's fix) is refused
    by that rule alone, until cluster.image names the fixed build; dev hears of it as advice."""
    findings = findings_of(
        synth(stack, {"cluster": {"image": FIXED_BUILD}} if stack == "prod" else None), stack, tmp_path
    )
    assert [f for f in findings if f.mandatory] == []
    advisories = {(f.rule, f.message) for f in findings if f.rule != "images-digest-pinned"}
    if stack == "dev":  # the docker-compose design's 172.40.0.0/24, on purpose; the image built from
        # source, which has the 2025 fix (the settings' default, the published one, would be flagged)
        assert advisories == {
            (
                "private-subnets",
                "minio-networks-storage-net uses 172.40.0.0/24, outside RFC 1918 private space",
            ),
        }
        flaw = rules.minio_image_has_the_2025_fix(
            Resource(rules.REMOTE_IMAGE, "minio-cluster-image", {"name": DEFAULT_MINIO_IMAGE})
        )
        assert flaw
        # dev pulls tags: every one of its ten image pulls is flagged, advisory only (nine images,
        # the sign-in bridge's and Alertmanager's among them; the gateway's nginx also runs the log
        # gate).
        flagged = [f for f in findings if f.rule == "images-digest-pinned"]
        assert len(flagged) == 10
        assert len([f for f in flagged if "'nginx:" in f.message]) == 2
    else:  # its uploads hold the TLS key: one secret, masked in the manifest, read by the live pack
        shield = next(r for r in rules.RULES if r.name == "gateway-shields-known-flaws")
        assert advisories == {("judged-at-update", rules.unjudged_message(shield, "the stack", "uploads"))}


def test_prod_as_shipped_is_refused_for_its_minio_image(synth, tmp_path):
    findings = findings_of(synth("prod"), "prod", tmp_path)
    (refused,) = [f for f in findings if f.mandatory]
    assert refused.rule == "prod-minio-image-has-the-2025-fix"
    assert "RELEASE.2025-09-07T16-13-09Z" in refused.message and "make images" in refused.message


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_gateway_without_the_shield_is_refused(synth, stack):
    """The planted defect: the stack's own nginx.conf, less the shield, then less a judged header."""
    conf = synth(stack).files["nginx.conf"]

    def gateway(text: str | None) -> list[Resource]:
        """The gateway and its files container, which holds the nginx.conf."""
        uploads = [] if text is None else [{"file": rules.NGINX_CONF, "content": text}]
        files_labels = [
            {"label": "com.minio-platform.role", "value": "files"},
            {"label": rules.FILES_OF_LABEL, "value": "gateway"},
        ]
        return [
            Resource(rules.CONTAINER, "minio-gateway-nginx", {"name": "gateway", "labels": GATEWAY_LABELS}),
            Resource(
                rules.CONTAINER,
                "minio-gateway-nginx-files",
                {"name": "gateway-files", "labels": files_labels, "uploads": uploads},
            ),
        ]

    assert rules.gateway_shields_known_flaws(gateway(conf)) == []
    shield = "if ($s3_forged_upload) {\n            return 403;\n        }\n"
    assert shield in conf
    problems = rules.gateway_shields_known_flaws(gateway(conf.replace(shield, "", 1)))
    assert [p for p in problems if "does not return 403 on $s3_forged_upload" in p]
    judged = "proxy_set_header Authorization $http_authorization;"
    assert any(
        "judged headers" in p for p in rules.gateway_shields_known_flaws(gateway(conf.replace(judged, "")))
    )
    assert rules.gateway_shields_known_flaws(gateway(None))


def test_a_planted_plain_secret_in_a_manifest_fails_the_check(synth, tmp_path):
    entries = json.loads(render_documents(synth("dev"))["resources.json"])
    provider = next(e for e in entries if e["type"] == rules.MINIO_PROVIDER)
    provider["inputs"]["minioPassword"] = "plain-text-password"
    manifest = tmp_path / "resources.json"
    manifest.write_text(json.dumps(entries))
    assert rules.main([str(manifest), "dev"]) == 1
