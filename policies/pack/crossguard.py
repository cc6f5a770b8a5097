"""The rules as CrossGuard policies (kept apart from __main__.py, whose PolicyPack starts a server).

At preview some inputs are computed by other resources and not known yet (a container's ``image``
is its RemoteImage's id). The SDK's property proxy raises on any unknown it is asked for, and
turns that into a "can't run policy" note, so a rule that copied every property would never run
on a fresh stack. Here the properties are copied with unknowns marked (:data:`rules.UNKNOWN`);
each rule reads only what it needs, and a rule that needs a computed value is reported by the
advisory policy ``judged-at-update`` instead of being skipped in silence. ``pulumi up`` runs every
rule again on each resource before creating it, with its inputs known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError
from rules import RULES, UNJUDGED, UNKNOWN, Resource, Rule, judge, unjudged_message

# prod-only rules read the stack's environment from the pack config:
#   pulumi preview --policy-pack policies/pack --policy-pack-config policies/pack/prod.json
ENVIRONMENT_SCHEMA = PolicyConfigSchema(
    properties={"environment": {"type": "string", "enum": ["dev", "prod"], "default": "dev"}}
)


def plain(value: Any) -> Any:
    """The SDK's proxied properties as plain dicts and lists, computed values as ``UNKNOWN``."""
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def _applies(rule: Rule, config: dict) -> bool:
    prod = config.get("environment", "dev") == "prod"
    return (prod or not rule.prod_only) and not (prod and rule.dev_only)


def _level(rule: Rule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY


def _live_rules() -> list[Rule]:
    """Every rule the live pack can judge: secrecy needs the synth manifest (see rules.py)."""
    return [rule for rule in RULES if not rule.manifest_only]


def _resource(args: Any) -> Resource:
    return Resource(args.resource_type, args.name, plain(args.props))


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if _applies(rule, args.get_config()):
            for message in judge(rule, _resource(args))[0]:
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
        if _applies(rule, args.get_config()):
            for message in judge(rule, [_resource(r) for r in args.resources])[0]:
                report_violation(message, None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_level(rule),
        config_schema=ENVIRONMENT_SCHEMA,
    )


def _unjudged_policies() -> list:
    """Advisory: which rule could not judge what, during preview, and why."""
    description = "Rules that need a value computed by another resource judge it at `pulumi up`"

    def per_resource(args: ResourceValidationArgs, report_violation) -> None:
        resource = _resource(args)
        for rule in _live_rules():
            if rule.scope == "resource" and _applies(rule, args.get_config()):
                unknown = judge(rule, resource)[1]
                if unknown is not None:
                    report_violation(unjudged_message(rule, args.name, unknown), None)

    def per_stack(args: StackValidationArgs, report_violation) -> None:
        resources = [_resource(r) for r in args.resources]
        for rule in _live_rules():
            if rule.scope == "stack" and _applies(rule, args.get_config()):
                unknown = judge(rule, resources)[1]
                if unknown is not None:
                    report_violation(unjudged_message(rule, "the stack", unknown), None)

    return [
        ResourceValidationPolicy(
            name=UNJUDGED,
            description=description,
            validate=per_resource,
            enforcement_level=EnforcementLevel.ADVISORY,
            config_schema=ENVIRONMENT_SCHEMA,
        ),
        StackValidationPolicy(
            name=f"{UNJUDGED}-stack",
            description=description,
            validate=per_stack,
            enforcement_level=EnforcementLevel.ADVISORY,
            config_schema=ENVIRONMENT_SCHEMA,
        ),
    ]


def policies() -> list:
    return [
        *(_stack_policy(rule) if rule.scope == "stack" else _resource_policy(rule) for rule in _live_rules()),
        *_unjudged_policies(),
    ]
