"""IAM in the stack: custom policies written inline, MinIO users and MinIO groups (``iam``).

For people and machines outside Keycloak (Keycloak's groups, which reach MinIO through the token,
are ``identity.groups``). A policy here is an IAM document in YAML, checked like the templates in
``policies/iam/``; users and groups hold custom policies or MinIO's built-in ones. Users' passwords
are the ``iamUserPasswords`` secret (``name=password`` per line).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from components.policies import POLICY_VERSION, PolicyTemplateError, template_names, validate_policy
from components.settings.base import Invalid, Section, assignment_lines, raise_all, repeated
from components.settings.identity import BUILTIN_POLICIES

POLICY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,127}$"
USER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{2,127}$"
"""A MinIO user name is its access key: 3 or more characters."""
RESERVED_POLICY_SUFFIX = "-policy"
"""The program names the policies it renders ``<identity>-policy``: custom names stay clear of them."""
PASSWORD_MIN = 8
"""MinIO's shortest secret key."""


class StatementSettings(Section):
    """One statement: what it allows (or denies), on what, and under which conditions."""

    effect: Literal["Allow", "Deny"] = Field("Allow", description="Allow or Deny")
    actions: tuple[str, ...] = Field(min_length=1, description="s3:, admin:, kms: or sts: actions")
    resources: tuple[str, ...] = Field(
        (), description="arn:aws:s3::: buckets or objects (s3: actions; admin: actions take none)"
    )
    conditions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="IAM conditions, {operator: {key: value or values}}, for example "
        "{StringLike: {s3:prefix: [reports/*]}}",
    )

    def document(self) -> dict[str, Any]:
        statement: dict[str, Any] = {"Effect": self.effect, "Action": list(self.actions)}
        if self.resources:
            statement["Resource"] = list(self.resources)
        if self.conditions:
            statement["Condition"] = self.conditions
        return statement


def _wildcard_resource(resource: str) -> bool:
    return "*" in resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]


class CustomPolicySettings(Section):
    """A policy written in the stack: its name in MinIO and its statements."""

    name: str = Field(pattern=POLICY_NAME, description="Its name in MinIO, unique")
    statements: tuple[StatementSettings, ...] = Field(min_length=1, description="Its statements")
    admin: bool = Field(
        False,
        description="Allowed to grant a wildcard action on every bucket (or every admin: action): only a "
        "policy marked so may",
    )

    def document(self) -> dict[str, Any]:
        return {"Version": POLICY_VERSION, "Statement": [s.document() for s in self.statements]}

    @model_validator(mode="after")
    def _checked_like_the_templates(self) -> Self:
        """Well formed as a template is (actions, ARNs, one service per statement), and no wildcard
        action on every bucket, nor admin:*, unless marked admin."""
        if self.name in BUILTIN_POLICIES or self.name in template_names():
            raise Invalid("name", self.name, "a built-in policy's or a template's name: choose another")
        if self.name.endswith(RESERVED_POLICY_SUFFIX):
            raise Invalid("name", self.name, f"names ending {RESERVED_POLICY_SUFFIX!r} are the program's")
        try:
            validate_policy(self.document(), allow_wildcards=True, allow_every_bucket=True)
        except PolicyTemplateError as err:
            raise Invalid("statements", "[...]", str(err)) from err
        for i, statement in enumerate(self.statements):
            wild = [a for a in statement.actions if "*" in a]
            admin_wild = [a for a in wild if a.startswith(("admin:", "kms:"))]
            everywhere = any(_wildcard_resource(r) for r in statement.resources)
            if statement.effect == "Allow" and not self.admin and (admin_wild or (wild and everywhere)):
                raise Invalid(
                    f"statements[{i}].actions",
                    list(statement.actions),
                    "a wildcard action on every bucket (or on the server): only a policy with admin: true",
                )
        return self


class IamUserSettings(Section):
    """A MinIO user (its password: a line of the iamUserPasswords secret)."""

    name: str = Field(pattern=USER_NAME, description="The user's name, its access key")
    policies: tuple[str, ...] = Field((), description="Policies attached: iam.policies or MinIO built-ins")
    groups: tuple[str, ...] = Field((), description="Groups of iam.groups it belongs to")


class IamGroupSettings(Section):
    """A MinIO group: its members (users naming it) get its policies."""

    name: str = Field(pattern=POLICY_NAME, description="The group's name in MinIO")
    policies: tuple[str, ...] = Field((), description="Policies attached: iam.policies or MinIO built-ins")


class IamSettings(Section):
    """Custom policies, MinIO users and MinIO groups (docs/buckets-and-iam.md, "IAM in the stack")."""

    policies: tuple[CustomPolicySettings, ...] = Field(
        (), description="Each {name, statements: [{effect, actions, resources, conditions}], admin}"
    )
    users: tuple[IamUserSettings, ...] = Field(
        (), description="Each {name, policies, groups}; passwords in the iamUserPasswords secret"
    )
    groups: tuple[IamGroupSettings, ...] = Field((), description="Each {name, policies}")

    @model_validator(mode="after")
    def _names_resolve(self) -> Self:
        """Names once each; every policy named is one of these or a built-in, every group one of these."""
        found = []
        for key, items in (("policies", self.policies), ("users", self.users), ("groups", self.groups)):
            for i, name in repeated(item.name for item in items):
                found.append(Invalid(f"{key}[{i}].name", name, "each name once"))
        known = {p.name for p in self.policies} | set(BUILTIN_POLICIES)
        groups = {g.name for g in self.groups}
        unknown = f"one of iam.policies or MinIO's {sorted(BUILTIN_POLICIES)}"
        for key, items in (("users", self.users), ("groups", self.groups)):
            for i, item in enumerate(items):
                for j, policy in enumerate(item.policies):
                    if policy not in known:
                        found.append(Invalid(f"{key}[{i}].policies[{j}]", policy, unknown))
        for i, user in enumerate(self.users):
            for j, group in enumerate(user.groups):
                if group not in groups:
                    found.append(
                        Invalid(f"users[{i}].groups[{j}]", group, f"one of iam.groups {sorted(groups)}")
                    )
        raise_all(found)
        return self

    @property
    def used(self) -> bool:
        return bool(self.policies or self.users or self.groups)

    def members(self, group: str) -> list[str]:
        return [u.name for u in self.users if group in u.groups]


def password_lines(text: str) -> dict[str, str]:
    """``name=password`` per line (blank lines and ``#`` comments skipped). Raises ValueError naming
    the line and never a password."""
    found: dict[str, str] = {}
    for number, name, password in assignment_lines(text):
        if password is None or not re.fullmatch(USER_NAME, name):
            raise ValueError(f"line {number} is not user=password")
        if name in found:
            raise ValueError(f"line {number}: {name} is given twice")
        found[name] = password
    return found
