"""The configuration export's document and its comparison (#32 item 4), without a cluster. Against
the real MinIO of the pinned build: tests/integration/test_day2.py (export, change, dry run)."""

from __future__ import annotations

import copy
import json

import pytest

from day2.cli import main
from day2.cluster_config import FORMAT, Difference, differences, export_key, normal_policy, parse_export
from day2.errors import ExitCode, UsageError

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": ["arn:aws:s3:::a/*"]}
    ],
}
DOCUMENT = {
    "format": FORMAT,
    "policies": {"writer": normal_policy(POLICY)},
    "users": {"alice": {"status": "enabled", "policies": ["writer"], "groups": ["team"]}},
    "groups": {"team": {"status": "enabled", "members": ["alice"], "policies": []}},
    "service_accounts": {
        "svc-1": {"parent": "alice", "name": "", "description": "", "status": "on", "expiration": None,
                  "policy": None},
    },
    "buckets": {"files": {"versioning": "Enabled", "object_lock": None, "lifecycle": [], "encryption": [],
                          "quota": None, "tags": {}}},
}  # fmt: skip


def test_an_unchanged_cluster_has_no_difference_whatever_order_minio_answers_in():
    live = copy.deepcopy(DOCUMENT)
    live["policies"]["writer"]["Statement"][0]["Action"].reverse()  # MinIO's order changes per call
    assert (
        differences(DOCUMENT, {**live, "policies": {"writer": normal_policy(live["policies"]["writer"])}})
        == []
    )
    assert normal_policy(POLICY) == normal_policy(live["policies"]["writer"])


def test_each_kind_of_difference_is_named_with_its_fields():
    live = copy.deepcopy(DOCUMENT)
    del live["policies"]["writer"]
    live["users"]["bob"] = {"status": "enabled", "policies": [], "groups": []}
    live["groups"]["team"]["members"] = []
    live["buckets"]["files"]["versioning"] = "Suspended"
    live["buckets"]["files"]["lifecycle"] = [{"ID": "x"}]
    del live["service_accounts"]["svc-1"]
    assert differences(DOCUMENT, live) == [
        Difference("add", "policies", "writer"),
        Difference("extra", "users", "bob"),
        Difference("change", "groups", "team", ("members",)),
        Difference("add", "service_accounts", "svc-1"),
        Difference("change", "buckets", "files", ("lifecycle", "versioning")),
    ]
    changed = copy.deepcopy(DOCUMENT)
    changed["policies"]["writer"]["Statement"][0]["Resource"] = ["arn:aws:s3:::b/*"]
    assert differences(DOCUMENT, changed) == [Difference("change", "policies", "writer", ("document",))]


def test_keys_never_repeat_and_sort_by_time():
    keys = [export_key() for _ in range(50)]
    assert len(set(keys)) == 50 and all(k.startswith("config/cluster-config-") for k in keys)
    assert keys[0][:40] <= keys[-1][:40]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ('{"format": "something else"}', "is not a configuration export"),
        (json.dumps({"format": FORMAT, "policies": {}}), "has no users, groups, service_accounts, buckets"),
    ],
)
def test_what_is_not_an_export_is_refused(text, message):
    with pytest.raises(UsageError, match=message):
        parse_export(text, "x.json")


def test_import_config_only_compares(capsys):
    assert main(["import-config", "--endpoint", "http://127.0.0.1:1"]) == ExitCode.USAGE
    assert "compares only (--dry-run)" in capsys.readouterr().err


def test_import_config_refuses_a_file_that_is_no_export_before_connecting(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINIO_ACCESS_KEY", "k")
    monkeypatch.setenv("MINIO_SECRET_KEY", "s")
    (tmp_path / "x.json").write_text('{"format": "other"}')
    code = main(
        ["import-config", "--dry-run", "--endpoint", "http://127.0.0.1:1", "--from", str(tmp_path / "x.json")]
    )
    assert code == ExitCode.USAGE
    assert "is not a configuration export" in capsys.readouterr().err
