"""What the real engine (tests/e2e) found, pinned under mocks so it cannot come back unnoticed.

Each test names the finding: what the real `pulumi up` or `pulumi preview` on a Docker engine did,
that the mocks had accepted.
"""

from __future__ import annotations

import re

import pytest

from components.conventions import docker_duration
from components.gateway import NginxConfig, Upstream, render_nginx_conf
from tests.graph import CONTAINER, plain

STACKS = [("dev", None), ("prod", None), ("dev", {"observability": {"mode": "none"}})]


def healthchecks(synthesis) -> dict[str, dict]:
    return {
        r.name: plain(r.inputs["healthcheck"])
        for r in synthesis.of_type(CONTAINER)
        if "healthcheck" in r.inputs
    }


@pytest.mark.parametrize(("stack", "overrides"), STACKS)
def test_no_healthcheck_uses_start_interval(synth, stack, overrides):
    """`pulumi up` failed: "specify health-check start interval requires API version 1.44, but the
    Docker daemon API version is 1.41" (Debian bookworm's docker.io)."""
    checks = healthchecks(synth(stack, overrides))
    assert checks
    assert {name: c["startInterval"] for name, c in checks.items() if "startInterval" in c} == {}


@pytest.mark.parametrize(("stack", "overrides"), STACKS)
def test_every_healthcheck_states_its_timeout_and_interval(synth, stack, overrides):
    """Docker reports a missing timeout back as "0s": `timeout: "3s" => "0s"` on every preview."""
    for name, check in healthchecks(synth(stack, overrides)).items():
        assert check.get("timeout", "0s") not in ("", "0s"), name
        assert check.get("interval", "0s") not in ("", "0s"), name


@pytest.mark.parametrize(
    ("written", "reported"), [("5s", "5s"), ("60s", "1m0s"), ("90s", "1m30s"), ("2m", "2m0s")]
)
def test_durations_are_written_as_docker_reports_them(written, reported):
    """A node's `start_period="60s"` came back as "1m0s": `startPeriod: "1m0s" => "60s"` on every
    preview, replacing all four nodes each time."""
    assert docker_duration(written) == reported


@pytest.mark.parametrize(("stack", "overrides"), STACKS)
def test_every_rendered_healthcheck_duration_is_in_dockers_form(synth, stack, overrides):
    for name, check in healthchecks(synth(stack, overrides)).items():
        for key in ("interval", "timeout", "startPeriod"):
            assert docker_duration(check[key]) == check[key], (name, key, check[key])


def test_the_gateway_gives_up_on_a_silent_node_quickly():
    """After `docker kill` a node's address answers nothing: every try cost the gateway its whole
    connect timeout (5 s, retried every 10 s) on top of MinIO's own wait for the peer."""
    conf = render_nginx_conf(
        NginxConfig(
            upstreams=[Upstream("10.0.0.2:9000", "10.0.0.2:9001")],
            console_host="localhost",
            s3_host="localhost",
            max_body_size="5g",
            s3_endpoint="http://localhost:9000",
        )
    )
    timeouts = re.findall(r"proxy_connect_timeout (\d+)s;", conf)
    assert timeouts and all(int(t) <= 2 for t in timeouts), timeouts


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_keycloak_provider_waits_for_a_busy_keycloak(synth, stack):
    """Realm creation failed once: "context deadline exceeded (Client.Timeout exceeded while awaiting
    headers)" from a Keycloak just started on two busy cores, under the SDK's 5 s default."""
    (provider,) = synth(stack).of_type("pulumi:providers:keycloak")
    assert int(provider.inputs["clientTimeout"]) >= 30
