"""CI must run the real-server and render tiers, never skip them."""

import os
import re
from pathlib import Path

from components.settings import DEFAULT_SIGNIN_IMAGE

ROOT = Path(__file__).resolve().parent.parent


def test_ci_forbids_skipping_real_server_tests():
    """Both tiers that could skip (real servers, the real engine) are required in CI, and the
    exports come before the test command runs."""
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    exports = [i for i, line in enumerate(lines) if line.startswith("export ") and "REQUIRE_" in line]
    required = {word.split("=")[0] for i in exports for word in lines[i].split()[1:] if word.endswith("=1")}
    assert {"REQUIRE_INTEGRATION", "REQUIRE_E2E"} <= required
    assert lines.index("make test") > max(exports)
    if os.environ.get("CI") == "true":
        assert os.environ.get("REQUIRE_INTEGRATION") == "1"
        assert os.environ.get("REQUIRE_E2E") == "1"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    top = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in top.strip().splitlines()]
    assert commands == ["make dev", "make test"]


def test_the_docker_host_key_drives_the_provider_and_stays_secret():
    """What CI sets with `pulumi config set --secret dockerHost` is the daemon every resource uses."""
    from components.settings import PROJECT
    from synth.mocks import is_secret, unwrap
    from synth.run import synthesize
    from synth.stackfile import read_stack_file

    config = read_stack_file(ROOT / "Pulumi.dev.yaml", "dev", {"dockerHost": "ssh://deploy@storage-host"})
    key = f"{PROJECT}:dockerHost"
    synthesis = synthesize(type(config)(config.stack, config.values, (*config.secret_keys, key), ()))
    (provider,) = synthesis.of_type("pulumi:providers:docker")
    assert (
        is_secret(provider.inputs["host"]) and unwrap(provider.inputs["host"]) == "ssh://deploy@storage-host"
    )
    docker_resources = [r for r in synthesis.resources if r.type.startswith("docker:")]
    assert docker_resources and all(r.provider == provider.urn for r in docker_resources)
    assert "storage-host" not in str(synthesis.outputs)


def test_a_docker_host_that_is_not_a_daemon_url_is_refused():
    import pytest

    from components.settings import SettingsError, settings_from_config

    with pytest.raises(SettingsError) as caught:
        settings_from_config({"dockerHost": "storage-host:2375"})
    (problem,) = caught.value.problems
    assert problem.startswith("minio-platform:dockerHost = 'storage-host:2375': String should match pattern")


def test_an_e2e_failure_message_starts_with_the_errors_however_long_the_traceback_before_them():
    """Seen in CI: pulumi's Diagnostics listed the stack's shutdown traceback (over 4000 characters)
    before the refusal's error line, and the message the e2e tier checks was cut off before it."""
    from tests.e2e.engine import Result

    traceback = "\n".join(f"      line {i} of a traceback {'x' * 60}" for i in range(100))
    output = (
        "Previewing update (e2e):\nDiagnostics:\n  pulumi:pulumi:Stack (minio-platform-e2e):\n"
        f"{traceback}\n  pulumi-python:dynamic/storage:PoolLayout (minio-pool-layout):\n"
        "    error: cluster.pools[1] (minio5-minio8) holds data\n\nResources:\n    2 unchanged\n"
    )
    diagnostics = Result(["pulumi", "preview"], 1, output, "", 1.0).diagnostics()
    assert diagnostics.startswith("error: cluster.pools[1] (minio5-minio8) holds data\n...\nDiagnostics:")
    assert len(diagnostics) == 4000


def test_the_bridge_image_make_builds_is_the_one_the_stack_runs_by_default():
    """`make signin-image` (and `make dev` through it) tags the image identity.signinImage defaults to."""
    makefile = (ROOT / "Makefile").read_text()
    (tag,) = re.findall(r"^SIGNIN_IMAGE\s*:=\s*(\S+)$", makefile, flags=re.MULTILINE)
    assert tag == DEFAULT_SIGNIN_IMAGE
