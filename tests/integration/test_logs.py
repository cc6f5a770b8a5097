"""Real MinIO audit events, sent by the rendered webhook settings, through the rendered Alloy pipeline.

The nodes get the dev stack's logger and audit webhook variables, token included, with only the
host changed: from the log gate's container to the rendered log gate on loopback, which passes what
MinIO posts to a receiver standing in for Alloy (``logged_cluster``). The recorded lines then go
through ``config.alloy`` (as the dev stack renders it) with ``alloycheck``. The gate itself is
tested apart: only the nodes' token gets through it.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from components.logs import RAW_PATH, REDACTED
from tests.integration.conftest import (
    RECEIVER_OF,
    Receiver,
    gate_token_map,
    log_gate,
    planted_gateway,
    s3_client,
)
from tests.test_logs import run_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(logged_cluster):
    return logged_cluster


@pytest.fixture(scope="module")
def traffic(applied, gateway, root_s3, node_environment):
    """Signed, presigned, denied, badly signed and STS-session requests; the secrets they used."""
    access_key, secret_key = applied.service_accounts["backup-service"]
    backup = s3_client(gateway.s3_endpoint, access_key, secret_key, attempts=1)
    backup.put_object(Bucket="backups-postgresql", Key="db/app.dump", Body=b"dump")
    backup.get_object(Bucket="backups-postgresql", Key="db/app.dump")["Body"].read()
    with pytest.raises(ClientError, match="AccessDenied"):  # the backup account deletes nothing (#32)
        backup.delete_object(Bucket="backups-postgresql", Key="db/app.dump")
    root_s3.delete_object(Bucket="backups-postgresql", Key="db/app.dump")  # unlocked: root may
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
    listed_by_session(temporary)

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


def listed_by_session(client, seconds: float = 10) -> None:
    """List backups-postgresql with fresh STS credentials, waiting out the peer that does not know them yet.

    AssumeRole answers once one node has saved the session; the gateway may send the next request to
    a node whose IAM cache has not loaded it, which answers InvalidAccessKeyId (seen once in a
    clean-clone CI run). Any other error, or the same one after ``seconds``, fails the test.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.list_objects_v2(Bucket="backups-postgresql")
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidAccessKeyId" or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


TRAFFIC_EVENTS = [
    ("AddServiceAccount", 200, "", ""),
    ("PutObject", 200, "backups-postgresql", "db/app.dump"),
    ("GetObject", 200, "backups-postgresql", "db/app.dump"),
    ("DeleteObject", 403, "backups-postgresql", "db/app.dump"),
    ("DeleteObject", 204, "backups-postgresql", "db/app.dump"),
    ("ListObjectsV2", 403, "logs", ""),
    ("PutObject", 200, "logs", "shared.txt"),
    ("GetObject", 200, "logs", "shared.txt"),
    ("ListObjectsV2", 403, "backups-postgresql", ""),
    ("ListObjectsV2", 200, "backups-postgresql", ""),
]
"""``(api, status, bucket, object)`` of every request ``traffic`` made ("" matches anything): the
forged signature is the 403 on backups-postgresql, the STS session the 200 there."""


def missing_events(lines: list[str]) -> list[tuple[str, int, str, str]]:
    """The traffic's requests whose audit event has not arrived (from whichever node served it)."""
    seen = []
    for line in lines:
        api = json.loads(line).get("api", {})
        seen.append((api.get("name"), api.get("statusCode"), api.get("bucket", ""), api.get("object", "")))
    return [
        wanted
        for wanted in TRAFFIC_EVENTS
        if not any(
            event[:2] == wanted[:2]
            and all(not w or w == got for w, got in zip(wanted[2:], event[2:], strict=True))
            for event in seen
        )
    ]


@pytest.fixture(scope="module")
def recorded(traffic, receivers):
    """Every line the webhooks delivered, once every request of the traffic has its audit event."""
    audit = receivers["minio_audit"]
    deadline = time.monotonic() + 20
    while missing_events(list(audit.lines)):
        if time.monotonic() > deadline:
            pytest.fail(f"audit events that never arrived: {missing_events(list(audit.lines))}")
        time.sleep(0.2)
    assert any('"ListObjectsV2"' in line and "X-Amz-Security-Token" in line for line in audit.lines)
    assert audit.paths == {RAW_PATH}
    assert audit.authorizations == {None}, "the gate passed the webhook's token on to Alloy"
    return [(listener, line) for listener, r in receivers.items() for line in list(r.lines)]


@pytest.fixture(scope="module")
def processed(recorded, dev, alloycheck, tmp_path_factory):
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


SPOOFED_ADDRESS = "203.0.113.7"


def audit_event_of(receiver, key: str, seconds: float = 20) -> dict:
    """The audit event of the GetObject of ``key``, once it has arrived."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in list(receiver.lines):
            event = json.loads(line)
            if event.get("api", {}).get("name") == "GetObject" and event["api"].get("object") == key:
                return event
        time.sleep(0.2)
    pytest.fail(f"no audit event for GetObject {key}")


def spoofing(client) -> None:
    """Every request of ``client`` claims to come from SPOOFED_ADDRESS (X-Forwarded-For)."""
    client.meta.events.register(
        "before-send.s3", lambda request, **_: request.headers.__setitem__("X-Forwarded-For", SPOOFED_ADDRESS)
    )


def test_a_spoofed_forwarded_address_does_not_reach_the_audit_log(
    receivers, gateway, root_s3, cluster, node_environment, tmp_path
):
    """The gateway sets X-Forwarded-For to the address it saw: the audit event's remotehost is the
    client's. The planted defect, appending to the client's header as nginx's
    $proxy_add_x_forwarded_for does, lets the client choose what the audit log records."""
    audit = receivers["minio_audit"]
    root_s3.put_object(Bucket="logs", Key="spoof/target.txt", Body=b"x")
    user, password = node_environment["MINIO_ROOT_USER"], node_environment["MINIO_ROOT_PASSWORD"]
    liar = s3_client(gateway.s3_endpoint, user, password)
    spoofing(liar)
    liar.get_object(Bucket="logs", Key="spoof/target.txt")["Body"].read()
    event = audit_event_of(audit, "spoof/target.txt")
    assert event["remotehost"] == "127.0.0.1", event["remotehost"]
    assert SPOOFED_ADDRESS not in json.dumps(event)

    root_s3.put_object(Bucket="logs", Key="spoof/planted.txt", Body=b"x")
    setting = "proxy_set_header X-Forwarded-For "
    with planted_gateway(
        cluster, tmp_path, node_environment,
        f"{setting}$remote_addr;", f"{setting}$proxy_add_x_forwarded_for;", "appending",
    ) as planted:  # fmt: skip
        spoofing(planted)
        planted.get_object(Bucket="logs", Key="spoof/planted.txt")["Body"].read()
    assert audit_event_of(audit, "spoof/planted.txt")["remotehost"] == SPOOFED_ADDRESS


def test_a_lost_node_reaches_the_server_stream_as_errors(
    cluster, receivers, dev, alloycheck, tmp_path, root_s3
):
    """Last in the module: it kills a node, and the others log their failures to reach it.

    MinIO notices a dead peer when it next talks to it (at once, or only later when idle), so the
    test keeps writing through the gateway meanwhile: every write touches all four drives.
    """
    server = receivers["minio_server"]
    before = len(server.lines)
    lost = cluster.nodes[-1]
    cluster.kill(lost)

    def errors_about_the_lost_node() -> list[str]:
        return [
            line for line in server.lines[before:] if '"level":"ERROR"' in line and f":{lost.port}" in line
        ]

    deadline = time.monotonic() + 30
    written = 0
    while not errors_about_the_lost_node() and time.monotonic() < deadline:
        root_s3.put_object(Bucket="logs", Key=f"after-loss/{written}", Body=b"x")
        written += 1
        time.sleep(0.5)
    errors = errors_about_the_lost_node()
    assert errors, (
        f"no error naming 127.0.0.1:{lost.port} within 30 s ({len(server.lines) - before} new lines)"
    )
    assert server.paths == {RAW_PATH}
    results = run_pipeline(
        alloycheck, dev.files["config.alloy"], [("minio_server", e) for e in errors], tmp_path
    )
    for result in results:
        assert result["labels"] == {"source": "minio", "stream": "server", "level": "error"}
        assert json.loads(result["line"])["error"]["message"]


# --- the log gate: only the nodes' webhooks get through to Alloy ---------------------------------------

FORGED_MARK = "forged-by-a-neighbour"
FORGED_EVENT = json.dumps(
    {
        "version": "1",
        "api": {
            "name": "DeleteObject",
            "bucket": "backups-postgresql",
            "object": FORGED_MARK,
            "statusCode": 204,
        },
    }
)
"""An audit event anyone on monitoring-net could post to Alloy's own listener, which checks nothing."""


def post(port: int, authorization: str | None, path: str = RAW_PATH, body: str = FORGED_EVENT) -> int:
    """POST ``body`` to the gate on loopback as MinIO's webhook does: the status code."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (loopback, http)
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def forgeries(authorization: str) -> dict[str, str | None]:
    """Authorization values that are not the webhooks' own, by what they are."""
    token = authorization.removeprefix("Bearer ")
    return {
        "none": None,
        "an empty one": "",
        "another token": f"Bearer {token[::-1]}",
        "the token without Bearer": token,
        "the token with its case changed": f"Bearer {token.swapcase()}",
        "Bearer in lower case": f"bearer {token}",
        "a prefix of the token": authorization[:-1],
        "the token and more": f"{authorization}0",
        "a Basic credential": f"Basic {token}",
    }


@pytest.fixture
def gate_receivers():
    started = {kind: Receiver() for kind in RECEIVER_OF}
    try:
        yield started
    finally:
        for receiver in started.values():
            receiver.close()


def test_the_log_gate_refuses_every_post_without_the_nodes_token_and_passes_theirs(
    dev, rendered_node_environment, gate_receivers, tmp_path
):
    """The rendered gate with the token map the program uploads, in front of receivers of its own:
    the nodes' Authorization value (as rendered into their environment) passes, without the token
    reaching Alloy; anything else gets 403 (MinIO's "check your auth token") and reaches nothing."""
    authorization = rendered_node_environment["MINIO_AUDIT_WEBHOOK_AUTH_TOKEN_alloy"]
    with log_gate(tmp_path, gate_receivers, gate_token_map(dev.resources)) as ports:
        for what, value in forgeries(authorization).items():
            for kind in RECEIVER_OF:
                assert post(ports[kind], value) == 403, f"{kind}: {what}"
        assert not [line for r in gate_receivers.values() for line in r.lines], "a forged post got through"
        # Only MinIO's raw endpoint is passed on, even with the token: not Alloy's other APIs.
        assert post(ports["AUDIT"], authorization, path="/loki/api/v1/push") == 404
        assert post(ports["AUDIT"], authorization, path=f"{RAW_PATH}/") == 404
        for kind, receiver in gate_receivers.items():
            assert post(ports[kind], authorization) == 204, kind
            assert receiver.lines == [FORGED_EVENT] and receiver.authorizations == {None}, kind
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['LOGGER']}/gate-health", timeout=5) as answer:
            assert (answer.status, answer.read()) == (200, b"ok")


def test_planted_defect_a_gate_without_its_check_lets_a_forged_event_through(dev, gate_receivers, tmp_path):
    """The same gate with the token check removed: the forged audit event reaches Alloy's stand-in."""
    check = "if ($webhook_refused) {\n                return 403;\n            }\n"
    with log_gate(tmp_path, gate_receivers, gate_token_map(dev.resources), planted=(check, "")) as ports:
        assert post(ports["AUDIT"], None) == 204
    assert gate_receivers["AUDIT"].lines == [FORGED_EVENT]
