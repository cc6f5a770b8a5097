"""examples/everything.yaml, the stack that uses every provisioning setting (#33 item 6), renders
under the offline synth, uses each of them, and passes the policy pack's mandatory rules."""

from __future__ import annotations

import json
import sys

import pytest

from synth.manifest import render_documents
from synth.run import ROOT, synthesize
from synth.stackfile import read_stack_file
from tests.graph import (
    BUCKET,
    BUCKET_POLICY,
    CONTAINER,
    GROUP,
    GROUP_MEMBERSHIP,
    LIFECYCLE,
    NOTIFICATION,
    POLICY,
    USER,
    VOLUME,
    minio_nodes,
    minio_settings_of,
    plain,
)

sys.path.insert(0, str(ROOT / "policies" / "pack"))  # the pack imports its modules as siblings
import rules

EXAMPLE = ROOT / "examples" / "everything.yaml"


@pytest.fixture(scope="module")
def everything():
    return synthesize(read_stack_file(EXAMPLE, "dev"))


def test_the_example_uses_every_provisioning_setting(everything):
    buckets = {b.inputs["bucket"]: b.inputs for b in everything.of_type(BUCKET)}
    assert buckets["logs"]["quota"] == 10240 * 1024 * 1024
    assert buckets["worm-records"]["objectLocking"] is True
    rules_of = {p.inputs["bucket"]: p.inputs["rules"] for p in everything.of_type(LIFECYCLE)}
    assert any(r.get("tags") for r in rules_of["logs"]) and any(r.get("filter") for r in rules_of["logs"])
    assert any(r.get("expiration") == "DeleteMarker" for r in rules_of["application-files"])
    (anonymous,) = everything.of_type(BUCKET_POLICY)
    assert anonymous.inputs["bucket"] == "public-downloads"
    assert json.loads(anonymous.inputs["policy"])["Statement"][0]["Sid"].startswith("PublicOnPurpose")
    (notification,) = everything.of_type(NOTIFICATION)
    assert notification.inputs["queues"][0]["queueArn"] == "arn:minio:sqs::APP:webhook"
    assert "reports-reader" in {p.inputs["name"] for p in everything.of_type(POLICY)}
    assert {"etl-robot", "finance-reader"} <= {u.inputs["name"] for u in everything.of_type(USER)}
    assert [g.inputs["name"] for g in everything.of_type(GROUP)] == ["analysts"]
    assert everything.of_type(GROUP_MEMBERSHIP)[0].inputs["users"] == ["etl-robot"]
    volumes = {v.inputs["name"]: v.inputs for v in everything.of_type(VOLUME)}
    assert volumes["minio4-data2"]["driverOpts"]["device"] == "/srv/minio/minio4/data2"
    for node in minio_nodes(everything.resources):
        settings = minio_settings_of(everything, node)
        assert settings["MINIO_API_REQUESTS_MAX"] == "1600" and "MINIO_OFFLINE_SYNTH_PLACEHOLDER" in settings
    files = next(c for c in everything.of_type(CONTAINER) if c.inputs["name"] == "backup-files")
    config = json.loads(
        next(u["content"] for u in plain(files.inputs["uploads"]) if u["file"].endswith(".json"))
    )
    assert config["config_export"]["schedule"] == "30 3 * * *"


def test_the_example_passes_every_mandatory_rule_of_the_pack(everything, tmp_path):
    manifest = tmp_path / "resources.json"
    manifest.write_text(render_documents(everything)["resources.json"])
    assert [f for f in rules.check_manifest(manifest, "dev") if f.mandatory] == []


def test_the_configuration_reference_links_the_example():
    assert "examples/everything.yaml" in (ROOT / "docs" / "configuration.md").read_text()
