"""The sign-in bridge against a real Keycloak and a real MinIO with its console, on loopback.

Keycloak (its own distribution, development mode) holds a realm as the platform makes it: the
console's confidential client with PKCE S256, groups whose ``policy`` attribute reaches the token's
``policy`` claim. One MinIO trusts that realm. The bridge runs in-process (Flask's test client, so
its cookies are the browser's); a ``requests`` session plays the browser on Keycloak's pages.
Every refusal here is the bridge's own check or Keycloak's answer to what the bridge sent.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from signin.app import FLOW_COOKIE, SESSION_COOKIE, create_app
from signin.minio import CONSOLE_COOKIE
from signin.settings import SigninSettings
from tests.conftest import require_binary
from tests.servers import MINIO_HINT, LocalKeycloak, free_port, keycloak_dist, running_cluster, serving

pytestmark = pytest.mark.integration

REALM = "minio"
CLIENT_ID = "minio-console"
CONSOLE = "http://localhost"
"""The bridge's public origin: Flask's test client is ``localhost``."""
PASSWORD = "integration-" + secrets.token_urlsafe(12)
OTHER_CLIENT_ID = "another-app"
OTHER_SECRET = secrets.token_urlsafe(32)


def realm(client_secret: str) -> dict:
    person = {"enabled": True, "emailVerified": True, "lastName": "Tester"}
    return {
        "realm": REALM,
        "enabled": True,
        "clients": [
            {
                # Another application of the same realm: its ID tokens name it, not the console.
                "clientId": OTHER_CLIENT_ID,
                "secret": OTHER_SECRET,
                "publicClient": False,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": [f"{CONSOLE}/sso/callback"],
                "attributes": {"pkce.code.challenge.method": "S256"},
            },
            {
                "clientId": CLIENT_ID,
                "secret": client_secret,
                "publicClient": False,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": [f"{CONSOLE}/sso/callback"],
                "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": CONSOLE},
                "protocolMappers": [
                    {
                        "name": "policy",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-usermodel-attribute-mapper",
                        "config": {
                            "user.attribute": "policy",
                            "claim.name": "policy",
                            "jsonType.label": "String",
                            "multivalued": "true",
                            "aggregate.attrs": "true",
                            "id.token.claim": "true",
                            "access.token.claim": "true",
                        },
                    }
                ],
            },
        ],
        "groups": [{"name": "storage-admins", "attributes": {"policy": ["consoleAdmin"]}}],
        "users": [
            {
                **person,
                "username": "ada",
                "firstName": "Ada",
                "email": "ada@example.invalid",
                "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
                "groups": ["/storage-admins"],
            },
            {
                **person,
                "username": "nobody",
                "firstName": "No",
                "email": "nobody@example.invalid",
                "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
            },
        ],
    }


@dataclass
class Bridge:
    app: object
    settings: SigninSettings
    keycloak: LocalKeycloak
    console_api: str


@pytest.fixture(scope="module")
def bridge(tmp_path_factory) -> Iterator[Bridge]:
    minio = require_binary("minio", MINIO_HINT, "MINIO_PLATFORM_MINIO")
    dist = keycloak_dist()
    keycloak = LocalKeycloak(dist, tmp_path_factory.mktemp("keycloak"))
    client_secret = secrets.token_urlsafe(32)
    try:
        keycloak.start()
        keycloak.call("POST", "", realm(client_secret))
        issuer = f"{keycloak.url}/realms/{REALM}"
        environment = {
            "MINIO_ROOT_USER": "integration-root",
            "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(24),
            "MINIO_IDENTITY_OPENID_CONFIG_URL": f"{issuer}/.well-known/openid-configuration",
            "MINIO_IDENTITY_OPENID_CLIENT_ID": CLIENT_ID,
            "MINIO_IDENTITY_OPENID_CLIENT_SECRET": client_secret,
            "MINIO_IDENTITY_OPENID_CLAIM_NAME": "policy",
        }
        with running_cluster(minio, tmp_path_factory.mktemp("minio"), environment, count=1) as cluster:
            (node,) = cluster.nodes
            settings = SigninSettings(
                discovery_url=f"{issuer}/.well-known/openid-configuration",
                client_id=CLIENT_ID,
                client_secret=client_secret,
                cookie_key=secrets.token_urlsafe(32),
                console_url=CONSOLE,
                console_api=f"http://127.0.0.1:{node.console_port}",
                sts_endpoint=f"http://127.0.0.1:{node.port}",
                contact="the storage team",
            )
            yield Bridge(create_app(settings), settings, keycloak, settings.console_api)
    finally:
        keycloak.close()


class LoopbackBrowser(requests.Session):
    """A ``requests`` session that keeps ``Secure`` cookies for http://127.0.0.1, as browsers do.

    Keycloak marks its login cookies ``Secure; SameSite=None`` even over plain HTTP; Chromium and
    Firefox treat loopback as a secure context and send them back, ``requests`` would not, and
    Keycloak would answer the form with "Restart login cookie not found".
    """

    def request(self, *args, **kwargs):
        answer = super().request(*args, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return answer


def keycloak_form(browser: requests.Session, url: str) -> str:
    """The action of Keycloak's login form at ``url`` (or a failure showing the page)."""
    page = browser.get(url, timeout=15)
    found = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    assert found, f"no Keycloak login form at {url}: {page.status_code} {page.text[:500]}"
    return html.unescape(found.group(1))


def to_keycloak(client, next_path: str | None = None) -> str:
    """``/sso/login`` as a browser opens it; where the bridge sends it (Keycloak's auth URL)."""
    answer = client.get("/sso/login" + (f"?next={next_path}" if next_path else ""))
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def sign_in_at_keycloak(browser: requests.Session, auth_url: str, username: str) -> str:
    """The callback path Keycloak sends the browser back to after a right password."""
    action = keycloak_form(browser, auth_url)
    answer = browser.post(action, data={"username": username, "password": PASSWORD}, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:500]
    location = answer.headers["Location"]
    assert location.startswith(f"{CONSOLE}/sso/callback?"), location
    return location.removeprefix(CONSOLE)


def set_cookies(answer) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in answer.headers.getlist("Set-Cookie")}


def test_the_admin_signs_in_and_the_browser_holds_only_the_console_session(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    auth_url = to_keycloak(client, "/browser/bucket-a")
    query = parse_qs(urlsplit(auth_url).query)
    assert auth_url.startswith(f"{bridge.keycloak.url}/realms/{REALM}/protocol/openid-connect/auth?")
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    assert query["redirect_uri"] == [f"{CONSOLE}/sso/callback"]
    answer = client.get(sign_in_at_keycloak(browser, auth_url, "ada"))
    assert answer.status_code == 302 and answer.headers["Location"] == "/browser/bucket-a", answer.text
    cookies = set_cookies(answer)
    console = cookies[CONSOLE_COOKIE]
    assert "HttpOnly" in console and "SameSite=Lax" in console and "Path=/;" in console + ";"
    assert "Secure" not in console, "plain HTTP: a Secure cookie would never come back"
    # No longer than the Keycloak session (its 30 min idle time by default), nor the credentials.
    max_age = int(re.search(r"Max-Age=(\d+)", console).group(1))
    assert 800 <= max_age <= 1800, console
    assert set(cookies) == {CONSOLE_COOKIE, SESSION_COOKIE, FLOW_COOKIE}
    # A browser keeps a cookie of at most 4096 bytes (name, value and attributes) and drops a larger
    # one without a word: the sealed tokens once did, and sign-out could not end Keycloak's session.
    assert all(len(header) < 4096 for header in cookies.values()), {k: len(v) for k, v in cookies.items()}
    assert "Max-Age=0" in cookies[FLOW_COOKIE] or "Expires=Thu, 01 Jan 1970" in cookies[FLOW_COOKIE]
    # The console accepts the session and acts as the user: consoleAdmin lists buckets.
    token = console.split(";", 1)[0].split("=", 1)[1]
    session = requests.get(
        f"{bridge.console_api}/api/v1/session", cookies={CONSOLE_COOKIE: token}, timeout=10
    )
    assert session.status_code == 200, session.text
    buckets = requests.get(
        f"{bridge.console_api}/api/v1/buckets", cookies={CONSOLE_COOKIE: token}, timeout=10
    )
    assert buckets.status_code == 200, buckets.text


def test_a_user_in_no_group_gets_the_page_saying_whom_to_ask(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    answer = client.get(sign_in_at_keycloak(browser, to_keycloak(client), "nobody"))
    assert answer.status_code == 403
    text = answer.get_data(as_text=True)
    assert "You have no storage role" in text and "the storage team" in text and "nobody" in text
    assert CONSOLE_COOKIE not in set_cookies(answer)


def test_a_replayed_callback_and_a_replayed_code_are_refused(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    callback = sign_in_at_keycloak(browser, to_keycloak(client), "ada")
    assert client.get(callback).status_code == 302
    again = client.get(callback)  # its state was used up
    assert again.status_code == 400 and "This sign-in has expired" in again.get_data(as_text=True)
    assert CONSOLE_COOKIE not in set_cookies(again)
    # A fresh flow's state with the old code: the bridge sends it, Keycloak refuses the code.
    state = parse_qs(urlsplit(to_keycloak(client)).query)["state"][0]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    replayed = client.get(f"/sso/callback?state={state}&code={code}")
    assert replayed.status_code == 400 and "Keycloak did not sign you in" in replayed.get_data(as_text=True)
    assert CONSOLE_COOKIE not in set_cookies(replayed)


def test_a_tampered_flow_cookie_counts_as_none(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    callback = sign_in_at_keycloak(browser, to_keycloak(client), "ada")
    flow = client.get_cookie(FLOW_COOKIE, path="/sso")
    value = flow.value
    forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    client.set_cookie(FLOW_COOKIE, forged, path="/sso")
    answer = client.get(callback)
    assert answer.status_code == 400 and "This sign-in has expired" in answer.get_data(as_text=True)
    assert CONSOLE_COOKIE not in set_cookies(answer)


def test_next_never_leads_outside_the_console(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    answer = client.get(sign_in_at_keycloak(browser, to_keycloak(client, "https://evil.example/"), "ada"))
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_signing_out_ends_both_sessions(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    assert client.get(sign_in_at_keycloak(browser, to_keycloak(client), "ada")).status_code == 302
    # Signed in at Keycloak: a second sign-in skips the form.
    silent = browser.get(to_keycloak(client), allow_redirects=False, timeout=15)
    assert silent.status_code == 302 and silent.headers["Location"].startswith(f"{CONSOLE}/sso/callback?")
    answer = client.get("/sso/logout")
    # Both ended from here: straight back to the console, no Keycloak page on the way.
    assert answer.status_code == 302 and answer.headers["Location"] == CONSOLE, answer.headers
    gone = set_cookies(answer)
    assert "Max-Age=0" in gone[CONSOLE_COOKIE] or "1970" in gone[CONSOLE_COOKIE]
    assert "Max-Age=0" in gone[SESSION_COOKIE] or "1970" in gone[SESSION_COOKIE]
    # Keycloak asks for the password again.
    keycloak_form(browser, to_keycloak(client))


def test_signing_out_without_the_sealed_tokens_leaves_it_to_keycloaks_logout_page(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    assert client.get(sign_in_at_keycloak(browser, to_keycloak(client), "ada")).status_code == 302
    client.delete_cookie(SESSION_COOKIE, path="/")
    answer = client.get("/sso/logout")
    assert answer.status_code == 302
    end = answer.headers["Location"]
    assert end.startswith(f"{bridge.keycloak.url}/realms/{REALM}/protocol/openid-connect/logout?")
    query = parse_qs(urlsplit(end).query)
    assert query["post_logout_redirect_uri"] == [CONSOLE] and query["client_id"] == [CLIENT_ID]
    assert "Max-Age=0" in set_cookies(answer)[CONSOLE_COOKIE] or "1970" in set_cookies(answer)[CONSOLE_COOKIE]


def test_the_consoles_own_sign_out_call_ends_the_keycloak_session_too(bridge: Bridge):
    client, browser = bridge.app.test_client(), LoopbackBrowser()
    assert client.get(sign_in_at_keycloak(browser, to_keycloak(client), "ada")).status_code == 302
    answer = client.post("/sso/api/logout")
    assert answer.status_code == 204
    assert CONSOLE_COOKIE in set_cookies(answer)
    keycloak_form(browser, to_keycloak(client))


def test_an_id_token_for_another_audience_is_refused(bridge: Bridge):
    """A token endpoint that answers with another application's tokens (same realm, same keys,
    the bridge's own nonce): only the audience is wrong, and the bridge refuses it.

    The bridge's discovery goes through a stand-in that names itself as the token endpoint; it
    answers the bridge's code exchange with what Keycloak gave ``another-app`` for a sign-in made
    with the bridge's nonce. Two checks refuse it, each enough alone with Keycloak's tokens (which
    carry both claims): the bridge's explicit ``aud`` and Authlib's own ``azp``. With both removed
    the bridge passes the token on to MinIO's STS and this test fails (tried: 502 from STS instead
    of the bridge's 400); with one removed it still passes."""
    keycloak_realm = f"{bridge.keycloak.url}/realms/{REALM}"
    port = free_port()
    swapped: dict[str, bytes] = {}

    class TokenSwap(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # the discovery document, but for its token endpoint
            metadata = requests.get(f"{keycloak_realm}/.well-known/openid-configuration", timeout=10).json()
            self.answer(json.dumps({**metadata, "token_endpoint": f"http://127.0.0.1:{port}/token"}).encode())

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.server.seen.append("token")
            self.answer(swapped["tokens"])

    with serving(port, TokenSwap) as server:
        settings = bridge.settings.model_copy(update={"discovery_url": f"http://127.0.0.1:{port}/discovery"})
        client, browser = create_app(settings).test_client(), LoopbackBrowser()
        bridge_query = parse_qs(urlsplit(to_keycloak(client)).query)
        # another-app's sign-in, with the bridge's nonce and a PKCE verifier of its own.
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        other = f"{keycloak_realm}/protocol/openid-connect/auth?" + urlencode(
            {
                "client_id": OTHER_CLIENT_ID,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": f"{CONSOLE}/sso/callback",
                "state": "another-apps-state",
                "nonce": bridge_query["nonce"][0],
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        code = parse_qs(urlsplit(sign_in_at_keycloak(browser, other, "ada")).query)["code"][0]
        exchanged = requests.post(
            f"{keycloak_realm}/protocol/openid-connect/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{CONSOLE}/sso/callback",
                "code_verifier": verifier,
            },
            auth=(OTHER_CLIENT_ID, OTHER_SECRET),
            timeout=10,
        )
        assert exchanged.status_code == 200, exchanged.text
        swapped["tokens"] = exchanged.content
        answer = client.get(f"/sso/callback?state={bridge_query['state'][0]}&code=not-used")
        assert server.seen == ["token"], "the bridge did not exchange its code at the stand-in"
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "Keycloak&#x27;s answer did not check out" in answer.get_data(as_text=True)
    assert CONSOLE_COOKIE not in set_cookies(answer)
