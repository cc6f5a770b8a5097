"""Reading and validating the stack config: every problem in one SettingsError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import pulumi
from pydantic import (
    ValidationError,
)

from components.settings.base import (
    PROJECT,
    UNCHECKED,
    Invalid,
    Problems,
    SettingsError,
)
from components.settings.platform import PlatformSettings
from components.settings.secrets import SECRET_KEYS

# --- reading the stack config --------------------------------------------------------------------

OBJECT_KEYS = (
    "cluster",
    "hosts",
    "networks",
    "gateway",
    "identity",
    "buckets",
    "serviceAccounts",
    "observability",
    "iam",
    "backups",
    "resources",
)
SCALAR_KEYS = ("environment", "dockerHost")


def settings_from_config(
    values: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()
) -> PlatformSettings:
    """Validate raw stack values (keys without the project prefix, objects already parsed).

    ``secret_keys`` are the keys that came in as ``secure:`` values; a secret key set in plain text
    is refused, since its value would sit unencrypted in the stack file. Every problem is reported
    in one :class:`SettingsError`: unknown keys, plain-text secrets, each section's own errors, and
    the cross-section rules that do not depend on a section that is itself invalid.
    """
    return _validate(values, secret_keys)


def _validate(
    values: Mapping[str, Any],
    secret_keys: frozenset[str],
    problems: tuple[str, ...] = (),
    unreadable: frozenset[str] = frozenset(),
) -> PlatformSettings:
    """``problems`` were found while reading ``unreadable`` keys, which are absent from ``values``."""
    problems = list(problems)
    known = set(OBJECT_KEYS) | set(SCALAR_KEYS) | set(SECRET_KEYS)
    for key in sorted(set(values) - known):
        problems.append(f"{PROJECT}:{key}: unknown key (allowed: {', '.join(sorted(known))})")
    for key in SECRET_KEYS:
        if key in values and key not in secret_keys:
            problems.append(
                f"{PROJECT}:{key} is set in plain text: it must be a secret "
                f"(pulumi config set --secret {key} ...)"
            )

    document: dict[str, Any] = {k: v for k, v in values.items() if k in OBJECT_KEYS or k in SCALAR_KEYS}
    document["secrets"] = {k: values[k] for k in SECRET_KEYS if k in values}
    broken = set(unreadable)
    try:
        settings = PlatformSettings.model_validate(document, context={UNCHECKED: _fields(broken)})
    except ValidationError as err:
        problems += _describe(err)
        broken |= {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    else:
        if not problems:
            return settings
    if broken - unreadable:
        # Pydantic runs the cross-section rules only when every section is valid. Validate again
        # with the broken sections left at their defaults and their rules skipped, so the rules
        # that can still be judged are reported now rather than after the next fix.
        rest = {k: v for k, v in document.items() if k not in broken}
        try:
            PlatformSettings.model_validate(rest, context={UNCHECKED: _fields(broken)})
        except ValidationError as again:
            problems += [p for p in _describe(again) if p not in problems]
    raise SettingsError(problems)


def _fields(keys: set[str]) -> frozenset[str]:
    """Field names of top-level stack keys (``serviceAccounts`` -> ``service_accounts``)."""
    by_alias = {info.alias or name: name for name, info in PlatformSettings.model_fields.items()}
    return frozenset(by_alias.get(key, key) for key in keys)


def _describe(err: ValidationError) -> list[str]:
    """One line per problem: the full key, the bad value, what is allowed."""
    lines = []
    for problem in err.errors():
        path = [str(p) for p in problem["loc"]]
        cause = (problem.get("ctx") or {}).get("error")
        found = cause.found if isinstance(cause, Problems) else [cause] if isinstance(cause, Invalid) else []
        if not found:
            value = "[secret]" if path and path[0] == "secrets" else problem.get("input")
            allowed = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{PROJECT}:{_join_key(path)} = {_show(value)}: {allowed}")
        for invalid in found:
            value = "[secret]" if path and path[0] == "secrets" else invalid.value
            lines.append(f"{PROJECT}:{_join_key([*path, invalid.key])} = {_show(value)}: {invalid.allowed}")
    return lines


def _join_key(parts: list[str]) -> str:
    if parts and parts[0] == "secrets":
        parts = parts[1:]
    key = ""
    for part in parts:
        key += f"[{part}]" if part.isdigit() else ("." if key else "") + part
    return key


def _show(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    if isinstance(value, StrEnum):
        return repr(value.value)
    return repr(value)


def load_settings(config: pulumi.Config | None = None) -> PlatformSettings:
    """Read this stack's ``minio-platform:*`` config and validate it (call before any resource)."""
    config = config or pulumi.Config(PROJECT)
    from pulumi.runtime import config as runtime_config  # the engine's view of what is set and secret

    full_keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    keys = sorted(k.split(":", 1)[1] for k in full_keys if k.startswith(f"{PROJECT}:"))
    values: dict[str, Any] = {}
    problems: list[str] = []
    unreadable: set[str] = set()
    for key in keys:
        raw = config.get(key)
        if raw is None:
            continue
        if key in OBJECT_KEYS:
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError:
                problems.append(f"{PROJECT}:{key} = {raw!r}: a YAML object or list is expected")
                unreadable.add(key)
        else:
            values[key] = raw
    # The CLI hands secret key names over in PULUMI_CONFIG_SECRET_KEYS; tests and the synth set them
    # through set_all_config. Either marks a key as having come from a `secure:` value.
    secret_full_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys = frozenset(
        k
        for k in keys
        if runtime_config.is_config_secret(f"{PROJECT}:{k}") or f"{PROJECT}:{k}" in secret_full_keys
    )
    return _validate(values, secret_keys, tuple(problems), frozenset(unreadable))
