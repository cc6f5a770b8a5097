"""The log pipeline: Alloy's rendered configuration run on realistic MinIO lines, and its containers.

``alloycheck`` (tools/alloycheck, built by `make test`) parses the configuration with Alloy's own
parser and runs its stages with the libraries Alloy uses; see its package comment.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from components.logs import (
    AUDIT_LOG_PORT,
    GATE_HOST,
    GATE_TOKEN_FILE,
    REDACTED,
    REDACTIONS,
    SERVER_LOG_PORT,
    GateConfig,
    minio_log_environment,
    render_alloy_config,
    render_gate_conf,
    render_gate_token_map,
    webhook_authorization,
)
from tests.graph import (
    CONTAINER,
    NETWORK,
    env_of,
    files_of,
    minio_nodes,
    minio_settings_of,
    named_volumes,
    plain,
    uploads_of,
)
from tests.log_samples import SAMPLES, SERVICE_ACCOUNT

PUSH_URL = "http://loki:3100/loki/api/v1/push"


def run_pipeline(binary: str, config: str, entries: list[tuple[str, str]], tmp_path: Path) -> list[dict]:
    """Each (listener, line) through the configuration; the labels and line that reach Loki."""
    path = tmp_path / "config.alloy"
    path.write_text(config)
    stdin = "".join(json.dumps({"listener": listener, "line": line}) + "\n" for listener, line in entries)
    done = subprocess.run(
        [binary, str(path)], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"alloycheck failed: {done.stderr}")
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(entries)
    return results


def leaks(samples, results) -> list[str]:
    return [
        f"{sample.what}: {secret!r}"
        for sample, result in zip(samples, results, strict=True)
        for secret in sample.secrets
        if secret in result["line"]
    ]


def test_redaction_leaves_no_key_signature_or_token(alloycheck, tmp_path):
    results = run_pipeline(
        alloycheck, render_alloy_config(PUSH_URL), [(s.listener, s.line) for s in SAMPLES], tmp_path
    )
    assert leaks(SAMPLES, results) == []
    for sample, result in zip(SAMPLES, results, strict=True):
        # Still one JSON object, with only the secret values replaced.
        json.loads(result["line"])
        for text in sample.kept:
            assert text in result["line"], f"{sample.what}: redaction removed {text!r}"
        if sample.secrets:
            assert REDACTED in result["line"]
        else:
            assert result["line"] == sample.line


def test_the_samples_carry_their_secrets_before_redaction():
    """Otherwise the test above would pass on samples with nothing to redact."""
    for sample in SAMPLES:
        for secret in sample.secrets:
            assert secret in sample.line, f"{sample.what}: {secret!r} is not in the sample"


def test_labels_for_the_readme_queries(alloycheck, tmp_path):
    results = run_pipeline(
        alloycheck, render_alloy_config(PUSH_URL), [(s.listener, s.line) for s in SAMPLES], tmp_path
    )
    for sample, result in zip(SAMPLES, results, strict=True):
        assert result["labels"] == sample.labels, sample.what


@pytest.mark.parametrize("redaction", REDACTIONS, ids=lambda r: r.what)
def test_every_redaction_rule_is_needed_by_a_sample(alloycheck, tmp_path, redaction):
    """Each rule alone changes some sample: no rule is dead, and the samples cover them all."""
    alone = render_alloy_config(PUSH_URL, redactions=[redaction])
    results = run_pipeline(alloycheck, alone, [(s.listener, s.line) for s in SAMPLES], tmp_path)
    assert any(REDACTED in r["line"] for r in results), f"no sample exercises: {redaction.what}"


def test_planted_defect_a_missing_rule_leaks(alloycheck, tmp_path):
    without_iam_paths = [r for r in REDACTIONS if "IAM object paths" not in r.what]
    assert len(without_iam_paths) == len(REDACTIONS) - 1
    results = run_pipeline(
        alloycheck,
        render_alloy_config(PUSH_URL, redactions=without_iam_paths),
        [(s.listener, s.line) for s in SAMPLES],
        tmp_path,
    )
    assert leaks(SAMPLES, results) == [
        f"admin API: a service account created (its key in the IAM path tags): {SERVICE_ACCOUNT!r}"
    ]


def test_alloycheck_refuses_what_it_cannot_run(alloycheck, tmp_path):
    unknown_stage = render_alloy_config(PUSH_URL).replace(
        "  stage.labels {", "  stage.drop {\n  }\n  stage.labels {"
    )
    path = tmp_path / "config.alloy"
    path.write_text(unknown_stage)
    done = subprocess.run([alloycheck, str(path)], input="", capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "stage.drop is not supported" in done.stderr
    path.write_text(
        render_alloy_config(PUSH_URL).replace("forward_to = [loki.write.loki.receiver]", "forward_to =")
    )
    done = subprocess.run([alloycheck, str(path)], input="", capture_output=True, text=True, check=False)
    assert done.returncode == 1  # a syntax error from Alloy's parser


def test_webhook_environment_points_at_the_log_gate_and_queues_on_disk():
    assert minio_log_environment(2500) == {
        "MINIO_LOGGER_WEBHOOK_ENABLE_alloy": "on",
        "MINIO_LOGGER_WEBHOOK_ENDPOINT_alloy": f"http://{GATE_HOST}:{SERVER_LOG_PORT}/loki/api/v1/raw",
        "MINIO_LOGGER_WEBHOOK_QUEUE_DIR_alloy": "/queue/logger",
        "MINIO_LOGGER_WEBHOOK_QUEUE_SIZE_alloy": "2500",
        "MINIO_AUDIT_WEBHOOK_ENABLE_alloy": "on",
        "MINIO_AUDIT_WEBHOOK_ENDPOINT_alloy": f"http://{GATE_HOST}:{AUDIT_LOG_PORT}/loki/api/v1/raw",
        "MINIO_AUDIT_WEBHOOK_QUEUE_DIR_alloy": "/queue/audit",
        "MINIO_AUDIT_WEBHOOK_QUEUE_SIZE_alloy": "2500",
    }
    # Alloy's webhook listeners bind its log-net address alone: nothing on monitoring-net reaches them.
    config = render_alloy_config(PUSH_URL, listen_address="172.24.9.2")
    assert config.count('listen_address = "172.24.9.2"') == 2
    assert "0.0.0.0" not in config  # noqa: S104 (checking it is absent)
    for port in (SERVER_LOG_PORT, AUDIT_LOG_PORT):
        assert f"listen_port    = {port}" in config


def test_alloy_config_refuses_non_ascii():
    with pytest.raises(ValueError, match="ASCII"):
        render_alloy_config("http://lokï:3100/loki/api/v1/push")
    with pytest.raises(ValueError, match="ASCII"):
        render_alloy_config(PUSH_URL, [replace(REDACTIONS[0], expression="é(.)")])


# The graph, under mocks.


def container(synthesis, name):
    matches = [c for c in synthesis.of_type(CONTAINER) if c.inputs["name"] == name]
    assert len(matches) == 1, name
    return matches[0]


def test_dev_runs_loki_and_the_log_gate_on_monitoring_net_and_alloy_behind_the_gate(synth):
    dev = synth("dev")
    loki, gate, alloy = container(dev, "loki"), container(dev, GATE_HOST), container(dev, "alloy")
    for service in (loki, gate, alloy):
        assert service.inputs["wait"] is True
        assert service.inputs["healthcheck"]["tests"]
        assert "ports" not in service.inputs  # none is published; Grafana reaches Loki inside
    assert [n["name"] for n in loki.inputs["networksAdvanced"]] == ["monitoring-net"]
    # The gate and Alloy share log-net, internal; Alloy has a fixed address there, where it listens.
    assert [n["name"] for n in gate.inputs["networksAdvanced"]] == ["monitoring-net", "log-net"]
    assert plain(alloy.inputs["networksAdvanced"]) == [
        {"name": "monitoring-net", "aliases": ["alloy"]},
        {"name": "log-net", "ipv4Address": "172.24.0.2"},
    ]
    (log_net,) = [n for n in dev.of_type(NETWORK) if plain(n.inputs["name"]) == "log-net"]
    assert log_net.inputs["internal"] is True
    assert plain(log_net.inputs["ipamConfigs"]) == [{"subnet": "172.24.0.0/28"}]
    assert log_net.urn in gate.dependencies and log_net.urn in alloy.dependencies
    assert "networkMode" not in alloy.inputs
    assert "-store.retention=360h" in loki.inputs["command"]  # observability.retentionDays: 15
    (upload,) = uploads_of(dev, alloy).values()
    assert upload["file"] == "/etc/alloy/config.alloy"
    assert (
        upload["content"]
        == dev.files["config.alloy"]
        == render_alloy_config(PUSH_URL, listen_address="172.24.0.2")
    )
    assert dev.files["log-gate.conf"] == render_gate_conf(GateConfig.in_front_of("172.24.0.2"))
    assert alloy.inputs["command"][-1] == upload["file"]
    assert loki.urn in alloy.dependencies
    volumes = [v["containerPath"] for v in named_volumes(loki)]
    assert volumes == ["/loki"]
    assert not any("docker.sock" in str(v) for v in alloy.inputs.get("volumes", []))


def test_every_node_sends_logs_and_audit_to_the_gate_which_starts_first(synth):
    dev = synth("dev")
    gate, alloy = container(dev, GATE_HOST), container(dev, "alloy")
    for node in minio_nodes(dev.resources):
        env = env_of(node)
        assert {k: env[k] for k in minio_log_environment()} == minio_log_environment()
        assert gate.urn in node.dependencies and alloy.urn in node.dependencies


def test_the_gate_takes_the_token_the_nodes_send_as_a_secret_file_and_nothing_else_holds_it(synth):
    from synth.manifest import manifest
    from synth.mocks import is_secret

    dev = synth("dev")
    gate = container(dev, GATE_HOST)
    uploads = uploads_of(dev, gate)
    conf = uploads["/etc/nginx/log-gate.conf"]
    assert conf["content"] == dev.files["log-gate.conf"]
    assert gate.inputs["command"] == ["nginx", "-e", "stderr", "-c", conf["file"], "-g", "daemon off;"]
    token_map = uploads[GATE_TOKEN_FILE]
    assert token_map["permissions"] == "0440"
    assert is_secret(files_of(dev, gate).inputs["uploads"])
    token = plain(
        dev.named("random:index/randomPassword:RandomPassword", "minio-logs-webhook-token").state["result"]
    )
    assert len(token) >= 32
    authorization = webhook_authorization(token)
    assert token_map["content"] == render_gate_token_map(authorization)
    for node in minio_nodes(dev.resources):
        settings = minio_settings_of(dev, node)
        assert (
            settings["MINIO_LOGGER_WEBHOOK_AUTH_TOKEN_alloy"]
            == settings["MINIO_AUDIT_WEBHOOK_AUTH_TOKEN_alloy"]
            == authorization
        )
        assert not [key for key in env_of(node) if "TOKEN" in key]
        assert is_secret(files_of(dev, node).inputs["uploads"])
    assert token not in json.dumps(dev.files)
    assert token not in json.dumps(manifest(dev))


def test_prod_ships_to_the_existing_loki(synth):
    prod = synth("prod")
    assert not [c for c in prod.of_type(CONTAINER) if c.inputs["name"] == "loki"]
    alloy = container(prod, "alloy")
    assert alloy.inputs["image"]  # the pinned (digest) image, checked by settings
    assert 'url = "https://loki.example.com/loki/api/v1/push"' in prod.files["config.alloy"]


def test_the_token_map_matches_the_exact_authorization_and_refuses_a_token_it_cannot_quote():
    token = "AbC123" * 7
    text = render_gate_token_map(webhook_authorization(token))
    # Anchored and case-sensitive: nginx compares a map's plain strings without regard to case.
    assert f"'~^Bearer {token}$' 0;" in text
    assert "default 1;" in text
    for bad in ("short", "with space " * 4, "semi;colon" * 4, "quote'" * 8, "dot." * 10):
        with pytest.raises(ValueError, match="letters and digits"):
            render_gate_token_map(webhook_authorization(bad))


@pytest.mark.render
def test_nginx_accepts_the_rendered_gate_with_its_token_map(synth, tmp_path):
    """Debian's nginx judges the dev stack's log-gate.conf (byte for byte what `make render` writes)
    with the token map the gate's container gets; only the map's path moves to this test's folder."""
    from tests.servers import nginx_check

    dev = synth("dev")
    gate = container(dev, GATE_HOST)
    token_map = uploads_of(dev, gate)[GATE_TOKEN_FILE]
    (tmp_path / "webhook-token.conf").write_text(token_map["content"])
    conf = tmp_path / "log-gate.conf"
    conf.write_text(dev.files["log-gate.conf"].replace(GATE_TOKEN_FILE, str(tmp_path / "webhook-token.conf")))
    nginx_check(conf)
