"""An existing Loki that wants credentials: basic auth or a bearer token, as secrets that reach
Alloy through its environment and never appear in the rendered configuration."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from components.conventions import SECRET_FILE_MODE
from components.logs import LOKI_CREDENTIAL_PATH, LokiAuth, render_alloy_config
from components.settings import SettingsError, settings_from_config
from synth.mocks import is_secret
from synth.run import synthesize
from synth.stackfile import read_stack_file
from tests.graph import CONTAINER, files_of, uploads_of

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = {
    "mode": "external",
    "prometheusUrl": "https://prometheus.example.com",
    "lokiUrl": "https://loki.example.com",
    "grafanaUrl": "https://grafana.example.com",
}
SECRETS = frozenset({"grafanaAuth", "lokiPassword", "lokiBearerToken"})


def problems(values: dict) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_from_config(values, SECRETS)
    return caught.value.problems


@pytest.mark.parametrize(
    ("observability", "secrets", "expected"),
    [
        (
            {**EXTERNAL, "lokiUsername": "tenant-1"},
            {},
            "lokiPassword = None: required with observability.lokiUsername",
        ),
        (
            EXTERNAL,
            {"lokiPassword": "s3cret-pass"},
            "observability.lokiUsername = None: required with the lokiPassword",
        ),
        (
            {**EXTERNAL, "lokiUsername": "tenant-1"},
            {"lokiPassword": "s3cret-pass", "lokiBearerToken": "tok-123456"},
            "lokiBearerToken = '[secret]': choose basic auth or a bearer token",
        ),
        (
            {"mode": "deploy"},
            {"lokiBearerToken": "tok-123456"},
            "lokiBearerToken = '[secret]': Loki credentials are only",
        ),
        (
            {"mode": "none", "lokiUsername": "tenant-1"},
            {},
            "observability.lokiUsername = 'tenant-1': Loki credentials",
        ),
    ],
)
def test_loki_credentials_are_validated(observability, secrets, expected):
    found = problems({"observability": observability, "grafanaAuth": "glsa_token", **secrets})
    assert [p for p in found if expected in p], found
    assert not [p for p in found for value in secrets.values() if value in p]


@pytest.mark.parametrize(
    ("auth", "reference"),
    [
        (LokiAuth("tenant-1"), f'password_file = "{LOKI_CREDENTIAL_PATH}"'),
        (LokiAuth(), f'bearer_token_file = "{LOKI_CREDENTIAL_PATH}"'),
    ],
)
def test_the_credential_is_read_from_its_file_by_alloys_own_parser(alloycheck, tmp_path, auth, reference):
    config = render_alloy_config("https://loki.example.com/loki/api/v1/push", auth=auth)
    assert reference in config
    path = tmp_path / "config.alloy"
    path.write_text(config)
    done = subprocess.run(
        [alloycheck, "--describe-endpoints", str(path)],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    (endpoint,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert endpoint["auth"] == ("basic" if auth.username else "bearer")
    # Alloy's parser took the file as the credential's source, and nothing inline.
    assert endpoint["credential_file"] == LOKI_CREDENTIAL_PATH
    assert endpoint["credential_set"] is False
    if auth.username:
        assert endpoint["username"] == "tenant-1"


def _prod(observability: dict, secrets: dict[str, str]):
    config = read_stack_file(ROOT / "Pulumi.prod.yaml", "prod", {"observability": observability})
    values = dict(config.values) | {f"minio-platform:{k}": v for k, v in secrets.items()}
    keys = (*config.secret_keys, *(f"minio-platform:{k}" for k in secrets))
    return synthesize(type(config)(config.stack, values, keys, config.placeholders))


@pytest.mark.parametrize(
    ("observability", "secrets"),
    [
        ({"lokiUsername": "tenant-1"}, {"lokiPassword": "basic-s3cret-pass"}),
        ({}, {"lokiBearerToken": "bearer-s3cret-token"}),
    ],
)
def test_alloy_gets_the_credential_as_a_secret_file_and_neither_its_config_nor_environment_holds_it(
    observability, secrets
):
    synthesis = _prod(observability, secrets)
    (value,) = secrets.values()
    (alloy,) = [c for c in synthesis.of_type(CONTAINER) if c.inputs["name"] == "alloy"]
    assert is_secret(files_of(synthesis, alloy).inputs["uploads"])
    credential = uploads_of(synthesis, alloy)[LOKI_CREDENTIAL_PATH]
    assert credential["content"] == value
    assert credential["permissions"] == SECRET_FILE_MODE
    assert not alloy.inputs.get("envs")
    assert value not in synthesis.files["config.alloy"]
    assert LOKI_CREDENTIAL_PATH in synthesis.files["config.alloy"]
    assert value in synthesis.secret_values


def test_without_credentials_alloy_pushes_as_before(synth):
    prod = synth("prod")
    assert LOKI_CREDENTIAL_PATH not in prod.files["config.alloy"]
    (alloy,) = [c for c in prod.of_type(CONTAINER) if c.inputs["name"] == "alloy"]
    assert not alloy.inputs.get("envs")
