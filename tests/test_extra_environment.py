"""Server settings the program does not own (#33 item 5): cluster.extraEnvironment for every node,
clusterSecretEnvironment for the secret ones, and the program's own variables refused by name."""

from __future__ import annotations

import json

import pytest

from components.settings import SettingsError, settings_from_config
from components.settings.cluster import environment_problem
from synth.stackfile import SYNTH_SECRET_VARIABLE
from tests.graph import env_of, minio_nodes, minio_settings_of, parse_config_env, plain, uploads_of

EXTRA = {"MINIO_API_REQUESTS_MAX": "1600", "MINIO_SCANNER_SPEED": "slow"}


def problems(values: dict, secret: str | None = None) -> str:
    if secret is not None:
        values = {**values, "clusterSecretEnvironment": secret}
    with pytest.raises(SettingsError) as raised:
        settings_from_config(
            values, frozenset({"clusterSecretEnvironment"}) if secret is not None else frozenset()
        )
    return str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("MINIO_ROOT_USER", "admin", "extraEnvironment.MINIO_ROOT_USER = 'admin': set by the program"),
        ("MINIO_STORAGE_CLASS_STANDARD", "EC:1", "extraEnvironment.MINIO_STORAGE_CLASS_STANDARD"),
        ("MINIO_IDENTITY_OPENID_CONFIG_URL", "http://x", "set by the program"),
        ("MINIO_AUDIT_WEBHOOK_ENABLE_SPLUNK", "on", "set by the program"),
        ("MINIO_VOLUMES", "/data", "set by the program"),
        ("_MINIO_LOCK_RETRY_INTERVAL", "10", "set by the program"),
        ("GOMAXPROCS", "2", "a MinIO variable"),
        ("minio_api_requests_max", "2", "a MinIO variable"),
        ("MINIO_API_CORS_ALLOW_ORIGIN", "a\nb", "one line"),
    ],
)
def test_a_variable_the_program_sets_or_no_minio_one_is_refused_by_name(name, value, says):
    message = problems({"cluster": {"extraEnvironment": {**EXTRA, name: value}}})
    assert f"cluster.extraEnvironment.{name}" in message and says in message, message
    assert "MINIO_API_REQUESTS_MAX" not in message, "only the wrong one is named"


@pytest.mark.parametrize(
    "name", ["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_APP", "MINIO_ROOT_PASSWORD", "MINIO_SMTP_PASSWORD"]
)
def test_a_secret_in_the_plain_map_is_refused_without_showing_it(name):
    message = problems({"cluster": {"extraEnvironment": {name: "s3cret-value-x"}}})
    assert name in message and "s3cret-value-x" not in message, message


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("MINIO_KMS_SECRET_KEY=my-own-s3cret", "variable 1, MINIO_KMS_SECRET_KEY: set by the program"),
        ("no equals sign s3cret", "line 1 is not NAME=value"),
        ("MINIO_API_REQUESTS_MAX=s3cret", "MINIO_API_REQUESTS_MAX: also in cluster.extraEnvironment"),
        ("MINIO_A_TOKEN=s3cret\nMINIO_A_TOKEN=s3cret2", "variable 2, MINIO_A_TOKEN: given again"),
        ("PATH=s3cret", "variable 1, PATH: a MinIO variable"),
    ],
)
def test_the_secret_variables_are_checked_and_never_shown(secret, says):
    message = problems({"cluster": {"extraEnvironment": EXTRA}}, secret)
    assert "clusterSecretEnvironment = '[secret]'" in message and says in message, message
    assert "s3cret" not in message


def test_the_secret_variables_in_plain_text_are_refused():
    with pytest.raises(SettingsError, match="clusterSecretEnvironment is set in plain text"):
        settings_from_config({"clusterSecretEnvironment": "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_APP=x"})


def test_every_node_gets_the_plain_ones_in_its_environment_and_the_secret_ones_in_its_secrets_file(synth):
    synthesis = synth(
        "dev", {"cluster": {"extraEnvironment": EXTRA}, "clusterSecretEnvironment": {"secure": "x"}}
    )
    nodes = minio_nodes(synthesis.resources)
    assert len(nodes) == 4
    for node in nodes:
        environment = env_of(node)
        assert {k: environment[k] for k in EXTRA} == EXTRA
        assert SYNTH_SECRET_VARIABLE not in environment
        secrets_file = uploads_of(synthesis, node)["/run/secrets/minio-config.env"]
        assert parse_config_env(secrets_file["content"])[SYNTH_SECRET_VARIABLE].startswith(
            "offline-synth-placeholder-for-clusterSecretEnvironment"
        )
        settings = minio_settings_of(synthesis, node)
        assert settings["MINIO_ROOT_USER"] and settings["MINIO_API_REQUESTS_MAX"] == "1600"
    shown = synthesis.files["minio.env"]
    assert "MINIO_API_REQUESTS_MAX=1600" in shown and f"{SYNTH_SECRET_VARIABLE}=[secret]" in shown
    assert "offline-synth-placeholder-for-clusterSecretEnvironment" not in json.dumps(plain(synthesis.files))


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("dev", {}),
        ("prod", {}),
        ("dev", {"observability": {"mode": "none"}}),
        ("dev", {"cluster": {"lockRetryIntervalMs": None}}),
    ],
)
def test_every_variable_the_program_gives_a_node_is_one_the_settings_refuse(synth, stack, overrides):
    """The list of the program's variables keeps up with the program: whatever it renders for a
    node (environment and secrets file) is refused as an extra variable."""
    synthesis = synth(stack, overrides)
    for node in minio_nodes(synthesis.resources):
        rendered = minio_settings_of(synthesis, node)
        assert "MINIO_ROOT_USER" in rendered and "MINIO_ROOT_PASSWORD" in rendered
        unmanaged = [
            n for n in rendered if n.startswith(("MINIO_", "_MINIO_")) and environment_problem(n) is None
        ]
        assert unmanaged == [], f"add to MANAGED_VARIABLES or MANAGED_PREFIXES: {unmanaged}"
