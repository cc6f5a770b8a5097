"""The real Pulumi CLI against the real Docker engine: one stack of this project, driven as a user would.

The tier's stack file is written here (local images, no monitoring, loopback ports, built-in
policies only) rather than committed: it exists to run where no registry and no minio provider
can. State lives in a fresh ``file://`` backend folder under ``build/e2e/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "e2e"
STACK = "e2e"
PROJECT = "minio-platform"

# Host ports of the tier's stack, away from the dev defaults so a dev stack can live beside it.
HTTP_PORT = 18080
S3_PORT = 19000
KEYCLOAK_PORT = 18180


def require(what: str, present: bool, how: str) -> None:
    """Skip without a piece the tier needs, or fail under REQUIRE_E2E=1 (CI)."""
    if present:
        return
    message = f"e2e tier: {what} is missing: {how}"
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"{message} (REQUIRE_E2E=1 forbids skipping)")
    pytest.skip(message)


def docker_available() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0


def image_present(name: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False).returncode == 0
    )


def e2e_images() -> dict[str, str]:
    """The local images `make images` builds, by role (names exported by the Makefile)."""
    return {
        role: os.environ.get(f"MINIO_PLATFORM_{role.upper()}_IMAGE", "")
        for role in ("minio", "nginx", "keycloak", "signin", "backup", "prometheus", "alertmanager")
    }


def stack_config(images: dict[str, str], **changes: Any) -> dict[str, Any]:
    """The tier's stack settings: keys without the project prefix, deep values as in a stack file."""
    config: dict[str, Any] = {
        "environment": "dev",
        "cluster": {"nodes": 4, "drivesPerNode": 1, "image": images["minio"]},
        "gateway": {
            "image": images["nginx"],
            "bindAddress": "127.0.0.1",
            "httpPort": HTTP_PORT,
            "s3Port": S3_PORT,
            "consoleHost": "localhost",
            "s3Host": "localhost",
            "tls": "none",
        },
        "identity": {
            "mode": "deploy",
            "realm": "minio",
            "image": images["keycloak"],
            "signinImage": images["signin"],
            "port": KEYCLOAK_PORT,
            # MinIO's built-in policies only: nothing for a minio provider to create.
            "groups": [
                {"name": "storage-admins", "policy": "consoleAdmin"},
                {"name": "storage-readers", "policy": "readonly"},
            ],
        },
        "buckets": [],
        "serviceAccounts": [],
        "observability": {"mode": "none"},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def diagnostics(self, limit: int = 4000) -> str:
        """Pulumi's "Diagnostics:" section (what failed, and why) or, without one, the output's tail.

        Failure messages start with this: a CI log shows the beginning of a long message.
        """
        lines = self.output.splitlines()
        start = next((i for i, line in enumerate(lines) if line.strip() == "Diagnostics:"), None)
        if start is None:
            # A refused preview prints its "error:" lines, then the program's traceback (as long as the
            # language host's shutdown makes it): the errors first, so a tail cannot hide them.
            errors = "\n".join(line for line in lines if line.lstrip().startswith("error:"))
            return (
                (errors + "\n...\n" + self.output[-limit:])[: 2 * limit] if errors else self.output[-limit:]
            )
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].strip() in ("Outputs:", "Resources:")),
            len(lines),
        )
        section = "\n".join(lines[start:end]).strip()
        # The section lists resources in no fixed order, and the stack's entry can be the language
        # host's long shutdown traceback (seen in CI: a refusal's error line came after 4000
        # characters of it): the "error:" lines first, so the limit cannot cut them off.
        errors = "\n".join(line.strip() for line in lines[start:end] if line.lstrip().startswith("error:"))
        return (errors + "\n...\n" + section if errors else section)[:limit]


@dataclass
class Engine:
    """``pulumi`` for one stack of this project, with its own backend folder and passphrase."""

    pulumi: str
    workdir: Path
    prefix: tuple[str, ...] = ()
    """Run every command under this (``ip netns exec <host>``: the CLI on a simulated host)."""
    config_file: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    salt: str = field(init=False, default="")
    """The passphrase's salt, which `pulumi up` writes into the tier's stack file."""

    def __post_init__(self) -> None:
        # Not created here: the first `make up` must create it, as it does for a new user.
        state = self.workdir / "state"
        self.state = state
        self.config_file = self.workdir / f"Pulumi.{STACK}.yaml"
        self.env = {
            **os.environ,
            "PATH": f"{Path(self.pulumi).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_hex(16),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            # The program's own Docker provider takes its host from stack config, not from here.
            "NO_COLOR": "1",
            # Use the plugins build.sh registered in PULUMI_HOME, not copies found on PATH.
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        }

    def run(self, *args: str, check: bool = True, timeout: float = 1200, log_output: bool = True) -> Result:
        return self._run([self.pulumi, *args], check=check, timeout=timeout, log_output=log_output)

    def make_up(self, check: bool = True) -> Result:
        """The README's own path: `make up`, onto a backend folder that does not exist yet."""
        try:
            return self._run(
                [
                    "make",
                    "--no-print-directory",
                    "up",
                    f"STACK={STACK}",
                    f"PULUMI_BACKEND_URL=file://{self.state}",
                    f"CONFIG_FILE={self.config_file}",
                    "UP_FLAGS=--yes --non-interactive",
                    "LOGIN=0",
                ],
                check=check,
                timeout=1200,
            )
        finally:
            # `stack select --create` wrote the passphrase's salt beside Pulumi.yaml (it has no
            # --config-file); the tier's stack file got its own on `up`. Leave the repository
            # clean, even when `up` failed: a stale salt makes the next run's passphrase "incorrect".
            (ROOT / f"Pulumi.{STACK}.yaml").unlink(missing_ok=True)

    def _run(
        self,
        command: list[str],
        check: bool,
        timeout: float,
        log_output: bool = True,
        stdin: str | None = None,
    ) -> Result:
        shown = " ".join([Path(command[0]).name, *command[1:]])
        started = time.monotonic()
        done = subprocess.run(
            [*self.prefix, *command],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(command, done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        log = self.workdir / "pulumi.log"
        with log.open("a") as out:
            out.write(f"\n$ {shown}  (exit {done.returncode}, {result.seconds:.1f} s)\n")
            # Outputs shown with --show-secrets stay out of the log.
            out.write(done.stdout + done.stderr if log_output else "(output not logged: it holds secrets)\n")
        if check and done.returncode != 0:
            raise AssertionError(f"{shown} exited {done.returncode}:\n{result.diagnostics()}")
        return result

    def stack_args(self) -> list[str]:
        return ["--stack", STACK, "--non-interactive", "--config-file", str(self.config_file)]

    def write_config(self, config: dict[str, Any]) -> None:
        """The stack file, as a user would write it: plain values from ``config``, and the secrets
        set before with :meth:`set_secret` kept as they are (encrypted).

        Keeps the passphrase's salt Pulumi wrote into it on the first `up`."""
        secrets: dict[str, Any] = {}
        if self.config_file.exists():
            current = yaml.safe_load(self.config_file.read_text()) or {}
            self.salt = current.get("encryptionsalt", self.salt)
            secrets = {
                key: value
                for key, value in (current.get("config") or {}).items()
                if isinstance(value, dict) and set(value) == {"secure"}
            }
        document = {
            **({"encryptionsalt": self.salt} if self.salt else {}),
            "config": {**secrets, **{f"{PROJECT}:{key}": value for key, value in config.items()}},
        }
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def set_secret(self, key: str, value: str) -> None:
        """``pulumi config set --secret`` (the value through standard input, never on a command line)."""
        self._run(
            [self.pulumi, "config", "set", "--secret", f"{PROJECT}:{key}", *self.stack_args()],
            check=True,
            timeout=120,
            log_output=False,
            stdin=value,
        )

    def up(self, *extra: str, check: bool = True) -> Result:
        return self.run("up", "--yes", *self.stack_args(), *extra, check=check)

    def preview(self, *extra: str, check: bool = True) -> Result:
        return self.run("preview", "--diff", *self.stack_args(), *extra, check=check)

    def refresh(self) -> Result:
        return self.run("refresh", "--yes", *self.stack_args())

    def destroy(self, check: bool = True) -> Result:
        return self.run("destroy", "--yes", *self.stack_args(), check=check)

    def outputs(self) -> dict[str, Any]:
        shown = self.run("stack", "output", "--json", "--show-secrets", "--stack", STACK, log_output=False)
        return json.loads(shown.stdout)

    def export(self) -> str:
        return self.run("stack", "export", "--stack", STACK).stdout
