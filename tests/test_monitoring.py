"""Prometheus scrape configuration, token and alert rules; promtool judges the rendered files."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import yaml

from components.monitoring import (
    BACKUP_ALERTS,
    DAY_SECONDS,
    RULES_FILE,
    TOKEN_FILE,
    ScrapeTargets,
    TokenLifetime,
    alert_rules,
    metrics_token,
    render_alert_rules,
    render_scrape_config,
    token_expiry,
)
from components.pools import PoolShape, plan_pools
from components.settings import DEFAULT_LOG_QUEUE_SIZE
from components.settings.observability import ALERT_NAMES
from tests.conftest import require_binary

PROMTOOL_HINT = "apt-get install prometheus (Debian ships promtool with it)"


SECRET = "a-secret-of-forty-characters-0123456789"
LIFETIME = TokenLifetime(expires=200 * DAY_SECONDS, days=90)
"""The rules rendered for a token expiring on day 200 after 1970-01-01, reissued every 90 days."""


def test_token_is_what_minio_verifies():
    expires = token_expiry(90, date(2026, 12, 4))
    token = metrics_token("prometheus-metrics", SECRET, expires)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # MinIO's own choice of key; see metrics_token
        claims = jwt.decode(token, SECRET, algorithms=["HS512"], options={"verify_exp": False})
    assert claims == {"exp": expires, "sub": "prometheus-metrics", "iss": "prometheus"}
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert metrics_token("prometheus-metrics", SECRET, expires) == token  # stable
    with pytest.raises(jwt.InvalidSignatureError), pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        jwt.decode(token, "another-secret-entirely-0000000000000000", algorithms=["HS512"])


@pytest.mark.parametrize("days", [1, 7, 90, 366])
def test_every_day_leaves_a_token_of_more_than_one_period_and_at_most_two(days):
    """Over three periods from an arbitrary day: the bounds hold, runs within a period agree, and
    the token changes exactly where a period ends."""
    first = date(2026, 12, 4)
    changes = 0
    previous = None
    for offset in range(3 * days):
        today = first + timedelta(days=offset)
        expires = token_expiry(days, today)
        issued_at = datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()
        assert days * DAY_SECONDS < expires - issued_at <= 2 * days * DAY_SECONDS, (today, expires)
        assert expires % DAY_SECONDS == 0  # a UTC midnight
        if previous is not None and expires != previous:
            changes += 1
            assert expires == previous + days * DAY_SECONDS
            assert (today - date(1970, 1, 1)).days % days == 0  # the first day of a period
        previous = expires
    assert changes in (2, 3)


def test_token_expiry_is_taken_from_todays_utc_date():
    today = datetime.now(UTC).date()
    assert token_expiry(90) == token_expiry(90, today)


def test_scrape_config_jobs_paths_and_auth():
    config = yaml.safe_load(
        render_scrape_config(ScrapeTargets("gateway:9000", ["minio1:9000", "minio2:9000"]))
    )
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert {name: j["metrics_path"] for name, j in jobs.items()} == {
        "minio-cluster": "/minio/v2/metrics/cluster",
        "minio-nodes": "/minio/v2/metrics/node",
        "minio-buckets": "/minio/v2/metrics/bucket",
    }
    assert jobs["minio-cluster"]["static_configs"] == [{"targets": ["gateway:9000"]}]
    assert jobs["minio-nodes"]["static_configs"] == [{"targets": ["minio1:9000", "minio2:9000"]}]
    for job in jobs.values():
        assert job["authorization"] == {"type": "Bearer", "credentials_file": TOKEN_FILE}
    assert config["rule_files"] == [RULES_FILE]


def test_rules_carry_for_severity_summary_and_runbook():
    rules = alert_rules(plan_pools([PoolShape(4, 1)]), LIFETIME, backup_overdue_seconds=3600)
    # The settings know every rule by name (observability.alertFor).
    assert [r["alert"] for r in rules] == list(ALERT_NAMES)
    without = alert_rules(plan_pools([PoolShape(4, 1)]), LIFETIME)
    assert [r["alert"] for r in without] == [name for name in ALERT_NAMES if name not in BACKUP_ALERTS]
    for rule in rules:
        assert rule["for"] and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"]


@pytest.mark.parametrize(("nodes", "drives", "threshold"), [(4, 1, 1), (8, 2, 2), (16, 1, 4)])
def test_quorum_alert_threshold_follows_the_erasure_plan(nodes, drives, threshold):
    rules = {r["alert"]: r for r in alert_rules(plan_pools([PoolShape(nodes, drives)]), LIFETIME)}
    assert rules["MinIOWriteQuorumAtRisk"]["expr"].endswith(f">= {threshold}")
    assert f"< {nodes}" in rules["MinIONodeDown"]["expr"]


# --- promtool on the rendered files ----------------------------------------------------------------


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    binary = require_binary("promtool", PROMTOOL_HINT)
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.render
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_promtool_accepts_each_stacks_rendered_files(synth, stack, tmp_path):
    files = synth(stack).files
    (tmp_path / "prometheus.yml").write_text(files["prometheus.yml"])
    (tmp_path / RULES_FILE).write_text(files[RULES_FILE])
    (tmp_path / TOKEN_FILE).write_text("placeholder-token-for-syntax-check")
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = promtool("check", "rules", RULES_FILE, cwd=tmp_path)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout


def series(metric: str, values: str, job: str = "minio-cluster", instance: str = "gateway:9000") -> dict:
    return {"series": f'{metric}{{job="{job}",instance="{instance}"}}', "values": values}


# MinIO labels its log-target metrics by target: audit_http_1 (audit), sys_http_0 (server log). The
# counter grows with each failed redelivery and each dropped event (tests/integration/test_audit_queue.py);
# the queue length is the in-memory buffer, which holds logQueueSize (100 000 in dev) when full.
QUEUE = 'minio_audit_target_queue_length{job="minio-nodes",instance="minio3:9000",target_id="audit_http_1"}'
FAILED = 'minio_audit_failed_messages{job="minio-nodes",instance="minio3:9000",target_id="audit_http_1"}'

# Each alert: input series, the time to evaluate, and the summary it must show (None: stays quiet).
CASES = {
    "MinIONodeDown": [
        ([series("minio_cluster_nodes_online_total", "3x10")], "7m", "MinIO: 3 of 4 nodes online"),
        ([series("minio_cluster_nodes_online_total", "4x10")], "7m", None),
        ([series("minio_cluster_nodes_online_total", "3x3 4x7")], "7m", None),  # back within 5m
    ],
    "MinIOHighStorageUsage": [
        (
            [series("minio_cluster_capacity_usable_total_bytes", "1000x15"),
             series("minio_cluster_capacity_usable_free_bytes", "100x15")],
            "12m", "MinIO usable capacity is 90% used",
        ),
        (
            [series("minio_cluster_capacity_usable_total_bytes", "1000x15"),
             series("minio_cluster_capacity_usable_free_bytes", "200x15")],
            "12m", None,
        ),
    ],
    "MinIOHighErrorRate": [
        (
            [series("minio_s3_requests_errors_total", "0+600x15", "minio-nodes", "minio1:9000"),
             series("minio_s3_requests_errors_total", "0+600x15", "minio-nodes", "minio2:9000")], "12m",
            "MinIO answers 20 failed S3 requests per second",  # 10/s on each of two nodes
        ),
        # 1/s on one node
        ([series("minio_s3_requests_errors_total", "0+60x15", "minio-nodes", "minio1:9000")], "12m", None),
        # MinIO's cluster endpoint exposes no such series; the rule must not read it there
        ([series("minio_s3_requests_errors_total", "0+1200x15")], "12m", None),
    ],
    "MinIODrivesOffline": [
        ([series("minio_cluster_drive_offline_total", "1x10")], "7m", "MinIO: 1 drive(s) offline"),
        ([series("minio_cluster_drive_offline_total", "0x10")], "7m", None),
    ],
    "MinIOWriteQuorumAtRisk": [
        (
            [series("minio_cluster_nodes_offline_total", "1x5")], "3m",
            "MinIO: one more node loss stops every write (write quorum 3 of 4 drives per set)",
        ),
        ([series("minio_cluster_nodes_offline_total", "0x5")], "3m", None),
    ],
    "MinIOLogDeliveryFailing": [
        ([{"series": FAILED, "values": "0x5 3x10"}], "8m",
         "MinIO node minio3:9000 cannot deliver audit or server-log events to the log pipeline"),
        ([{"series": FAILED, "values": "3x15"}], "8m", None),  # failed long ago, none since
        ([{"series": FAILED, "values": "0x15"}], "8m", None),
    ],
    "MinIOLogQueueFull": [
        ([{"series": QUEUE, "values": "0x3 100000x5"}], "5m",
         "MinIO node minio3:9000 is dropping audit or server-log events: its queues are full"),
        ([{"series": QUEUE, "values": "0x3 89999x5"}], "5m", None),  # filling, not full
    ],
    "MinIOMetricsDown": [
        (
            [{"series": 'up{job="minio-nodes",instance="minio2:9000"}', "values": "0x10"}], "7m",
            "Prometheus cannot scrape minio-nodes at minio2:9000",
        ),
        ([{"series": 'up{job="minio-nodes",instance="minio2:9000"}', "values": "1x10"}], "7m", None),
    ],
}  # fmt: skip


@pytest.mark.render
@pytest.mark.parametrize("alert", sorted(CASES))
def test_promtool_proves_each_alert_fires_and_stays_quiet(synth, alert, tmp_path):
    (tmp_path / RULES_FILE).write_text(synth("dev").files[RULES_FILE])
    tests = []
    rule = next(r for r in alert_rules(plan_pools([PoolShape(4, 1)]), LIFETIME) if r["alert"] == alert)
    for input_series, at, summary in CASES[alert]:
        expected = []
        if summary is not None:
            labels = {"severity": rule["labels"]["severity"], **_labels(input_series, rule["expr"])}
            annotations = {"summary": summary, "runbook": rule["annotations"]["runbook"]}
            expected = [{"exp_labels": labels, "exp_annotations": annotations}]
        tests.append(
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
            }
        )
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": [RULES_FILE], "tests": tests}))
    result = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.render
def test_promtool_proves_the_token_alert_fires_once_its_issuing_period_is_over(tmp_path):
    """Rendered for a token expiring on day 200 with 90-day periods: quiet while more than 90 days
    are left (day 105), firing an hour after fewer are (day 111: 89 days left), still at day 199."""
    (tmp_path / RULES_FILE).write_text(render_alert_rules(plan_pools([PoolShape(4, 1)]), LIFETIME))
    rule = next(
        r
        for r in alert_rules(plan_pools([PoolShape(4, 1)]), LIFETIME)
        if r["alert"] == "MinIOMetricsTokenExpiring"
    )
    firing = {"severity": "warning"}

    def expected(left: str) -> list[dict]:
        summary = f"The metrics token Prometheus scrapes MinIO with has {left} left"
        return [
            {
                "exp_labels": firing,
                "exp_annotations": {"summary": summary, "runbook": rule["annotations"]["runbook"]},
            }
        ]

    cases = [
        ("105d", []),
        ("110d", []),
        ("111d", expected("89d 0h 0m 0s")),
        ("199d", expected("1d 0h 0m 0s")),
    ]
    tests = [
        {
            "interval": "1h",
            "input_series": [],
            "alert_rule_test": [
                {"eval_time": at, "alertname": "MinIOMetricsTokenExpiring", "exp_alerts": alerts}
                for at, alerts in cases
            ],
        }
    ]
    document = {"rule_files": [RULES_FILE], "evaluation_interval": "1h", "tests": tests}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(document))
    result = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _labels(input_series: list[dict], expr: str) -> dict:
    """Labels an alert keeps: all of the series' for `up` alerts, those named in ``by (...)`` for
    an aggregation by label, none for the others (they aggregate them away)."""
    first = input_series[0]["series"]
    name, _, rest = first.partition("{")
    labels = dict(part.split("=", 1) for part in rest[:-1].replace('"', "").split(","))
    if name == "up":
        return labels
    kept = re.search(r"\bby \(([^)]*)\)", expr)
    return {k: labels[k] for k in kept.group(1).replace(" ", "").split(",")} if kept else {}


def test_a_broken_rule_fails_promtool(tmp_path):
    (tmp_path / RULES_FILE).write_text("groups:\n- name: x\n  rules:\n  - alert: Broken\n    expr: max(\n")
    assert promtool("check", "rules", RULES_FILE, cwd=tmp_path).returncode != 0


# --- the Monitoring component on the mocked graph --------------------------------------------------


def test_dev_runs_prometheus_with_the_rendered_files_and_a_secret_token(synth):
    from synth.mocks import is_secret
    from tests.graph import CONTAINER, files_of, plain, uploads_of

    synthesis = synth("dev")
    prometheus = synthesis.named(CONTAINER, "minio-monitoring-prometheus")
    uploads = uploads_of(synthesis, prometheus)
    assert uploads["/etc/prometheus/prometheus.yml"]["content"] == synthesis.files["prometheus.yml"]
    assert uploads["/etc/prometheus/minio-alerts.yml"]["content"] == synthesis.files[RULES_FILE]
    token = uploads["/etc/prometheus/minio.token"]["content"]
    secret = plain(
        synthesis.named(
            "random:index/randomPassword:RandomPassword", "minio-iam-prometheus-metrics-secret"
        ).state["result"]
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] in (token_expiry(90), token_expiry(90, datetime.now(UTC).date() - timedelta(days=1)))
    assert token == metrics_token("prometheus-metrics", secret, claims["exp"])
    expires = datetime.fromtimestamp(claims["exp"], UTC).isoformat().replace("+00:00", "Z")
    assert synthesis.outputs["metrics_token_expires"] == expires
    assert f"vector({claims['exp']} - time())" in synthesis.files[RULES_FILE]
    assert is_secret(files_of(synthesis, prometheus).inputs["uploads"])
    assert token not in synthesis.files["prometheus.yml"]
    assert [(p["internal"], p["ip"]) for p in prometheus.inputs["ports"]] == [(9090, "127.0.0.1")]
    assert [n["name"] for n in prometheus.inputs["networksAdvanced"]] == ["monitoring-net"]
    assert prometheus.inputs["wait"] is True
    assert "--storage.tsdb.retention.time=15d" in prometheus.inputs["command"]


def test_dev_scrapes_through_the_gateway_and_every_node(synth):
    config = yaml.safe_load(synth("dev").files["prometheus.yml"])
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets == {
        "minio-cluster": ["gateway:9000"],
        "minio-nodes": [f"minio{i}:9000" for i in range(1, 5)],
        "minio-buckets": ["gateway:9000"],
    }


def test_prod_renders_the_files_but_runs_no_prometheus(synth):
    from tests.graph import CONTAINER

    prod = synth("prod")
    assert "prometheus.yml" in prod.files and RULES_FILE in prod.files
    assert not any(c.inputs["name"] == "prometheus" for c in prod.of_type(CONTAINER))


# --- Grafana and the dashboard ---------------------------------------------------------------------

DASHBOARD = "grafana:oss/dashboard:Dashboard"
DATASOURCE = "grafana:oss/dataSource:DataSource"
FOLDER = "grafana:oss/folder:Folder"


def test_the_dashboard_json_is_generated_from_its_code():
    """dashboards/overview.py is the source; the JSON Grafana gets is its output, never edited."""
    from components.grafana import DASHBOARD_FILE
    from dashboards.overview import panels, render

    assert DASHBOARD_FILE.read_text() == render(), "stale: run `make dashboards`"
    assert len(panels()) == 13


def test_dashboard_has_a_fixed_uid_and_every_required_panel():
    from components.grafana import PROMETHEUS_DATASOURCE_UID, load_dashboard

    dashboard = load_dashboard()
    assert dashboard["uid"] == "minio-overview"
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "minio_cluster_nodes_online_total",
        "minio_cluster_nodes_offline_total",
        "minio_cluster_drive_online_total",
        "minio_cluster_drive_offline_total",
        "minio_cluster_health_status",
        "minio_cluster_capacity_usable_total_bytes",
        "minio_cluster_capacity_usable_free_bytes",
        "minio_s3_requests_total",
        "minio_s3_traffic_received_bytes",
        "minio_s3_traffic_sent_bytes",
        "minio_s3_requests_4xx_errors_total",
        "minio_s3_requests_5xx_errors_total",
        "minio_bucket_usage_total_bytes",
        "minio_s3_requests_ttfb_seconds_distribution",
    ):
        assert metric in exprs, metric
    assert "deriv(" in exprs and "topk(10" in exprs and "histogram_quantile(0.99" in exprs
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == PROMETHEUS_DATASOURCE_UID
        assert re.search(
            r'\{job="minio-(cluster|nodes|buckets)"\}', " ".join(t["expr"] for t in panel["targets"])
        )


def test_dev_grafana_gets_datasource_folder_and_dashboard(synth):
    from components.conventions import SECRET_FILE_MODE
    from synth.mocks import is_secret
    from tests.graph import CONTAINER, plain, uploads_of

    synthesis = synth("dev")
    grafana = synthesis.named(CONTAINER, "minio-monitoring-grafana")
    assert [(p["internal"], p["ip"]) for p in grafana.inputs["ports"]] == [(3000, "127.0.0.1")]
    # The password in a secret file that Grafana's __FILE variable names, not in the environment.
    envs = dict(e.split("=", 1) for e in plain(grafana.inputs["envs"]))
    assert not is_secret(grafana.inputs["envs"]) and "GF_SECURITY_ADMIN_PASSWORD" not in envs
    assert grafana.inputs["user"] == "472:0"
    password_file = uploads_of(synthesis, grafana)[envs["GF_SECURITY_ADMIN_PASSWORD__FILE"]]
    assert password_file["permissions"] == SECRET_FILE_MODE
    provider = synthesis.named("pulumi:providers:grafana", "minio-monitoring-grafana")
    assert provider.inputs["url"] == "http://localhost:3000"
    assert is_secret(provider.inputs["auth"])
    password = password_file["content"]
    assert len(password) >= 20 and password in synthesis.secret_values
    assert plain(provider.inputs["auth"]) == f"admin:{password}"
    assert grafana.urn in provider.dependencies
    sources = {d.inputs["type"]: d for d in synthesis.of_type(DATASOURCE)}
    assert sorted(sources) == ["loki", "prometheus"]
    datasource = sources["prometheus"]
    assert (datasource.inputs["url"], datasource.inputs["uid"]) == ("http://prometheus:9090", "prometheus")
    assert (sources["loki"].inputs["url"], sources["loki"].inputs["uid"]) == ("http://loki:3100", "loki")
    assert all(d.inputs["accessMode"] == "proxy" for d in sources.values())
    (dashboard,) = synthesis.of_type(DASHBOARD)
    from components.grafana import load_dashboard

    assert json.loads(dashboard.inputs["configJson"]) == load_dashboard()
    (folder,) = synthesis.of_type(FOLDER)
    assert dashboard.inputs["folder"] == folder.inputs["uid"] == "minio"
    assert datasource.urn in dashboard.dependencies


def test_prod_uses_the_existing_grafana_with_its_token(synth):
    from synth.mocks import is_secret
    from tests.graph import CONTAINER, plain

    prod = synth("prod")
    assert not any(c.inputs["name"] == "grafana" for c in prod.of_type(CONTAINER))
    provider = prod.named("pulumi:providers:grafana", "minio-monitoring-grafana")
    assert provider.inputs["url"] == "https://grafana.example.com"
    assert is_secret(provider.inputs["auth"])
    assert plain(provider.inputs["auth"]) == "offline-synth-placeholder-for-grafanaAuth"
    urls = {d.inputs["type"]: d.inputs["url"] for d in prod.of_type(DATASOURCE)}
    assert urls == {"prometheus": "https://prometheus.example.com", "loki": "https://loki.example.com"}


def test_the_queue_full_alert_follows_the_stacks_queue_size(synth):
    """MinIOLogQueueFull compares the memory buffer with the stack's own logQueueSize."""
    for size, threshold in ((DEFAULT_LOG_QUEUE_SIZE, 90000), (1000, 900)):
        overrides = None if size == DEFAULT_LOG_QUEUE_SIZE else {"observability": {"logQueueSize": size}}
        rules = yaml.safe_load(synth("dev", overrides).files[RULES_FILE])["groups"][0]["rules"]
        (full,) = [r for r in rules if r["alert"] == "MinIOLogQueueFull"]
        assert full["expr"].endswith(f">= {threshold}"), full["expr"]
