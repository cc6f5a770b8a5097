"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback with the rendered configuration:
alerts posted as Prometheus posts them reach the receivers that hear their severity, with the
webhook token read from its file; the alert that says most keeps the one it implies quiet; the
resolved notification follows; a receiver that does not answer gets nothing and Alertmanager
counts the failure. The e2e tier sends a real node-down alert through the stack's own."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from components.alerting import WEBHOOK_TOKEN_FILE, render_alertmanager_config
from components.conventions import SECRETS_DIR
from components.settings import AlertingSettings
from tests.conftest import require_binary
from tests.servers import free_port, serving, stop, wait_for_port

pytestmark = pytest.mark.integration

ALERTMANAGER_HINT = "apt-get install prometheus-alertmanager"
TOKEN = "webhook-token-of-the-test"


class Sink(BaseHTTPRequestHandler):
    """A webhook receiver: records each notification's path, body and Authorization header."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((self.path, body, self.headers.get("Authorization")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@dataclass
class Alertmanager:
    url: str
    sink: object

    def post(self, name: str, severity: str, resolved: bool = False) -> None:
        """One alert as Prometheus sends it (resolved: its end time now)."""
        now = datetime.now(UTC)
        alert = {
            "labels": {"alertname": name, "severity": severity},
            "annotations": {"summary": f"{name} from the test"},
            "startsAt": (now - timedelta(minutes=1)).isoformat(),
            "endsAt": (now if resolved else now + timedelta(minutes=5)).isoformat(),
        }
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}/api/v2/alerts",
            data=json.dumps([alert]).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            assert answer.status == 200

    def alerts(self) -> dict[str, dict]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as answer:  # noqa: S310
            return {a["labels"]["alertname"]: a for a in json.load(answer)}

    def delivered(self, receiver: str, name: str, status: str, seconds: float = 20) -> dict:
        """The first notification to ``receiver`` (its webhook path) that tells of ``name`` as ``status``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for path, body, authorization in list(self.sink.seen):
                told = {(a["labels"]["alertname"], a["status"]) for a in body["alerts"]}
                if path == f"/{receiver}" and (name, status) in told:
                    return {"body": body, "authorization": authorization}
            time.sleep(0.2)
        raise AssertionError(
            f"{receiver} was not told {name} {status} within {seconds:.0f} s: {self.sink.seen}"
        )

    def failed_requests(self) -> float:
        """Webhook requests that failed (each retry counts; a notification fails only once its
        retries run out)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as answer:  # noqa: S310
            lines = answer.read().decode().splitlines()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in lines
            if line.startswith("alertmanager_notification_requests_failed_total{")
            and 'integration="webhook"' in line
        )


@pytest.fixture
def alertmanager(tmp_path) -> Iterator[Alertmanager]:
    with serving(0, Sink) as sink, running(tmp_path, f"http://127.0.0.1:{sink.server_port}", sink) as started:
        yield started


@contextlib.contextmanager
def running(folder: Path, sink_url: str, sink) -> Iterator[Alertmanager]:
    """Alertmanager with the rendered configuration: two webhook receivers at ``sink_url``, the
    on-call one hearing critical alerts, the team every alert; stopped on the way out."""
    binary = require_binary("prometheus-alertmanager", ALERTMANAGER_HINT)
    settings = AlertingSettings.model_validate(
        {
            "receivers": [
                {"name": "on-call", "severities": ["critical"], "webhookUrl": f"{sink_url}/on-call"},
                {"name": "team", "webhookUrl": f"{sink_url}/team"},
            ],
            "groupWait": "1s",
            "groupInterval": "1s",
        }
    )
    # The container reads its secrets from /run/secrets; here, from the test's folder.
    (folder / WEBHOOK_TOKEN_FILE).write_text(TOKEN)
    config = render_alertmanager_config(settings, webhook_token=True).replace(f"{SECRETS_DIR}/", f"{folder}/")
    (folder / "alertmanager.yml").write_text(config)
    port = free_port()
    log = folder / "alertmanager.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'alertmanager.yml'}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log)
        yield Alertmanager(f"http://127.0.0.1:{port}", sink)
    finally:
        stop(process)


def test_an_alert_reaches_the_receivers_that_hear_its_severity_with_the_token(alertmanager):
    alertmanager.post("MinIODrivesOffline", "warning")
    told = alertmanager.delivered("team", "MinIODrivesOffline", "firing")
    assert told["authorization"] == f"Bearer {TOKEN}"
    assert told["body"]["receiver"] == "team"
    alertmanager.post("MinIOWriteQuorumAtRisk", "critical")
    alertmanager.delivered("on-call", "MinIOWriteQuorumAtRisk", "firing")
    alertmanager.delivered("team", "MinIOWriteQuorumAtRisk", "firing")
    on_call = {
        a["labels"]["alertname"]
        for p, body, _ in alertmanager.sink.seen
        if p == "/on-call"
        for a in body["alerts"]
    }
    assert on_call == {"MinIOWriteQuorumAtRisk"}, "the on-call receiver hears critical alerts only"


def test_the_quorum_alert_keeps_node_down_quiet_and_the_resolved_notification_follows(alertmanager):
    alertmanager.post("MinIONodeDown", "warning")
    alertmanager.delivered("team", "MinIONodeDown", "firing")
    alertmanager.post("MinIOWriteQuorumAtRisk", "critical")
    alertmanager.post("MinIODrivesOffline", "warning")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alerts = alertmanager.alerts()
        if alerts.get("MinIODrivesOffline", {}).get("status", {}).get("state") == "suppressed":
            break
        time.sleep(0.2)
    assert alerts["MinIONodeDown"]["status"]["state"] == "suppressed", alerts["MinIONodeDown"]
    assert alerts["MinIODrivesOffline"]["status"]["state"] == "suppressed", alerts["MinIODrivesOffline"]
    assert alerts["MinIOWriteQuorumAtRisk"]["status"]["state"] == "active"
    # The node came back: every alert resolves, and the receivers hear so.
    for name, severity in (
        ("MinIOWriteQuorumAtRisk", "critical"),
        ("MinIONodeDown", "warning"),
        ("MinIODrivesOffline", "warning"),
    ):
        alertmanager.post(name, severity, resolved=True)
    alertmanager.delivered("on-call", "MinIOWriteQuorumAtRisk", "resolved")
    alertmanager.delivered("team", "MinIONodeDown", "resolved")


def test_planted_a_receiver_nobody_answers_gets_nothing_and_the_failure_is_counted(tmp_path):
    """The delivery check itself fails when the receiver's URL is wrong (a port nobody listens on)."""
    with serving(0, Sink) as sink, running(tmp_path, f"http://127.0.0.1:{free_port()}", sink) as alertmanager:
        alertmanager.post("MinIONodeDown", "warning")
        with pytest.raises(AssertionError, match="was not told MinIONodeDown firing"):
            alertmanager.delivered("team", "MinIONodeDown", "firing", seconds=8)
        assert sink.seen == []
        assert alertmanager.failed_requests() > 0
