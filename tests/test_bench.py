"""The benchmark harness's own logic: interleaving, ratios, the report, the critical path."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import gateway
from bench.deploy import critical_path, displayed_type
from bench.report import Figure, Row, interleaved, write
from components.gateway import Upstream
from tests.servers import Nginx, free_port


def test_contenders_take_turns_going_first():
    order: list[str] = []
    measured = interleaved(
        3, {name: (lambda n, name=name: order.append(name) or {"x": float(n)}) for name in ("a", "b", "c")}
    )
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert measured["b"]["x"] == [0.0, 1.0, 2.0]


def test_ratio_reads_above_one_when_this_project_leads():
    faster = Row("g", "throughput", Figure([200.0, 220, 180], "MiB/s"), Figure([100.0], "MiB/s"), "alt", "")
    slower = Row(
        "g", "latency", Figure([30.0], "ms"), Figure([10.0], "ms"), "alt", "", higher_is_better=False
    )
    assert faster.ratio == 2.0
    assert slower.ratio == 1 / 3
    assert Row("d", "up", None, None, "", "", missing="why").ratio is None


def test_report_files_hold_every_row(tmp_path):
    rows = [
        Row("g", "PUT", Figure([1.0, 3.0, 2.0], "MiB/s"), Figure([1.0], "MiB/s"), "direct", "c4"),
        Row("d", "up", None, None, "", "", missing="no Docker"),
        Row("b", "backup", Figure([8.0], "MB/s"), Figure([9.0], "MB/s"), "pg_dump | mc pipe", ""),
    ]
    meta = {"mode": "full", "rounds": 3, "machine": {"cores": "2", "memory": "1 GiB", "kernel": "k"}}
    write(tmp_path, rows, meta)
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["figure"] for r in report["rows"]] == ["PUT", "up", "backup"]
    assert report["rows"][0]["ours"]["median"] == 2.0 and report["rows"][0]["ratio"] == 2.0
    table = (tmp_path / "report.md").read_text()
    assert "| PUT | 2.00 MiB/s (1.00–3.00) | 1.00 MiB/s (1.00–1.00) (direct) | 2.00× | c4 |" in table  # noqa: RUF001
    assert "| up | — | — | — | not measured: no Docker |" in table
    assert "(pg_dump \\| mc pipe) |" in table  # a pipe in a cell does not open a column


def test_type_tokens_are_read_as_the_display_prints_them():
    # As seen in build/e2e/pulumi.log: "docker:index:RemoteImage minio-cluster-image created" and
    # "pulumi-python:dynamic/storage:PoolLayout minio-pool-layout created".
    assert displayed_type("docker:index/remoteImage:RemoteImage") == "docker:index:RemoteImage"
    guard = "pulumi-python:dynamic/storage:PoolLayout"
    assert displayed_type(guard) == guard
    assert displayed_type("pulumi:providers:docker") == "pulumi:providers:docker"


def test_critical_path_is_the_longest_chain_of_dependencies_and_providers():
    def urn(type_: str, name: str) -> str:
        return f"urn:pulumi:e2e::minio-platform::{type_}::{name}"

    container, realm = "docker:index/container:Container", "keycloak:index/realm:Realm"
    provider = "pulumi:providers:keycloak"
    # As `pulumi up` prints them: the type token without its module path.
    output = "\n".join(
        f" +  {type_} {name} created ({seconds}s) "
        for type_, name, seconds in [
            ("docker:index:Network", "net", 0.5),
            ("docker:index:Container", "keycloak", 49.2),
            (provider, "sso", 0.01),
            ("keycloak:index:Realm", "minio", 2),
            ("docker:index:Container", "minio1", 18),
            ("docker:index:Volume", "data", 0.2),
            ("docker:index:Container", "other", 30),
            ("minio-platform:index:Platform", "platform", 98),
        ]
    )
    export = {
        "deployment": {
            "resources": [
                {"urn": urn("docker:index/network:Network", "net"), "custom": True},
                {"urn": urn("docker:index/volume:Volume", "data"), "custom": True},
                {
                    "urn": urn(container, "keycloak"),
                    "custom": True,
                    "dependencies": [urn("docker:index/network:Network", "net")],
                },
                {"urn": urn(provider, "sso"), "custom": True, "dependencies": [urn(container, "keycloak")]},
                # Gated by its provider, which waits for Keycloak: no direct dependency says so.
                {"urn": urn(realm, "minio"), "custom": True, "provider": urn(provider, "sso") + "::0a1b"},
                {
                    "urn": urn(container, "minio1"),
                    "custom": True,
                    "dependencies": [urn(realm, "minio"), urn("docker:index/volume:Volume", "data")],
                },
                {
                    "urn": urn(container, "other"),
                    "custom": True,
                    "dependencies": [urn("docker:index/volume:Volume", "data")],
                },
                # A component's line spans its children's creation: it is no link of the chain.
                {"urn": urn("minio-platform:index:Platform", "platform"), "custom": False},
            ]
        }
    }
    assert critical_path(output, export) == [
        ("net", 0.5),
        ("keycloak", 49.2),
        ("sso", 0.01),
        ("minio", 2.0),
        ("minio1", 18.0),
    ]


@pytest.mark.render
def test_a_gateway_start_that_fails_stops_the_nginx_it_had_started(tmp_path, monkeypatch):
    """The rendered gateway runs before MinIO's sample configuration is read: when that fails (it
    is absent before `make tools`), the caller has no handle to stop it, so start must; a bench
    run left one running that way."""
    started: list[Nginx] = []

    class Recorded(Nginx):
        def __init__(self, workdir: Path) -> None:
            super().__init__(workdir)
            started.append(self)

    monkeypatch.setattr(gateway, "Nginx", Recorded)
    monkeypatch.setattr(gateway, "sample_source", lambda: tmp_path / "no-sample.conf")
    cluster = SimpleNamespace(upstreams=[Upstream(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")])
    try:
        with pytest.raises(FileNotFoundError):
            gateway.start(cluster, tmp_path / "nginx")
        (nginx,) = started
        assert len(nginx.processes) == 1, "the rendered gateway had started"
        assert nginx.processes[0].poll() is not None, "and was stopped"
    finally:
        for leftover in started:  # where the check fails, the test still stops what it started
            leftover.close()
