"""Read a ``Pulumi.<stack>.yaml`` the way the Pulumi CLI hands it to the program.

The CLI passes every config value as a string (objects and lists JSON-encoded) and tells the
program which keys were ``secure:``. Offline there is no secrets provider to decrypt those, so each
one is replaced by a clearly marked placeholder and reported.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.settings import PROJECT

SYNTH_SECRET_VARIABLE = "MINIO_OFFLINE_SYNTH_PLACEHOLDER"  # noqa: S105 (a name, not a secret)
"""The one variable the offline synth gives the nodes for clusterSecretEnvironment (MinIO ignores it)."""


def _iam_user_names(raw: Mapping[str, Any]) -> list[str]:
    iam = raw.get(f"{PROJECT}:iam")
    users = iam.get("users") if isinstance(iam, dict) else None
    return [u["name"] for u in users or [] if isinstance(u, dict) and isinstance(u.get("name"), str)]


def placeholder_for(key: str, users: Sequence[str] = ()) -> str:
    """The stand-in for a ``secure:`` value the synth cannot decrypt (long enough to pass length
    checks, and in the format a secret with one has: a pgpass line for every database; for the
    nodes' secret variables, whose names are in the secret too, one variable named for what it is;
    for iam users' passwords, one line per user of ``users``)."""
    if key == "backupPgpass":
        return f"*:*:*:*:offline-synth-placeholder-for-{key}"
    if key == "iamUserPasswords":
        return "".join(f"{user}=offline-synth-placeholder-for-{key}\n" for user in users)
    if key == "clusterSecretEnvironment":
        return f"{SYNTH_SECRET_VARIABLE}=offline-synth-placeholder-for-{key}"
    return f"offline-synth-placeholder-for-{key}"


@dataclass(frozen=True)
class StackConfig:
    stack: str
    values: dict[str, str]
    """Full keys (``minio-platform:cluster``) to the strings the CLI would pass."""
    secret_keys: tuple[str, ...]
    """Full keys that came from ``secure:`` values."""
    placeholders: tuple[str, ...]
    """Full keys whose ``secure:`` values were replaced by placeholders."""


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


REMOVE = "<remove this key>"
"""An override value that deletes the key from the stack file's value (e.g. nodes, for pools)."""


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value == REMOVE:
                merged.pop(key, None)
                continue
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def read_stack_file(path: Path, stack: str, overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """Load a stack file; ``overrides`` (keys without the project prefix) are deep-merged on top."""
    document = yaml.safe_load(path.read_text()) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: 'config' must be a mapping")
    raw: dict[str, Any] = dict(config)
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        raw[full_key] = _merge(raw.get(full_key), value) if full_key in raw else copy.deepcopy(value)

    values: dict[str, str] = {}
    secret_keys: list[str] = []
    placeholders: list[str] = []
    for full_key, value in raw.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = placeholder_for(full_key.split(":", 1)[-1], _iam_user_names(raw))
            secret_keys.append(full_key)
            placeholders.append(full_key)
        else:
            values[full_key] = _encode(value)
    return StackConfig(stack, values, tuple(secret_keys), tuple(placeholders))
