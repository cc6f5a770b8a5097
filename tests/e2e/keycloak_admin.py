"""Keycloak's admin REST API, as the stack outputs allow (``keycloak_admin_user``/``_password``).

The browser journeys use it to set up what the stack does not manage (a user in no group) and to
read the token Keycloak issues for a user, with the claims MinIO receives.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class KeycloakAdmin:
    base_url: str
    """Keycloak's public base URL (``sso_issuer_url`` without ``/realms/<realm>``)."""
    realm: str
    user: str
    password: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> KeycloakAdmin:
        base, realm = outputs["sso_issuer_url"].rsplit("/realms/", 1)
        return cls(base, realm, outputs["keycloak_admin_user"], outputs["keycloak_admin_password"])

    def token(self) -> str:
        """An admin access token from the master realm (raises on a refused password)."""
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self.user,
                "password": self.password,
            }
        ).encode()
        url = f"{self.base_url}/realms/master/protocol/openid-connect/token"
        with urllib.request.urlopen(url, data=form, timeout=10) as answer:  # noqa: S310 (the stack's loopback)
            return json.loads(answer.read())["access_token"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the stack's loopback)
            f"{self.base_url}/admin/realms/{self.realm}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            text = answer.read()
            return json.loads(text) if text else None

    def user_id(self, username: str) -> str:
        (found,) = self.call("GET", f"/users?exact=true&username={urllib.parse.quote(username)}")
        return found["id"]

    def create_user(self, username: str, password: str) -> str:
        self.call(
            "POST",
            "/users",
            {
                "username": username,
                "enabled": True,
                "email": f"{username}@example.invalid",
                "emailVerified": True,
                "firstName": "No",
                "lastName": "Group",
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )
        return self.user_id(username)

    def delete_user(self, username: str) -> None:
        self.call("DELETE", f"/users/{self.user_id(username)}")

    @contextmanager
    def temporary_user(self, username: str, group: str | None = None) -> Iterator[tuple[str, str]]:
        """A user (in ``group``, or in none) with a generated password, ``(id, password)``; deleted
        afterwards."""
        password = secrets.token_urlsafe(16)
        user_id = self.create_user(username, password)
        try:
            if group is not None:
                (found,) = self.call("GET", f"/groups?exact=true&search={urllib.parse.quote(group)}")
                self.call("PUT", f"/users/{user_id}/groups/{found['id']}")
            yield user_id, password
        finally:
            self.delete_user(username)

    @contextmanager
    def temporary_group(self, name: str, policy: str) -> Iterator[str]:
        """A group whose members get the MinIO policy ``policy`` (the ``policy`` attribute, as the
        stack's groups carry it); its id. Deleted afterwards."""
        self.call("POST", "/groups", {"name": name, "attributes": {"policy": [policy]}})
        (found,) = self.call("GET", f"/groups?exact=true&search={urllib.parse.quote(name)}")
        try:
            yield found["id"]
        finally:
            self.call("DELETE", f"/groups/{found['id']}")

    def example_tokens(self, client_id: str, username: str) -> dict[str, dict[str, Any]]:
        """The ID and access tokens' claims Keycloak would issue ``username`` through the client."""
        (client,) = self.call("GET", f"/clients?clientId={urllib.parse.quote(client_id)}")
        query = urllib.parse.urlencode({"scope": "openid", "userId": self.user_id(username)})
        path = f"/clients/{client['id']}/evaluate-scopes"
        return {
            "id": self.call("GET", f"{path}/generate-example-id-token?{query}"),
            "access": self.call("GET", f"{path}/generate-example-access-token?{query}"),
        }
