"""The configuration reference (docs/configuration.md), generated from the settings models.

``python -m synth.reference`` prints it; ``--write`` updates the committed page (``make docs``).
A test fails when the page and the models differ, so the reference cannot drift from the code:
every key, type, default, limit, list-item field and cross-key rule comes from
``components/settings/``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.settings import PROJECT, PlatformSettings, Secrets, SettingsError, settings_from_config

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"

# Validators attached to named types, described once here (their code is in components/settings/).
_NAMED_RULES = {
    "_check_image": "pinned image reference: a version tag (never `latest`); `@sha256:` digest in prod",
    "_check_bucket_name": "S3 bucket name: 3-63 of `a-z 0-9 . -`, no IP form, no `xn--`/`-s3alias`",
}


def _markdown(text: str) -> str:
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model of a field that is a model or a tuple of models (a list of objects in YAML)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in typing.get_args(candidate):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if origin is tuple:
        inner = args[0] if args else Any
        model = _model_of(inner)
        return "list of objects" if model else f"list of {_type_name(inner)}s"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, BaseModel):
            return "object"
        return {
            bool: "boolean",
            int: "integer",
            float: "number",
            str: "string",
            SecretStr: "secret string",
            ipaddress.IPv4Network: "IPv4 network (CIDR)",
            ipaddress.IPv4Address: "IPv4 address",
        }.get(annotation, annotation.__name__)
    return str(annotation)


def _limits(field: FieldInfo) -> list[str]:
    """Limits declared on the field or on its annotated type."""
    found: list[str] = []
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):
        metadata += list(getattr(arg, "__metadata__", ()))
        for inner in typing.get_args(arg):
            metadata += list(getattr(inner, "__metadata__", ()))
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    unit = "item" if "tuple" in str(field.annotation) or "list" in str(field.annotation) else "character"
    for item in metadata:
        for attr, symbol in symbols.items():
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                found.append(f"{symbol} {getattr(item, attr)}")
        if isinstance(item, annotated_types.MinLen):
            found.append(f"at least {item.min_length} {unit}{'s' if item.min_length != 1 else ''}")
        if isinstance(item, annotated_types.MaxLen):
            found.append(f"at most {item.max_length} {unit}s")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            found.append(f"matches `{pattern}`")
        function = getattr(getattr(item, "func", None), "__name__", "")
        if function in _NAMED_RULES:
            found.append(_NAMED_RULES[function])
        if isinstance(item, FieldInfo):
            found += _limits(item)
    return list(dict.fromkeys(found))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
        items = [v.model_dump(mode="json", by_alias=True, exclude_defaults=True) for v in value]
        return f"`{json.dumps(items, separators=(', ', ': '))}`"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> tuple[list[str], list[tuple[str, type[BaseModel]]]]:
    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        inner = _model_of(field.annotation)
        if (
            inner is not None
            and typing.get_origin(field.annotation) is not tuple
            and _type_name(field.annotation) == "object"
        ):
            if field.default_factory is not None and field.default_factory() != inner():
                # A small object whose default is its own (resources.gateway...): one row that shows it.
                rows.append(_object_row(key, field, inner))
            else:
                nested.append((key, inner))
            continue
        if inner is not None:
            nested.append((f"{key}[]", inner))
        allowed = "; ".join(_limits(field)) or ""
        description = field.description or ""
        rows.append(
            f"| `{key}` | {_type_name(field.annotation)} | {_markdown(_default(field))} | "
            f"{_markdown(allowed)} | {_markdown(description)} |"
        )
    return rows, nested


def _object_row(key: str, field: FieldInfo, model: type[BaseModel]) -> str:
    """A row for an object with a default of its own: its keys' limits, its default as JSON."""
    default = json.dumps(
        field.default_factory().model_dump(mode="json", by_alias=True), separators=(", ", ": ")
    )
    allowed = "; ".join(
        f"`{inner.alias or name}`: {', '.join(_limits(inner)) or 'any'}"
        for name, inner in model.model_fields.items()
    )
    meaning = " ".join(filter(None, [field.description and f"{field.description}.", model.__doc__]))
    return f"| `{key}` | object | `{default}` | {_markdown(allowed)} | {_markdown(meaning)} |"


def _table(rows: list[str]) -> str:
    header = "| Key | Type | Default | Limits | Meaning |\n|---|---|---|---|---|\n"
    return header + "\n".join(rows) + "\n"


def _section_rules() -> list[str]:
    """Rules inside one section: the docstring of each section model's model validator."""
    lines = []
    for name, field in PlatformSettings.model_fields.items():
        model = _model_of(field.annotation)
        if model is None:
            continue
        for decorator in model.__pydantic_decorators__.model_validators.values():
            doc = (decorator.func.__doc__ or "").strip()
            lines.append(f"- `{field.alias or name}`: {_markdown(doc)}")
    return lines


def _rules() -> list[str]:
    """The rules between keys: the docstring of each cross-section check."""
    aliases = {name: field.alias or name for name, field in PlatformSettings.model_fields.items()}
    aliases["secrets"] = "the secret keys"
    lines = []
    for sections, check in PlatformSettings()._checks():
        doc = (check.__doc__ or "").strip()
        keys = ", ".join(sorted(f"`{aliases[s]}`" if s != "secrets" else aliases[s] for s in sections))
        lines.append(f"- {_markdown(doc)} (reads {keys})")
    return lines


def _example_refusal() -> str:
    """What the settings answer to a three-node cluster and a repeated bucket: the page shows the
    program's own words, not a copy that could drift."""
    duplicate = {"name": "backups-postgresql", "retentionDays": 30}
    try:
        settings_from_config({"cluster": {"nodes": 3}, "buckets": [duplicate, duplicate]})
    except SettingsError as err:
        return str(err)
    raise AssertionError("the reference's example configuration must be refused")


def render() -> str:
    top_rows, nested = _rows(PlatformSettings, "")
    secrets = [(k, m) for k, m in nested if m is Secrets]
    sections = [(k, m) for k, m in nested if m is not Secrets]
    parts = [
        "# Configuration reference\n",
        "<!-- Generated from components/settings/ by `make docs` (python -m synth.reference --write). "
        "Do not edit: tests/test_docs.py fails when this page and the settings differ. -->\n",
        f"Every key lives in the `{PROJECT}:` namespace of `Pulumi.<stack>.yaml`. A bad value stops the "
        "program before any resource registers, with one line per problem (every problem at once) "
        "naming the key, the value and what is allowed:\n",
        f"```text\n{_example_refusal()}\n```\n",
        "Set nested keys and list items with `--path` (quote the key: the shell would read the brackets):\n",
        "```sh\n"
        f"pulumi config set --path '{PROJECT}:cluster.nodes' 8\n"
        f"pulumi config set --path '{PROJECT}:gateway.tls' self-signed\n"
        f"pulumi config set --path '{PROJECT}:buckets[1].retentionDays' 60\n"
        f"pulumi config set --path '{PROJECT}:identity.groups[0].policy' consoleAdmin\n"
        f"pulumi config set --secret {PROJECT}:rootPassword          # secrets: never --path, never plain\n"
        f"pulumi config get --path '{PROJECT}:cluster.nodes'\n"
        "```\n",
        "[`examples/everything.yaml`](../examples/everything.yaml) is a stack that uses every provisioning "
        "setting at once (buckets with locks, quotas, lifecycle rules, notifications and anonymous access; "
        "inline policies, users and groups; extra server settings; the backup service with its "
        "configuration export); the tests render it with the offline synth.\n",
        "## Top-level keys\n",
        _table(top_rows),
    ]
    queue = list(sections)
    while queue:
        key, model = queue.pop(0)
        rows, more = _rows(model, f"{key}.")
        queue[0:0] = more
        title = f"`{key}` items" if key.endswith("[]") else f"`{key}`"
        doc = _markdown((model.__doc__ or "").strip().split("\n\n")[0])
        parts += [f"## {title}\n", f"{doc}\n" if doc else "", _table(rows)]
    for _key, model in secrets:
        rows, _ = _rows(model, "")
        parts += [
            "## Secret keys\n",
            "Each is a top-level key set with `pulumi config set --secret KEY`; a secret key set in plain "
            "text is refused. Unset ones are generated where the program can (pulumi-random).\n",
            _table(rows),
        ]
    parts += [
        "## Rules within a section\n",
        "\n".join(_section_rules()) + "\n",
        "## Rules between keys\n",
        "Checked together: every broken rule is reported, and a rule that reads a section which is "
        "itself invalid waits for that section's fix rather than report against defaults.\n",
        "\n".join(_rules()) + "\n",
    ]
    return "\n".join(p for p in parts if p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth.reference", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"update {PAGE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        PAGE.parent.mkdir(exist_ok=True)
        PAGE.write_text(text)
        print(f"wrote {PAGE.relative_to(ROOT)}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
