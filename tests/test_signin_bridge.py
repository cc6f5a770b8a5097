"""The console's sign-in bridge on the mocked graph: its container, its secrets as files, its place
on the networks, the gateway and the Keycloak client that follow it, and the form-only choice.

The bridge itself (signin/) runs against a real Keycloak and MinIO in tests/integration/
test_signin.py; the whole sign-in in a browser on the real stack in tests/e2e/test_browser_sso.py.
"""

from __future__ import annotations

import ipaddress

import pytest

from components.addressing import SIGNIN_OFFSET
from components.signin_bridge import CLIENT_SECRET_FILE, COOKIE_KEY_FILE
from synth.mocks import is_secret
from tests.graph import CONTAINER, env_of, files_of, plain, uploads_of
from tests.servers import nginx_check, self_signed_certificate
from tests.test_settings import SIGNIN_DIGEST

CLIENT = "keycloak:openid/client:Client"
BRIDGE = "minio-signin-container"
PROD_WITH_BRIDGE = {"identity": {"consoleSignIn": "sso", "signinImage": SIGNIN_DIGEST}}


def bridge_of(synthesis):
    found = [r for r in synthesis.of_type(CONTAINER) if r.name == BRIDGE]
    return found[0] if found else None


def test_the_bridge_holds_its_secrets_in_files_and_none_in_its_environment(synth):
    synthesis = synth("dev")
    bridge = bridge_of(synthesis)
    (client,) = synthesis.of_type(CLIENT)
    client_secret = plain(client.inputs["clientSecret"])
    # Secret: the engine keeps the uploads' contents encrypted in the state and masked in previews.
    assert is_secret(files_of(synthesis, bridge).inputs["uploads"])
    uploads = uploads_of(synthesis, bridge)
    assert set(uploads) == {CLIENT_SECRET_FILE, COOKIE_KEY_FILE}
    assert plain(uploads[CLIENT_SECRET_FILE]["content"]) == client_secret
    cookie_key = plain(uploads[COOKIE_KEY_FILE]["content"])
    assert len(cookie_key) >= 32 and cookie_key != client_secret
    # Root's files (the provider's uploads), read through the bridge's group 0 alone.
    assert {u["permissions"] for u in uploads.values()} == {"0440"}
    assert bridge.inputs["user"] == "10001:0"
    env = env_of(bridge)
    assert env["SIGNIN_CLIENT_SECRET_FILE"] == CLIENT_SECRET_FILE
    assert env["SIGNIN_COOKIE_KEY_FILE"] == COOKIE_KEY_FILE
    assert not [k for k, v in env.items() if client_secret in v or cookie_key in v]
    # What a browser opens, and where the bridge reaches Keycloak, STS and the console: the
    # gateway's internal listener on storage-net.
    assert env["SIGNIN_CONSOLE_URL"] == "http://localhost/minio-console"
    assert env["SIGNIN_DISCOVERY_URL"] == "http://keycloak:8080/realms/minio/.well-known/openid-configuration"
    assert env["SIGNIN_STS_ENDPOINT"] == "http://172.40.0.2:8081"
    assert env["SIGNIN_CONSOLE_API"] == "http://172.40.0.2:8081/minio-console"


def test_the_bridge_sits_at_a_fixed_address_publishes_nothing_and_the_gateway_finds_it(synth):
    synthesis = synth("dev")
    bridge = bridge_of(synthesis)
    networks = {n["name"]: n for n in plain(bridge.inputs["networksAdvanced"])}
    address = str(ipaddress.ip_network("172.40.0.0/24").network_address + SIGNIN_OFFSET)
    assert networks["storage-net"]["ipv4Address"] == address
    # The edge network: a private address toward Keycloak, whose realm refuses plain HTTP from
    # 172.40.0.0/24 (found on the real stack).
    assert set(networks) == {"storage-net", "monitoring-net"}
    assert not bridge.inputs.get("ports")
    conf = synthesis.files["nginx.conf"]
    assert f"server {address}:8080" in conf and f"allow {address};" in conf and "listen 8081;" in conf


def test_keycloak_sends_the_browser_back_to_the_bridge_on_the_consoles_origin(synth):
    (client,) = synth("dev").of_type(CLIENT)
    assert client.inputs["validRedirectUris"] == ["http://localhost/sso/callback"]
    assert client.inputs["validPostLogoutRedirectUris"] == ["http://localhost/minio-console"]


def test_the_form_choice_deploys_no_bridge_and_no_bridge_routes(synth):
    synthesis = synth("dev", {"identity": {"consoleSignIn": "form"}})
    assert bridge_of(synthesis) is None
    assert "location ^~ /sso/" not in synthesis.files["nginx.conf"]
    (client,) = synthesis.of_type(CLIENT)
    assert client.inputs["validRedirectUris"] == ["http://localhost/minio-console/oauth_callback"]


def test_prod_runs_the_bridge_under_tls_with_an_existing_keycloak(synth):
    synthesis = synth("prod", PROD_WITH_BRIDGE)
    env = env_of(bridge_of(synthesis))
    assert env["SIGNIN_CONSOLE_URL"] == "https://storage.example.com/minio-console"
    assert (
        env["SIGNIN_DISCOVERY_URL"] == "https://sso.example.com/realms/minio/.well-known/openid-configuration"
    )
    (client,) = synthesis.of_type(CLIENT)
    assert client.inputs["validRedirectUris"] == ["https://storage.example.com/sso/callback"]
    conf = synthesis.files["nginx.conf"]
    # Under TLS the console's own cookie (the break-glass form's) is made Secure; the bridge marks
    # its own (signin/app.py).
    assert "proxy_cookie_flags token secure;" in conf


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_bridge_and_its_image_follow_the_setting(synth, stack):
    synthesis = synth(stack, PROD_WITH_BRIDGE if stack == "prod" else None)
    images = [r.inputs["name"] for r in synthesis.of_type("docker:index/remoteImage:RemoteImage")]
    expected = SIGNIN_DIGEST if stack == "prod" else "minio-platform/signin:1"
    assert expected in images


@pytest.mark.render
def test_nginx_accepts_the_tls_gateway_with_the_bridge(synth, tmp_path):
    """prod's gateway with the bridge (TLS, proxy_cookie_flags, the internal listener), byte for
    byte as rendered, judged by Debian's nginx."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(synth("prod", PROD_WITH_BRIDGE).files["nginx.conf"])
    (tmp_path / "tls").mkdir()
    self_signed_certificate(tmp_path / "tls", "test.invalid")
    nginx_check(conf)
