"""The sign-in bridge's own rules, without servers: where ``next`` may lead, how it starts.

Its flows run against a real Keycloak and MinIO in tests/integration/test_signin.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signin.app import requested_next, safe_next
from signin.settings import SettingsProblem, from_environment

CONSOLE = "http://localhost"
CLIENT_ID = "minio-console"


@pytest.mark.parametrize(
    ("asked", "console_path", "goes_to"),
    [
        ("/browser/bucket-a?prefix=x%2F", "/", "/browser/bucket-a?prefix=x%2F"),
        ("/minio-console/browser", "/minio-console", "/minio-console/browser"),
        ("/minio-console", "/minio-console", "/minio-console"),
        (None, "/minio-console", "/minio-console/"),
        ("", "/", "/"),
        ("https://evil.example/", "/", "/"),
        ("//evil.example/", "/", "/"),
        ("/\\evil.example/", "/", "/"),
        ("javascript:alert(1)", "/", "/"),
        ("/grafana/", "/minio-console", "/minio-console/"),
        ("/minio-consoleX/", "/minio-console", "/minio-console/"),
        ("/minio-console/../grafana/", "/minio-console", "/minio-console/"),
        ("/browser\r\nSet-Cookie: x=1", "/", "/"),
        ("browser", "/", "/"),
    ],
)
def test_next_stays_inside_the_console(asked, console_path, goes_to):
    assert safe_next(asked, console_path) == goes_to


@pytest.mark.parametrize(
    ("query", "found"),
    [
        # As the gateway sends it: the page's URI whole, its own query and a base64 "+" kept.
        (
            b"next=/minio-console/browser/b/cHJl+Zml4Lw==?x=1&y=2",
            "/minio-console/browser/b/cHJl+Zml4Lw==?x=1&y=2",
        ),
        # Encoded by its sender.
        (b"next=%2Fminio-console%2Fbrowser", "/minio-console/browser"),
        (b"next=https%3A%2F%2Fevil.example%2F", "https://evil.example/"),
        (b"", None),
        (b"other=1&next=%2Fx%2By", "/x+y"),
    ],
)
def test_next_is_read_as_the_gateway_passes_it(query, found):
    assert requested_next(query) == found


def test_a_next_from_the_query_still_meets_safe_next():
    assert safe_next(requested_next(b"next=//evil.example/x"), "/minio-console") == "/minio-console/"
    assert safe_next(requested_next(b"next=%2F%2Fevil.example"), "/minio-console") == "/minio-console/"


def test_the_bridge_starts_only_with_its_secrets_in_files(tmp_path: Path):
    base = {
        "SIGNIN_DISCOVERY_URL": "http://keycloak:8080/realms/minio/.well-known/openid-configuration",
        "SIGNIN_CLIENT_ID": CLIENT_ID,
        "SIGNIN_CONSOLE_URL": CONSOLE,
        "SIGNIN_CONSOLE_API": "http://minio1:9001",
        "SIGNIN_STS_ENDPOINT": "http://gateway:9000",
    }
    with pytest.raises(SettingsProblem, match="SIGNIN_CLIENT_SECRET: a secret comes from a file"):
        from_environment({**base, "SIGNIN_CLIENT_SECRET": "x" * 40})
    secret, key = tmp_path / "secret", tmp_path / "key"
    secret.write_text("s" * 40 + "\n")
    key.write_text("short")
    with pytest.raises(SettingsProblem, match="SIGNIN_COOKIE_KEY_FILE: Value error, at least 32 characters"):
        from_environment(
            {**base, "SIGNIN_CLIENT_SECRET_FILE": str(secret), "SIGNIN_COOKIE_KEY_FILE": str(key)}
        )
    key.write_text("k" * 32)
    settings = from_environment(
        {**base, "SIGNIN_CLIENT_SECRET_FILE": str(secret), "SIGNIN_COOKIE_KEY_FILE": str(key)}
    )
    assert settings.client_secret.get_secret_value() == "s" * 40
    with pytest.raises(SettingsProblem) as missing:
        from_environment({})
    assert "SIGNIN_CLIENT_SECRET_FILE: Field required" in str(missing.value)
    assert "SIGNIN_DISCOVERY_URL: Field required" in str(missing.value)


def test_keycloak_is_signed_out_at_the_address_the_bridge_reaches():
    from signin.app import backchannel_logout

    metadata = {
        "token_endpoint": "http://keycloak:8080/realms/minio/protocol/openid-connect/token",
        "end_session_endpoint": "http://localhost:8080/realms/minio/protocol/openid-connect/logout",
    }
    assert backchannel_logout(metadata) == "http://keycloak:8080/realms/minio/protocol/openid-connect/logout"
