"""A smaller platform as a real choice: no monitoring, and no minio provider when nothing lives in MinIO.

The e2e tier runs exactly such a stack under the real engine, which has no minio plugin: registering
the provider alone would make the engine load it (issue #14).
"""

from __future__ import annotations

import pytest

from components.footprint import deployed_images
from components.settings import ObservabilityMode, SettingsError, settings_from_config
from tests.graph import CONTAINER, env_of, minio_nodes

NOTHING_IN_MINIO = {
    "buckets": [],
    "serviceAccounts": [],
    "identity": {
        "mode": "deploy",
        "realm": "minio",
        "groups": [
            {"name": "storage-admins", "policy": "consoleAdmin"},
            {"name": "storage-diagnostics", "policy": "diagnostics"},
        ],
    },
    "observability": {"mode": "none"},
}


def test_mode_none_runs_no_monitoring_container_and_no_log_webhook(synth):
    synthesis = synth("dev", {"observability": {"mode": "none"}})
    roles = {r.name for r in synthesis.of_type(CONTAINER)}
    assert not {n for n in roles if any(s in n for s in ("prometheus", "grafana", "loki", "alloy"))}, roles
    for node in minio_nodes(synthesis.resources):
        assert not [k for k in env_of(node) if k.startswith(("MINIO_LOGGER_WEBHOOK", "MINIO_AUDIT_WEBHOOK"))]
    types = {r.type for r in synthesis.resources}
    assert "pulumi:providers:grafana" not in types
    assert not [r for r in synthesis.resources if "prometheus-metrics" in r.name], "no metrics identity"
    assert "grafana_dashboard_url" not in synthesis.outputs
    assert "metrics_bearer_token" not in synthesis.outputs
    assert not {"config.alloy", "prometheus.yml"} & set(synthesis.files)


def test_dev_buckets_without_monitoring_still_use_the_minio_provider(synth):
    synthesis = synth("dev", {"observability": {"mode": "none"}})
    assert synthesis.of_type("pulumi:providers:minio")
    assert synthesis.outputs["buckets"] == ["backups-postgresql", "logs", "application-files"]


def test_a_stack_with_nothing_inside_minio_registers_no_minio_provider(synth):
    synthesis = synth("dev", NOTHING_IN_MINIO)
    assert not [r for r in synthesis.resources if r.type.startswith(("minio:", "pulumi:providers:minio"))]
    assert len(minio_nodes(synthesis.resources)) == 4
    outputs = synthesis.outputs
    assert outputs["buckets"] == []
    assert outputs["service_account_access_keys"] == {}
    assert outputs["service_account_policies"] == {}
    assert {"s3_endpoint", "console_url", "sso_issuer_url", "minio_root_password"} <= set(outputs)


@pytest.mark.parametrize(
    ("change", "still_needs_minio"),
    [
        ({"buckets": [{"name": "data", "retentionDays": 7}]}, "a bucket"),
        ({"observability": {"mode": "deploy"}}, "the metrics identity"),
        (
            {
                "buckets": [{"name": "data", "retentionDays": 7}],
                "identity": {"groups": [{"name": "ops", "policy": "backup-service"}]},
            },
            "a template policy for a group",
        ),
    ],
)
def test_anything_inside_minio_brings_the_provider_back(change, still_needs_minio):
    values = {**NOTHING_IN_MINIO, **change}
    if "identity" in change:
        values["identity"] = {**NOTHING_IN_MINIO["identity"], **change["identity"]}
    try:
        settings = settings_from_config(values)
    except SettingsError as err:  # a group's template may need buckets: then the message says so
        pytest.fail(f"{still_needs_minio}: {err}")
    assert settings.manages_minio_objects, still_needs_minio


def test_nothing_inside_minio_is_recognised():
    settings = settings_from_config(NOTHING_IN_MINIO)
    assert settings.observability.mode is ObservabilityMode.NONE
    assert not settings.manages_minio_objects
    images = deployed_images(settings.cluster, settings.gateway, settings.identity, settings.observability)
    assert "observability.alloyImage" not in images


@pytest.mark.parametrize("key", ["prometheusUrl", "lokiUrl", "grafanaUrl"])
def test_mode_none_refuses_an_endpoint_it_would_ignore(key):
    with pytest.raises(SettingsError) as caught:
        settings_from_config({"observability": {"mode": "none", key: "https://x.example.com"}})
    assert caught.value.problems == [
        f"minio-platform:observability.{key} = 'https://x.example.com': "
        "mode none monitors nothing: remove it or choose mode external"
    ]


def test_grafana_auth_is_refused_without_an_external_grafana():
    with pytest.raises(SettingsError) as caught:
        settings_from_config(
            {"observability": {"mode": "none"}, "grafanaAuth": "token"}, frozenset({"grafanaAuth"})
        )
    (problem,) = caught.value.problems
    assert problem.startswith(
        "minio-platform:grafanaAuth = '[secret]': only used with observability.mode external"
    )
    assert "token" not in problem.replace("token of", "")


def test_an_external_grafana_needs_its_token_before_anything_registers():
    values = {
        "observability": {
            "mode": "external",
            "prometheusUrl": "https://p.example.com",
            "lokiUrl": "https://l.example.com",
            "grafanaUrl": "https://g.example.com",
        }
    }
    with pytest.raises(SettingsError) as caught:
        settings_from_config(values)
    assert caught.value.problems == [
        "minio-platform:grafanaAuth = None: required with observability.mode external: "
        "a service-account token of the existing Grafana"
    ]


def test_a_per_bucket_group_template_without_buckets_is_refused_by_the_settings():
    values = {**NOTHING_IN_MINIO, "identity": {"groups": [{"name": "viewers", "policy": "bucket-readonly"}]}}
    with pytest.raises(SettingsError) as caught:
        settings_from_config(values)
    (problem,) = caught.value.problems
    assert problem.startswith(
        "minio-platform:identity.groups[0].policy = 'bucket-readonly': "
        "template 'bucket-readonly' is per bucket"
    )


@pytest.mark.parametrize("key", ["prometheusUrl", "lokiUrl", "grafanaUrl"])
def test_an_observability_url_is_checked_as_its_message_says(key):
    urls = {"prometheusUrl": "https://p.example.com", "lokiUrl": "https://l.example.com"}
    urls["grafanaUrl"] = "https://g.example.com"
    urls[key] = "loki.example.com:3100"
    with pytest.raises(SettingsError) as caught:
        settings_from_config(
            {"observability": {"mode": "external", **urls}, "grafanaAuth": "t"}, frozenset({"grafanaAuth"})
        )
    assert f"minio-platform:observability.{key} = 'loki.example.com:3100': an http(s):// URL" in (
        caught.value.problems
    )
