"""Real MinIO audit events, sent by the rendered webhook settings, through the rendered Alloy pipeline.

The nodes get the dev stack's logger and audit webhook variables with only the host changed: from
Alloy's to a receiver on loopback that records what MinIO posts. The recorded lines then go through
``config.alloy`` (as the dev stack renders it) with ``alloycheck``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import ClientError

from components.logs import ALLOY_HOST, AUDIT_LOG_PORT, REDACTED, SERVER_LOG_PORT, minio_log_environment
from tests.integration.conftest import s3_client
from tests.servers import running_cluster
from tests.test_logs import alloycheck, run_pipeline  # noqa: F401 (the fixture is used by name)

pytestmark = pytest.mark.integration

RAW_PATH = "/loki/api/v1/raw"


class Receiver:
    """Records the lines MinIO's webhook posts (newline-delimited JSON, as Alloy's raw endpoint takes)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.paths: set[str] = set()
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with lock:
                    receiver.paths.add(self.path)
                    receiver.lines += [line for line in body.splitlines() if line.strip()]
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receivers():
    started = {"minio_server": Receiver(), "minio_audit": Receiver()}
    try:
        yield started
    finally:
        for receiver in started.values():
            receiver.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, minio_binary, node_environment, rendered_node_environment, receivers):
    """The module's own cluster: the rendered webhooks, pointed at the receivers instead of Alloy."""
    environment = dict(node_environment)
    ports = {"LOGGER": (SERVER_LOG_PORT, "minio_server"), "AUDIT": (AUDIT_LOG_PORT, "minio_audit")}
    for key in minio_log_environment():
        value = rendered_node_environment[key]
        if "_ENDPOINT_" in key:
            port, listener = ports[key.split("_")[1]]
            alloy = f"http://{ALLOY_HOST}:{port}{RAW_PATH}"
            assert value == alloy
            value = f"http://127.0.0.1:{receivers[listener].port}{RAW_PATH}"
        environment[key] = value
    with running_cluster(minio_binary, tmp_path_factory.mktemp("minio-logs"), environment) as local:
        yield local


@pytest.fixture(scope="module")
def traffic(applied, gateway, root_s3, node_environment):
    """Signed, presigned, denied, badly signed and STS-session requests; the secrets they used."""
    access_key, secret_key = applied.service_accounts["backup-service"]
    backup = s3_client(gateway.s3_endpoint, access_key, secret_key, attempts=1)
    backup.put_object(Bucket="backups-postgresql", Key="db/app.dump", Body=b"dump")
    backup.get_object(Bucket="backups-postgresql", Key="db/app.dump")["Body"].read()
    backup.delete_object(Bucket="backups-postgresql", Key="db/app.dump")
    with pytest.raises(ClientError, match="AccessDenied"):
        backup.list_objects_v2(Bucket="logs")

    root_s3.put_object(Bucket="logs", Key="shared.txt", Body=b"shared")
    url = root_s3.generate_presigned_url("get_object", Params={"Bucket": "logs", "Key": "shared.txt"})
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback, http)
        assert response.read() == b"shared"
    presigned_signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", url).group(1)

    forged = s3_client(gateway.s3_endpoint, access_key, "not-the-secret-key-at-all", attempts=1)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        forged.list_objects_v2(Bucket="backups-postgresql")

    # STS for a regular user (service accounts cannot assume roles).
    sts = boto3.client(
        "sts",
        endpoint_url=gateway.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="backup-service",
        aws_secret_access_key=applied.users["backup-service"],
    )
    session = sts.assume_role(RoleArn="arn:minio:iam:::role/logs-test", RoleSessionName="logs-test")[
        "Credentials"
    ]
    temporary = boto3.client(
        "s3",
        endpoint_url=gateway.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=session["AccessKeyId"],
        aws_secret_access_key=session["SecretAccessKey"],
        aws_session_token=session["SessionToken"],
    )
    temporary.list_objects_v2(Bucket="backups-postgresql")

    return {
        "root password": node_environment["MINIO_ROOT_PASSWORD"],
        "service account access key": access_key,
        "service account secret key": secret_key,
        "presigned URL signature": presigned_signature,
        "STS access key": session["AccessKeyId"],
        "STS secret key": session["SecretAccessKey"],
        "STS session token": session["SessionToken"],
        **{f"user {name}'s secret": secret for name, secret in applied.users.items()},
    }


@pytest.fixture(scope="module")
def recorded(traffic, receivers):
    """Every line the webhooks delivered, once the last request's event has arrived."""
    audit = receivers["minio_audit"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any('"ListObjectsV2"' in line and "X-Amz-Security-Token" in line for line in audit.lines):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the STS-session request's audit event never arrived ({len(audit.lines)} events)")
    time.sleep(1)  # the other nodes' events for the same traffic
    assert audit.paths == {RAW_PATH}
    return [(listener, line) for listener, r in receivers.items() for line in list(r.lines)]


@pytest.fixture(scope="module")
def processed(recorded, dev, alloycheck, tmp_path_factory):  # noqa: F811
    return run_pipeline(alloycheck, dev.files["config.alloy"], recorded, tmp_path_factory.mktemp("alloy"))


def test_minio_sends_audit_events_with_secrets_in_them(recorded, traffic):
    """The premise: unredacted, the live events carry the access keys, signatures and session token."""
    raw = "\n".join(line for _, line in recorded)
    for what in ("service account access key", "STS access key", "STS session token"):
        assert traffic[what] in raw, what
    assert re.search(r"Signature=[0-9a-f]{64}", raw)
    assert traffic["presigned URL signature"] in raw


def test_live_events_leave_the_pipeline_without_secrets(processed, traffic):
    leaked = [
        f"{what} in {result['line'][:200]}"
        for result in processed
        for what, secret in traffic.items()
        if secret in result["line"]
    ]
    assert leaked == []
    for result in processed:
        line = result["line"]
        assert not re.search(r"Signature=[0-9a-fA-F]{16}", line), line[:300]
        entry = json.loads(line)
        for identity in ("accessKey", "parentUser"):
            assert entry.get(identity) in (None, "", REDACTED), (identity, line[:300])


def test_live_events_get_the_labels_the_queries_use(processed):
    by_api: dict[tuple[str, int], dict] = {}
    for result in processed:
        entry = json.loads(result["line"])
        api = entry.get("api", {})
        by_api.setdefault((api.get("name", ""), api.get("statusCode", 0)), result["labels"])
    assert by_api[("PutObject", 200)]["operation_type"] == "write"
    assert by_api[("GetObject", 200)]["operation_type"] == "read"
    assert by_api[("DeleteObject", 204)]["operation_type"] == "delete"
    denied = by_api[("ListObjectsV2", 403)]
    assert (denied["security_event"], denied["level"]) == ("access_denied", "warning")
    assert by_api[("AddServiceAccount", 200)]["security_event"] == "admin_action"
    assert all(r["labels"]["source"] == "minio" for r in processed)


def test_a_lost_node_reaches_the_server_stream_as_errors(cluster, receivers, dev, alloycheck, tmp_path):  # noqa: F811
    """Last in the module: it kills a node. The others then log connection errors to the logger webhook."""
    server = receivers["minio_server"]
    cluster.kill(cluster.nodes[-1])
    deadline = time.monotonic() + 30
    while not any('"level":"ERROR"' in line for line in server.lines) and time.monotonic() < deadline:
        time.sleep(0.5)
    errors = [line for line in list(server.lines) if '"level":"ERROR"' in line]
    assert errors, f"no server error arrived within 30 s ({len(server.lines)} server lines)"
    assert server.paths == {RAW_PATH}
    results = run_pipeline(
        alloycheck, dev.files["config.alloy"], [("minio_server", e) for e in errors], tmp_path
    )
    for result in results:
        assert result["labels"] == {"source": "minio", "stream": "server", "level": "error"}
        assert json.loads(result["line"])["error"]["message"]
