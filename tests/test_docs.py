"""The README's configuration reference names every key the settings accept."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from components.settings import OBJECT_KEYS, SCALAR_KEYS, SECRET_KEYS, PlatformSettings

ROOT = Path(__file__).resolve().parent.parent
NESTED = {"buckets", "serviceAccounts", "identity.groups"}
"""Lists of objects: their fields are documented in the key's row."""


def documented_keys() -> set[str]:
    reference = (ROOT / "README.md").read_text().split("## Stack configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Za-z][A-Za-z0-9.]*)`", reference))


def settings_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        alias = field.alias or name
        key = f"{prefix}{alias}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and name != "secrets":
            keys |= settings_keys(annotation, f"{key}.")
        elif name != "secrets":
            keys.add(key)
    return keys


def test_every_settings_key_is_in_the_readme():
    documented = documented_keys()
    missing = []
    for key in sorted(settings_keys(PlatformSettings)):
        leaf = key.rsplit(".", 1)[-1]
        # A row may group siblings: "`observability.prometheusPort`, `grafanaPort`".
        if key in documented or leaf in documented:
            continue
        missing.append(key)
    assert not missing, f"undocumented stack config keys: {missing}"


def test_every_top_level_and_secret_key_is_in_the_readme():
    documented = documented_keys()
    top_level = {*OBJECT_KEYS, *SCALAR_KEYS, *SECRET_KEYS}
    for key in top_level:
        assert key in documented or any(d.startswith(f"{key}.") for d in documented), key
    assert documented >= NESTED
