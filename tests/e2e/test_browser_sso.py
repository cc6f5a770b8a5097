"""Signing in to the MinIO console with Keycloak, in a real browser (headless Chromium), through the
platform's sign-in bridge, on the real stack.

Community MinIO's console has offered no SSO button since RELEASE.2025-05-24; the bridge (signin/)
does what the button did: the gateway sends a signed-out page load to it, it signs the user in at
Keycloak, exchanges the ID token at MinIO's STS and opens a console session with the credentials.
Every journey ends in the console (or, where it must, on Keycloak's form or the bridge's page):
the admin sees every bucket, a reader browses and is refused an upload, a backup operator sees one
bucket, a user in no group gets the bridge's page, a wrong password stays on Keycloak, signing out
ends both sessions, an ended console session renews through Keycloak, access keys stay on the
break-glass path. Planted defects (the client's redirect URI, the claim mapper, the bridge's
issuer) each make the admin's journey fail. The last tests check Keycloak itself (the claim, PKCE,
brute-force detection) with a code flow of their own.

Each journey stands alone: a browser of its own, and what it needs beyond the stack (users, the
readers' and backup operators' groups and policies, two buckets) made by the module's ``sso``
fixture or by itself. Screenshots of every step land in ``build/e2e/screenshots/<journey>/``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.policies import render_policy
from tests.e2e.browser import Browser
from tests.e2e.conftest import Deployment, docker, wait_healthy
from tests.e2e.engine import BUILD
from tests.e2e.keycloak_admin import KeycloakAdmin
from tests.integration.conftest import s3_client

pytestmark = pytest.mark.e2e

CLIENT_ID = "minio-console"
BUCKET = "sso-data"
BACKUPS = "backups-postgresql"
READERS = "sso-bucket-readers"
"""A group whose policy is the project's bucket-readonly template for BUCKET (made by the fixture)."""
OPERATORS = "sso-backup-operators"
"""A group whose policy is the project's backup-service template for BACKUPS."""


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


def create_policy(outputs: dict[str, Any], name: str, document: dict[str, Any]) -> None:
    """A MinIO policy made with ``mc`` in a node, as root (the e2e stack has no minio provider)."""
    target = f"http://{outputs['minio_root_user']}:{outputs['minio_root_password']}@localhost:9000"
    done = subprocess.run(
        ["docker", "exec", "-i", "-e", "MC_HOST_self", "minio1", "sh", "-c",
         f"cat > /tmp/{name}.json && mc admin policy create self {name} /tmp/{name}.json"],
        input=json.dumps(document), env={**os.environ, "MC_HOST_self": target},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def sso(deployment: Deployment) -> Iterator[dict[str, Any]]:
    outputs = deployment.engine.outputs()
    keycloak = KeycloakAdmin.from_outputs(outputs)
    (client,) = keycloak.call("GET", f"/clients?clientId={CLIENT_ID}")
    root = s3_client(outputs["s3_endpoint"], outputs["minio_root_user"], outputs["minio_root_password"])
    for bucket in (BUCKET, BACKUPS):
        root.create_bucket(Bucket=bucket)
    root.put_object(Bucket=BUCKET, Key="report.txt", Body=b"quarterly numbers\n")
    # The project's own templates, as dev's groups get them from the minio provider.
    create_policy(outputs, "sso-bucket-readonly", render_policy("bucket-readonly", [BUCKET]))
    create_policy(outputs, "sso-backup-service", render_policy("backup-service", [BACKUPS]))
    started = time.monotonic()
    with (
        keycloak.temporary_group(READERS, "sso-bucket-readonly"),
        keycloak.temporary_group(OPERATORS, "sso-backup-service"),
    ):
        yield {
            "outputs": outputs,
            "keycloak": keycloak,
            "root": root,
            "client_secret": keycloak.call("GET", f"/clients/{client['id']}/client-secret")["value"],
            # Where Keycloak sends the browser back: the bridge, on the console's origin.
            "callback": outputs["console_url"].removesuffix("/minio-console") + "/sso/callback",
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
    """A code flow of the test's own: the browser goes to Keycloak's login page, signs in and comes
    back to the registered callback; the test exchanges the code for tokens with the client's
    credentials. The browser closes on the way out."""
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
    # Back at the bridge's callback, which refuses a sign-in it did not start (no flow cookie)
    # before touching the code: the test exchanges the code itself.
    browser.wait(
        "the page after signing in",
        lambda: browser.url.startswith(sso["callback"]) or refused(browser.text()),
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


def demo_password(sso: dict[str, Any], group: str) -> tuple[str, str]:
    username = f"demo-{group}"
    return username, sso["outputs"]["sso_demo_users"][username]


# --- the console, through the sign-in bridge ---------------------------------------------------


def console_signed_in(
    browser: Browser, outputs: dict[str, Any], username: str, password: str, page: str = ""
) -> None:
    """Open the console (at ``page``) signed out: the gateway sends the browser to the bridge, the
    bridge to Keycloak's form; sign in there and wait for the page that follows (the console, the
    bridge's own page, or Keycloak's refusal)."""
    browser.open(outputs["console_url"] + page)
    browser.wait("Keycloak's login form", lambda: browser.find_all("#username"))
    browser.shot("keycloak-login")
    browser.find("#username").send_keys(username)
    browser.find("#password").send_keys(password)
    browser.find("#kc-login").click()
    browser.wait(
        "the page after signing in",
        lambda: (
            (browser.url.startswith(outputs["console_url"] + "/") and browser.button("Sign Out"))
            or browser.url.startswith(origin(outputs) + "/sso/")
            or refused(browser.text())
        ),
    )
    browser.shot("after-sign-in")


def origin(outputs: dict[str, Any]) -> str:
    return outputs["console_url"].removesuffix("/minio-console")


def cookies(browser: Browser) -> dict[str, dict[str, Any]]:
    """Every cookie the browser holds, whatever its path (WebDriver's own list has only those the
    current page sees)."""
    return {c["name"]: c for c in browser.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}


def console_api(browser: Browser, outputs: dict[str, Any], method: str, path: str) -> tuple[int, str]:
    """The console's API from the signed-in page, with the browser's own session (``fetch``)."""
    script = """
        const [method, url, done] = arguments;
        const options = {method, credentials: "same-origin"};
        if (method === "POST") {
            const form = new FormData();
            const blob = new Blob(["must not land\\n"]);
            // The console's upload names each part by its size (as its own upload does).
            form.append(String(blob.size), blob, "from-the-console.txt");
            options.body = form;
        }
        fetch(url, options).then(async r => done([r.status, await r.text()]), e => done([0, String(e)]));
    """
    status, text = browser.driver.execute_async_script(script, method, outputs["console_url"] + path)
    return status, text


def acknowledge_license_notice(browser: Browser) -> None:
    """The console's license notice, shown at a first sign-in, lies over the page until
    acknowledged (it may open a moment after the page)."""
    deadline, notice = time.monotonic() + 3, None
    while notice is None and time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a page in transition raises many kinds
            notice = browser.button("Acknowledge")
        time.sleep(0.25)
    if notice is not None:
        notice.click()
        browser.wait("the notice closed", lambda: browser.button("Acknowledge") is None, seconds=10)


def bucket_names_shown(browser: Browser, outputs: dict[str, Any]) -> list[str]:
    """The buckets the console lists for the signed-in user (its own API, as its list page uses)."""
    status, text = console_api(browser, outputs, "GET", "/api/v1/buckets")
    assert status == 200, text
    return sorted(b["name"] for b in json.loads(text).get("buckets") or [])


def test_an_admin_signs_in_through_keycloak_and_sees_every_bucket(sso):
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-admins")
    with Browser("1-admin-console") as browser:
        console_signed_in(browser, outputs, username, password)
        every = sorted(b["Name"] for b in sso["root"].list_buckets()["Buckets"])
        assert {BUCKET, BACKUPS} <= set(every)
        browser.wait("every bucket in the console", lambda: all(b in browser.text() for b in every))
        acknowledge_license_notice(browser)
        browser.shot("every-bucket")
        assert bucket_names_shown(browser, outputs) == every
        # On the console's origin the browser holds the console's session and the sealed Keycloak
        # session, nothing else (Keycloak's own cookies sit under its /realms/ paths: same host).
        held = {n: c for n, c in cookies(browser).items() if not c["path"].startswith("/realms/")}
        assert set(held) == {"token", "sso_session"}, sorted(held)
        token = held["token"]
        assert token["httpOnly"] and token["path"] == "/"
        # Never longer than the Keycloak session (30 min idle) nor the credentials.
        assert token["expires"] - time.time() <= 1800 + 5, token


def test_a_readonly_user_browses_objects_and_the_console_refuses_an_upload(sso):
    outputs = sso["outputs"]
    with (
        sso["keycloak"].temporary_user("sso-reader", READERS) as (_, password),
        Browser("2-readonly-console") as browser,
    ):
        console_signed_in(browser, outputs, "sso-reader", password, f"/browser/{BUCKET}")
        browser.wait("the bucket's objects", lambda: "report.txt" in browser.text())
        browser.shot("objects")
        # The console offers no upload: its Upload button is disabled for this session's policy.
        upload = browser.find("#upload-main")
        assert upload.get_attribute("disabled") is not None, "the console offers an upload it must refuse"
        browser.shot("upload-disabled")
        assert [o["Key"] for o in sso["root"].list_objects_v2(Bucket=BUCKET)["Contents"]] == ["report.txt"]


def test_a_backup_operator_sees_only_the_backups_bucket(sso):
    outputs = sso["outputs"]
    with (
        sso["keycloak"].temporary_user("sso-backups", OPERATORS) as (_, password),
        Browser("3-backup-operator-console") as browser,
    ):
        console_signed_in(browser, outputs, "sso-backups", password)
        browser.wait("the backups bucket", lambda: BACKUPS in browser.text())
        browser.shot("only-backups")
        shown = bucket_names_shown(browser, outputs)
        assert shown == [BACKUPS], shown
        assert BUCKET not in browser.text()


def test_a_user_in_no_group_gets_the_bridges_page(sso):
    outputs = sso["outputs"]
    with sso["keycloak"].temporary_user("sso-no-group") as (_, password), Browser("4-no-group") as browser:
        console_signed_in(browser, outputs, "sso-no-group", password)
        text = browser.text()
        assert "You have no storage role" in text and "sso-no-group" in text, text[:500]
        assert "your storage administrators" in text
        assert "token" not in cookies(browser)


def test_a_wrong_password_stays_on_keycloak_and_opens_no_session(sso):
    outputs = sso["outputs"]
    username, _ = demo_password(sso, "storage-admins")
    with Browser("5-wrong-password") as browser:
        console_signed_in(browser, outputs, username, "not-the-password")
        assert browser.url.startswith(outputs["sso_issuer_url"])
        assert "Invalid username or password." in browser.text()
        assert "token" not in cookies(browser)


def test_signing_out_in_the_console_then_reloading_asks_for_the_password_again(sso):
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-admins")
    with Browser("6-sign-out") as browser:
        console_signed_in(browser, outputs, username, password)
        acknowledge_license_notice(browser)
        browser.button("Sign Out").click()
        browser.wait("Keycloak's form after signing out", lambda: browser.find_all("#username"))
        browser.shot("signed-out")
        assert "token" not in cookies(browser)
        browser.open(outputs["console_url"])
        browser.wait("Keycloak's form after reloading", lambda: browser.find_all("#username"))
        browser.shot("asked-again")


def test_a_console_session_that_ended_renews_through_keycloak_without_an_error_page(sso):
    """The console's cookie ends with its credentials or Keycloak's session (its Max-Age): gone, the
    console's API calls are told "invalid session" and a page load goes through Keycloak, which
    still knows the user, back to the same page."""
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-admins")
    with Browser("7-session-renewed") as browser:
        console_signed_in(browser, outputs, username, password, f"/browser/{BUCKET}")
        browser.driver.delete_cookie("token")
        status, text = console_api(browser, outputs, "GET", "/api/v1/buckets")
        assert status == 403 and json.loads(text)["message"] == "invalid session", text
        browser.open(outputs["console_url"] + f"/browser/{BUCKET}")
        browser.wait("the same page, signed in again", lambda: "report.txt" in browser.text())
        browser.shot("renewed")
        assert browser.url == outputs["console_url"] + f"/browser/{BUCKET}"
        assert "token" in cookies(browser)


def test_access_keys_stay_available_on_the_break_glass_path(sso):
    """The console's own form, unchanged: it still offers no SSO button (pinned: if a future MinIO
    brings one back, this fails and the bridge may be retired)."""
    outputs = sso["outputs"]
    with urllib.request.urlopen(outputs["console_url"] + "/api/v1/login", timeout=10) as answer:  # noqa: S310
        details = json.loads(answer.read())
    assert details["loginStrategy"] == "form" and not details.get("redirectRules"), details
    with Browser("8-break-glass") as browser:
        browser.open(outputs["console_url"] + "/login?access_keys=1")
        browser.wait("the console's access-key form", lambda: browser.button("Login"))
        browser.shot("access-key-form")
        assert browser.button("Keycloak") is None
        browser.find("#accessKey").send_keys(outputs["minio_root_user"])
        browser.find("#secretKey").send_keys(outputs["minio_root_password"])
        browser.button("Login").click()
        browser.wait("the console", lambda: browser.button("Sign Out"))
        browser.shot("signed-in-with-access-keys")


# --- planted defects: each makes the admin's journey fail --------------------------------------


def admin_journey(sso, journey: str) -> None:
    """The admin's journey, as the first test runs it; raises AssertionError when it does not end
    in the console with every bucket."""
    outputs = sso["outputs"]
    username, password = demo_password(sso, "storage-admins")
    with Browser(journey) as browser:
        console_signed_in(browser, outputs, username, password)
        assert browser.url.startswith(outputs["console_url"] + "/"), browser.url
        assert bucket_names_shown(browser, outputs) == sorted(
            b["Name"] for b in sso["root"].list_buckets()["Buckets"]
        )


@contextlib.contextmanager
def client_changed(keycloak: KeycloakAdmin, change) -> Iterator[None]:
    (client,) = keycloak.call("GET", f"/clients?clientId={CLIENT_ID}")
    keycloak.call("PUT", f"/clients/{client['id']}", change(json.loads(json.dumps(client))))
    try:
        yield
    finally:
        keycloak.call("PUT", f"/clients/{client['id']}", client)


@contextlib.contextmanager
def policy_mapper_off(keycloak: KeycloakAdmin) -> Iterator[None]:
    """The ``policy`` mapper, changed to add its claim to no token (as if removed); put back after."""
    (scope,) = [s for s in keycloak.call("GET", "/client-scopes") if s["name"] == "minio-policy"]
    (mapper,) = keycloak.call("GET", f"/client-scopes/{scope['id']}/protocol-mappers/models")
    path = f"/client-scopes/{scope['id']}/protocol-mappers/models/{mapper['id']}"
    off = json.loads(json.dumps(mapper))
    for where in (
        "id.token.claim",
        "access.token.claim",
        "userinfo.token.claim",
        "introspection.token.claim",
    ):
        off["config"][where] = "false"
    keycloak.call("PUT", path, off)
    try:
        yield
    finally:
        keycloak.call("PUT", path, mapper)


@contextlib.contextmanager
def bridge_with_issuer(outputs: dict[str, Any], discovery_url: str) -> Iterator[None]:
    """The stack's bridge stopped and a copy in its place (its address, networks, secret files),
    reading another issuer's discovery document, answering through the gateway before the test
    goes on; the stack's own started again after."""
    config = json.loads(docker("inspect", "signin"))[0]
    networks = config["NetworkSettings"]["Networks"]
    secrets_dir = BUILD / "planted-signin-secrets"
    shutil.rmtree(secrets_dir, ignore_errors=True)
    docker("cp", "signin:/run/signin", str(secrets_dir))
    env = [e for e in config["Config"]["Env"] if not e.startswith("SIGNIN_DISCOVERY_URL=")]
    storage = next(n for n in networks if n.startswith("storage"))
    docker("stop", "signin")
    try:
        docker(
            "run", "-d", "--name", "signin-planted", "--user", config["Config"]["User"], "--network", storage,
            "--ip", networks[storage]["IPAddress"], "-v", f"{secrets_dir}:/run/signin:ro",
            *[a for e in [*env, f"SIGNIN_DISCOVERY_URL={discovery_url}"] for a in ("-e", e)],
            config["Config"]["Image"],
        )  # fmt: skip
        for other in (n for n in networks if n != storage):
            docker("network", "connect", other, "signin-planted")
        # Without the stack's healthcheck (Pulumi sets it, not the image) nothing waits for the
        # copy to listen: a browser that came first met the gateway's 502 and stayed on it (CI).
        bridge_answering(origin(outputs) + "/sso/health")
        yield
    finally:
        subprocess.run(["docker", "rm", "-f", "signin-planted"], capture_output=True, check=False)
        shutil.rmtree(secrets_dir, ignore_errors=True)
        docker("start", "signin")
        assert wait_healthy(["signin"]) == {"signin": "running/healthy"}


def bridge_answering(health_url: str, seconds: float = 60) -> None:
    """Until the bridge answers its health path through the gateway with 200."""
    deadline, last = time.monotonic() + seconds, "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health_url, timeout=5) as answer:  # noqa: S310 (the stack's loopback)
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as err:
            last = repr(err)
        time.sleep(0.5)
    raise AssertionError(f"the planted bridge did not answer {health_url} within {seconds:.0f} s: {last}")


def test_planted_a_changed_redirect_uri_fails_the_journey(sso):
    def elsewhere(client: dict) -> dict:
        client["redirectUris"] = [origin(sso["outputs"]) + "/elsewhere/callback"]
        return client

    # Keycloak refuses the bridge's redirect URI: its error page, never its form.
    with (
        client_changed(sso["keycloak"], elsewhere),
        pytest.raises(AssertionError, match="Keycloak's login form"),
    ):
        admin_journey(sso, "9-planted-redirect-uri")
    admin_journey(sso, "9-planted-redirect-uri-restored")


def test_planted_no_policy_claim_fails_the_journey(sso):
    # Signed in at Keycloak, refused by MinIO: the journey ends on the bridge's page, not the console.
    with policy_mapper_off(sso["keycloak"]), pytest.raises(AssertionError, match="/sso/callback"):
        admin_journey(sso, "9-planted-no-claim")
    admin_journey(sso, "9-planted-no-claim-restored")


def test_planted_a_bridge_pointed_at_another_issuer_fails_the_journey(sso):
    # The master realm's issuer: a real Keycloak issuer, not the realm MinIO trusts.
    other = "http://keycloak:8080/realms/master/.well-known/openid-configuration"
    with bridge_with_issuer(sso["outputs"], other), pytest.raises(AssertionError, match="realms/master"):
        admin_journey(sso, "9-planted-issuer")
    admin_journey(sso, "9-planted-issuer-restored")


# --- Keycloak itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "policies"), [("storage-admins", ["consoleAdmin"]), ("storage-readers", ["readonly"])]
)
def test_the_token_carries_exactly_the_groups_policies(sso, group, policies):
    """Both what the browser's sign-in produced and what Keycloak's own evaluation says."""
    username, password = demo_password(sso, group)
    with signed_in(sso, f"10-claims-{group}", username, password) as signed:
        assert sorted(claims(signed.tokens["id_token"])["policy"]) == policies
        assert sorted(claims(signed.tokens["access_token"])["policy"]) == policies
    evaluated = sso["keycloak"].example_tokens(CLIENT_ID, username)
    assert sorted(evaluated["id"]["policy"]) == policies
    assert sorted(evaluated["access"]["policy"]) == policies


def test_an_authorization_request_without_pkce_is_refused(sso):
    """Keycloak answers a request without a code challenge with an OAuth error (sent back to the
    registered callback, as the protocol says) and never with its login form or a code."""
    seen: list[str] = []
    with Browser("11-no-pkce") as browser:

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
                with signed_in(sso, f"12-lockout-{attempt + 1}", username, f"wrong-{attempt}") as signed:
                    assert signed.callback is None
            status = keycloak.call("GET", f"/attack-detection/brute-force/users/{user_id}")
            assert status["disabled"] is True and status["numFailures"] >= 1, status
            with signed_in(sso, "12-lockout-right-password", username, password) as signed:
                assert signed.callback is None, "a locked account signed in"
        finally:
            keycloak.call("DELETE", f"/attack-detection/brute-force/users/{user_id}")
