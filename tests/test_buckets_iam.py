"""Buckets, encryption, policies, users and service accounts on the mocked graph."""

from __future__ import annotations

import json
import re

import pytest

from components.bucket_tags import BucketTagsProvider, tag_set
from components.cluster import KMS_KEY_ID
from components.policies import policy_json, render_policy
from components.settings import SettingsError, settings_from_config
from synth.mocks import is_secret
from tests.graph import (
    ATTACHMENT,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_TAGS,
    CONTAINER,
    ENCRYPTION,
    LIFECYCLE,
    POLICY,
    RANDOM_PASSWORD,
    SERVICE_ACCOUNT,
    USER,
    VERSIONING,
    minio_nodes,
    minio_settings_of,
    plain,
)

EXPECTED_BUCKETS = {
    "dev": {"backups-postgresql": 30, "logs": 90, "application-files": 365},
    "prod": {"backups-postgresql": 90, "logs": 365, "application-files": 730},
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_bucket_has_exactly_one_lifecycle_policy_with_its_days(synth, stack):
    synthesis = synth(stack)
    buckets = {b.inputs["bucket"]: b for b in synthesis.of_type(BUCKET)}
    assert set(buckets) == set(EXPECTED_BUCKETS[stack])
    lifecycles = synthesis.of_type(LIFECYCLE)
    for name, days in EXPECTED_BUCKETS[stack].items():
        mine = [p for p in lifecycles if p.inputs["bucket"] == name]
        assert len(mine) == 1, f"{name} has {len(mine)} lifecycle policies"
        rules = mine[0].inputs["rules"]
        assert [(r["expiration"], r.get("filter")) for r in rules] == [(f"{days}d", None)]
        assert buckets[name].urn in mine[0].dependencies


def test_a_backups_bucket_is_created_locked_and_versioned_and_its_versions_expire(synth):
    """Issue #32: object lock is set when a bucket is created (S3 cannot add it later), and needs
    versioning; a locked version's noncurrent expiry follows the bucket's."""
    dumps = {"name": "backups-postgresql", "retentionDays": 7, "backups": True}
    overrides = {"buckets": [dumps, {"name": "logs", "retentionDays": 9}]}
    synthesis = synth("dev", overrides)
    buckets = {b.inputs["bucket"]: b for b in synthesis.of_type(BUCKET)}
    assert buckets["backups-postgresql"].inputs["objectLocking"] is True
    assert buckets["logs"].inputs["objectLocking"] is False
    versioned = {v.inputs["bucket"] for v in synthesis.of_type(VERSIONING)}
    assert versioned == {"backups-postgresql"}
    lifecycles = {p.inputs["bucket"]: p.inputs["rules"] for p in synthesis.of_type(LIFECYCLE)}
    assert lifecycles["backups-postgresql"] == [
        {"id": "expire-after-7-days", "expiration": "7d", "noncurrentVersionExpirationDays": 7}
    ]
    configuration = plain(synthesis.outputs)["bucket_configuration"]
    assert configuration["backups-postgresql"]["object_lock"] == {"mode": "COMPLIANCE", "days": 7}
    assert configuration["backups-postgresql"]["versioning"] is True
    assert configuration["logs"]["object_lock"] is None


def test_the_backup_seal_key_is_generated_once_and_only_a_secret_output(synth):
    synthesis = synth("dev")
    (key,) = [p for p in synthesis.of_type(RANDOM_PASSWORD) if "seal" in p.name]
    assert key.inputs["length"] >= 64 and key.inputs["special"] is False
    assert is_secret(synthesis.outputs["backup_seal_key"])
    without = synth("dev", {"buckets": [{"name": "backups-postgresql", "retentionDays": 9}]})
    assert "backup_seal_key" not in without.outputs
    assert not [p for p in without.of_type(RANDOM_PASSWORD) if "seal" in p.name]


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ({"name": "worm", "retentionDays": 9, "objectLock": {"days": 9}}, "buckets[0].versioning"),
        ({"name": "worm", "retentionDays": 9, "versioning": True, "objectLock": {"days": 0}}, "days"),
        (
            {"name": "worm", "retentionDays": 9, "versioning": True, "objectLock": {"mode": "x", "days": 9}},
            "mode",
        ),
    ],
)
def test_an_invalid_object_lock_is_refused_naming_the_key(bucket, key):
    with pytest.raises(SettingsError, match=re.escape(key)):
        settings_from_config({"buckets": [bucket]})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_buckets_are_private_and_never_force_destroyed(synth, stack):
    for bucket in synth(stack).of_type(BUCKET):
        assert bucket.inputs["acl"] == "private"
        assert bucket.inputs["forceDestroy"] is False
        assert bucket.options["protect"] is (stack == "prod")


def test_versioning_only_where_configured_or_locked_with_noncurrent_expiry(synth):
    assert [v.inputs["bucket"] for v in synth("dev").of_type(VERSIONING)] == ["backups-postgresql"]
    prod = synth("prod")
    versioning = {v.inputs["bucket"]: v.inputs for v in prod.of_type(VERSIONING)}
    assert set(versioning) == {"application-files", "backups-postgresql"}
    assert versioning["application-files"]["versioningConfiguration"] == {"status": "Enabled"}
    rules = {p.inputs["bucket"]: p.inputs["rules"][0] for p in prod.of_type(LIFECYCLE)}
    assert rules["application-files"]["noncurrentVersionExpirationDays"] == 30
    assert rules["backups-postgresql"]["noncurrentVersionExpirationDays"] == 7  # the setting's default
    assert "noncurrentVersionExpirationDays" not in rules["logs"]


def test_encryption_as_configured_with_the_clusters_key(synth):
    assert not synth("dev").of_type(ENCRYPTION)
    encrypted = {e.inputs["bucket"]: e.inputs for e in synth("prod").of_type(ENCRYPTION)}
    assert set(encrypted) == set(EXPECTED_BUCKETS["prod"])
    for inputs in encrypted.values():
        assert (inputs["encryptionType"], inputs["kmsKeyId"]) == ("aws:kms", KMS_KEY_ID)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kms_key_is_identical_secret_and_well_formed_on_every_node(synth, stack):
    synthesis = synth(stack)
    keys = {
        minio_settings_of(synthesis, node)["MINIO_KMS_SECRET_KEY"]
        for node in minio_nodes(synthesis.resources)
    }
    assert len(keys) == 1
    key_id, _ = keys.pop().split(":", 1)
    assert key_id == KMS_KEY_ID
    generator = synthesis.named(RANDOM_PASSWORD, "minio-cluster-kms-key")
    assert generator.inputs["length"] == 32
    assert generator.options["protect"] is (stack == "prod")
    assert "MINIO_KMS_SECRET_KEY=[secret]" in synthesis.files["minio.env"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_policy_document_equals_its_rendered_template(synth, stack):
    synthesis = synth(stack)
    policies = {p.inputs["name"]: p.inputs["policy"] for p in synthesis.of_type(POLICY)}
    all_buckets = list(EXPECTED_BUCKETS[stack])
    assert policies == {
        "backup-service-policy": policy_json(render_policy("backup-service", ["backups-postgresql"])),
        "prometheus-metrics-policy": policy_json(render_policy("metrics")),
        # The SSO groups' template policies (storage-admins uses the built-in consoleAdmin).
        "storage-readonly-policy": policy_json(render_policy("bucket-readonly", all_buckets)),
        "backup-operators-policy": policy_json(render_policy("backup-service", ["backups-postgresql"])),
        # The program's own: its administrator (created as root) and the day-2 tools' auditor.
        "platform-admin-policy": policy_json(render_policy("platform-admin")),
        "platform-auditor-policy": policy_json(render_policy("auditor")),
    }
    for name in ("backup-service-policy", "platform-admin-policy", "platform-auditor-policy"):
        assert json.loads(synthesis.files[f"policy-{name}.json"]) == json.loads(policies[name])


def test_every_service_account_has_its_explicit_policy_and_a_policy_bound_parent(synth):
    synthesis = synth("dev")
    (account,) = synthesis.of_type(SERVICE_ACCOUNT)
    assert account.inputs["targetUser"] == "backup-service"
    assert account.inputs["policy"] == policy_json(render_policy("backup-service", ["backups-postgresql"]))
    attachments = {(a.inputs["userName"], a.inputs["policyName"]) for a in synthesis.of_type(ATTACHMENT)}
    assert attachments == {
        ("backup-service", "backup-service-policy"),
        ("prometheus-metrics", "prometheus-metrics-policy"),
        ("platform-admin", "platform-admin-policy"),
        ("platform-auditor", "platform-auditor-policy"),
    }
    attachment_urn = next(
        a.urn for a in synthesis.of_type(ATTACHMENT) if a.inputs["userName"] == "backup-service"
    )
    assert attachment_urn in account.dependencies


def test_configured_accounts_each_get_a_policy_and_key(synth):
    accounts = [
        {"name": "backup-service", "policy": "backup-service", "buckets": ["backups-postgresql"]},
        {"name": "reporting", "policy": "bucket-readonly", "buckets": ["logs", "application-files"]},
    ]
    synthesis = synth("dev", {"serviceAccounts": accounts})
    by_user = {a.inputs["targetUser"]: a for a in synthesis.of_type(SERVICE_ACCOUNT)}
    assert set(by_user) == {"backup-service", "reporting"}
    assert by_user["reporting"].inputs["policy"] == policy_json(
        render_policy("bucket-readonly", ["logs", "application-files"])
    )
    assert set(synthesis.outputs["service_account_access_keys"]) == {"backup-service", "reporting"}


def test_metrics_identity_scrapes_only_with_a_generated_secret(synth):
    synthesis = synth("dev")
    user = synthesis.named(USER, "minio-iam-prometheus-metrics")
    generator = synthesis.named(RANDOM_PASSWORD, "minio-iam-prometheus-metrics-secret")
    assert is_secret(user.inputs["secret"])
    assert plain(user.inputs["secret"]) == plain(generator.state["result"])
    policy = synthesis.named(POLICY, "minio-iam-prometheus-metrics-policy")
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Action"] == ["admin:Prometheus"]


def test_metrics_secret_generation_revokes_by_replacing_the_secret_and_keeps_old_stacks_as_they_are(synth):
    """Generation 1 sets no keepers: a stack made before the setting keeps its secret (adding keepers
    would replace it); any later generation is in the keepers, so bumping it replaces the secret."""
    assert "keepers" not in synth("dev").named(RANDOM_PASSWORD, "minio-iam-prometheus-metrics-secret").inputs
    rotated = synth("dev", {"observability": {"metricsSecretGeneration": 2}})
    generator = rotated.named(RANDOM_PASSWORD, "minio-iam-prometheus-metrics-secret")
    assert generator.inputs["keepers"] == {"generation": "2"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_providers_go_through_the_gateway_and_root_only_creates_the_administrator(synth, stack):
    synthesis = synth(stack)
    bootstrap = synthesis.named("pulumi:providers:minio", "minio-minio-bootstrap")
    provider = synthesis.named("pulumi:providers:minio", "minio-minio")
    expected = {"dev": ("localhost:9000", "false"), "prod": ("s3.storage.example.com:443", "true")}[stack]
    gateway = synthesis.named(CONTAINER, "minio-gateway-nginx")
    for each in (bootstrap, provider):
        assert (each.inputs["minioServer"], each.inputs["minioSsl"]) == expected
        assert is_secret(each.inputs["minioPassword"])
        assert {gateway.urn, *(n.urn for n in minio_nodes(synthesis.resources))} <= set(each.dependencies)
    assert bootstrap.inputs["minioUser"] == "minio-root"
    # Root's whole job: the administrator's policy, user and attachment.
    as_root = {r.name for r in synthesis.resources if r.provider == bootstrap.urn}
    assert as_root == {
        "minio-administrator-policy",
        "minio-administrator-user",
        "minio-administrator-attachment",
    }
    # Everything else signs in as the administrator, once its policy is attached.
    administrator = synthesis.named(USER, "minio-administrator-user")
    assert provider.inputs["minioUser"] == administrator.inputs["name"] == "platform-admin"
    assert plain(provider.inputs["minioPassword"]) == plain(administrator.inputs["secret"])
    assert plain(administrator.inputs["secret"]) == plain(
        synthesis.named(RANDOM_PASSWORD, "minio-administrator-secret").state["result"]
    )
    assert synthesis.named(ATTACHMENT, "minio-administrator-attachment").urn in provider.dependencies
    for resource in synthesis.resources:
        if resource.type.startswith("minio:") and resource.provider != bootstrap.urn:
            assert resource.provider == provider.urn, resource.name


def test_the_working_provider_keeps_the_urn_root_had_so_existing_buckets_are_not_replaced(synth):
    """A resource whose provider changes URN is replaced by the engine (step_generator's
    providerChanged); a provider whose credentials change is updated (the bridge's DiffConfig
    replaces only on ForceNew config, and the minio provider's has none). Stacks made while root
    did the work must keep ``minio-minio`` for the provider their buckets hang off."""
    synthesis = synth("dev")
    (bucket, *_) = synthesis.of_type(BUCKET)
    assert bucket.provider == (
        "urn:pulumi:dev::minio-platform::minio-platform:index:Platform$pulumi:providers:minio::minio-minio"
    )


def test_the_auditor_is_read_only_with_a_generated_secret_and_exported_as_a_secret(synth):
    synthesis = synth("dev")
    user = synthesis.named(USER, "minio-iam-platform-auditor")
    generator = synthesis.named(RANDOM_PASSWORD, "minio-iam-platform-auditor-secret")
    assert plain(user.inputs["secret"]) == plain(generator.state["result"])
    assert synthesis.outputs["minio_auditor_user"] == "platform-auditor"
    assert is_secret(synthesis.outputs["minio_auditor_password"])
    assert plain(synthesis.outputs["minio_auditor_password"]) == plain(generator.state["result"])
    statements = json.loads(synthesis.named(POLICY, "minio-iam-platform-auditor-policy").inputs["policy"])
    writes = [s for s in statements["Statement"] if "s3:PutObject" in s["Action"]]
    assert [w["Resource"] for w in writes] == [["arn:aws:s3:::*/.platform-verify/*"]]
    assert not [
        a for s in statements["Statement"] for a in s["Action"] if a in ("s3:GetObject", "s3:ListBucket")
    ]


def test_a_stack_managing_nothing_inside_minio_has_no_auditor_and_no_minio_provider(synth):
    synthesis = synth(
        "dev",
        {
            "observability": {"mode": "none"},
            "buckets": [],
            "serviceAccounts": [],
            "identity": {"groups": [{"name": "storage-admins", "policy": "consoleAdmin"}]},
        },
    )
    assert not [r for r in synthesis.resources if r.type.startswith(("minio:", "pulumi:providers:minio"))]
    assert "minio_auditor_user" not in synthesis.outputs


def test_application_outputs(synth):
    outputs = synth("dev").outputs
    assert outputs["s3_endpoint"] == "http://localhost:9000"
    assert outputs["region"] == "us-east-1"
    assert outputs["buckets"] == ["backups-postgresql", "logs", "application-files"]
    assert set(plain(outputs["service_account_access_keys"])) == {"backup-service"}
    assert is_secret(outputs["service_account_secret_keys"])
    assert set(plain(outputs["service_account_secret_keys"])) == {"backup-service"}


def test_no_application_identity_is_root(synth):
    for account in synth("dev").of_type(SERVICE_ACCOUNT):
        assert account.inputs["targetUser"] != "minio-root"


# --- quotas and more lifecycle rules (#33 item 3) -----------------------------------------------------

PROVISIONED = {
    "name": "logs",
    "retentionDays": 90,
    "versioning": True,
    "quotaMb": 512,
    "lifecycle": [
        {"id": "scratch", "prefix": "tmp/", "expireDays": 1},
        {"prefix": "drafts/", "tags": {"class": "draft", "team": "a"}, "expireOn": "2027-01-01"},
        {"expireDeleteMarkers": True, "noncurrentDays": 2},
    ],
}


def test_a_quota_and_more_rules_map_to_the_providers_bucket_and_ilm_policy(synth):
    synthesis = synth("dev", {"buckets": [{"name": "backups-postgresql", "retentionDays": 30}, PROVISIONED]})
    buckets = {b.inputs["bucket"]: b for b in synthesis.of_type(BUCKET)}
    assert buckets["logs"].inputs["quota"] == 512 * 1024 * 1024  # bytes, the provider's unit
    assert "quota" not in buckets["backups-postgresql"].inputs
    (policy,) = [p for p in synthesis.of_type(LIFECYCLE) if p.inputs["bucket"] == "logs"]
    assert policy.inputs["rules"] == [
        {"id": "expire-after-90-days", "expiration": "90d", "noncurrentVersionExpirationDays": 7},
        {"id": "scratch", "filter": "tmp/", "expiration": "1d"},
        {
            "id": "rule-2",
            "filter": "drafts/",
            "tags": {"class": "draft", "team": "a"},
            "expiration": "2027-01-01",
        },
        {"id": "rule-3", "expiration": "DeleteMarker", "noncurrentVersionExpirationDays": 2},
    ]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"quotaMb": -1}, "buckets[0].quotaMb"),
        ({"quotaMb": 0}, "buckets[0].quotaMb"),
        ({"lifecycle": [{"prefix": "tmp/"}]}, "buckets[0].lifecycle[0].expireDays"),  # no action
        ({"lifecycle": [{"prefix": "a/", "expireDays": 1, "expireOn": "2027-01-01"}]},
         "buckets[0].lifecycle[0].expireOn"),
        ({"lifecycle": [{"prefix": "a/", "expireOn": "tomorrow"}]}, "buckets[0].lifecycle[0].expireOn"),
        ({"lifecycle": [{"expireDays": 3}]}, "buckets[0].lifecycle[0].expireDays"),  # that is retentionDays
        ({"lifecycle": [{"prefix": "a/", "noncurrentDays": 2}]}, "buckets[0].lifecycle[0].noncurrentDays"),
        ({"lifecycle": [{"expireDeleteMarkers": True}]}, "buckets[0].lifecycle[0].expireDeleteMarkers"),
        ({"lifecycle": [{"id": "expire-after-90-days", "prefix": "a/", "expireDays": 1}]},
         "buckets[0].lifecycle[0].id"),
        ({"lifecycle": [{"id": "x", "prefix": "a/", "expireDays": 1},
                        {"id": "x", "prefix": "b/", "expireDays": 1}]}, "buckets[0].lifecycle[1].id"),
        ({"lifecycle": [{"tags": {"class": ""}, "expireDays": 1}]}, "buckets[0].lifecycle[0].tags"),
    ],
)  # fmt: skip
def test_an_invalid_quota_or_rule_is_refused_naming_its_key(change, key):
    bucket = {"name": "logs", "retentionDays": 90, **change}
    values = {"buckets": [bucket], "serviceAccounts": [], "identity": {"groups": []}}
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values)
    assert f"minio-platform:{key} = " in str(raised.value), raised.value


# --- bucket tags (#33 item 3): the program's own dynamic provider ---------------------------------


def test_bucket_tags_go_through_the_gateway_as_the_administrator_with_a_secret_key(synth):
    tagged = {"name": "logs", "retentionDays": 90, "tags": {"team": "storage", "cost-centre": "4711"}}
    synthesis = synth("dev", {"buckets": [{"name": "backups-postgresql", "retentionDays": 30}, tagged]})
    (tags,) = synthesis.of_type(BUCKET_TAGS)
    working = synthesis.named("pulumi:providers:minio", "minio-minio")
    assert tags.inputs["bucket"] == "logs" and tags.inputs["tags"] == tagged["tags"]
    assert tags.inputs["endpoint"] == f"http://{working.inputs['minioServer']}"
    assert tags.inputs["accessKey"] == "platform-admin" and tags.inputs["insecure"] is False
    assert is_secret(tags.inputs["secretKey"])
    assert plain(tags.inputs["secretKey"]) == plain(working.inputs["minioPassword"])
    self_signed = synth("dev", {"buckets": [tagged], "serviceAccounts": [], "identity": {"groups": []},
                                "gateway": {"tls": "self-signed", "s3Host": "s3.localhost"}})  # fmt: skip
    (tags,) = self_signed.of_type(BUCKET_TAGS)
    assert tags.inputs["endpoint"].startswith("https://") and tags.inputs["insecure"] is True
    assert synth("dev").of_type(BUCKET_TAGS) == [], "no tags, no resource"


def test_the_tags_provider_updates_in_place_and_replaces_only_for_another_bucket():
    old = {"bucket": "logs", "tags": {"team": "a"}, "endpoint": "http://s3:9000", "accessKey": "k",
           "secretKey": "s", "insecure": False}  # fmt: skip
    provider = BucketTagsProvider()
    assert not provider.diff("logs-tags", old, dict(old)).changes
    retagged = provider.diff("logs-tags", old, {**old, "tags": {"team": "b"}})
    assert retagged.changes and retagged.replaces == []
    moved = provider.diff("logs-tags", old, {**old, "bucket": "other"})
    assert moved.changes and moved.replaces == ["bucket"]
    assert tag_set({"b": "2", "a": "1"}) == {
        "TagSet": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    }


@pytest.mark.parametrize(
    ("tags", "key"),
    [
        ({"bad#key": "x"}, "buckets[0].tags"),
        ({"": "x"}, "buckets[0].tags"),
        ({"k" * 129: "x"}, "buckets[0].tags"),
        ({"team": "a&b"}, "buckets[0].tags.team"),
        ({"team": "v" * 257}, "buckets[0].tags.team"),
        ({f"k{i}": "v" for i in range(51)}, "buckets[0].tags"),
    ],
)
def test_tags_minio_would_refuse_are_refused_naming_the_key(tags, key):
    values = {"buckets": [{"name": "logs", "retentionDays": 90, "tags": tags}], "serviceAccounts": [],
              "identity": {"groups": []}}  # fmt: skip
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values)
    assert f"minio-platform:{key} = " in str(raised.value), raised.value


@pytest.mark.parametrize(
    ("level", "on_bucket", "on_objects"),
    [
        ("download", ["s3:GetBucketLocation", "s3:ListBucket"], ["s3:GetObject"]),
        ("upload", ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
         ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject"]),
        ("public", ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
         ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts",
          "s3:PutObject"]),
    ],
)  # fmt: skip
def test_anonymous_access_is_mc_anonymous_levels_as_the_buckets_policy(synth, level, on_bucket, on_objects):
    buckets = [{"name": "backups-postgresql", "retentionDays": 30}, {"name": "share", "retentionDays": 9,
                                                                      "anonymous": level}]  # fmt: skip
    synthesis = synth("dev", {"buckets": buckets})
    (policy,) = synthesis.of_type(BUCKET_POLICY)
    assert policy.inputs["bucket"] == "share"
    bucket_statement, object_statement = json.loads(policy.inputs["policy"])["Statement"]
    assert bucket_statement["Principal"] == {"AWS": ["*"]} and bucket_statement["Action"] == on_bucket
    assert bucket_statement["Resource"] == ["arn:aws:s3:::share"]
    assert object_statement["Action"] == on_objects and object_statement["Resource"] == [
        "arn:aws:s3:::share/*"
    ]
    assert {b.inputs["acl"] for b in synthesis.of_type(BUCKET)} == {"private"}


def test_no_bucket_policy_without_anonymous_access_and_the_mark_only_with_it(synth):
    assert synth("dev").of_type(BUCKET_POLICY) == []
    with pytest.raises(SettingsError, match=r"publicOnPurpose = True: only with anonymous"):
        settings_from_config({"buckets": [{"name": "logs", "retentionDays": 9, "publicOnPurpose": True}],
                              "serviceAccounts": [], "identity": {"groups": []}})  # fmt: skip


# --- IAM in the stack (#33 item 4) --------------------------------------------------------------------

READER = {
    "name": "reports-reader",
    "statements": [
        {"actions": ["s3:ListBucket"], "resources": ["arn:aws:s3:::logs"],
         "conditions": {"StringLike": {"s3:prefix": ["reports/*"]}}},
        {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::logs/reports/*"]},
    ],
}  # fmt: skip
IAM = {
    "iam": {
        "policies": [READER],
        "groups": [{"name": "analysts", "policies": ["reports-reader", "diagnostics"]}],
        "users": [{"name": "etl-robot", "groups": ["analysts"], "policies": ["readonly"]}],
    },
    "iamUserPasswords": {"secure": "x"},
}


def test_inline_policies_users_and_groups_map_to_the_providers_resources(synth):
    from tests.graph import GROUP, GROUP_ATTACHMENT, GROUP_MEMBERSHIP

    synthesis = synth("dev", IAM)
    (custom,) = [p for p in synthesis.of_type(POLICY) if p.inputs["name"] == "reports-reader"]
    document = json.loads(custom.inputs["policy"])
    assert document["Statement"][0]["Condition"] == {"StringLike": {"s3:prefix": ["reports/*"]}}
    (user,) = [u for u in synthesis.of_type(USER) if u.inputs["name"] == "etl-robot"]
    assert is_secret(user.inputs["secret"]), "the password travels as a secret"
    attachments = {(a.inputs["userName"], a.inputs["policyName"]) for a in synthesis.of_type(ATTACHMENT)}
    assert ("etl-robot", "readonly") in attachments
    (group,) = synthesis.of_type(GROUP)
    assert group.inputs["name"] == "analysts"
    group_policies = {
        (a.inputs["groupName"], a.inputs["policyName"]): a for a in synthesis.of_type(GROUP_ATTACHMENT)
    }
    assert set(group_policies) == {("analysts", "reports-reader"), ("analysts", "diagnostics")}
    assert custom.urn in group_policies[("analysts", "reports-reader")].dependencies
    (membership,) = synthesis.of_type(GROUP_MEMBERSHIP)
    assert membership.inputs["group"] == "analysts" and membership.inputs["users"] == ["etl-robot"]
    assert "offline-synth-placeholder-for-iamUserPasswords" not in json.dumps(plain(synthesis.files))


def iam_problem(iam: dict, passwords: str | None = "etl-robot=long-enough-pw") -> str:
    values: dict = {"iam": iam}
    if passwords is not None:
        values["iamUserPasswords"] = passwords
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values, frozenset({"iamUserPasswords"} if passwords is not None else ()))
    return str(raised.value)


WIDE = {"actions": ["s3:*"], "resources": ["arn:aws:s3:::*"]}
ONE_READ = {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::a/*"]}


@pytest.mark.parametrize(
    ("iam", "says"),
    [
        ({"policies": [{"name": "wide", "statements": [WIDE]}]},
         """iam.policies[0].statements[0].actions = ["s3:*"]: a wildcard action on every bucket"""),
        ({"policies": [{"name": "server", "statements": [{"actions": ["admin:*"]}]}]},
         "only a policy with admin: true"),
        ({"policies": [{"name": "odd", "statements": [{**ONE_READ, "resources": ["logs"]}]}]},
         "is not an arn:aws:s3::: ARN"),
        ({"policies": [{"name": "readonly", "statements": [WIDE]}]},
         "a built-in policy's or a template's name"),
        ({"policies": [{"name": "mine-policy", "statements": [ONE_READ]}]}, "are the program's"),
        ({"users": [{"name": "etl-robot", "policies": ["nope"]}]}, "iam.users[0].policies[0] = 'nope'"),
        ({"users": [{"name": "etl-robot", "groups": ["ghosts"]}]}, "iam.users[0].groups[0] = 'ghosts'"),
        ({"users": [{"name": "backup-service"}]}, "iam.users[0].name = 'backup-service': the program's own"),
        ({"groups": [{"name": "a", "policies": []}, {"name": "a"}]}, "iam.groups[1].name"),
    ],
)  # fmt: skip
def test_iam_mistakes_are_refused_naming_the_key(iam, says):
    message = iam_problem(iam, "etl-robot=long-enough-pw" if "users" in iam else None)
    assert says in message, message


def test_a_wildcard_on_every_bucket_passes_when_marked_admin():
    wide = {"name": "wide", "statements": [WIDE], "admin": True}
    settings = settings_from_config({"iam": {"policies": [wide]}})
    assert settings.iam.policies[0].document()["Statement"][0]["Action"] == ["s3:*"]


@pytest.mark.parametrize(
    ("passwords", "says"),
    [
        (None, "iam.users[0] = 'etl-robot': its password"),
        ("someone-else=long-enough-pw", "iam.users[0] = 'etl-robot': its password"),
        ("etl-robot=short", "etl-robot's password: at least 8 characters"),
        ("etl-robot=long-enough-pw\nghost=long-enough-pw", "a password for ghost, who is not in iam.users"),
        ("no equals here", "line 1 is not user=password"),
    ],
)
def test_every_user_has_a_password_and_none_is_shown(passwords, says):
    message = iam_problem({"users": [{"name": "etl-robot"}]}, passwords)
    assert says in message and "long-enough-pw" not in message
    assert "=short" not in message


HOOKED = {
    "cluster": {"extraEnvironment": {"MINIO_NOTIFY_WEBHOOK_ENABLE_APP": "on",
                                     "MINIO_NOTIFY_WEBHOOK_ENDPOINT_APP": "https://hooks.example.org/minio"}},
    "buckets": [{"name": "backups-postgresql", "retentionDays": 30},
                {"name": "logs", "retentionDays": 9, "notifications": [
                    {"webhook": "APP", "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
                     "prefix": "in/", "suffix": ".csv"}]}],
}  # fmt: skip


def test_a_notification_maps_to_the_providers_queue_on_the_nodes_target(synth):
    from tests.graph import NOTIFICATION

    synthesis = synth("dev", HOOKED)
    (notification,) = synthesis.of_type(NOTIFICATION)
    assert notification.inputs["bucket"] == "logs"
    assert notification.inputs["queues"] == [{
        "queueArn": "arn:minio:sqs::APP:webhook", "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
        "filterPrefix": "in/", "filterSuffix": ".csv",
    }]  # fmt: skip
    for node in minio_nodes(synthesis.resources):
        assert minio_settings_of(synthesis, node)["MINIO_NOTIFY_WEBHOOK_ENABLE_APP"] == "on"


@pytest.mark.parametrize(
    ("environment", "notification", "key"),
    [
        ({}, {"webhook": "APP"}, "buckets[1].notifications[0].webhook = 'APP'"),  # no such target
        ({"MINIO_NOTIFY_WEBHOOK_ENABLE_APP": "off", "MINIO_NOTIFY_WEBHOOK_ENDPOINT_APP": "https://h"},
         {"webhook": "APP"}, "buckets[1].notifications[0].webhook"),
        (HOOKED["cluster"]["extraEnvironment"], {"webhook": "APP", "events": ["put"]},
         "buckets[1].notifications[0].events"),
        (HOOKED["cluster"]["extraEnvironment"], {"webhook": "app"}, "buckets[1].notifications[0].webhook"),
    ],
)  # fmt: skip
def test_a_notification_to_a_target_the_nodes_lack_is_refused(environment, notification, key):
    values = {
        "cluster": {"extraEnvironment": environment},
        "buckets": [{"name": "backups-postgresql", "retentionDays": 30},
                    {"name": "logs", "retentionDays": 9, "notifications": [notification]}],
    }  # fmt: skip
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values)
    assert f"minio-platform:{key}" in str(raised.value), raised.value
