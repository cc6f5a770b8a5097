"""Policy templates rendered per stack: well-formed, least privilege, bucket placeholders expanded."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.cluster import KMS_KEY_ID, kms_secret_key
from components.policies import (
    PolicyTemplateError,
    policy_json,
    render_policy,
    template_names,
    validate_policy,
)

RENDERINGS = [
    ("admin", []),
    ("metrics", []),
    ("bucket-readonly", ["logs", "application-files"]),
    ("backup-service", ["backups-postgresql"]),
    ("platform-admin", []),
    ("auditor", []),
    ("config-export", ["backups-postgresql"]),
]


def test_the_templates_are_the_notes_three_metrics_and_the_programs_own_identities():
    assert template_names() == [
        "admin",
        "auditor",
        "backup-service",
        "bucket-readonly",
        "config-export",
        "metrics",
        "platform-admin",
    ]


@pytest.mark.parametrize(("name", "buckets"), RENDERINGS)
def test_every_template_renders_a_well_formed_document(name, buckets):
    document = render_policy(name, buckets)
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and all(":" in a for a in statement["Action"])
        for resource in statement.get("Resource", []):
            assert resource.startswith("arn:aws:s3:::")
            assert "${bucket}" not in resource


@pytest.mark.parametrize(("name", "buckets"), [r for r in RENDERINGS if r[0] != "admin"])
def test_no_wildcard_action_outside_admin(name, buckets):
    actions = [a for s in render_policy(name, buckets)["Statement"] for a in s["Action"]]
    assert not any("*" in a for a in actions)


def test_admin_is_full_access_in_separate_statements():
    statements = render_policy("admin")["Statement"]
    assert [s["Action"] for s in statements] == [["admin:*"], ["kms:*"], ["s3:*"]]


def test_backup_service_reads_and_writes_only_its_bucket():
    statements = render_policy("backup-service", ["backups-postgresql"])["Statement"]
    objects = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert objects["Resource"] == ["arn:aws:s3:::backups-postgresql/*"]
    # Not even the other buckets' names: a backup operator's console lists its bucket alone (the
    # e2e browser tier); ListAllMyBuckets would show them all.
    assert all(r.startswith("arn:aws:s3:::backups-postgresql") for s in statements for r in s["Resource"])
    assert not [s for s in statements if "s3:ListAllMyBuckets" in s["Action"]]


def test_readonly_grants_no_write():
    actions = {a for s in render_policy("bucket-readonly", ["logs"])["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"}


def test_the_platform_administrator_manages_identities_and_bucket_settings_not_data_or_the_server():
    actions = {a for s in render_policy("platform-admin")["Statement"] for a in s["Action"]}
    objects = {a for a in actions if a.startswith("s3:") and "Object" in a and "Lock" not in a}
    assert objects == set(), "no object read, write or delete: bucket settings only"
    for forbidden in (
        "admin:ConfigUpdate",
        "admin:ServiceRestart",
        "admin:ServerUpdate",
        "admin:Heal",
        "admin:Decommission",
        "admin:KMSCreateKey",
        "admin:ExportIAM",
        "admin:ImportIAM",
    ):
        assert forbidden not in actions, forbidden  # fmt: skip
    assert {"admin:CreateUser", "admin:CreatePolicy", "admin:AttachUserOrGroupPolicy"} <= actions
    assert {"s3:CreateBucket", "s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration"} <= actions


def test_the_auditor_reads_settings_and_writes_only_verify_probes():
    statements = render_policy("auditor")["Statement"]
    admin = {a for s in statements for a in s["Action"] if a.startswith("admin:")}
    assert admin == {"admin:ServerInfo"}
    writes = [s for s in statements if {"s3:PutObject", "s3:DeleteObject"} & set(s["Action"])]
    assert [s["Resource"] for s in writes] == [["arn:aws:s3:::*/.platform-verify/*"]]
    listing = next(s for s in statements if "s3:ListBucketVersions" in s["Action"])
    assert listing["Condition"] == {"StringEquals": {"s3:prefix": [".platform-verify/"]}}
    reads = {a for s in statements for a in s["Action"]}
    assert not {"s3:GetObject", "s3:ListBucket", "s3:GetObjectVersion"} & reads


def test_the_config_export_reads_settings_and_writes_only_its_prefix_never_deletes():
    """Issue #32: it reads what an export holds (no secret: MinIO answers none) and writes under
    config/ of the backups bucket; it may not change IAM, delete, or read any object elsewhere."""
    statements = render_policy("config-export", ["backups-postgresql"])["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    admin = {a for a in actions if a.startswith("admin:")}
    assert admin == {
        "admin:ListUserPolicies", "admin:ListUsers", "admin:ListGroups", "admin:GetGroup",
        "admin:ListServiceAccounts", "admin:GetBucketQuota",
    }  # fmt: skip
    assert not {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"} & actions
    objects = [s for s in statements if {"s3:PutObject", "s3:GetObject"} & set(s["Action"])]
    assert [s["Resource"] for s in objects] == [["arn:aws:s3:::backups-postgresql/config/*"]]
    listing = next(s for s in statements if "s3:ListBucket" in s["Action"])
    assert listing["Resource"] == ["arn:aws:s3:::backups-postgresql"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["config/*"]}}


def test_only_the_programs_identities_and_admin_may_span_every_bucket():
    """The exemption is per template: a bucket-readonly document naming every bucket is refused."""
    document = render_policy("auditor")
    with pytest.raises(PolicyTemplateError, match="spans every bucket"):
        validate_policy(document)
    validate_policy(document, allow_every_bucket=True)
    with pytest.raises(PolicyTemplateError, match="wildcard"):
        validate_policy(render_policy("admin"), allow_every_bucket=True)


def test_metrics_may_only_scrape():
    assert render_policy("metrics")["Statement"] == [
        {"Sid": "ScrapeMetrics", "Effect": "Allow", "Action": ["admin:Prometheus"]}
    ]


@pytest.mark.parametrize(
    ("name", "buckets", "message"),
    [
        ("bucket-readonly", [], "is per bucket"),
        ("admin", ["logs"], "takes no buckets"),
        ("superuser", [], "no policy template"),
    ],
)
def test_rendering_refuses_what_the_template_cannot_mean(name, buckets, message):
    with pytest.raises(PolicyTemplateError, match=message):
        render_policy(name, buckets)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::logs"]}, "wildcard"),
        (
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::*/*"]},
            "spans every bucket",
        ),
        (
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::${bucket}/*"]},
            "still holds",
        ),
        ({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["logs/*"]}, "not an arn:aws:s3::: ARN"),
        ({"Effect": "Allow", "Action": ["s3:GetObject"]}, "must list the buckets"),
        (
            {
                "Effect": "Allow",
                "Action": ["admin:ServerInfo", "s3:GetObject"],
                "Resource": ["arn:aws:s3:::l"],
            },
            "mixes",
        ),
        (
            {"Effect": "Allow", "Action": ["admin:ServerInfo"], "Resource": ["arn:aws:s3:::l"]},
            "take no Resource",
        ),
        ({"Effect": "Maybe", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::l"]}, "Effect"),
        ({"Effect": "Allow", "Action": ["GetObject"], "Resource": ["arn:aws:s3:::l"]}, "is not an s3:"),
    ],
)
def test_validation_catches_malformed_or_overbroad_statements(statement, message):
    with pytest.raises(PolicyTemplateError, match=message):
        validate_policy({"Version": "2012-10-17", "Statement": [statement]})


def test_validation_requires_the_2012_version():
    with pytest.raises(PolicyTemplateError, match="Version"):
        validate_policy({"Version": "2008-10-17", "Statement": render_policy("metrics")["Statement"]})


_BUCKET = st.from_regex(r"[a-z0-9][a-z0-9\-]{1,20}[a-z0-9]", fullmatch=True)


@given(buckets=st.lists(_BUCKET, min_size=1, max_size=6, unique=True))
def test_readonly_names_exactly_the_given_buckets(buckets):
    document = render_policy("bucket-readonly", buckets)
    resources = {r for s in document["Statement"] for r in s["Resource"]}
    assert resources == {f"arn:aws:s3:::{b}" for b in buckets} | {f"arn:aws:s3:::{b}/*" for b in buckets}
    assert json.loads(policy_json(document)) == document


def test_kms_secret_key_format():
    value = kms_secret_key("k" * 32)
    key_id, encoded = value.split(":", 1)
    assert key_id == KMS_KEY_ID
    assert base64.b64decode(encoded, validate=True) == b"k" * 32
    with pytest.raises(ValueError, match="32 bytes"):
        kms_secret_key("short")


def test_no_template_shadows_a_minio_built_in_policy():
    """A group naming `readonly` gets MinIO's own read-only policy, not a template of that name."""
    from components.settings import BUILTIN_POLICIES

    assert not set(template_names()) & set(BUILTIN_POLICIES)
