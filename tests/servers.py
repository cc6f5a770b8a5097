"""Real servers on loopback for the render and integration tiers: nginx and a local MinIO cluster.

Every process binds 127.0.0.1 only, every wait is bounded, and every process is stopped by the
fixture that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from components.gateway import NginxConfig, Upstream, render_nginx_conf
from components.logs import WEBHOOK_AUTH_VARIABLES, minio_log_environment
from tests.conftest import require_binary

NGINX_HINT = "apt-get install nginx-light (Debian), or any nginx >= 1.22 on PATH"
MINIO_HINT = "run `make tools` (builds MinIO and mc from source with Go)"
KEYCLOAK_DIST_VARIABLE = "MINIO_PLATFORM_KEYCLOAK_DIST"
"""Keycloak's distribution zip (org.keycloak:keycloak-quarkus-dist), where the Makefile put it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process exited early: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listened on 127.0.0.1:{port} within {seconds} s")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def nginx_check(conf: Path) -> None:
    """Debian's nginx judges a configuration file (``nginx -t``): it must say the test is successful."""
    result = subprocess.run(
        [require_binary("nginx", NGINX_HINT), "-t", "-e", "stderr", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class Nginx:
    """Debian's nginx running a rendered configuration."""

    def __init__(self, workdir: Path):
        self.binary = require_binary("nginx", NGINX_HINT)
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []

    def start(self, config: NginxConfig, wait_port: int) -> Path:
        return self.start_text(render_nginx_conf(config), wait_port)

    def start_text(self, text: str, wait_port: int, name: str = "nginx") -> Path:
        """Run a configuration given as text (tests that plant a defect edit the rendered one)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / f"{name}.conf"
        conf.write_text(text)
        log = self.workdir / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [self.binary, "-e", "stderr", "-c", str(conf), "-g", "daemon off;"], stdout=out, stderr=out
            )
        self.processes.append(process)
        wait_for_port(wait_port, process, log)
        return conf

    def close(self) -> None:
        for process in self.processes:
            stop(process)


def loopback_gateway(
    workdir: Path,
    upstreams: list[Upstream],
    *,
    max_body_size: str = "5g",
    console_host: str = "localhost",
    s3_host: str = "localhost",
    **changes,
) -> tuple[NginxConfig, int, int]:
    """A gateway configuration on two free loopback ports: ``(config, http_port, s3_port)``."""
    http_port, s3_port = free_port(), free_port()
    config = NginxConfig(
        upstreams=upstreams,
        console_host=console_host,
        s3_host=s3_host,
        max_body_size=max_body_size,
        s3_endpoint=f"http://{s3_host}:{s3_port}",
        http_listen=f"127.0.0.1:{http_port}",
        s3_listen=f"127.0.0.1:{s3_port}",
        temp_dir=str(workdir),
        **changes,
    )
    return config, http_port, s3_port


OPENID_PREFIX = "MINIO_IDENTITY_OPENID_"


def loopback_environment(rendered: dict[str, str]) -> dict[str, str]:
    """A node's rendered MINIO_* environment less what needs containers absent on loopback: the
    OpenID settings (MinIO's IAM waits for the discovery document forever without Keycloak) and the
    log and audit webhooks with their tokens (no log gate)."""
    webhooks = {*minio_log_environment(), *WEBHOOK_AUTH_VARIABLES}
    return {k: v for k, v in rendered.items() if not k.startswith(OPENID_PREFIX) and k not in webhooks}


@dataclass
class MinioNode:
    index: int
    port: int
    console_port: int
    data: Path
    log: Path
    process: subprocess.Popen | None = None


@dataclass
class LocalMinioCluster:
    """``nodes`` MinIO processes forming one erasure-coded pool, each with its own port and drive."""

    binary: str
    workdir: Path
    environment: dict[str, str]
    """The MINIO_* environment the program renders for every container."""
    count: int = 4
    nodes: list[MinioNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        for index in range(1, self.count + 1):
            data = self.workdir / f"node{index}" / "data"
            data.mkdir(parents=True, exist_ok=True)
            self.nodes.append(
                MinioNode(index, free_port(), free_port(), data, self.workdir / f"node{index}.log")
            )

    @property
    def endpoints(self) -> list[str]:
        # One host, so explicit endpoints instead of the containers' http://minio{1...N}/data; a
        # single node takes its drive's path alone (MinIO refuses a URL there).
        if len(self.nodes) == 1:
            return [str(self.nodes[0].data)]
        return [f"http://127.0.0.1:{n.port}{n.data}" for n in self.nodes]

    @property
    def upstreams(self) -> list[Upstream]:
        return [Upstream(f"127.0.0.1:{n.port}", f"127.0.0.1:{n.console_port}") for n in self.nodes]

    def start(self, node: MinioNode) -> None:
        if node.process is not None and node.process.poll() is None:
            return
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.workdir),
            **self.environment,
            # MinIO refuses drives on the root filesystem outside CI mode (inside Docker a volume is
            # a different device from the container's root, so the containers do not need this).
            # MinIO leaves MINIO_CI_CD out of its peer comparison.
            "MINIO_CI_CD": "on",
            # Where /.dockerenv exists (as on CI), MinIO waits for endpoints that resolve to loopback
            # to resolve elsewhere; this names the node's own endpoint (cmd/endpoint.go,
            # UpdateIsLocal). It is not a MINIO_* variable, so peers do not compare it.
            "_MINIO_SERVER_LOCAL": f"127.0.0.1:{node.port}",
        }
        # Each node in a folder of its own: a relative path in the environment (which MinIO
        # requires to be the same on every node) then names a different folder for each, as the
        # same container path does with each container's own volume.
        with open(node.log, "a") as out:
            node.process = subprocess.Popen(
                [self.binary, "server", "--json", "--address", f"127.0.0.1:{node.port}",
                 "--console-address", f"127.0.0.1:{node.console_port}", *self.endpoints],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=node.data.parent,
            )  # fmt: skip

    def start_all(self) -> None:
        for node in self.nodes:
            self.start(node)
        # Every node, not just a quorum: three of four already answer 200 while the fourth starts.
        self.wait_until(
            lambda: all(self.node_health(n, "cluster") == 200 for n in self.nodes), 90, "every node to serve"
        )
        self.wait_writable()

    def wait_writable(self, seconds: float = 60) -> None:
        """Until every node takes a write: healthy is not writable. A cluster seconds old has
        answered SlowDownWrite (write quorum not met) to a CreateMultipartUpload after a PutObject
        had passed (CI, test_shield), and left a backup's pending object behind (test_day2). A PUT,
        a multipart upload started and aborted, and a DELETE through each node, in a probe bucket
        removed afterwards. Skipped without root credentials in the environment."""
        user, password = self.environment.get("MINIO_ROOT_USER"), self.environment.get("MINIO_ROOT_PASSWORD")
        if not user or not password:
            return
        bucket = "minio-platform-writable-probe"

        def client(node: MinioNode):
            return boto3.client(
                "s3",
                endpoint_url=f"http://127.0.0.1:{node.port}",
                aws_access_key_id=user,
                aws_secret_access_key=password,
                region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )

        clients = [client(node) for node in self.nodes]

        def writes(*calls) -> bool:
            try:
                for call in calls:
                    call()
            except (ClientError, BotoCoreError):
                return False
            return True

        def bucket_made() -> bool:
            return writes(lambda: clients[0].create_bucket(Bucket=bucket)) or writes(
                lambda: clients[0].head_bucket(Bucket=bucket)
            )

        def node_writes(client) -> bool:
            def multipart() -> None:
                upload = client.create_multipart_upload(Bucket=bucket, Key="probe-multipart")["UploadId"]
                client.abort_multipart_upload(Bucket=bucket, Key="probe-multipart", UploadId=upload)

            return writes(
                lambda: client.put_object(Bucket=bucket, Key="probe", Body=b"probe"),
                multipart,
                lambda: client.delete_object(Bucket=bucket, Key="probe"),
            )

        self.wait_until(bucket_made, seconds, "a probe bucket")
        self.wait_until(lambda: all(node_writes(c) for c in clients), seconds, "every node to take a write")
        self.wait_until(
            lambda: writes(lambda: clients[0].delete_bucket(Bucket=bucket)), seconds, "the probe bucket to go"
        )

    def start_fresh(self) -> None:
        """Start a new cluster (empty drives); if it has not formed in 90 s, once more on new ports
        and emptied drives. Seen once in CI: four processes on loopback whose later nodes answered
        "drive not found" for their own drives while the first server waited for them, for the whole
        90 s (MinIO's bootstrap, which no test here is about). A second stall fails."""
        try:
            self.start_all()
            return
        except pytest.fail.Exception as stalled:
            print(f"\nMinIO did not form a cluster; starting it once more: {str(stalled)[:300]}")
        self.close()
        for node in self.nodes:
            shutil.rmtree(node.data)
            node.data.mkdir(parents=True)
            node.port, node.console_port, node.process = free_port(), free_port(), None
        self.start_all()

    def node_health(self, node: MinioNode, probe: str) -> int | None:
        """HTTP status of ``/minio/health/<probe>`` on one node (None if it does not answer)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{node.port}/minio/health/{probe}", timeout=2
            ) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    def kill(self, node: MinioNode) -> None:
        """Kill a node outright (SIGKILL): no graceful shutdown, as a crash would."""
        if node.process is not None:
            stop(node.process, signal.SIGKILL)

    def health(self, probe: str) -> int | None:
        """HTTP status of ``/minio/health/<probe>`` from the first live node (None if none answers)."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            status = self.node_health(node, probe)
            if status is not None:
                return status
        return None

    def wait_until(self, condition, seconds: float, what: str | Callable[[], str]) -> None:
        """Until ``condition()``; fails naming ``what`` (called then, when it says how far it got)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        logs = "\n".join(n.log.read_text()[-1500:] for n in self.nodes if n.log.exists())
        described = what() if callable(what) else what
        pytest.fail(f"timed out after {seconds} s waiting for {described}\n{logs}")

    def close(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                stop(node.process)


@contextlib.contextmanager
def running_cluster(
    binary: str, workdir: Path, environment: dict[str, str], count: int = 4
) -> Iterator[LocalMinioCluster]:
    """A started LocalMinioCluster of ``count`` nodes, every node stopped on the way out."""
    local = LocalMinioCluster(binary, workdir, environment, count)
    try:
        local.start_fresh()
        yield local
    finally:
        local.close()


class Mc:
    """The MinIO client against one alias, configured through MC_HOST_<alias> (no config files)."""

    def __init__(self, binary: str, workdir: Path, endpoint_port: int, access_key: str, secret_key: str):
        self.binary = binary
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "MC_CONFIG_DIR": str(workdir / "mc"),
            "MC_HOST_target": f"http://{access_key}:{secret_key}@127.0.0.1:{endpoint_port}",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.binary, "--json", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"mc {' '.join(args)} failed: {result.stdout[-1000:]} {result.stderr[-1000:]}"
            )
        return result

    def json(self, *args: str) -> list[dict]:
        return [json.loads(line) for line in self.run(*args).stdout.splitlines() if line.strip()]


POSTGRES_HINT = "apt-get install postgresql (Debian): its server binaries and pg_dump/pg_restore/psql"


def postgres_bin_dir() -> Path:
    """Debian's server binaries (/usr/lib/postgresql/<version>/bin), newest version first."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if found:
        return found[-1].parent
    return Path(require_binary("postgres", POSTGRES_HINT)).parent


class Postgres:
    """A throwaway PostgreSQL server on loopback with password (SCRAM) authentication.

    PostgreSQL refuses to run as root, and CI runs as root: there the data directory belongs to
    ``nobody`` and the server runs as that user. Clients use :attr:`env` (PGHOST, PGPORT, PGUSER,
    PGPASSWORD), as the backup tool's users do.
    """

    USER = "platform"

    def __init__(self) -> None:
        import pwd
        import secrets
        import shutil
        import tempfile

        self.bin = postgres_bin_dir()
        for client in ("pg_dump", "pg_restore", "psql"):
            require_binary(client, POSTGRES_HINT)
        # Not under pytest's tmp (mode 0700, root's): the server's user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="minio-platform-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self._shutil = shutil
        as_root = os.geteuid() == 0
        nobody = pwd.getpwnam("nobody") if as_root else None

        def demote() -> None:
            if nobody is not None:
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)

        self._demote = demote
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if nobody is not None:
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            os.chown(password_file, nobody.pw_uid, nobody.pw_gid)
        environment = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "HOME": str(self.root)}
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", self.USER, "--auth=scram-sha-256",
             f"--pwfile={password_file}", "--encoding=UTF8", "--no-sync"],
            check=True, capture_output=True, preexec_fn=demote, env=environment, timeout=120,
        )  # fmt: skip
        password_file.unlink()
        self.log = self.root / "postgres.log"
        with open(self.log, "ab") as out:
            if nobody is not None:
                os.chown(self.log, nobody.pw_uid, nobody.pw_gid)
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                 "-k", str(self.root), "-c", "fsync=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=demote, env=environment,
            )  # fmt: skip
        wait_for_port(self.port, self.process, self.log, seconds=30)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": self.USER,
            "PGPASSWORD": self.password,
        }

    def psql(self, database: str, sql: str) -> str:
        done = subprocess.run(
            ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", f"--dbname={database}", "-c", sql],
            env=self.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"psql {database}: {done.stderr}")
        return done.stdout.strip()

    def close(self) -> None:
        stop(self.process)
        self._shutil.rmtree(self.root, ignore_errors=True)


def self_signed_certificate(folder: Path, *names: str) -> None:
    """``tls.crt`` and ``tls.key`` in ``folder``, for ``names`` (the first is the subject), one day.

    Shaped as the tls provider makes gateway.tls self-signed's (``tls.SelfSignedCert``, its
    resource_self_signed_cert.go): P-256, not a CA (openssl's own default would say CA:TRUE), the
    key usages and server authentication the program asks for; so a client that trusts it trusts
    the same kind of certificate as a stack's."""
    openssl = require_binary("openssl", "apt-get install openssl")
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "1", "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
         "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


@contextlib.contextmanager
def serving(
    port: int, handler: type[BaseHTTPRequestHandler], address: str = "127.0.0.1"
) -> Iterator[ThreadingHTTPServer]:
    """A stand-in upstream on loopback: ``handler`` answers, appending what it records to ``seen``
    (``port`` 0: any free one, in ``server_port``)."""
    server = ThreadingHTTPServer((address, port), handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def keycloak_dist() -> Path:
    """The Keycloak distribution zip `make keycloak-dist` fetched; a skip (a failure under
    REQUIRE_INTEGRATION=1) naming how to get it."""
    path = Path(os.environ.get(KEYCLOAK_DIST_VARIABLE, ""))
    if path.is_file() and shutil.which("java"):
        return path
    why = f"Keycloak's distribution ({KEYCLOAK_DIST_VARIABLE}) or java is missing: run `make keycloak-dist`"
    if os.environ.get("REQUIRE_INTEGRATION") == "1":
        pytest.fail(why)
    pytest.skip(why)


@dataclass
class LocalKeycloak:
    """Keycloak's own distribution in development mode on loopback, its state under ``workdir``.

    Bootstrapped as the platform bootstraps its own: a temporary admin service account, which
    :meth:`call` signs in as (client credentials).
    """

    dist: Path
    workdir: Path
    admin_client: str = "integration-admin"
    admin_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, seconds: float = 240) -> None:
        with zipfile.ZipFile(self.dist) as archive:
            archive.extractall(self.workdir)
        (home,) = self.workdir.glob("keycloak-*")
        (home / "bin" / "kc.sh").chmod(0o755)
        log = self.workdir / "keycloak.log"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.workdir),
            "KC_BOOTSTRAP_ADMIN_CLIENT_ID": self.admin_client,
            "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": self.admin_secret,
            "KC_HTTP_HOST": "127.0.0.1",
            "KC_HTTP_PORT": str(self.port),
            "KC_HTTP_MANAGEMENT_PORT": str(self.management_port),
            "KC_HEALTH_ENABLED": "true",
        }
        with open(log, "a") as out:
            self.process = subprocess.Popen(
                [str(home / "bin" / "kc.sh"), "start-dev"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"Keycloak exited: {log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                ready = f"http://127.0.0.1:{self.management_port}/health/ready"
                with urllib.request.urlopen(ready, timeout=2) as answer:
                    if b'"UP"' in answer.read():
                        return
            time.sleep(1)
        pytest.fail(f"Keycloak was not ready within {seconds:.0f} s: {log.read_text()[-3000:]}")

    def token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.admin_client,
            "client_secret": self.admin_secret,
        }
        url = f"{self.url}/realms/master/protocol/openid-connect/token"
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(url, data=data, timeout=10) as answer:  # noqa: S310 (loopback)
            return json.loads(answer.read())["access_token"]

    def call(self, method: str, path: str, body: object = None) -> object:
        """Keycloak's admin REST API (``/admin/realms...``)."""
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}/admin/realms{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            text = answer.read()
            return json.loads(text) if text else None

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)
