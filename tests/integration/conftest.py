"""Real MinIO (four processes) behind the rendered gateway, started with the program's rendered values.

Module-scoped: each test module gets a cluster of its own, so fault tests cannot disturb others.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from components.conventions import FILES_SUFFIX
from components.gateway import render_nginx_conf
from components.logs import (
    AUDIT_LOG_PORT,
    GATE_HOST,
    GATE_TOKEN_FILE,
    LOG_QUEUE_PATH,
    RAW_PATH,
    SERVER_LOG_PORT,
    WEBHOOK_AUTH_VARIABLES,
    GateConfig,
    minio_log_environment,
    render_gate_conf,
)
from components.monitoring import RULES_FILE, TOKEN_FILE, ScrapeTargets, render_scrape_config
from synth.run import Synthesis
from tests.conftest import require_binary
from tests.graph import CONTAINER, minio_nodes, minio_settings_of, plain
from tests.integration.apply import AppliedIdentities, Connect, apply_graph
from tests.servers import (
    MINIO_HINT,
    OPENID_PREFIX,
    LocalMinioCluster,
    Mc,
    Nginx,
    free_port,
    loopback_environment,
    loopback_gateway,
    running_cluster,
    self_signed_certificate,
    wait_for_port,
)

pytestmark = pytest.mark.integration


@dataclass
class Gateway:
    http_port: int
    s3_port: int

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"


def ensure_bucket(client, name: str) -> None:
    """Create a bucket, accepting one that exists already: botocore retries a CreateBucket that
    MinIO answered slowly or with a 503 while the first attempt had created it, and the retry
    then gets BucketAlreadyOwnedByYou (seen in CI on a loaded machine after the fault tests)."""
    try:
        client.create_bucket(Bucket=name)
    except ClientError as err:
        if err.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise


def offline_servers(mc) -> int:
    """How many nodes `mc admin info` reports not online."""
    (info,) = mc.json("admin", "info", "target")
    return sum(1 for server in info["info"]["servers"] if server["state"] != "online")


@contextlib.contextmanager
def planted_gateway(
    cluster, workdir, node_environment, rendered_text: str, planted_text: str, name: str, *, path: str = "",
    attempts: int = 3,
):  # fmt: skip
    """The rendered gateway with one planted defect (``rendered_text`` replaced by ``planted_text``),
    served by Debian's nginx on loopback: a root S3 client of it (endpoint path ``path``), for the
    life of the block."""
    config, _, s3_port = loopback_gateway(workdir, cluster.upstreams)
    rendered = render_nginx_conf(config)
    defect = rendered.replace(rendered_text, planted_text)
    assert defect != rendered, "the defect was not planted"
    nginx = Nginx(workdir)
    try:
        nginx.start_text(defect, s3_port, name=name)
        yield s3_client(
            f"http://127.0.0.1:{s3_port}{path}",
            node_environment["MINIO_ROOT_USER"],
            node_environment["MINIO_ROOT_PASSWORD"],
            attempts=attempts,
        )
    finally:
        nginx.close()


def s3_client(endpoint: str, access_key: str, secret_key: str, attempts: int = 3):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": attempts},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


@pytest.fixture(scope="session")
def minio_binary() -> str:
    return require_binary("minio", MINIO_HINT, env_var="MINIO_PLATFORM_MINIO")


@pytest.fixture(scope="session")
def mc_binary() -> str:
    return require_binary("mc", MINIO_HINT, env_var="MINIO_PLATFORM_MC")


@pytest.fixture(scope="session")
def dev(synth) -> Synthesis:
    return synth("dev")


@pytest.fixture(scope="session")
def rendered_node_environment(dev) -> dict[str, str]:
    """What the dev stack gives every node: its MINIO_* environment and the secrets file, as rendered."""
    return minio_settings_of(dev, minio_nodes(dev.resources)[0])


@pytest.fixture(scope="session")
def node_environment(rendered_node_environment) -> dict[str, str]:
    """The rendered environment (root, KMS key, parity...), less what needs containers absent here.

    The OpenID settings: no Keycloak runs in this tier, and MinIO's IAM (with it the whole
    cluster's health) waits for the discovery document forever. The log and audit webhooks: no
    Alloy runs here (tests/integration/test_logs.py points them at a receiver of its own).
    """
    rendered = rendered_node_environment
    kept = loopback_environment(rendered)
    assert set(rendered) - set(kept) == {
        f"{OPENID_PREFIX}{k}"
        for k in ("CONFIG_URL", "CLIENT_ID", "CLIENT_SECRET", "CLAIM_NAME", "SCOPES", "DISPLAY_NAME")
    } | set(minio_log_environment()) | set(WEBHOOK_AUTH_VARIABLES)
    return kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used the real cluster carries the nodes' last log lines and the machine's
    load in its report: a failure seen only on a loaded CI machine has to be read from there."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(cluster, LocalMinioCluster):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        tails = [
            f"node{n.index} (running={n.process is not None and n.process.poll() is None}):\n"
            + "\n".join(n.log.read_text(errors="replace").splitlines()[-10:])
            for n in cluster.nodes
            if n.log.exists()
        ]
        report.sections.append(("MinIO nodes", f"load average {load}\n" + "\n".join(tails)))
    return report


@pytest.fixture(scope="module")
def cluster_environment(node_environment) -> dict[str, str]:
    """What the module's cluster runs with: the rendered environment (a module adds to it by
    overriding this fixture)."""
    return node_environment


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, minio_binary, cluster_environment):
    with running_cluster(minio_binary, tmp_path_factory.mktemp("minio"), cluster_environment) as local:
        yield local


@pytest.fixture(scope="module")
def gateway(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gateway")
    nginx = Nginx(workdir)
    config, http_port, s3_port = loopback_gateway(workdir, cluster.upstreams)
    try:
        nginx.start(config, s3_port)
        yield Gateway(http_port, s3_port)
    finally:
        nginx.close()


@pytest.fixture(scope="module")
def tls_gateway(cluster, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The rendered gateway with TLS on loopback: ``(https endpoint, CA file)`` for ``localhost``, its
    certificate self-signed as gateway.tls self-signed makes it (tests/servers.py)."""
    workdir = tmp_path_factory.mktemp("tls-gateway")
    (workdir / "tls").mkdir()
    self_signed_certificate(workdir / "tls", "localhost")
    https_port = free_port()
    config, _, _ = loopback_gateway(
        workdir, cluster.upstreams, console_host="console.localhost", s3_host="localhost",
        tls=True, https_listen=f"127.0.0.1:{https_port}", https_port=https_port,
    )  # fmt: skip
    nginx = Nginx(workdir)
    try:
        nginx.start(config, https_port)
        yield f"https://localhost:{https_port}", workdir / "tls" / "tls.crt"
    finally:
        nginx.close()


@pytest.fixture(scope="module")
def root_s3(gateway, node_environment):
    return s3_client(
        gateway.s3_endpoint, node_environment["MINIO_ROOT_USER"], node_environment["MINIO_ROOT_PASSWORD"]
    )


@pytest.fixture(scope="module")
def root_mc(mc_binary, gateway, node_environment, tmp_path_factory) -> Mc:
    return Mc(
        mc_binary,
        tmp_path_factory.mktemp("mc"),
        gateway.s3_port,
        node_environment["MINIO_ROOT_USER"],
        node_environment["MINIO_ROOT_PASSWORD"],
    )


@pytest.fixture(scope="module")
def connect(mc_binary, gateway, tmp_path_factory) -> Connect:
    """Clients for any identity through the gateway: ``connect(access_key, secret_key)``."""

    def clients(access_key: str, secret_key: str) -> tuple[object, Mc]:
        workdir = tmp_path_factory.mktemp(f"mc-{access_key}")
        mc = Mc(mc_binary, workdir, gateway.s3_port, access_key, secret_key)
        return s3_client(gateway.s3_endpoint, access_key, secret_key), mc

    return clients


@pytest.fixture(scope="module")
def applied(dev, connect, tmp_path_factory) -> AppliedIdentities:
    """The dev stack's buckets and identities, applied to the real cluster through the gateway."""
    return apply_graph(dev, connect, tmp_path_factory.mktemp("policies"))


class Receiver:
    """Records the lines MinIO's webhook posts (newline-delimited JSON, as Alloy's raw endpoint takes)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.paths: set[str] = set()
        self.authorizations: set[str | None] = set()
        """The Authorization headers posts came with (behind the log gate: none, it strips the token)."""
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with lock:
                    receiver.paths.add(self.path)
                    receiver.authorizations.add(self.headers.get("Authorization"))
                    receiver.lines += [line for line in body.splitlines() if line.strip()]
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.handler = Handler
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        """Listen (again, on the same port after :meth:`close`): the pipeline is back."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop listening: connections are refused, as when Alloy is down."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture(scope="module")
def receivers():
    started = {"minio_server": Receiver(), "minio_audit": Receiver()}
    try:
        yield started
    finally:
        for receiver in started.values():
            receiver.close()


RECEIVER_OF = {"LOGGER": "minio_server", "AUDIT": "minio_audit"}
"""The receiver standing in for each of Alloy's listeners, by webhook kind."""
STREAM_OF = {"LOGGER": "server", "AUDIT": "audit"}
"""The log gate's listener for each webhook kind."""


def gate_token_map(resources) -> str:
    """The token map the program uploads into the log gate's container (the gate's secret half)."""
    (files,) = [
        r for r in resources if r.type == CONTAINER and r.inputs.get("name") == GATE_HOST + FILES_SUFFIX
    ]
    (upload,) = [u for u in plain(files.inputs["uploads"]) if u["file"] == GATE_TOKEN_FILE]
    return upload["content"]


@contextlib.contextmanager
def log_gate(
    workdir: Path,
    receivers_by_kind: dict[str, Receiver],
    token_map: str,
    planted: tuple[str, str] | None = None,
) -> Iterator[dict[str, int]]:
    """The rendered log gate (Debian's nginx) on loopback in front of the receivers, with the token
    map the program uploads into the gate's container: the webhooks' ports by kind. ``planted``
    replaces one text of the rendered configuration by another (a planted defect).

    A receiver that is closed behind it is Alloy down behind a running gate: MinIO gets a 502.
    """
    ports = {kind: free_port() for kind in STREAM_OF}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "webhook-token.conf").write_text(token_map)
    config = GateConfig(
        listeners={
            STREAM_OF[kind]: (f"127.0.0.1:{ports[kind]}", f"127.0.0.1:{receivers_by_kind[kind].port}")
            for kind in STREAM_OF
        },
        token_file=str(workdir / "webhook-token.conf"),
        temp_dir=str(workdir),
    )
    text = render_gate_conf(config)
    if planted is not None:
        assert planted[0] in text, "the defect was not planted"
        text = text.replace(*planted)
    nginx = Nginx(workdir)
    try:
        nginx.start_text(text, ports["AUDIT"], name="log-gate")
        wait_for_port(ports["LOGGER"], nginx.processes[0], workdir / "log-gate.log")
        yield ports
    finally:
        nginx.close()


@pytest.fixture(scope="module")
def gate_ports(tmp_path_factory, dev, receivers) -> Iterator[dict[str, int]]:
    """The rendered log gate in front of the module's receivers."""
    by_kind = {kind: receivers[listener] for kind, listener in RECEIVER_OF.items()}
    with log_gate(tmp_path_factory.mktemp("log-gate"), by_kind, gate_token_map(dev.resources)) as ports:
        yield ports


@pytest.fixture(scope="module")
def logged_cluster(tmp_path_factory, minio_binary, node_environment, rendered_node_environment, gate_ports):
    """A cluster with the rendered log and audit webhooks and their token, posting through the
    rendered log gate to the receivers that stand in for Alloy.

    A module uses it by defining ``cluster`` as this fixture.
    """
    environment = webhook_environment(node_environment, rendered_node_environment, gate_ports)
    with running_cluster(minio_binary, tmp_path_factory.mktemp("minio-logs"), environment) as local:
        yield local


def webhook_environment(
    node_environment: dict[str, str], rendered: dict[str, str], gate_ports: dict[str, int]
) -> dict[str, str]:
    """The rendered log and audit webhooks for processes on loopback: the endpoints point at a log
    gate on loopback (its ports by kind) instead of the gate's container, the tokens are the
    rendered ones, and the queue folders move from the container's queue volume to ``queue/`` in
    each node's own folder (a relative path: LocalMinioCluster runs each node there)."""
    environment = dict(node_environment)
    ports = {"LOGGER": SERVER_LOG_PORT, "AUDIT": AUDIT_LOG_PORT}
    for key in [*minio_log_environment(), *WEBHOOK_AUTH_VARIABLES]:
        value = rendered[key]
        kind = key.split("_")[1]
        if "_ENDPOINT_" in key:
            assert value == f"http://{GATE_HOST}:{ports[kind]}{RAW_PATH}"
            value = f"http://127.0.0.1:{gate_ports[kind]}{RAW_PATH}"
        elif "_QUEUE_DIR_" in key:
            value = str("queue" / PurePosixPath(value).relative_to(LOG_QUEUE_PATH))
        environment[key] = value
    return environment


# --- Prometheus, with the rendered scrape config and rules -----------------------------------------

PROMETHEUS_HINT = "apt-get install prometheus (Debian)"


def scrape_targets(cluster: LocalMinioCluster, gateway) -> ScrapeTargets:
    """The cluster job through the gateway, every node on its own port."""
    return ScrapeTargets(
        cluster=f"127.0.0.1:{gateway.s3_port}", nodes=[f"127.0.0.1:{n.port}" for n in cluster.nodes]
    )


def start_prometheus(
    workdir: Path, targets: ScrapeTargets, rules: str, token: str
) -> tuple[subprocess.Popen, int]:
    """Debian's Prometheus with the rendered scrape config (every 2 s), rules and token; ready."""
    binary = require_binary("prometheus", PROMETHEUS_HINT)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(render_scrape_config(targets, scrape_interval="2s"))
    (workdir / RULES_FILE).write_text(rules)
    (workdir / TOKEN_FILE).write_text(token)
    port = free_port()
    log = workdir / "prometheus.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for_port(port, process, log, seconds=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the API answers 503 until the TSDB is open
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"Prometheus was not ready within 30 s: {log.read_text()[-1500:]}")


def targets(port: int) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as response:
        return json.load(response)["data"]["activeTargets"]


def wait_for_scrapes(port: int, seconds: float = 45) -> list[dict]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        active = targets(port)
        if active and all(t["health"] != "unknown" for t in active):
            return active
        time.sleep(0.5)
    return targets(port)
