"""The GitHub workflows: valid for actionlint, pinned, least-privileged, gated for prod."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
ACTIONLINT_HINT = "run `make tools` (builds actionlint with Go)"
SHA_PIN = re.compile(r"^[\w.\-]+/[\w.\-/]+@[0-9a-f]{40}$")


def uses_of(document: dict) -> list[str]:
    steps = [s for job in (document.get("jobs") or {}).values() for s in job.get("steps") or []]
    steps += (document.get("runs") or {}).get("steps") or []
    return [s["uses"] for s in steps if "uses" in s]


def load(path: Path) -> dict:
    # YAML 1.1 reads the key `on` as True; give it back its name.
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def actionlint(folder: Path) -> subprocess.CompletedProcess:
    binary = require_binary("actionlint", ACTIONLINT_HINT, env_var="MINIO_PLATFORM_ACTIONLINT")
    files = [str(p) for p in sorted((folder / ".github" / "workflows").glob("*.yml"))]
    return subprocess.run(
        [binary, "-no-color", *files], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


def test_actionlint_accepts_the_workflows():
    result = actionlint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    broken = tmp_path / ".github" / "workflows" / "main.yml"
    broken.write_text(
        broken.read_text().replace(
            "runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    timeout-minutes: soon"
        )
    )
    result = actionlint(tmp_path)
    assert result.returncode != 0
    assert "timeout-minutes" in result.stdout


@pytest.mark.parametrize(
    "path", WORKFLOWS + ACTIONS, ids=lambda p: p.name if p.name != "action.yml" else p.parent.name
)
def test_remote_actions_are_pinned_to_commit_shas(path):
    for reference in uses_of(load(path)):
        if reference.startswith("./"):
            continue  # this repository's own action or workflow, at the same commit
        assert SHA_PIN.match(reference), f"{path.name}: {reference} is not pinned to a commit SHA"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_persisted_credentials(path):
    document = load(path)
    assert document["permissions"] == {}
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} states its permissions"
        assert job["permissions"].get("contents") in (None, "read")
        for step in job.get("steps") or []:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_pull_requests_test_then_preview_every_stack_under_the_pack():
    document = load(ROOT / ".github" / "workflows" / "pull-request.yml")
    assert "pull_request" in document["on"]
    assert document["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    preview = document["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    script = " ".join(s.get("run", "") for s in preview["steps"])
    assert "pulumi preview" in script and "--policy-pack policies/pack" in script
    assert "policies/pack/prod.json" in script
    assert "gh pr comment" in script
    assert preview["permissions"]["pull-requests"] == "write"


def test_main_deploys_dev_then_prod_behind_an_environment_gate():
    document = load(ROOT / ".github" / "workflows" / "main.yml")
    assert document["on"]["push"]["branches"] == ["main"]
    up = document["jobs"]["up"]
    assert up["needs"] == "test"
    assert up["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert up["strategy"]["max-parallel"] == 1
    assert up["environment"] == "${{ matrix.stack }}"
    script = " ".join(s.get("run", "") for s in up["steps"])
    assert "pulumi up --yes" in script and "--policy-pack policies/pack" in script


def test_the_test_workflow_runs_what_ci_runs():
    document = load(ROOT / ".github" / "workflows" / "test.yml")
    steps = document["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in s.get("run", "") for s in steps)


def test_no_credentials_in_the_workflows():
    for path in [*WORKFLOWS, *ACTIONS]:
        text = path.read_text()
        pattern = r"(PULUMI_ACCESS_TOKEN|PULUMI_CONFIG_PASSPHRASE|DOCKER_HOST):[ \t]*(.+)$"
        for match in re.finditer(pattern, text, re.MULTILINE):
            assert match.group(2).startswith("${{ secrets."), f"{path.name}: {match.group(0)}"


# --- the target Docker daemon -------------------------------------------------------------------

TARGET_ACTION = ROOT / ".github" / "actions" / "target-docker-host" / "action.yml"


@pytest.mark.parametrize("workflow", ["main.yml", "pull-request.yml"])
def test_deploying_workflows_point_the_stack_at_the_docker_host_secret(workflow):
    """The provider reads dockerHost from the stack, never the runner's DOCKER_HOST: CI must set it."""
    document = load(ROOT / ".github" / "workflows" / workflow)
    (job,) = [
        j for j in document["jobs"].values() if any("pulumi " in s.get("run", "") for s in j.get("steps", []))
    ]
    steps = job["steps"]
    target = [i for i, s in enumerate(steps) if s.get("uses") == "./.github/actions/target-docker-host"]
    engine = [i for i, s in enumerate(steps) if re.search(r"pulumi (preview|up)", s.get("run", ""))]
    assert len(target) == 1 and engine and target[0] < min(engine)
    assert steps[target[0]]["with"] == {
        "stack": "${{ matrix.stack }}",
        "docker-host": "${{ secrets.DOCKER_HOST }}",
    }
    assert "DOCKER_HOST" not in (job.get("env") or {}), "an env DOCKER_HOST would only mislead"


def _run_target_action(tmp_path: Path, target: str) -> tuple[subprocess.CompletedProcess, Path]:
    """The action's script with a stand-in `pulumi` that records its arguments and standard input."""
    (step,) = load(TARGET_ACTION)["runs"]["steps"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "pulumi-called"
    fake = bin_dir / "pulumi"
    fake.write_text(f'#!/bin/sh\necho "$@" > {record}\ncat >> {record}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STACK": "prod", "TARGET": target}
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=10, check=False
    )
    return result, record


def test_the_docker_host_reaches_the_stack_as_a_secret(tmp_path):
    result, record = _run_target_action(tmp_path, "ssh://deploy@storage-host")
    assert result.returncode == 0, result.stderr
    arguments, value = record.read_text().split("\n", 1)
    assert arguments == "config set --secret --stack prod minio-platform:dockerHost"
    assert value == "ssh://deploy@storage-host"
    assert "storage-host" not in result.stdout + result.stderr


def test_a_missing_docker_host_secret_stops_the_job(tmp_path):
    result, record = _run_target_action(tmp_path, "")
    assert result.returncode == 1
    assert "no DOCKER_HOST secret" in result.stdout
    assert not record.exists()
