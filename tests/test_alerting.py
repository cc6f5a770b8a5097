"""Alertmanager: its rendered configuration (amtool judges it), the settings that shape it, and the
container on the mocked graph. A real Alertmanager routes, inhibits and delivers in
tests/integration/test_alert_delivery.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components.alerting import CONFIG_FILE, INHIBITIONS, NOBODY, render_alertmanager_config
from components.monitoring import BACKUP_ALERTS, RULES_FILE
from components.settings import AlertingSettings
from components.settings.observability import ALERT_NAMES
from tests.conftest import require_binary

AMTOOL_HINT = "apt-get install prometheus-alertmanager (Debian ships amtool with it)"

EVERY_KIND = {
    "receivers": [
        {"name": "on-call", "severities": ["critical"], "webhookUrl": "https://pager.example.com/hook"},
        {
            "name": "storage-team",
            "email": {
                "to": "storage@example.com",
                "from": "alertmanager@example.com",
                "smarthost": "smtp.example.com:587",
                "username": "alertmanager",
            },
            "sendResolved": False,
        },
        {"name": "chat", "severities": ["warning"], "slackChannel": "#storage"},
    ],
    "groupWait": "10s",
}
SECRETS = {
    "alertSmtpPassword": {"secure": "smtp"},
    "alertWebhookToken": {"secure": "webhook"},
    "alertSlackUrl": {"secure": "slack"},
}


def rendered(settings: dict, webhook_token: bool = False) -> dict:
    return yaml.safe_load(
        render_alertmanager_config(AlertingSettings.model_validate(settings), webhook_token)
    )


def test_each_receiver_hears_its_severities_and_every_one_that_hears_an_alert_gets_it():
    config = rendered(EVERY_KIND)
    assert config["route"]["receiver"] == NOBODY
    assert config["route"]["group_wait"] == "10s"
    assert config["route"]["routes"] == [
        {"receiver": "on-call", "matchers": ['severity=~"critical"'], "continue": True},
        {"receiver": "storage-team", "matchers": ['severity=~"critical|warning"'], "continue": True},
        {"receiver": "chat", "matchers": ['severity=~"warning"'], "continue": True},
    ]
    assert [r["name"] for r in config["receivers"]] == [NOBODY, "on-call", "storage-team", "chat"]


def test_receivers_read_their_secrets_from_files_and_the_config_holds_none():
    config = rendered(EVERY_KIND, webhook_token=True)
    receivers = {r["name"]: r for r in config["receivers"]}
    (webhook,) = receivers["on-call"]["webhook_configs"]
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/alert-webhook-token",
    }
    (mail,) = receivers["storage-team"]["email_configs"]
    assert mail["auth_password_file"] == "/run/secrets/alert-smtp-password"
    assert "auth_password" not in mail and mail["require_tls"] is True and mail["send_resolved"] is False
    (slack,) = receivers["chat"]["slack_configs"]
    assert slack["api_url_file"] == "/run/secrets/alert-slack-url" and "api_url" not in slack


def test_a_webhook_without_a_token_sends_no_authorization():
    (webhook,) = rendered(EVERY_KIND)["receivers"][1]["webhook_configs"]
    assert "http_config" not in webhook


def test_the_alert_that_says_most_keeps_the_ones_it_implies_quiet():
    config = rendered({})
    inhibited = {rule["source_matchers"][0]: rule["target_matchers"][0] for rule in config["inhibit_rules"]}
    assert inhibited == {
        'alertname="MinIOWriteQuorumAtRisk"': 'alertname=~"MinIONodeDown|MinIODrivesOffline"',
        'alertname="MinIONodeDown"': 'alertname=~"MinIODrivesOffline"',
        'alertname="MinIOLogQueueFull"': 'alertname=~"MinIOLogDeliveryFailing"',
    }
    named = {source for source, _, _ in INHIBITIONS} | {t for _, targets, _ in INHIBITIONS for t in targets}
    assert named <= set(ALERT_NAMES)


# --- amtool on the rendered files ---------------------------------------------------------------


def amtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    binary = require_binary("amtool", AMTOOL_HINT)
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.render
@pytest.mark.parametrize(
    "overrides",
    [{}, {"observability": {"alerting": EVERY_KIND}, **SECRETS}],
    ids=["dev", "every-receiver-kind"],
)
def test_amtool_accepts_the_rendered_configuration(synth, overrides, tmp_path):
    (tmp_path / CONFIG_FILE).write_text(synth("dev", overrides).files[CONFIG_FILE])
    checked = amtool("check-config", CONFIG_FILE, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    receivers = 1 + len(overrides.get("observability", {}).get("alerting", {}).get("receivers", []))
    assert f" - {len(INHIBITIONS)} inhibit rules" in checked.stdout
    assert f" - {receivers} receivers" in checked.stdout


@pytest.mark.render
def test_a_route_to_a_missing_receiver_fails_amtool(tmp_path):
    config = rendered(EVERY_KIND)
    config["receivers"] = [r for r in config["receivers"] if r["name"] != "chat"]
    (tmp_path / CONFIG_FILE).write_text(yaml.safe_dump(config))
    checked = amtool("check-config", CONFIG_FILE, cwd=tmp_path)
    assert checked.returncode != 0
    assert '"chat"' in checked.stdout + checked.stderr


# --- the settings ----------------------------------------------------------------------------------


def problem(overrides: dict, secret_keys: frozenset[str] = frozenset()) -> str:
    from components.settings import SettingsError
    from components.settings.loading import settings_from_config

    with pytest.raises(SettingsError) as raised:
        settings_from_config(overrides, secret_keys)
    return str(raised.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"observability": {"alerting": {"receivers": [{"name": "ops"}]}}},
            "observability.alerting.receivers[0].webhookUrl = None: a receiver needs webhookUrl, email or "
            "slackChannel",
        ),
        (
            {"observability": {"alerting": {"receivers": [{"name": "ops", "webhookUrl": "ftp://x"}]}}},
            "receivers[0].webhookUrl = 'ftp://x': an http(s):// URL",
        ),
        (
            {"observability": {"alerting": {"receivers": [{"name": "ops", "webhookUrl": "http://a/b"}] * 2}}},
            'observability.alerting.receivers = ["ops"]: each receiver name once',
        ),
        (
            {"observability": {"alertFor": {"MinIONodeGone": "1m"}}},
            'observability.alertFor = ["MinIONodeGone"]: alert names, among MinIONodeDown',
        ),
        (
            {"observability": {"alertFor": {"MinIONodeDown": "soon"}}},
            "observability.alertFor.MinIONodeDown = 'soon': a Prometheus duration",
        ),
        (
            {"observability": {"mode": "none", "alerting": EVERY_KIND}},
            "observability.alerting = '(set)': only used where the stack runs Prometheus",
        ),
        (
            {"observability": {"alerting": EVERY_KIND}},
            "alertSmtpPassword = None: required by the e-mail receivers with a username",
        ),
        (
            {"observability": {"alerting": EVERY_KIND}},
            "alertSlackUrl = None: required by the receivers with slackChannel",
        ),
        (
            {"observability": {"metricsAccessKey": "scraper"}},
            "metricsSecretKey = None: required with observability.metricsAccessKey",
        ),
    ],
)
def test_alerting_settings_refuse_naming_the_key(values, expected):
    assert expected in problem(values)


def test_a_receiver_secret_nothing_uses_is_refused():
    message = problem({"alertSlackUrl": "https://hooks.slack.example/x"}, frozenset({"alertSlackUrl"}))
    assert "alertSlackUrl = '[secret]': only used by a receiver with slackChannel" in message
    assert "hooks.slack.example" not in message


# --- the container on the mocked graph -------------------------------------------------------------


def test_dev_runs_alertmanager_beside_prometheus_and_prometheus_sends_to_it(synth):
    from tests.graph import CONTAINER, uploads_of

    synthesis = synth("dev")
    alertmanager = synthesis.named(CONTAINER, "minio-alerting-alertmanager")
    uploads = uploads_of(synthesis, alertmanager)
    assert uploads[f"/etc/alertmanager/{CONFIG_FILE}"]["content"] == synthesis.files[CONFIG_FILE]
    assert [(p["internal"], p["external"], p["ip"]) for p in alertmanager.inputs["ports"]] == [
        (9093, 9093, "127.0.0.1")
    ]
    assert [n["name"] for n in alertmanager.inputs["networksAdvanced"]] == ["monitoring-net"]
    assert alertmanager.inputs["user"] == "65534:0" and alertmanager.inputs["readOnly"] is True
    assert alertmanager.inputs["wait"] is True
    scrape = yaml.safe_load(synthesis.files["prometheus.yml"])
    assert scrape["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]}


def test_receiver_secrets_are_uploaded_as_secret_files(synth):
    from synth.mocks import is_secret
    from tests.graph import CONTAINER, files_of, uploads_of

    synthesis = synth("dev", {"observability": {"alerting": EVERY_KIND}, **SECRETS})
    alertmanager = synthesis.named(CONTAINER, "minio-alerting-alertmanager")
    uploads = uploads_of(synthesis, alertmanager)
    for name in ("alert-smtp-password", "alert-webhook-token", "alert-slack-url"):
        assert uploads[f"/run/secrets/{name}"]["permissions"] == "0440"
    assert is_secret(files_of(synthesis, alertmanager).inputs["uploads"])
    assert not any(e for e in alertmanager.inputs.get("envs") or [] if "alert" in e.lower())


def test_alert_for_and_scrape_interval_reach_the_rules_and_prometheus(synth):
    synthesis = synth(
        "dev", {"observability": {"alertFor": {"MinIONodeDown": "15s"}, "scrapeInterval": "5s"}}
    )
    rules = {r["alert"]: r for r in yaml.safe_load(synthesis.files[RULES_FILE])["groups"][0]["rules"]}
    assert rules["MinIONodeDown"]["for"] == "15s"
    assert rules["MinIOWriteQuorumAtRisk"]["for"] == "1m"
    scrape = yaml.safe_load(synthesis.files["prometheus.yml"])
    assert scrape["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}


def test_mode_metrics_runs_prometheus_and_alertmanager_and_nothing_of_logs_or_grafana(synth):
    from tests.graph import CONTAINER, env_of, minio_nodes

    synthesis = synth("dev", {"observability": {"mode": "metrics"}})
    names = {c.inputs["name"] for c in synthesis.of_type(CONTAINER)}
    assert {"prometheus", "alertmanager"} <= names
    assert not names & {"grafana", "loki", "alloy", "log-gate"}
    assert not [r for r in synthesis.resources if r.type.startswith("grafana:")]
    nodes = minio_nodes(synthesis.resources)
    assert len(nodes) == 4
    for node in nodes:
        assert not [k for k in env_of(node) if k.startswith(("MINIO_AUDIT_WEBHOOK", "MINIO_LOGGER_WEBHOOK"))]
    assert "grafana_dashboard_url" not in synthesis.outputs
    assert "metrics_bearer_token" in synthesis.outputs
    assert synthesis.outputs["alertmanager_url"] == "http://127.0.0.1:9093"
    # No log webhooks, so no alerts about them.
    rules = [r["alert"] for r in yaml.safe_load(synthesis.files[RULES_FILE])["groups"][0]["rules"]]
    assert rules == [name for name in ALERT_NAMES if "Log" not in name and name not in BACKUP_ALERTS]


def test_an_existing_metrics_identity_needs_no_minio_provider(synth):
    """The e2e tier's shape: no buckets, accounts or templates, and the metrics identity kept outside
    the program, so nothing registers inside MinIO and Prometheus scrapes as the given identity."""
    import jwt

    from tests.graph import CONTAINER, uploads_of

    synthesis = synth(
        "dev",
        {
            "observability": {"mode": "metrics", "metricsAccessKey": "scraper"},
            "metricsSecretKey": {"secure": "k"},
            "buckets": [],
            "serviceAccounts": [],
            "identity": {"groups": [{"name": "storage-admins", "policy": "consoleAdmin"}]},
        },
    )
    assert not [r for r in synthesis.resources if r.type.startswith("minio:")]
    prometheus = synthesis.named(CONTAINER, "minio-monitoring-prometheus")
    token = uploads_of(synthesis, prometheus)["/etc/prometheus/minio.token"]["content"]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "scraper"
