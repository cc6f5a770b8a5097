"""Any stack file either stops with the settings error before anything registers, or synthesizes.

Hypothesis draws a stack file from valid choices for every section, then breaks it in up to three
places at once (a wrong type, a value out of range, a rule between sections, a plain-text secret,
an unknown key...), and runs the whole program under mocks. Nothing else may escape: no
``ValueError`` from a component, no ``KeyError``, no half-registered graph.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from components.settings import PROJECT, SettingsError
from synth.mocks import PlatformMocks, RecordingMonitor
from synth.run import synthesize
from synth.stackfile import StackConfig

Values = dict[str, Any]

BUCKET_NAMES = ["backups-postgresql", "logs", "application-files", "media"]
CLUSTER = st.fixed_dictionaries(
    {"nodes": st.sampled_from([4, 5, 6, 8, 12, 16])},
    optional={
        "drivesPerNode": st.sampled_from([1, 2, 4]),
        "memoryMb": st.integers(512, 4096),
        "image": st.just("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"),
    },
)
GATEWAY = st.fixed_dictionaries(
    {"tls": st.sampled_from(["none", "self-signed"])},
    optional={
        "bindAddress": st.sampled_from(["127.0.0.1", "0.0.0.0"]),  # noqa: S104
        "httpPort": st.sampled_from([80, 8081]),
        "consoleHost": st.just("console.example.com"),
        "maxBodySize": st.sampled_from(["5g", "100m"]),
    },
).map(lambda g: {**g, "s3Host": "s3.example.com"} if g["tls"] != "none" else g)
BUCKETS = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(BUCKET_NAMES), "retentionDays": st.integers(1, 400)},
        optional={"versioning": st.booleans(), "encryption": st.booleans()},
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda b: b["name"],
)
GROUPS = st.lists(
    st.sampled_from(
        [
            {"name": "storage-admins", "policy": "consoleAdmin"},
            {"name": "auditors", "policy": "diagnostics"},
            {"name": "readers", "policy": "bucket-readonly"},
            {"name": "operators", "policy": "backup-service", "buckets": ["backups-postgresql"]},
        ]
    ),
    max_size=3,
    unique_by=lambda g: g["name"],
)
OBSERVABILITY = st.sampled_from(
    [
        {"mode": "deploy"},
        {"mode": "none"},
        {
            "mode": "external",
            "prometheusUrl": "https://p.example.com",
            "lokiUrl": "https://l.example.com",
            "grafanaUrl": "https://g.example.com",
        },
    ]
)


@st.composite
def valid_stack(draw: st.DrawFn) -> tuple[Values, dict[str, str]]:
    """(plain values, secret values) of a stack file every rule accepts."""
    buckets = draw(BUCKETS)
    names = [b["name"] for b in buckets]
    groups = [g for g in draw(GROUPS) if all(b in names for b in g.get("buckets", []))]
    accounts = (
        [{"name": "backup-service", "policy": "backup-service", "buckets": ["backups-postgresql"]}]
        if "backups-postgresql" in names
        else []
    )
    observability = draw(OBSERVABILITY)
    values: Values = {
        "environment": "dev",
        "cluster": draw(CLUSTER),
        "gateway": draw(GATEWAY),
        "identity": {"mode": "deploy", "groups": groups},
        "buckets": buckets,
        "serviceAccounts": accounts,
        "observability": observability,
    }
    secrets = {"rootPassword": "correct-horse-battery"} if draw(st.booleans()) else {}
    if observability["mode"] == "external":
        secrets["grafanaAuth"] = "glsa_service-account-token"
    return values, secrets


def _set(path: str, value: Any) -> Callable[[Values, dict[str, str]], None]:
    """A break that sets ``section.field`` (or a whole section) to ``value``."""
    section, _, field = path.partition(".")

    def apply(values: Values, _secrets: dict[str, str]) -> None:
        if not field:
            values[section] = value
        elif isinstance(values.get(section), dict):
            values[section][field] = value
        else:
            values[section] = {field: value}

    return apply


def _duplicate_bucket(values: Values, _secrets: dict[str, str]) -> None:
    if isinstance(values.get("buckets"), list) and values["buckets"]:
        values["buckets"].append(dict(values["buckets"][0]))


def _port_clash(values: Values, _secrets: dict[str, str]) -> None:
    if isinstance(values.get("gateway"), dict):
        values["gateway"].update(tls="none", httpPort=9000, s3Port=9000)


def _account_on_missing_bucket(values: Values, _secrets: dict[str, str]) -> None:
    values["serviceAccounts"] = [{"name": "app", "policy": "backup-service", "buckets": ["not-configured"]}]


def _plain_text_secret(_values: Values, secrets: dict[str, str]) -> None:
    secrets.pop("rootPassword", None)  # the same key set both ways would be the secret one
    secrets["rootPassword!plain"] = "correct-horse-battery"


def _short_password(_values: Values, secrets: dict[str, str]) -> None:
    secrets["keycloakAdminPassword"] = "hunter2"


def _external_grafana_without_token(values: Values, secrets: dict[str, str]) -> None:
    values["observability"] = {
        "mode": "external",
        "prometheusUrl": "https://p.example.com",
        "lokiUrl": "https://l.example.com",
        "grafanaUrl": "https://g.example.com",
    }
    secrets.pop("grafanaAuth", None)


def _stray_grafana_token(values: Values, secrets: dict[str, str]) -> None:
    values["observability"] = {"mode": "deploy"}
    secrets["grafanaAuth"] = "glsa_service-account-token"


BREAKS: list[Callable[[Values, dict[str, str]], None]] = [
    _set("cluster.nodes", 3),
    _set("cluster.nodes", "four"),
    _set("cluster.drivesPerNode", 17),
    _set("cluster.parity", 9),
    _set("cluster.image", "minio/minio:latest"),
    _set("cluster.memoryMb", 100),
    _set("cluster.replicas", 2),
    _set("cluster", "nodes=4"),
    _set("networks.storageSubnet", "10.9.0.0/30"),
    _set("networks.monitoringSubnet", "172.40.0.128/25"),
    _set("networks.databaseSubnet", "not-a-subnet"),
    _set("gateway.httpPort", 70000),
    _set("gateway.tls", "provided"),
    _set("gateway.tls", "mutual"),
    _set("gateway.consoleHost", "bad host"),
    _set("gateway.bindAddress", "localhost"),
    _port_clash,
    _set("identity.mode", "external"),
    _set("identity.url", "ftp://sso.example.com"),
    _set("identity.groups", [{"name": "X", "policy": "consoleAdmin"}]),
    _set("identity.groups", [{"name": "ghosts", "policy": "no-such-policy"}]),
    _set("identity.groups", [{"name": "admins", "policy": "consoleAdmin", "buckets": ["logs"]}]),
    _duplicate_bucket,
    _set("buckets", [{"name": "Bad_Name", "retentionDays": 30}]),
    _set("buckets", [{"name": "logs", "retentionDays": -1}]),
    _set("buckets", {"name": "logs"}),
    _account_on_missing_bucket,
    _set(
        "serviceAccounts", [{"name": "prometheus-metrics", "policy": "bucket-readonly", "buckets": ["logs"]}]
    ),
    _set("serviceAccounts", [{"name": "app", "policy": "no-such-template"}]),
    _set("observability", {"mode": "external"}),
    _set("observability", {"mode": "none", "lokiUrl": "https://l.example.com"}),
    _set("observability.mode", "sideways"),
    _set("environment", "prod"),
    _set("environment", "staging"),
    _set("clustre", {"nodes": 4}),
    _plain_text_secret,
    _short_password,
    _stray_grafana_token,
    _external_grafana_without_token,
]


def _stack_config(values: Values, secrets: dict[str, str]) -> StackConfig:
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    secret_keys = []
    for key, value in secrets.items():
        name, plain = key.removesuffix("!plain"), key.endswith("!plain")
        config[f"{PROJECT}:{name}"] = value
        if not plain:
            secret_keys.append(f"{PROJECT}:{name}")
    return StackConfig("dev", config, tuple(secret_keys), ())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=valid_stack(), breaks=st.lists(st.sampled_from(BREAKS), max_size=3))
def test_a_stack_file_fails_before_anything_registers_or_synthesizes(stack, breaks):
    values, secrets = copy.deepcopy(stack)
    for apply in breaks:
        apply(values, secrets)
    monitor = RecordingMonitor(PlatformMocks())
    try:
        synthesis = synthesize(_stack_config(values, secrets), monitor=monitor)
    except SettingsError as err:
        event("refused by the settings")
        registered = [r.type for r in monitor.records if r.type != "pulumi:pulumi:Stack"]
        assert registered == [], f"registered before the settings error: {registered}"
        assert err.problems, "a settings error names at least one problem"
        assert all(p.startswith(f"{PROJECT}:") for p in err.problems), err.problems
        for key, value in secrets.items():
            assert value not in str(err), f"{key}'s value appears in the error"
    else:
        event("synthesized")
        # Each break alone is a known mistake; two breaks may cancel out (tls none, then tls on).
        assert len(breaks) != 1, "a single known mistake was accepted"
        assert any(r.type == "docker:index/container:Container" for r in synthesis.resources)


@given(stack=valid_stack())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_drawn_stack_is_valid_before_it_is_broken(stack):
    """The base the breaks start from is accepted: so a refusal above comes from a break."""
    values, secrets = stack
    synthesis = synthesize(_stack_config(values, secrets))
    assert synthesis.outputs["minio_nodes"]
