"""MinIO, as the bridge talks to it: STS for temporary credentials, the console's login API.

Both over HTTP on the platform's internal addresses; nothing here holds a credential longer than
one request.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
STS_MIN_SECONDS = 900
"""MinIO's STS refuses a shorter DurationSeconds."""
CONSOLE_COOKIE = "token"
"""The console's session cookie."""
TIMEOUT = 10


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str
    expiration: datetime

    def __repr__(self) -> str:  # never the secret parts, in a log or a traceback
        return f"Credentials(access_key={self.access_key!r}, expiration={self.expiration.isoformat()})"


class StsRefused(Exception):
    """MinIO's STS said no: ``code`` and ``message`` as it gave them."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def no_storage_role(self) -> bool:
        """The user's token names no policy MinIO has: no group, or a group without a policy."""
        return "policy claim missing" in self.message or "None of the given policies" in self.message


def assume_role(session: requests.Session, endpoint: str, token: str, seconds: int) -> Credentials:
    """``AssumeRoleWithWebIdentity`` for ``token``, lasting ``seconds`` (at least MinIO's 900)."""
    answer = session.post(
        endpoint + "/",
        data={
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "WebIdentityToken": token,
            "DurationSeconds": str(max(seconds, STS_MIN_SECONDS)),
        },
        timeout=TIMEOUT,
    )
    root = ET.fromstring(answer.content)  # noqa: S314 (see the import)
    if answer.status_code != 200:
        code = root.findtext(".//sts:Code", "", STS_NS) or root.findtext(".//Code", "")
        message = root.findtext(".//sts:Message", "", STS_NS) or root.findtext(".//Message", "")
        raise StsRefused(answer.status_code, code, message)
    found = root.find(".//sts:Credentials", STS_NS)
    if found is None:
        raise StsRefused(answer.status_code, "NoCredentials", "the answer holds no credentials")
    return Credentials(
        access_key=found.findtext("sts:AccessKeyId", "", STS_NS),
        secret_key=found.findtext("sts:SecretAccessKey", "", STS_NS),
        session_token=found.findtext("sts:SessionToken", "", STS_NS),
        expiration=datetime.fromisoformat(found.findtext("sts:Expiration", "", STS_NS)).astimezone(UTC),
    )


class ConsoleRefused(Exception):
    """The console's login API did not open a session."""


def console_login(session: requests.Session, api: str, credentials: Credentials) -> str:
    """The console's session token for ``credentials`` (its ``token`` cookie's value)."""
    answer = session.post(
        f"{api}/api/v1/login",
        json={
            "accessKey": credentials.access_key,
            "secretKey": credentials.secret_key,
            "sts": credentials.session_token,
        },
        timeout=TIMEOUT,
    )
    token = answer.cookies.get(CONSOLE_COOKIE)
    if answer.status_code >= 300 or not token:
        raise ConsoleRefused(f"the console's login answered {answer.status_code}: {answer.text[:200]}")
    return token


def console_logout(session: requests.Session, api: str, token: str) -> None:
    """End a console session (the console forgets nothing server-side; this is its own logout call)."""
    # The console's logout takes a JSON body (its `state`; an empty one is answered 422).
    session.post(f"{api}/api/v1/logout", json={}, cookies={CONSOLE_COOKIE: token}, timeout=TIMEOUT)
