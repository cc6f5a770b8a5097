"""Single sign-on in a real browser: Keycloak's login page, the OAuth callback on the gateway,
the token's ``policy`` claim, and MinIO's STS granting exactly the user's group policies.

Community MinIO's console has offered no SSO login since RELEASE.2025-05-24 (the console became
an object browser; minio/minio#21324, #21325: "working as intended"), so the sign-in cannot end
in the console. The first test pins that; the journeys then run the same loop a console would
(authorization code at ``<console_url>/oauth_callback``, then MinIO's AssumeRoleWithWebIdentity
through the gateway) and use the temporary credentials the way the console would have.

Each journey stands alone: it opens a browser of its own, signs in from Keycloak's form and reads
nothing another test wrote, so they pass in any order or one by one (``-k``). What they share is
the deployed stack and the module's ``sso`` fixture (its outputs, the Keycloak admin client and a
bucket seeded once). The journeys' screenshot folders keep a number only to sort by.

Screenshots of every step land in ``build/e2e/screenshots/<journey>/``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.browser import Browser
from tests.e2e.conftest import Deployment
from tests.e2e.keycloak_admin import KeycloakAdmin
from tests.integration.conftest import s3_client

pytestmark = pytest.mark.e2e

CLIENT_ID = "minio-console"
BUCKET = "sso-data"
STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def post_form(url: str, fields: dict[str, str]) -> tuple[int, bytes]:
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=15) as answer:  # noqa: S310 (the stack's loopback)
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@dataclass
class SignIn:
    """What one browser sign-in produced."""

    browser: Browser
    callback: str | None
    """The URL Keycloak sent the browser back to, as the gateway received it (None: not sent back)."""
    tokens: dict[str, Any] | None = None


@pytest.fixture(scope="module")
def sso(deployment: Deployment) -> Iterator[dict[str, Any]]:
    outputs = deployment.engine.outputs()
    keycloak = KeycloakAdmin.from_outputs(outputs)
    (client,) = keycloak.call("GET", f"/clients?clientId={CLIENT_ID}")
    root = s3_client(outputs["s3_endpoint"], outputs["minio_root_user"], outputs["minio_root_password"])
    root.create_bucket(Bucket=BUCKET)
    root.put_object(Bucket=BUCKET, Key="report.txt", Body=b"quarterly numbers\n")
    started = time.monotonic()
    yield {
        "outputs": outputs,
        "keycloak": keycloak,
        "client_secret": keycloak.call("GET", f"/clients/{client['id']}/client-secret")["value"],
        "callback": outputs["console_url"] + "/oauth_callback",
    }
    deployment.record("browser journeys (SSO)", time.monotonic() - started)


PKCE_VERIFIER = secrets.token_urlsafe(48)
"""One PKCE verifier for the module's sign-ins (the client requires S256)."""


def authorization_url(sso: dict[str, Any], state: str | None = None, pkce: bool = True) -> str:
    """Keycloak's authorization endpoint for the console's client, with PKCE (S256)."""
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(PKCE_VERIFIER.encode()).digest()).rstrip(b"=").decode()
    )
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": sso["callback"],
        **({"state": state} if state else {}),
        **({"code_challenge": challenge, "code_challenge_method": "S256"} if pkce else {}),
    }
    return sso["outputs"]["sso_issuer_url"] + "/protocol/openid-connect/auth?" + urllib.parse.urlencode(query)


def refused(page: str) -> bool:
    """Keycloak's answer to a wrong password, or to any password of a locked account."""
    return "Invalid username or password." in page or "temporarily disabled" in page


@contextlib.contextmanager
def signed_in(sso: dict[str, Any], journey: str, username: str, password: str) -> Iterator[SignIn]:
    """A browser goes to Keycloak's login page (as the console's SSO button would send it), signs
    in, and comes back to the console's callback on the gateway; the code is exchanged for tokens
    with the client's credentials, as MinIO's console does. The browser closes on the way out."""
    with Browser(journey) as browser:
        yield _sign_in(browser, sso, username, password)


def _sign_in(browser: Browser, sso: dict[str, Any], username: str, password: str) -> SignIn:
    outputs = sso["outputs"]
    state = secrets.token_hex(8)
    browser.open(authorization_url(sso, state))
    browser.wait("Keycloak's login form", lambda: browser.find_all("#username"))
    browser.shot("keycloak-login")
    browser.find("#username").send_keys(username)
    browser.find("#password").send_keys(password)
    browser.shot("filled-in")
    browser.find("#kc-login").click()
    browser.wait(
        "the page after signing in",
        lambda: browser.url.startswith(outputs["console_url"]) or refused(browser.text()),
    )
    browser.shot("after-sign-in")
    back = [u for u in browser.requested_urls() if u.startswith(sso["callback"] + "?")]
    result = SignIn(browser, back[0] if back else None)
    if result.callback is None:
        return result
    query = urllib.parse.parse_qs(urllib.parse.urlparse(result.callback).query)
    assert query["state"] == [state], "the callback carries the state the sign-in started with"
    status, body = post_form(
        outputs["sso_issuer_url"] + "/protocol/openid-connect/token",
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": sso["callback"],
            "client_id": CLIENT_ID,
            "client_secret": sso["client_secret"],
            "code_verifier": PKCE_VERIFIER,
        },
    )
    assert status == 200, body
    result.tokens = json.loads(body)
    return result


def assume_role(outputs: dict[str, Any], id_token: str) -> tuple[int, ET.Element]:
    """MinIO's AssumeRoleWithWebIdentity through the gateway's S3 endpoint, as the console calls it."""
    status, body = post_form(
        outputs["s3_endpoint"] + "/",
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "WebIdentityToken": id_token,
            "DurationSeconds": "900",
        },
    )
    return status, ET.fromstring(body)  # noqa: S314 (MinIO on the stack's loopback, not untrusted)


def session_client(outputs: dict[str, Any], answer: ET.Element):
    credentials = answer.find(".//sts:Credentials", STS_NS)
    assert credentials is not None, ET.tostring(answer)[:500]

    def field(name: str) -> str:
        return credentials.findtext(f"sts:{name}", namespaces=STS_NS)

    return boto3.client(
        "s3",
        endpoint_url=outputs["s3_endpoint"],
        region_name=outputs["region"],
        aws_access_key_id=field("AccessKeyId"),
        aws_secret_access_key=field("SecretAccessKey"),
        aws_session_token=field("SessionToken"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def demo_password(sso: dict[str, Any], group: str) -> tuple[str, str]:
    username = f"demo-{group}"
    return username, sso["outputs"]["sso_demo_users"][username]


# --- the console -------------------------------------------------------------------------------


def test_the_community_console_offers_no_sso_login(sso):
    """Pinned: if a future MinIO brings SSO back to the console, this fails and the journeys
    below should move into the console."""
    outputs = sso["outputs"]
    login_api = outputs["console_url"] + "/api/v1/login"
    with urllib.request.urlopen(login_api, timeout=10) as answer:  # noqa: S310 (the stack's loopback)
        details = json.loads(answer.read())
    assert details["loginStrategy"] == "form" and not details.get("redirectRules"), details
    with Browser("0-console-login") as browser:
        browser.open(outputs["sso_login_url"])
        browser.wait("the console's login form", lambda: browser.button("Login"))
        browser.shot("console-login-form-only")
        assert browser.button("Keycloak") is None


# --- the journeys ------------------------------------------------------------------------------


def test_an_admin_signs_in_and_minio_grants_the_admin_policy(sso):
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-admins")
    with signed_in(sso, "1-admin", username, password) as signed:
        assert signed.callback is not None, f"Keycloak did not send the browser back: {signed.browser.url}"
        # One issuer: the browser signed in at the public URL, and that is the issuer MinIO trusts.
        id_claims = claims(signed.tokens["id_token"])
        assert id_claims["iss"] == outputs["sso_issuer_url"]
        assert id_claims["preferred_username"] == username
        status, answer = assume_role(outputs, signed.tokens["id_token"])
        assert status == 200, ET.tostring(answer)[:500]
        client = session_client(outputs, answer)
        assert BUCKET in [b["Name"] for b in client.list_buckets()["Buckets"]]
        client.put_object(Bucket=BUCKET, Key="from-admin.txt", Body=b"written by SSO admin\n")


def test_a_read_only_user_reads_and_is_refused_an_upload(sso):
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-readers")
    with signed_in(sso, "2-readonly", username, password) as signed:
        assert signed.callback is not None, signed.browser.url
        status, answer = assume_role(outputs, signed.tokens["id_token"])
        assert status == 200, ET.tostring(answer)[:500]
        client = session_client(outputs, answer)
        assert client.get_object(Bucket=BUCKET, Key="report.txt")["Body"].read() == b"quarterly numbers\n"
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket=BUCKET, Key="from-reader.txt", Body=b"must not land\n")
        assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_a_user_in_no_group_is_refused_by_minio_with_its_message(sso):
    outputs = sso["outputs"]
    keycloak: KeycloakAdmin = sso["keycloak"]
    with (
        keycloak.temporary_user("sso-no-group") as (_, password),
        signed_in(sso, "3-no-group", "sso-no-group", password) as signed,
    ):
        assert signed.callback is not None, "Keycloak signs the user in: the refusal is MinIO's"
        assert "policy" not in claims(signed.tokens["id_token"])
        status, answer = assume_role(outputs, signed.tokens["id_token"])
        message = answer.findtext(".//{*}Message") or ""
        assert status == 400 and "policy claim missing" in message.lower(), ET.tostring(answer)[:500]


def test_a_wrong_password_stays_on_keycloak_and_reaches_nothing(sso):
    username, _ = demo_password(sso, "storage-admins")
    with signed_in(sso, "4-wrong-password", username, "not-the-password") as signed:
        assert signed.callback is None, "a wrong password must not come back to the gateway"
        assert signed.browser.url.startswith(sso["outputs"]["sso_issuer_url"])
        assert "Invalid username or password." in signed.browser.text()
        requested = signed.browser.requested_urls()
        assert not [u for u in requested if u.startswith(sso["outputs"]["console_url"])]


def test_signing_out_ends_the_session(sso):
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-admins")
    with signed_in(sso, "5-sign-out", username, password) as signed:
        browser = signed.browser
        assert signed.callback is not None
        # Signed in: a new sign-in goes straight back, without Keycloak's form.
        browser.open(authorization_url(sso))
        browser.wait("the silent sign-in", lambda: browser.url.startswith(outputs["console_url"]))
        # RP-initiated logout, back to the console (an allowed post-logout URI).
        browser.open(
            outputs["sso_issuer_url"]
            + "/protocol/openid-connect/logout?"
            + urllib.parse.urlencode(
                {
                    "id_token_hint": signed.tokens["id_token"],
                    "post_logout_redirect_uri": outputs["console_url"],
                }
            )
        )
        browser.wait("the return to the console", lambda: browser.url.startswith(outputs["console_url"]))
        browser.shot("signed-out")
        browser.open(authorization_url(sso))
        browser.wait("Keycloak's login form again", lambda: browser.find_all("#username"))
        browser.shot("asked-again")


@pytest.mark.parametrize(
    ("group", "policies"), [("storage-admins", ["consoleAdmin"]), ("storage-readers", ["readonly"])]
)
def test_the_token_carries_exactly_the_groups_policies(sso, group, policies):
    """Both what the browser's sign-in produced and what Keycloak's own evaluation says."""
    username, password = demo_password(sso, group)
    with signed_in(sso, f"6-claims-{group}", username, password) as signed:
        assert sorted(claims(signed.tokens["id_token"])["policy"]) == policies
        assert sorted(claims(signed.tokens["access_token"])["policy"]) == policies
    evaluated = sso["keycloak"].example_tokens(CLIENT_ID, username)
    assert sorted(evaluated["id"]["policy"]) == policies
    assert sorted(evaluated["access"]["policy"]) == policies


def test_an_authorization_request_without_pkce_is_refused(sso):
    """Keycloak answers a request without a code challenge with an OAuth error (sent back to the
    registered callback, as the protocol says) and never with its login form or a code."""
    seen: list[str] = []
    with Browser("7-no-pkce") as browser:

        def answered() -> bool:
            seen.extend(browser.requested_urls())
            return (
                any(u.startswith(sso["callback"] + "?") for u in seen) or "code_challenge" in browser.text()
            )

        browser.open(authorization_url(sso, pkce=False))
        browser.wait("Keycloak's refusal", answered)
        browser.shot("refused")
        back = [
            urllib.parse.parse_qs(urllib.parse.urlparse(u).query)
            for u in seen
            if u.startswith(sso["callback"] + "?")
        ]
        assert not [q for q in back if "code" in q], "Keycloak issued a code without PKCE"
        assert all(q.get("error") == ["invalid_request"] for q in back), back
        assert any("code_challenge" in " ".join(q.get("error_description", [])) for q in back) or (
            "code_challenge" in browser.text()
        )


def test_five_wrong_passwords_lock_the_account(sso):
    """Brute-force detection: after the fifth failure even the right password is refused, and
    Keycloak's attack detection reports the user locked; the lock is lifted at the end."""
    keycloak: KeycloakAdmin = sso["keycloak"]
    username = "sso-lockout"
    with keycloak.temporary_user(username) as (user_id, password):
        try:
            for attempt in range(5):
                with signed_in(sso, f"8-lockout-{attempt + 1}", username, f"wrong-{attempt}") as signed:
                    assert signed.callback is None
            status = keycloak.call("GET", f"/attack-detection/brute-force/users/{user_id}")
            assert status["disabled"] is True and status["numFailures"] >= 1, status
            with signed_in(sso, "8-lockout-right-password", username, password) as signed:
                assert signed.callback is None, "a locked account signed in"
        finally:
            keycloak.call("DELETE", f"/attack-detection/brute-force/users/{user_id}")
