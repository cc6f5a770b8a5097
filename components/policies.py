"""MinIO IAM policy documents, rendered from the templates in ``policies/iam/`` (pure, no Pulumi).

A template is an IAM policy whose resources may name ``${bucket}``. Rendering a template for a
list of buckets repeats each such resource once per bucket; a template without the placeholder
takes no buckets. The rendered document is what MinIO stores, byte for byte, so a test or a
reviewer reading ``build/<stack>/policy-*.json`` reads exactly what the server enforces.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "policies" / "iam"
PLACEHOLDER = "${bucket}"
POLICY_VERSION = "2012-10-17"
WILDCARD_TEMPLATES = frozenset({"admin"})
"""The only templates allowed to grant ``s3:*``, ``admin:*`` or every bucket's objects."""
EVERY_BUCKET_TEMPLATES = frozenset({"platform-admin", "auditor", "config-export"})
"""Templates naming every bucket (``arn:aws:s3:::*``) with listed actions, never a wildcard action:
the program's administrator manages every bucket's settings, the auditor and the configuration
export read them all."""

_ACTION_RE = re.compile(r"^(s3|admin|kms|sts):[A-Za-z*]+$")
_RESOURCE_RE = re.compile(r"^arn:aws:s3:::[a-z0-9.\-*]+(/.*)?$")


class PolicyTemplateError(ValueError):
    """A template cannot be rendered as asked, or a document is not a well-formed policy."""


def template_names() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))


def load_template(name: str) -> dict[str, Any]:
    path = TEMPLATE_DIR / f"{name}.json"
    if not path.is_file():
        raise PolicyTemplateError(f"no policy template {name!r} (known: {template_names()})")
    return json.loads(path.read_text())


def takes_buckets(name: str) -> bool:
    """Whether the template names ``${bucket}`` and so needs at least one bucket."""
    return PLACEHOLDER in json.dumps(load_template(name))


def render_policy(name: str, buckets: Sequence[str] = ()) -> dict[str, Any]:
    """The template ``name`` with ``${bucket}`` resources repeated once per bucket."""
    template = load_template(name)
    if takes_buckets(name) and not buckets:
        raise PolicyTemplateError(f"policy template {name!r} is per bucket: name at least one bucket")
    if not takes_buckets(name) and buckets:
        raise PolicyTemplateError(f"policy template {name!r} takes no buckets, got {list(buckets)}")
    document = copy.deepcopy(template)
    for statement in document["Statement"]:
        resources = statement.get("Resource")
        if resources is None:
            continue
        expanded: list[str] = []
        for resource in resources:
            if PLACEHOLDER in resource:
                expanded.extend(resource.replace(PLACEHOLDER, bucket) for bucket in buckets)
            else:
                expanded.append(resource)
        statement["Resource"] = expanded
    validate_policy(
        document,
        allow_wildcards=name in WILDCARD_TEMPLATES,
        allow_every_bucket=name in WILDCARD_TEMPLATES | EVERY_BUCKET_TEMPLATES,
    )
    return document


def policy_json(document: dict[str, Any]) -> str:
    """The canonical text of a document (stable key order, no spaces) as sent to MinIO."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def validate_policy(
    document: dict[str, Any], *, allow_wildcards: bool = False, allow_every_bucket: bool = False
) -> None:
    """Raise :class:`PolicyTemplateError` unless ``document`` is a well-formed, least-privilege policy.

    ``allow_wildcards``: ``s3:*``-style actions and every bucket; ``allow_every_bucket``: every
    bucket only, each action still named.
    """
    if document.get("Version") != POLICY_VERSION:
        raise PolicyTemplateError(f"Version must be {POLICY_VERSION!r}")
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise PolicyTemplateError("Statement must be a non-empty list")
    for index, statement in enumerate(statements):
        where = f"Statement[{index}]"
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyTemplateError(f"{where}.Effect must be Allow or Deny")
        actions = statement.get("Action")
        if not isinstance(actions, list) or not actions:
            raise PolicyTemplateError(f"{where}.Action must be a non-empty list")
        for action in actions:
            if not _ACTION_RE.match(action):
                raise PolicyTemplateError(
                    f"{where}.Action {action!r} is not an s3:, admin:, kms: or sts: action"
                )
            if "*" in action and not allow_wildcards:
                raise PolicyTemplateError(
                    f"{where}.Action {action!r} is a wildcard; only the admin template may grant one"
                )
        services = {a.split(":", 1)[0] for a in actions}
        if len(services) > 1:
            # MinIO validates a statement as an admin one only when every action is admin:.
            raise PolicyTemplateError(f"{where} mixes {sorted(services)} actions: one service per statement")
        resources = statement.get("Resource")
        if services == {"s3"}:
            if not isinstance(resources, list) or not resources:
                raise PolicyTemplateError(
                    f"{where}.Resource must list the buckets or objects an s3: action applies to"
                )
            for resource in resources:
                if PLACEHOLDER in resource:
                    raise PolicyTemplateError(f"{where}.Resource {resource!r} still holds {PLACEHOLDER}")
                if not _RESOURCE_RE.match(resource):
                    raise PolicyTemplateError(f"{where}.Resource {resource!r} is not an arn:aws:s3::: ARN")
                bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
                listing_only = set(actions) <= {"s3:ListAllMyBuckets", "s3:GetBucketLocation"}
                if "*" in bucket and not (allow_wildcards or allow_every_bucket or listing_only):
                    raise PolicyTemplateError(
                        f"{where}.Resource {resource!r} spans every bucket; only the admin, "
                        f"{', '.join(sorted(EVERY_BUCKET_TEMPLATES))} templates may"
                    )
        elif resources:
            raise PolicyTemplateError(f"{where}: {sorted(services)[0]}: actions take no Resource in MinIO")
