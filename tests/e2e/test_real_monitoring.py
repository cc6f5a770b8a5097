"""Monitoring on the real engine (issue #31): the tier's stack turns on ``observability.mode: metrics``
with `pulumi up`, and Prometheus and Alertmanager run for real.

Prometheus scrapes every node and the gateway over monitoring-net with the bearer token (a copy
given a wrong token sees every target down), loads every rule, and evaluates every rule and
dashboard query on the live server, each metric found under its job (a misspelt one is named);
stopping a node sends the node-down alert to a webhook receiver of the test's own, and the
resolved notification follows once the node is back.

The e2e stack has no minio provider (no plugin can be built here), so the metrics identity is kept
outside the program (``observability.metricsAccessKey`` and the ``metricsSecretKey`` secret): the
fixture makes it with ``mc`` as root, as an operator whose IAM lives elsewhere would. It runs after
test_real_engine.py and leaves monitoring on for test_server_pools.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from components.grafana import load_dashboard
from components.monitoring import TOKEN_FILE, metrics_token, token_expiry
from components.policies import render_policy
from components.settings import DEFAULT_METRICS_TOKEN_DAYS
from tests.e2e.conftest import Deployment, assert_hardened, docker, owned, wait_healthy, wait_takes_writes
from tests.e2e.engine import BUILD
from tests.integration.conftest import s3_client
from tests.integration.test_metrics import USES

pytestmark = pytest.mark.e2e

NODES = [f"minio{i}" for i in range(1, 5)]
METRICS_USER = "e2e-metrics"
PROMETHEUS_PORT = 19090
ALERTMANAGER_PORT = 19093
PLANTED_PORT = 19091
SINK = "alert-sink"
SINK_PORT = 8080
PROBE_BUCKET = "e2e-monitoring"
RATE_INTERVAL = "1m"
"""What Grafana's ``$__rate_interval`` stands for in a live check (four scrapes and more)."""
SINK_SCRIPT = """
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sys.stdout.write(body.decode() + "\\n"); sys.stdout.flush()
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Sink).serve_forever()
"""
"""The test's webhook receiver: each notification, one JSON line on its standard output."""


def monitoring_config(images: dict[str, str]) -> dict[str, Any]:
    return {
        "mode": "metrics",
        "metricsAccessKey": METRICS_USER,
        "prometheusImage": images["prometheus"],
        "alertmanagerImage": images["alertmanager"],
        "prometheusPort": PROMETHEUS_PORT,
        "alertmanagerPort": ALERTMANAGER_PORT,
        "scrapeInterval": "5s",
        # Told within seconds of a node's loss. The quorum alert, which keeps node-down quiet while
        # it fires (a 4-node set has no node to spare), waits longer than the test's outage: the
        # inhibition itself is proven in tests/integration/test_alert_delivery.py.
        "alertFor": {"MinIONodeDown": "10s", "MinIOWriteQuorumAtRisk": "10m"},
        "alerting": {
            "receivers": [{"name": "e2e-sink", "webhookUrl": f"http://{SINK}:{SINK_PORT}/hook"}],
            "groupWait": "1s",
            "groupInterval": "5s",
        },
    }


@dataclass
class Monitored:
    outputs: dict[str, Any]
    prometheus: str
    alertmanager: str


def mc_as_root(outputs: dict[str, Any], script: str, stdin: str = "") -> None:
    """``mc`` in a node as root (the e2e stack has no minio provider); ``script`` reads ``stdin``."""
    target = f"http://{outputs['minio_root_user']}:{outputs['minio_root_password']}@localhost:9000"
    done = subprocess.run(
        ["docker", "exec", "-i", "-e", "MC_HOST_self", "minio1", "sh", "-c", script],
        input=stdin, env={**os.environ, "MC_HOST_self": target}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def start_sink(image: str) -> None:
    subprocess.run(["docker", "rm", "-f", SINK], capture_output=True, check=False)
    docker(
        "run", "-d", "--name", SINK, "--network", "monitoring-net", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--entrypoint", "python3", image, "-c", SINK_SCRIPT,
    )  # fmt: skip


def notifications() -> list[dict]:
    logs = subprocess.run(["docker", "logs", SINK], capture_output=True, text=True, check=False)
    return [json.loads(line) for line in logs.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def monitored(deployment: Deployment, images: dict[str, str]) -> Iterator[Monitored]:
    engine = deployment.engine
    outputs = engine.outputs()
    secret = secrets.token_hex(20)
    mc_as_root(
        outputs,
        f"cat > /tmp/metrics.json && mc admin policy create self {METRICS_USER} /tmp/metrics.json",
        stdin=json.dumps(render_policy("metrics")),
    )
    # The secret through standard input: not on a command line.
    mc_as_root(
        outputs,
        f'read -r secret && mc admin user add self {METRICS_USER} "$secret" && '
        f"mc admin policy attach self {METRICS_USER} --user {METRICS_USER}",
        stdin=secret + "\n",
    )
    start_sink(images["signin"])
    try:
        engine.set_secret("metricsSecretKey", secret)
        deployment.config["observability"] = monitoring_config(images)
        engine.write_config(deployment.config)
        up = engine.up(check=False)
        deployment.record("pulumi up turning monitoring on", up.seconds)
        assert up.returncode == 0, up.diagnostics()
        yield Monitored(
            engine.outputs(), f"http://127.0.0.1:{PROMETHEUS_PORT}", f"http://127.0.0.1:{ALERTMANAGER_PORT}"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", SINK], capture_output=True, check=False)


def api(url: str, path: str, **query: str) -> Any:
    address = f"{url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(address, timeout=10) as answer:  # noqa: S310 (the stack's loopback)
        return json.load(answer)


def targets_by_job(prometheus: str) -> dict[str, list[dict]]:
    by_job: dict[str, list[dict]] = {}
    for target in api(prometheus, "/api/v1/targets")["data"]["activeTargets"]:
        by_job.setdefault(target["labels"]["job"], []).append(target)
    return by_job


def wait_targets_up(prometheus: str, seconds: float = 90) -> dict[str, list[dict]]:
    """Every job's targets, once each has been scraped and is up; fails naming those that are not."""
    deadline = time.monotonic() + seconds
    while True:
        by_job = targets_by_job(prometheus)
        targets = [t for ts in by_job.values() for t in ts]
        if targets and all(t["health"] == "up" for t in targets):
            return by_job
        if time.monotonic() > deadline:
            bad = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets if t["health"] != "up"]
            raise AssertionError(f"targets not up within {seconds:.0f} s: {bad}")
        time.sleep(2)


def live_problems(prometheus: str, expressions: list[str]) -> list[str]:
    """What the live server finds wrong with each expression: an evaluation error, or a MinIO metric
    it names that Prometheus has no series of under that job."""
    everything = api(prometheus, "/api/v1/query", query='group by (__name__, job) ({__name__=~"minio_.+"})')
    present = {
        (series["metric"]["__name__"], series["metric"]["job"]) for series in everything["data"]["result"]
    }
    problems = []
    for expr in expressions:
        try:
            api(prometheus, "/api/v1/query", query=expr)
        except urllib.error.HTTPError as err:
            problems.append(f"{expr}: {err.code} {err.read().decode()[:300]}")
        problems += [
            f"{expr}: no {metric} under job {job}" for metric, job in set(re.findall(USES, expr)) - present
        ]
    return problems


def dashboard_expressions() -> dict[str, list[str]]:
    return {
        panel["title"]: [t["expr"].replace("$__rate_interval", RATE_INTERVAL) for t in panel["targets"]]
        for panel in load_dashboard()["panels"]
        if panel.get("targets")
    }


def make_traffic(outputs: dict[str, Any]) -> None:
    """Objects for the bucket panels, and the counters that appear with their first 4xx and 5xx."""
    root = s3_client(outputs["s3_endpoint"], outputs["minio_root_user"], outputs["minio_root_password"])
    with contextlib.suppress(root.exceptions.BucketAlreadyOwnedByYou):
        root.create_bucket(Bucket=PROBE_BUCKET)
    root.put_object(Bucket=PROBE_BUCKET, Key="object", Body=b"x" * 4096)
    for _ in range(8):
        with pytest.raises(ClientError):
            root.get_object(Bucket=PROBE_BUCKET, Key="missing")
        with pytest.raises(ClientError):  # MinIO answers a public ACL with 501 NotImplemented
            root.put_bucket_acl(Bucket=PROBE_BUCKET, ACL="public-read")


# --- Prometheus -----------------------------------------------------------------------------------


def test_prometheus_and_alertmanager_run_hardened_beside_the_stack(monitored: Monitored):
    assert {"prometheus", "alertmanager", "prometheus-files", "alertmanager-files"} <= set(owned("container"))
    assert wait_healthy(["prometheus", "alertmanager"], seconds=60) == {
        "prometheus": "running/healthy",
        "alertmanager": "running/healthy",
    }
    for name in ("prometheus", "alertmanager"):
        assert_hardened(name)
    assert monitored.outputs["prometheus_url"] == monitored.prometheus
    assert monitored.outputs["alertmanager_url"] == monitored.alertmanager
    token = monitored.outputs["metrics_bearer_token"]
    for name in ("prometheus", "alertmanager"):
        assert token not in docker("inspect", name), f"docker inspect {name} shows the metrics token"


def test_no_changes_right_after_turning_monitoring_on(monitored: Monitored, deployment: Deployment):
    preview = deployment.engine.preview("--expect-no-changes", check=False)
    assert preview.returncode == 0, preview.output[-6000:]


def test_every_node_and_the_gateway_are_scraped_with_the_token(monitored: Monitored):
    by_job = wait_targets_up(monitored.prometheus)
    assert {job: sorted(t["labels"]["instance"] for t in ts) for job, ts in by_job.items()} == {
        "minio-cluster": ["gateway:9000"],
        "minio-nodes": [f"{node}:9000" for node in NODES],
        "minio-buckets": ["gateway:9000"],
    }
    up = api(monitored.prometheus, "/api/v1/query", query='up{job=~"minio-.*"}')["data"]["result"]
    assert len(up) == 6 and {s["value"][1] for s in up} == {"1"}, up


def test_every_rule_loads_and_evaluates_without_error(monitored: Monitored):
    deadline = time.monotonic() + 60
    while True:
        groups = api(monitored.prometheus, "/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if (rules and all(rule["health"] != "unknown" for rule in rules)) or time.monotonic() > deadline:
            break
        time.sleep(2)
    # metrics mode ships no logs: the two log-pipeline alerts are not rendered.
    assert [g["name"] for g in groups] == ["minio"]
    assert sorted(r["name"] for r in rules) == sorted(
        [
            "MinIODrivesOffline",
            "MinIOHighErrorRate",
            "MinIOHighStorageUsage",
            "MinIOMetricsDown",
            "MinIOMetricsTokenExpiring",
            "MinIONodeDown",
            "MinIOWriteQuorumAtRisk",
        ]
    )
    assert {r["name"]: (r["health"], r.get("lastError", "")) for r in rules if r["health"] != "ok"} == {}
    # Prometheus sends to the stack's Alertmanager.
    (manager,) = api(monitored.prometheus, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert manager["url"].startswith("http://alertmanager:9093/")


def test_every_rule_and_panel_query_is_valid_on_the_live_server(monitored: Monitored):
    make_traffic(monitored.outputs)
    rules = [
        r["query"] for g in api(monitored.prometheus, "/api/v1/rules")["data"]["groups"] for r in g["rules"]
    ]
    panels = [expr for exprs in dashboard_expressions().values() for expr in exprs]
    assert len(rules) == 7 and len(panels) >= 18
    # Bucket usage waits for MinIO's scanner; the error counters for a scrape after the traffic.
    deadline = time.monotonic() + 180
    while (problems := live_problems(monitored.prometheus, rules + panels)) and time.monotonic() < deadline:
        time.sleep(5)
    assert problems == []


def test_the_panels_that_need_no_traffic_show_data(monitored: Monitored):
    quiet = [
        "Nodes online",
        "Nodes offline",
        "Drives online",
        "Drives offline",
        "Cluster health",
        "Write quorum (drives)",
        "Usable capacity",
    ]
    panels = dashboard_expressions()
    empty = [
        expr
        for title in quiet
        for expr in panels[title]
        if not api(monitored.prometheus, "/api/v1/query", query=expr)["data"]["result"]
    ]
    assert empty == []
    online = api(monitored.prometheus, "/api/v1/query", query=panels["Nodes online"][0])["data"]["result"]
    assert online[0]["value"][1] == str(len(NODES))


def test_planted_a_misspelt_panel_query_is_named_by_the_live_check(monitored: Monitored):
    misspelt = dashboard_expressions()["Nodes online"][0].replace("nodes_online", "nodes_onlin")
    assert live_problems(monitored.prometheus, [misspelt]) == [
        f"{misspelt}: no minio_cluster_nodes_onlin_total under job minio-cluster"
    ]


def test_planted_a_wrong_token_leaves_every_target_down(monitored: Monitored, images: dict[str, str]):
    """A copy of the stack's Prometheus (its configuration, its networks) with a token signed by the
    wrong secret: MinIO refuses every scrape, and the check that passes for the stack's fails."""
    folder = BUILD / "planted-prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    docker("cp", "prometheus:/etc/prometheus", str(folder))
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    config.pop("alerting", None)  # its alerts reach no one
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    wrong = metrics_token(
        METRICS_USER, "not-the-metrics-secret-00000000000000000", token_expiry(DEFAULT_METRICS_TOKEN_DAYS)
    )
    (folder / TOKEN_FILE).write_text(wrong)
    for path in folder.iterdir():
        path.chmod(0o444)
    subprocess.run(["docker", "rm", "-f", "prometheus-planted"], capture_output=True, check=False)
    try:
        docker(
            "run", "-d", "--name", "prometheus-planted", "--network", "monitoring-net",
            "-p", f"127.0.0.1:{PLANTED_PORT}:9090", "-v", f"{folder}:/etc/prometheus:ro",
            images["prometheus"],
            "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
        )  # fmt: skip
        planted = f"http://127.0.0.1:{PLANTED_PORT}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                targets = [t for ts in targets_by_job(planted).values() for t in ts]
            except (urllib.error.URLError, OSError):
                targets = []
            if len(targets) == 6 and all(t["health"] != "unknown" for t in targets):
                break
            time.sleep(2)
        with pytest.raises(AssertionError, match="targets not up") as failed:
            wait_targets_up(planted, seconds=10)
        assert all(t["health"] == "down" for t in targets), targets
        assert "403" in str(failed.value)
    finally:
        subprocess.run(["docker", "rm", "-f", "prometheus-planted"], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


# --- Alertmanager ---------------------------------------------------------------------------------


def wait_told(name: str, status: str, seconds: float) -> dict:
    """The first notification the test's receiver got telling of ``name`` as ``status``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for notification in notifications():
            for alert in notification["alerts"]:
                if alert["labels"]["alertname"] == name and alert["status"] == status:
                    return {"notification": notification, "alert": alert}
        time.sleep(2)
    raise AssertionError(
        f"the receiver was not told {name} {status} within {seconds:.0f} s: {notifications()}"
    )


def test_a_stopped_node_reaches_the_receiver_and_so_does_its_return(monitored: Monitored):
    started = time.monotonic()
    docker("stop", NODES[-1])
    try:
        fired = wait_told("MinIONodeDown", "firing", seconds=180)
        told_after = time.monotonic() - started
    finally:
        docker("start", NODES[-1])
    back = time.monotonic()
    resolved = wait_told("MinIONodeDown", "resolved", seconds=180)
    resolved_after = time.monotonic() - back
    assert wait_healthy(NODES, seconds=120) == dict.fromkeys(NODES, "running/healthy")
    outputs = monitored.outputs
    root = s3_client(outputs["s3_endpoint"], outputs["minio_root_user"], outputs["minio_root_password"])
    wait_takes_writes(root, PROBE_BUCKET, len(NODES))
    assert fired["notification"]["receiver"] == "e2e-sink"
    assert fired["alert"]["labels"]["severity"] == "warning"
    assert "3 of 4 nodes online" in fired["alert"]["annotations"]["summary"]
    # What docs/observability.md shows of a delivered alert.
    (BUILD / "alert-delivered.json").write_text(
        json.dumps(
            {
                "firing": fired,
                "resolved": resolved,
                "seconds_from_stop_to_firing": round(told_after, 1),
                "seconds_from_start_to_resolved": round(resolved_after, 1),
            },
            indent=2,
        )
        + "\n"
    )


def post_alert(alertmanager: str, name: str) -> None:
    """One alert firing for the next minute, as Prometheus posts it, straight to an Alertmanager's API."""
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    labels = {"alertname": name, "severity": "warning"}
    alert = [{"labels": labels, "annotations": {"summary": name}, "endsAt": ends}]
    request = urllib.request.Request(  # noqa: S310 (the stack's loopback)
        f"{alertmanager}/api/v2/alerts",
        data=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200


def test_planted_a_broken_receiver_url_fails_the_delivery_check(monitored: Monitored, images: dict[str, str]):
    """A copy of the stack's Alertmanager whose receiver URL names a port nobody listens on: an alert
    posted to it never reaches the receiver, and the check that passes for the stack's fails."""
    folder = BUILD / "planted-alertmanager"
    shutil.rmtree(folder, ignore_errors=True)
    docker("cp", "alertmanager:/etc/alertmanager", str(folder))
    config = (folder / "alertmanager.yml").read_text()
    assert f"http://{SINK}:{SINK_PORT}/hook" in config
    (folder / "alertmanager.yml").write_text(config.replace(f":{SINK_PORT}/hook", f":{SINK_PORT + 1}/hook"))
    for path in folder.iterdir():
        path.chmod(0o444)
    subprocess.run(["docker", "rm", "-f", "alertmanager-planted"], capture_output=True, check=False)
    try:
        docker(
            "run", "-d", "--name", "alertmanager-planted", "--network", "monitoring-net",
            "-p", f"127.0.0.1:{PLANTED_PORT + 1}:9093", "-v", f"{folder}:/etc/alertmanager:ro",
            images["alertmanager"], "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager", "--cluster.listen-address=",
        )  # fmt: skip
        planted = f"http://127.0.0.1:{PLANTED_PORT + 1}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{planted}/-/ready", timeout=5):  # noqa: S310 (loopback)
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        post_alert(planted, "MinIOPlantedDelivery")
        with pytest.raises(AssertionError, match="not told MinIOPlantedDelivery firing"):
            wait_told("MinIOPlantedDelivery", "firing", seconds=20)
        # The same alert through the stack's own Alertmanager is told: only the URL differs.
        post_alert(monitored.alertmanager, "MinIOPlantedDelivery")
        wait_told("MinIOPlantedDelivery", "firing", seconds=30)
    finally:
        subprocess.run(["docker", "rm", "-f", "alertmanager-planted"], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
