"""IAM policies, users and service accounts from settings, and the program's own identities.

Root does one thing: :class:`PlatformAdministrator` creates ``platform-admin`` (the platform-admin
template: users, policies, service accounts and bucket settings; no object data, no server
configuration, restart, healing, decommissioning or KMS administration), and the program's
minio provider does everything else as that identity. :class:`Identities` adds the read-only
``platform-auditor`` of ``day2 verify`` and ``day2 compliance`` and the metrics identity.

Each configured service account becomes a MinIO user (the parent, holding the rendered policy) and
a service account under it with the same policy stated explicitly: pulumi-minio 0.17.1 reads a
policy-less service account back with its parent's implied policy and shows a diff on every
preview (aminueza/terraform-provider-minio#517). Applications use the service account's keys;
no application uses root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_minio as minio
import pulumi_random as random

from components.policies import policy_json, render_policy
from components.settings import (
    ADMIN_USER,
    AUDITOR_USER,
    METRICS_USER,
    IamSettings,
    PlatformSettings,
    ServiceAccountSettings,
)

SECRET_LENGTH = 40
"""MinIO's longest secret key: the program's own identities get generated secrets this long."""


def group_policy_documents(settings: PlatformSettings) -> dict[str, str]:
    """MinIO policies the SSO groups name, by policy name (built-in policies need none)."""
    return {
        group.minio_policy: policy_json(render_policy(group.policy, settings.group_buckets(group)))
        for group in settings.identity.groups
        if group.uses_template
    }


@dataclass(frozen=True)
class IdentitiesArgs:
    service_accounts: Sequence[ServiceAccountSettings]
    buckets: Sequence[pulumi.Resource]
    """The buckets the policies name: created first, so a new key works at once."""
    group_policies: Mapping[str, str] = field(default_factory=dict)
    """Policies single sign-on groups grant, by name: their members get them through the token."""
    metrics_identity: bool = True
    """Create the ``prometheus-metrics`` identity (stacks with monitoring)."""
    metrics_secret_generation: int = 1
    """Bumped, the metrics identity's secret is replaced and every token it signed stops working."""
    auditor_identity: bool = True
    """Create ``platform-auditor``, the read-only identity of the day-2 verify and compliance."""
    iam: IamSettings = field(default_factory=IamSettings)
    """Custom policies, MinIO users and groups of the stack (``iam``)."""
    iam_passwords: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Each iam user's password (secret), by name."""


class Identities(pulumi.ComponentResource):
    """Policies, users, service accounts, and the ``prometheus-metrics`` identity."""

    documents: dict[str, str]
    """Rendered policy documents by policy name, as stored in MinIO."""
    access_keys: dict[str, pulumi.Output[str]]
    """Service account access keys by account name."""
    secret_keys: dict[str, pulumi.Output[str]]
    """Service account secret keys by account name (secret)."""
    metrics_access_key: str | None
    metrics_secret_key: pulumi.Output[str] | None
    """Secret; signs the bearer token Prometheus scrapes with. Both None without monitoring."""
    auditor_access_key: str | None
    auditor_secret_key: pulumi.Output[str] | None
    """Secret; the day-2 tools' read-only identity. Both None when it is not created."""

    def __init__(self, name: str, args: IdentitiesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:iam:Identities", name, None, opts)
        self._name = name
        self.documents = {}
        self.access_keys = {}
        self.secret_keys = {}

        for account in args.service_accounts:
            document = policy_json(render_policy(account.policy, account.buckets))
            user, attachment = self._user_with_policy(account.name, document, args, secret=None)
            service_account = minio.IamServiceAccount(
                f"{name}-{account.name}-key",
                target_user=user.name,
                policy=document,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
            )
            self.access_keys[account.name] = service_account.access_key
            self.secret_keys[account.name] = pulumi.Output.secret(service_account.secret_key)

        for policy_name, document in args.group_policies.items():
            self.documents[policy_name] = document
            minio.IamPolicy(
                f"{name}-{policy_name}",
                name=policy_name,
                policy=document,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.buckets)),
            )

        self._custom_iam(args)

        self.metrics_access_key = self.metrics_secret_key = None
        if args.metrics_identity:
            self._metrics_identity(args)
        self.auditor_access_key = self.auditor_secret_key = None
        if args.auditor_identity:
            self.auditor_access_key = AUDITOR_USER
            self.auditor_secret_key = generated_secret(f"{name}-{AUDITOR_USER}-secret", self)
            self._user_with_policy(
                AUDITOR_USER, policy_json(render_policy("auditor")), args, secret=self.auditor_secret_key
            )
        self.register_outputs({"access_keys": self.access_keys, "secret_keys": self.secret_keys})

    def _custom_iam(self, args: IdentitiesArgs) -> None:
        """iam: each custom policy, each group with its policies, each user with its password, its
        policies and its groups (one membership resource per group)."""
        name, iam = self._name, args.iam
        policies: dict[str, minio.IamPolicy] = {}
        for custom in iam.policies:
            document = policy_json(custom.document())
            self.documents[custom.name] = document
            policies[custom.name] = minio.IamPolicy(
                f"{name}-custom-{custom.name}",
                name=custom.name,
                policy=document,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.buckets)),
            )

        def attached(policy: str) -> pulumi.ResourceOptions:
            """A custom policy is created first; a built-in one is always there."""
            return pulumi.ResourceOptions(
                parent=self, depends_on=[policies[policy]] if policy in policies else []
            )

        users: dict[str, minio.IamUser] = {}
        for user in iam.users:
            users[user.name] = minio.IamUser(
                f"{name}-user-{user.name}",
                name=user.name,
                secret=pulumi.Output.secret(args.iam_passwords[user.name]),
                force_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for policy in user.policies:
                minio.IamUserPolicyAttachment(
                    f"{name}-user-{user.name}-{policy}",
                    user_name=users[user.name].name,
                    policy_name=policy,
                    opts=attached(policy),
                )
        for group in iam.groups:
            created = minio.IamGroup(
                f"{name}-group-{group.name}", name=group.name, opts=pulumi.ResourceOptions(parent=self)
            )
            # By name, after the group: the provider's group_name output is the name it was given.
            for policy in group.policies:
                options = attached(policy)
                minio.IamGroupPolicyAttachment(
                    f"{name}-group-{group.name}-{policy}",
                    group_name=group.name,
                    policy_name=policy,
                    opts=pulumi.ResourceOptions.merge(options, pulumi.ResourceOptions(depends_on=[created])),
                )
            members = iam.members(group.name)
            if members:
                minio.IamGroupMembership(
                    f"{name}-group-{group.name}-members",
                    group=group.name,
                    users=[users[m].name for m in members],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[created]),
                )

    def _metrics_identity(self, args: IdentitiesArgs) -> None:
        name = self._name
        # Prometheus authenticates with a JWT signed by this identity's secret: the program mints
        # it, so the secret is generated here rather than by the provider.
        generation = args.metrics_secret_generation
        metrics_secret = random.RandomPassword(
            f"{name}-{METRICS_USER}-secret",
            length=SECRET_LENGTH,
            special=False,
            # No keepers for generation 1: stacks made before the setting existed keep their secret.
            keepers=None if generation == 1 else {"generation": str(generation)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.metrics_access_key = METRICS_USER
        self.metrics_secret_key = pulumi.Output.secret(metrics_secret.result)
        self._user_with_policy(
            METRICS_USER, policy_json(render_policy("metrics")), args, secret=self.metrics_secret_key
        )

    def _user_with_policy(
        self, user_name: str, document: str, args: IdentitiesArgs, secret: pulumi.Input[str] | None
    ) -> tuple[minio.IamUser, minio.IamUserPolicyAttachment]:
        policy_name = f"{user_name}-policy"
        self.documents[policy_name] = document
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.buckets))
        policy = minio.IamPolicy(f"{self._name}-{policy_name}", name=policy_name, policy=document, opts=child)
        user = minio.IamUser(
            f"{self._name}-{user_name}",
            name=user_name,
            # The parent user's own secret is never handed out: applications get service accounts.
            secret=secret,
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = minio.IamUserPolicyAttachment(
            f"{self._name}-{policy_name}-attachment",
            user_name=user.name,
            policy_name=policy.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return user, attachment


class PlatformAdministrator(pulumi.ComponentResource):
    """``platform-admin``: the identity the program's minio provider works as, created as root.

    Give it the root provider (``providers={"minio": ...}``): these three resources are all root
    manages. Its password is generated and kept in the stack's state, a secret like the others.
    """

    user_name: pulumi.Output[str]
    """Depends on the policy being attached: a provider configured with it can work at once."""
    password: pulumi.Output[str]
    document: str

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:iam:PlatformAdministrator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.document = policy_json(render_policy("platform-admin"))
        self.password = generated_secret(f"{name}-secret", self)
        policy = minio.IamPolicy(
            f"{name}-policy", name=f"{ADMIN_USER}-policy", policy=self.document, opts=child
        )
        user = minio.IamUser(
            f"{name}-user", name=ADMIN_USER, secret=self.password, force_destroy=False, opts=child
        )
        attachment = minio.IamUserPolicyAttachment(
            f"{name}-attachment", user_name=user.name, policy_name=policy.name, opts=child
        )
        self.user_name = pulumi.Output.all(user.name, attachment.id).apply(lambda values: values[0])
        self.register_outputs({"user_name": self.user_name})


def generated_secret(resource_name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A new identity's secret key: generated once, kept in state, a secret Output."""
    password = random.RandomPassword(
        resource_name, length=SECRET_LENGTH, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    return pulumi.Output.secret(password.result)


def pretty(document: str) -> str:
    """A policy document laid out for review."""
    return json.dumps(json.loads(document), indent=2, sort_keys=True) + "\n"
