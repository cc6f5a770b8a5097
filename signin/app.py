"""The bridge's web service (``create_app``): Flask, with Authlib doing every OIDC step.

Cookies the browser holds, and why each is safe to hold:

- ``sso_flow`` (path ``/sso``, 10 min, signed by Flask): ``state``, ``nonce`` and the PKCE verifier
  of one sign-in, and where to go after it. A tampered one fails its signature and counts as none.
- ``token`` (path ``/``): the console's own session, its lifetime cut to the STS credentials' and
  the Keycloak session's, whichever ends first.
- ``sso_session`` (path ``/``, same lifetime): Keycloak's refresh token, encrypted with the
  bridge's key, kept only to end the Keycloak session on sign-out (the console's own sign-out call
  is not under ``/sso``, hence the path).

Under TLS every one of them is ``Secure``; all are HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, Response, redirect, request, session
from joserfc.errors import JoseError

from signin.minio import (
    CONSOLE_COOKIE,
    ConsoleRefused,
    StsRefused,
    assume_role,
    console_login,
    console_logout,
)
from signin.settings import SigninSettings

log = logging.getLogger("signin")

FLOW_COOKIE = "sso_flow"
SESSION_COOKIE = "sso_session"
FLOW_SECONDS = 600
"""A sign-in started and not finished within 10 minutes starts again."""
SCOPES = "openid profile email"


def safe_next(value: str | None, console_path: str) -> str:
    """Where to send the browser after sign-in: a path inside the console, never anywhere else.

    An absolute URL, a scheme-relative ``//host``, a backslash (browsers read ``/\\host`` as
    ``//host``) or a path outside the console's own falls back to the console's root.
    """
    root = console_path if console_path.endswith("/") else console_path + "/"
    if not value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return root
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or value.startswith("//"):
        return root
    inside = parts.path == console_path or parts.path.startswith(root)
    return value if inside and ".." not in parts.path.split("/") else root


def requested_next(query_string: bytes) -> str | None:
    """The ``next`` a sign-in was asked to return to.

    The gateway sends a page load without a session to ``/sso/login?next=$request_uri``: nginx
    cannot percent-encode, so everything after ``next=`` is the page's own URI as the browser sent
    it, query included, and is taken whole and undecoded (decoding would turn the ``+`` of the
    console's base64 paths into spaces). A ``next`` that is not a path, or not first, was encoded
    by its sender and is decoded.
    """
    raw = query_string.decode("latin-1")
    if not raw.startswith("next="):
        return parse_qs(raw).get("next", [None])[0]
    value = raw.removeprefix("next=")
    return value if value.startswith("/") else unquote(value)


def backchannel_logout(metadata: dict[str, Any]) -> str:
    """Keycloak's logout endpoint at the address the bridge reaches. The discovery document names
    the browser's (``end_session_endpoint`` is front channel: on the real stack the bridge could not
    connect to it), while the token endpoint follows the caller's address; both sit in the realm's
    ``protocol/openid-connect/``."""
    return metadata["token_endpoint"].rsplit("/", 1)[0] + "/logout"


def page(status: int, title: str, body: str, action: tuple[str, str] | None = None) -> Response:
    """A small HTML page a person can act on; every value escaped."""
    link = f'<p><a href="{html.escape(action[0])}">{html.escape(action[1])}</a></p>' if action else ""
    text = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(body)}</p>{link}</main></body></html>"
    )
    response = Response(text, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(settings: SigninSettings, http: requests.Session | None = None) -> Flask:
    """The bridge for one console and one Keycloak client; ``http`` reaches MinIO (tests pass theirs)."""
    http = http or requests.Session()
    app = Flask("signin")
    app.config.update(
        SECRET_KEY=settings.cookie_key.get_secret_value(),
        SESSION_COOKIE_NAME=FLOW_COOKIE,
        SESSION_COOKIE_PATH="/sso",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=FLOW_SECONDS),
    )
    sealer = Fernet(
        base64.urlsafe_b64encode(hashlib.sha256(b"sso_session:" + app.secret_key.encode()).digest())
    )
    oauth = OAuth(app)
    keycloak = oauth.register(
        "keycloak",
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        server_metadata_url=settings.discovery_url,
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256"},
    )
    sign_in_again = (f"{settings.console_origin}/sso/login", "Sign in again")

    def cookie_args(max_age: int, path: str) -> dict[str, Any]:
        return {
            "max_age": max_age,
            "path": path,
            "httponly": True,
            "secure": settings.secure_cookies,
            "samesite": "Lax",
        }

    def refused(status: int, title: str, body: str, why: str, action: tuple[str, str] | None = sign_in_again):
        log.warning("sign-in refused (%s): %s", title, why)
        session.clear()
        return page(status, title, body, action)

    def keycloak_away(err: Exception) -> Response:
        unavailable = "Sign-in is unavailable for now; try again in a minute."
        return refused(503, "Keycloak cannot be reached", unavailable, repr(err))

    @app.get("/sso/health")
    def health() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.get("/sso/login")
    def login():
        session.clear()
        session.permanent = True
        session["next"] = safe_next(requested_next(request.query_string), settings.console_path)
        try:
            return keycloak.authorize_redirect(settings.callback_url)
        except requests.RequestException as err:
            return keycloak_away(err)

    @app.get("/sso/callback")
    def callback():
        next_path = session.get("next", safe_next(None, settings.console_path))
        try:
            # Issuer and audience named outright: without options Authlib checks the issuer but
            # not the audience (only azp, which a token may lack or set to this client anyway).
            issuer = keycloak.load_server_metadata()["issuer"]
            token = keycloak.authorize_access_token(
                claims_options={
                    "iss": {"essential": True, "value": issuer},
                    "aud": {"essential": True, "value": settings.client_id},
                }
            )
        except MismatchingStateError as err:
            return refused(
                400,
                "This sign-in has expired",
                "It was started too long ago, already used, or started elsewhere.",
                repr(err),
            )
        except OAuthError as err:
            return refused(
                400,
                "Keycloak did not sign you in",
                err.description or err.error or "no reason given",
                repr(err),
            )
        except JoseError as err:
            return refused(
                400, "Keycloak's answer did not check out", "The sign-in could not be verified.", repr(err)
            )
        except requests.RequestException as err:
            return keycloak_away(err)
        if "userinfo" not in token:
            return refused(
                400, "Keycloak's answer did not check out", "It carried no ID token.", "no id_token"
            )
        user = token["userinfo"].get("preferred_username", token["userinfo"].get("sub"))
        # Keycloak's session ends within refresh_expires_in unless used; never later than max_session_seconds.
        keycloak_left = int(token.get("refresh_expires_in") or settings.max_session_seconds)
        seconds = min(keycloak_left, settings.max_session_seconds)
        try:
            credentials = assume_role(http, settings.sts_endpoint, token["id_token"], seconds)
        except StsRefused as err:
            if err.no_storage_role:
                return refused(
                    403,
                    "You have no storage role",
                    f"You signed in as {user}, but none of your groups grants access to the object storage. "
                    f"Ask {settings.contact} to add you to a storage group.",
                    f"{user}: {err}",
                    action=None,
                )
            return refused(502, "The storage refused the sign-in", "Try again in a minute.", f"{user}: {err}")
        except (requests.RequestException, ValueError) as err:
            return refused(503, "The storage cannot be reached", "Try again in a minute.", f"{user}: {err!r}")
        try:
            console_token = console_login(http, settings.console_api, credentials)
        except (ConsoleRefused, requests.RequestException) as err:
            return refused(502, "The console refused the sign-in", "Try again in a minute.", f"{user}: {err}")
        left = (credentials.expiration - datetime.now(UTC)).total_seconds()
        lifetime = max(0, int(min(left, seconds)))
        log.info("signed in %s for %d s", user, lifetime)
        session.clear()
        response = redirect(next_path)
        response.set_cookie(CONSOLE_COOKIE, console_token, **cookie_args(lifetime, "/"))
        # The refresh token alone: what ends Keycloak's session at sign-out. With the ID token too
        # the cookie passed the 4 KiB a browser keeps (seen on the real stack: the cookie was dropped).
        sealed = sealer.encrypt(json.dumps({"refresh_token": token.get("refresh_token")}).encode())
        # Path "/": the console's own sign-out call (<console>/api/v1/logout, which the gateway sends
        # here) must carry it, or Keycloak's session outlives the console's (seen on the real stack:
        # signing out, then straight back in without a password). Sealed: nobody else can read it.
        response.set_cookie(SESSION_COOKIE, sealed.decode(), **cookie_args(lifetime, "/"))
        return response

    def end_sessions() -> bool:
        """End the console session and, by the sealed refresh token, Keycloak's (back channel: the
        browser sees no Keycloak page). Without a refresh token, Keycloak's session is left."""
        if token := request.cookies.get(CONSOLE_COOKIE):
            try:
                console_logout(http, settings.console_api, token)
            except requests.RequestException as err:
                log.warning("console logout failed: %r", err)
        try:
            refresh = json.loads(sealer.decrypt(request.cookies.get(SESSION_COOKIE, "").encode()))[
                "refresh_token"
            ]
        except (InvalidToken, ValueError, KeyError, TypeError):
            return False
        try:
            metadata = keycloak.load_server_metadata()
            http.post(
                backchannel_logout(metadata),
                data={"refresh_token": refresh, "client_id": settings.client_id},
                auth=(settings.client_id, settings.client_secret.get_secret_value()),
                timeout=10,
            ).raise_for_status()
        except (requests.RequestException, KeyError) as err:
            log.warning("ending the Keycloak session failed: %r", err)
            return False
        return True

    def forget(response: Response) -> Response:
        response.delete_cookie(CONSOLE_COOKIE, path="/", secure=settings.secure_cookies, samesite="Lax")
        response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.secure_cookies, samesite="Lax")
        return response

    @app.get("/sso/logout")
    def logout():
        """Sign-out in the browser: both sessions end here, then back to the console (whose sign-in
        asks for the password again). Where Keycloak's could not be ended from here, Keycloak's own
        logout page ends it (RP-initiated, back to the console)."""
        ended = end_sessions()
        session.clear()
        if ended:
            return forget(redirect(settings.console_url))
        try:
            answer = keycloak.logout_redirect(
                post_logout_redirect_uri=settings.console_url, client_id=settings.client_id
            )
        except requests.RequestException as err:
            log.warning("Keycloak unreachable at sign-out: %r", err)
            answer = page(503, "Signed out of the console", "Keycloak cannot be reached to end its session.")
        return forget(answer)

    @app.post("/sso/api/logout")
    def api_logout():
        """The console's own sign-out call: both sessions end without a page."""
        end_sessions()
        return forget(Response(status=204))

    return app
