"""Prometheus scrapes the real cluster with the rendered configuration and the minted token."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from components.monitoring import RULES_FILE, metrics_token, token_expiry
from components.settings import DEFAULT_METRICS_TOKEN_DAYS
from tests.integration.conftest import ensure_bucket, scrape_targets, start_prometheus, wait_for_scrapes
from tests.servers import stop

EXPIRES = token_expiry(DEFAULT_METRICS_TOKEN_DAYS)
"""The expiry a dev stack deployed today gives its metrics token."""

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(logged_cluster):
    """With the rendered log and audit webhooks: MinIO exposes their counters (which an alert
    reads) only when they are configured."""
    return logged_cluster


def metric_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }


@pytest.fixture(scope="module")
def metrics_secret(applied, root_s3) -> str:
    # Seed first: bucket usage comes from MinIO's background scanner (about a minute on a fresh
    # cluster), so the dashboard test's wait overlaps this module's other tests.
    ensure_bucket(root_s3, "usage-probe")
    root_s3.put_object(Bucket="usage-probe", Key="object", Body=b"x" * 4096)
    return applied.users["prometheus-metrics"]


def test_prometheus_scrapes_every_job_with_the_rendered_config(
    cluster, gateway, dev, metrics_secret, tmp_path
):
    token = metrics_token("prometheus-metrics", metrics_secret, EXPIRES)
    process, port = start_prometheus(tmp_path, scrape_targets(cluster, gateway), dev.files[RULES_FILE], token)
    try:
        active = wait_for_scrapes(port)
        by_job: dict[str, list[str]] = {}
        for target in active:
            by_job.setdefault(target["labels"]["job"], []).append(target["health"])
        assert by_job == {"minio-cluster": ["up"], "minio-nodes": ["up"] * 4, "minio-buckets": ["up"]}, active
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as response:
            groups = json.load(response)["data"]["groups"]
        assert {r["name"] for g in groups for r in g["rules"]} >= {"MinIONodeDown", "MinIOWriteQuorumAtRisk"}
    finally:
        stop(process)


def test_a_token_signed_with_the_wrong_secret_is_refused(cluster, gateway, dev, applied, tmp_path):
    """Planted defect: the tier notices a token MinIO does not accept."""
    token = metrics_token("prometheus-metrics", "not-the-metrics-identity-secret-000000", EXPIRES)
    process, port = start_prometheus(tmp_path, scrape_targets(cluster, gateway), dev.files[RULES_FILE], token)
    try:
        active = wait_for_scrapes(port)
        assert active and all(t["health"] == "down" for t in active), active
    finally:
        stop(process)


def metrics_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_token_is_accepted_until_its_expiry_and_refused_after(cluster, gateway, metrics_secret):
    """MinIO checks ``exp``: the bounded lifetime is MinIO's to enforce, not only the alert's. The
    same claims and secret, one second past the expiry, are refused on every node and the gateway."""
    now = int(time.time())
    urls = [f"http://127.0.0.1:{gateway.s3_port}/minio/v2/metrics/cluster"] + [
        f"http://127.0.0.1:{node.port}/minio/v2/metrics/node" for node in cluster.nodes
    ]
    valid = metrics_token("prometheus-metrics", metrics_secret, EXPIRES)
    expired = metrics_token("prometheus-metrics", metrics_secret, now - 1)
    assert [metrics_status(url, valid) for url in urls] == [200] * len(urls)
    assert [metrics_status(url, expired) for url in urls] == [403] * len(urls)
    # Within its lifetime by a few seconds: accepted, then refused once they pass.
    brief = metrics_token("prometheus-metrics", metrics_secret, now + 3)
    assert metrics_status(urls[1], brief) == 200
    deadline = time.monotonic() + 15
    while metrics_status(urls[1], brief) == 200:
        assert time.monotonic() < deadline, "a token still accepted 15 s past the moment it was to expire"
        time.sleep(0.2)
    assert time.time() >= now + 3, "a token refused before its expiry"


JOB_PATHS = {"minio-cluster": "cluster", "minio-nodes": "node", "minio-buckets": "bucket"}
USES = r'(minio_[a-z0-9_]+)\{job="(minio-[a-z]+)"\}'


def unexposed(
    cluster, gateway, token: str, used: set[tuple[str, str]], seconds: float
) -> list[tuple[str, str]]:
    """(metric, job) pairs MinIO does not expose under that job, polling up to ``seconds``.

    Cluster and bucket metrics come through the gateway, node metrics from every node. MinIO caches
    each metrics group for a few seconds and publishes some only after an event or a scanner cycle,
    so a name counts as missing only once the wait is over.
    """
    endpoints = [(job, f"127.0.0.1:{gateway.s3_port}") for job in ("minio-cluster", "minio-buckets")]
    endpoints += [("minio-nodes", f"127.0.0.1:{n.port}") for n in cluster.nodes]

    def missing() -> list[tuple[str, str]]:
        exposed: dict[str, set[str]] = {job: set() for job in JOB_PATHS}
        for job, address in endpoints:
            if not any(j == job for _, j in used):
                continue
            request = urllib.request.Request(
                f"http://{address}/minio/v2/metrics/{JOB_PATHS[job]}",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                exposed[job] |= metric_names(response.read().decode())
        return sorted((metric, job) for metric, job in used if metric not in exposed[job])

    deadline, absent = time.monotonic() + seconds, missing()
    while absent and time.monotonic() < deadline:
        time.sleep(2)
        absent = missing()
    return absent


def test_every_metric_the_rules_use_exists_in_minio_under_their_job(
    cluster, gateway, dev, root_s3, metrics_secret
):
    # Error counters appear with the first error: make some (GETs of a missing object, on every node).
    ensure_bucket(root_s3, "metrics-probe")
    for _ in range(8):
        with pytest.raises(ClientError):
            root_s3.get_object(Bucket="metrics-probe", Key="missing")
    used = set(re.findall(USES, dev.files[RULES_FILE]))
    assert len(used) >= 6, f"the rules name too few MinIO metrics: {used}"
    token = metrics_token("prometheus-metrics", metrics_secret, EXPIRES)
    absent = unexposed(cluster, gateway, token, used, seconds=30)
    assert not absent, f"not exposed by MinIO under that job: {absent}"


def test_every_metric_the_dashboard_uses_exists_in_minio_under_its_job(
    cluster, gateway, root_s3, metrics_secret
):
    from components.grafana import load_dashboard

    # Counters appear with their first event: a 4xx (a missing object) and a 5xx (MinIO answers
    # 501 NotImplemented to a public ACL) on every node.
    for _ in range(8):
        with pytest.raises(ClientError):
            root_s3.get_object(Bucket="usage-probe", Key="missing")
        with pytest.raises(ClientError):
            root_s3.put_bucket_acl(Bucket="usage-probe", ACL="public-read")
    exprs = " ".join(t["expr"] for p in load_dashboard()["panels"] for t in p["targets"])
    used = set(re.findall(USES, exprs))
    assert len(used) >= 14, used
    token = metrics_token("prometheus-metrics", metrics_secret, EXPIRES)
    # Bucket usage waits for MinIO's background scanner: about a minute on a fresh cluster.
    missing = unexposed(cluster, gateway, token, used, seconds=150)
    assert not missing, f"not exposed by MinIO under that job: {missing}"
