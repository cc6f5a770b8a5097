"""`make info` / `python -m day2 summary`: what a stack gave you, without a single secret."""

from __future__ import annotations

import io
import json
import sys

import pytest

from day2.cli import main
from synth.mocks import is_secret
from synth.run import mask
from tests.graph import plain


def test_admin_passwords_are_secret_outputs(synth):
    outputs = synth("dev").outputs
    for name in ("keycloak_admin_password", "grafana_admin_password", "minio_root_password"):
        assert is_secret(outputs[name]), name
    assert outputs["keycloak_admin_user"] == "admin" and outputs["grafana_admin_user"] == "admin"
    assert outputs["keycloak_admin_url"] == "http://localhost:8080/admin/master/console/"
    assert outputs["grafana_url"] == "http://localhost:3000"


def test_prod_has_no_admin_passwords_of_services_it_does_not_run(synth):
    outputs = synth("prod").outputs
    assert not {"keycloak_admin_password", "grafana_admin_password", "keycloak_admin_url"} & set(outputs)
    assert outputs["grafana_url"].startswith("https://")


def summary_of(outputs: dict, stack: str, monkeypatch, capsys, show_secrets: bool = False) -> str:
    """The summary of ``outputs`` as ``pulumi stack output --json`` prints them: secrets masked, or
    in plain text with ``--show-secrets`` (someone piping the wrong command)."""
    shown = json.dumps(plain(outputs) if show_secrets else mask(outputs))
    monkeypatch.setattr(sys, "stdin", io.StringIO(shown))
    assert main(["summary", "--stack", stack]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("show_secrets", [False, True], ids=["masked", "show-secrets"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_summary_says_where_to_go_and_how_to_sign_in_without_a_secret(
    synth, stack, show_secrets, monkeypatch, capsys
):
    """The README's promise, "never prints a password", holds even when the summary is handed every
    secret in plain text: it prints the command that reveals one, never the value."""
    synthesis = synth(stack)
    if show_secrets:
        fed = json.dumps(plain(synthesis.outputs))
        assert "minio_root_password" in synthesis.outputs
        assert [v for v in synthesis.secret_values if v in fed], "the outputs fed carry no secret"
    text = summary_of(synthesis.outputs, stack, monkeypatch, capsys, show_secrets)
    for name in ("console_url", "s3_endpoint", "sso_issuer_url", "grafana_url", "database_s3_endpoint"):
        assert synthesis.outputs[name] in text, name
    assert f"pulumi stack output minio_root_password --show-secrets --stack {stack}" in text
    if stack == "dev":
        # dev's console signs in with Keycloak; the access keys are on the break-glass path.
        assert "signs in with Keycloak; break-glass access keys at" in text
        assert "http://localhost/minio-console/login?access_keys=1 (the root user minio-root: pulumi" in text
        assert synthesis.outputs["keycloak_admin_url"] in text
        assert "pulumi stack output keycloak_admin_password --show-secrets --stack dev" in text
        assert "pulumi stack output grafana_admin_password --show-secrets --stack dev" in text
        assert "pulumi stack output sso_demo_users --show-secrets --stack dev" in text
    assert synthesis.secret_values and not [v for v in synthesis.secret_values if v in text]


def test_a_stack_without_monitoring_says_so(synth, monkeypatch, capsys):
    outputs = synth("dev", {"observability": {"mode": "none"}}).outputs
    text = summary_of(outputs, "dev", monkeypatch, capsys)
    assert "none (observability.mode: none)" in text and "Grafana" not in text


def test_the_check_it_names_runs_as_the_auditor_and_root_only_without_one(synth, monkeypatch, capsys):
    text = summary_of(synth("dev").outputs, "dev", monkeypatch, capsys)
    assert (
        "Check it end to end (as the read-only platform-auditor; root is for emergencies only): "
        "pulumi stack output --json --show-secrets --stack dev | python -m day2 verify --outputs -"
    ) in text
    nothing_inside = {
        "observability": {"mode": "none"},
        "buckets": [],
        "serviceAccounts": [],
        "identity": {"groups": [{"name": "storage-admins", "policy": "consoleAdmin"}]},
    }
    text = summary_of(synth("dev", nothing_inside).outputs, "dev", monkeypatch, capsys)
    assert "(as root: a stack that manages nothing inside MinIO has no auditor identity)" in text
    assert "python -m day2 verify --account root --outputs -" in text
