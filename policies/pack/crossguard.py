"""The rules as CrossGuard policies (kept apart from __main__.py, whose PolicyPack starts a server)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import RULES, Resource, Rule

# prod-only rules read the stack's environment from the pack config:
#   pulumi preview --policy-pack policies/pack --policy-pack-config policies/pack/prod.json
ENVIRONMENT_SCHEMA = PolicyConfigSchema(
    properties={"environment": {"type": "string", "enum": ["dev", "prod"], "default": "dev"}}
)


def _applies(rule: Rule, config: dict) -> bool:
    return not rule.prod_only or config.get("environment", "dev") == "prod"


def _level(rule: Rule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if not _applies(rule, args.get_config()):
            return
        for message in rule.check(Resource(args.resource_type, args.name, dict(args.props))):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_level(rule),
        config_schema=ENVIRONMENT_SCHEMA,
    )


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation) -> None:
        if not _applies(rule, args.get_config()):
            return
        resources = [Resource(r.resource_type, r.name, dict(r.props)) for r in args.resources]
        for message in rule.check(resources):
            report_violation(message, None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_level(rule),
        config_schema=ENVIRONMENT_SCHEMA,
    )


def policies() -> list:
    """Every rule the live pack can judge: secrecy needs the synth manifest (see rules.py)."""
    return [
        _stack_policy(rule) if rule.scope == "stack" else _resource_policy(rule)
        for rule in RULES
        if not rule.manifest_only
    ]
