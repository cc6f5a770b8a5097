"""Pulumi mocks that answer like the real providers, and a monitor that records the whole graph.

The mock monitor does not apply ``additional_secret_outputs`` (see shared provider notes §F), so
the outputs the real providers mark secret are wrapped as secrets here: without that, a test could
pass while the real program leaked a generated password.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.sync_await import _ensure_event_loop


def secret(value: Any) -> dict[str, Any]:
    """A value the engine treats as secret (the wire form of ``Output.secret``)."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def unwrap(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _mock_secret_text(kind: str, name: str, length: int = 32) -> str:
    # Distinctive so the leak scan can find it anywhere it should not be.
    return f"mocksecret-{kind}-{_digest(kind, name)}"[: max(length, 24)]


class PlatformMocks(pulumi.runtime.Mocks):
    """Realistic outputs per resource type; secret where the real provider says so."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        handler = getattr(self, "_" + args.typ.replace(":", "_").replace("/", "_"), None)
        state = handler(args.name, inputs) if handler else inputs
        # Where the real provider's id is meaningful (a realm's name, a client's UUID), use it.
        resource_id = state.get("id") if isinstance(state.get("id"), str) else f"{args.name}-id"
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        handler = getattr(self, "_call_" + args.token.replace(":", "_").replace("/", "_"), None)
        return handler(dict(args.args)) if handler else {}

    def _call_keycloak_index_getRole_getRole(self, args: dict) -> dict:
        """A realm role looked up by name: its id, as the provider answers."""
        role_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{args.get('realmId')}/{args.get('name')}"))
        return {**args, "id": role_id, "description": "", "attributes": {}, "compositeRoles": []}

    # random
    def _random_index_randomPassword_RandomPassword(self, name: str, inputs: dict) -> dict:
        length = int(unwrap(inputs.get("length", 32)))
        result = _mock_secret_text("password", name, length)
        if unwrap(inputs.get("special", True)) is False:
            # Letters and digits only, of the length asked, as the provider gives with special=False.
            result = f"mocksecretpassword{_digest('password', name)}{_digest(name)}"[: max(length, 24)]
        return {
            **inputs,
            "result": secret(result),
            "bcryptHash": secret("$2a$10$" + _digest("bcrypt", name)[:53]),
        }

    # docker
    def _docker_index_network_Network(self, name: str, inputs: dict) -> dict:
        return {**inputs, "scope": "local"}

    def _docker_index_volume_Volume(self, name: str, inputs: dict) -> dict:
        volume = inputs.get("name", name)
        return {
            **inputs,
            "driver": inputs.get("driver", "local"),
            "mountpoint": f"/var/lib/docker/volumes/{volume}/_data",
        }

    def _docker_index_remoteImage_RemoteImage(self, name: str, inputs: dict) -> dict:
        image = inputs.get("name", name)
        return {**inputs, "imageId": "sha256:" + _digest("image", image), "repoDigest": image.split("@")[0]}

    def _docker_index_container_Container(self, name: str, inputs: dict) -> dict:
        networks = inputs.get("networksAdvanced") or []
        network_datas = [
            {
                "networkName": n.get("name"),
                "ipAddress": n.get("ipv4Address", ""),
                "gateway": "",
                "ipPrefixLength": 24,
            }
            for n in networks
        ]
        return {**inputs, "networkDatas": network_datas, "exitCode": None}

    # tls
    def _tls_index_privateKey_PrivateKey(self, name: str, inputs: dict) -> dict:
        body = _mock_secret_text("tlskey", name, 64)
        pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
        return {**inputs, "privateKeyPem": secret(pem), "publicKeyPem": "-----BEGIN PUBLIC KEY-----\n..."}

    def _tls_index_selfSignedCert_SelfSignedCert(self, name: str, inputs: dict) -> dict:
        body = _digest("cert", name)
        return {**inputs, "certPem": f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"}

    # minio
    def _minio_index_iamServiceAccount_IamServiceAccount(self, name: str, inputs: dict) -> dict:
        return {
            **inputs,
            "accessKey": ("SA" + _digest("ak", name)[:18]).upper(),
            "secretKey": secret(_mock_secret_text("sasecret", name, 40)),
            "status": "on",
        }

    def _minio_index_iamUser_IamUser(self, name: str, inputs: dict) -> dict:
        state = {**inputs, "status": "enabled"}
        if "secret" not in inputs:
            state["secret"] = secret(_mock_secret_text("usersecret", name, 40))
        return state

    # grafana
    def _grafana_oss_dashboard_Dashboard(self, name: str, inputs: dict) -> dict:
        uid = json.loads(inputs.get("configJson", "{}")).get("uid", name)
        return {**inputs, "uid": uid, "url": f"http://grafana.invalid/d/{uid}"}

    # keycloak
    def _keycloak_index_realm_Realm(self, name: str, inputs: dict) -> dict:
        return {**inputs, "id": inputs.get("realm", name)}

    def _keycloak_openid_client_Client(self, name: str, inputs: dict) -> dict:
        state = {**inputs, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name))}
        state["clientSecret"] = secret(unwrap(inputs.get("clientSecret", _mock_secret_text("client", name))))
        return state


@dataclass
class RecordedResource:
    """One registration as the engine would receive it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    provider: str | None
    dependencies: list[str]
    options: dict[str, Any]
    inputs: dict[str, Any]
    """Serialized inputs, camelCase, with secret values still wrapped (see :func:`is_secret`)."""
    state: dict[str, Any] = field(default_factory=dict)
    """What the mock returned as the resource's outputs (secrets wrapped)."""


class RecordingMonitor(MockMonitor):
    """A mock monitor that keeps every ``RegisterResource`` request, in order."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[RecordedResource] = []

    def RegisterResource(self, request):  # the engine's gRPC method name
        response = super().RegisterResource(request)
        _ensure_event_loop()
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        self.records.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=bool(request.custom),
                provider=provider,
                dependencies=sorted(set(request.dependencies)),
                options={
                    "protect": bool(request.protect),
                    "retainOnDelete": bool(request.retainOnDelete),
                    "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                    "replaceOnChanges": list(request.replaceOnChanges),
                    "ignoreChanges": list(request.ignoreChanges),
                    "additionalSecretOutputs": list(request.additionalSecretOutputs),
                },
                inputs=rpc.deserialize_properties(request.object),
                state=dict(self.resources[response.urn].state) if response.urn in self.resources else {},
            )
        )
        return response
