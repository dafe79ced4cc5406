"""Turning pure rule functions into pulumi_policy objects.

A rule is a generator over the typed view (stack rules) or one resource's raw facts
(resource rules) yielding `Finding`s (message, optional URN) or one `NotApplicable`.
The wrappers read the policy config (schema defaults first), never let an exception
escape (a rule that cannot judge says why, as a violation of the policy itself), and
report "not applicable" through the SDK when a rule found nothing to judge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import stackview
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)


@dataclass(frozen=True)
class Finding:
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class NotApplicable:
    reason: str


Outcome = Finding | NotApplicable
StackRule = Callable[[stackview.StackView, Mapping[str, Any]], Iterable[Outcome]]
ResourceRule = Callable[[stackview.RawResource, Mapping[str, Any]], Iterable[Outcome]]


def settings(schema: Mapping[str, Mapping[str, Any]] | None, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Schema defaults overlaid with the configured values that have the schema's type."""
    out: dict[str, Any] = {}
    for key, spec in (schema or {}).items():
        if "default" in spec:
            out[key] = spec["default"]
        value = (given or {}).get(key)
        if value is not None and _fits(value, spec.get("type")):
            out[key] = value
    return out


def _fits(value: Any, kind: str | None) -> bool:
    if kind == "integer":
        whole_float = isinstance(value, float) and value.is_integer()
        return (isinstance(value, int) and not isinstance(value, bool)) or whole_float
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, (list, tuple))
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def run_rule(rule: Callable[..., Iterable[Outcome]], subject: Any, config: Mapping[str, Any],
             policy_name: str) -> tuple[list[Finding], NotApplicable | None]:
    """Run a rule; an exception becomes one finding that says the rule could not judge."""
    findings: list[Finding] = []
    skipped: NotApplicable | None = None
    try:
        for outcome in rule(subject, config):
            if isinstance(outcome, Finding):
                findings.append(outcome)
            elif isinstance(outcome, NotApplicable) and skipped is None:
                skipped = outcome
    except stackview.UnknownValueError:
        raise  # the SDK reports "can't run during preview" (advisory); at update the value is known
    except Exception as exc:  # noqa: BLE001 - a policy must answer, never crash the analyzer
        findings.append(Finding(f"{policy_name} could not judge this input ({type(exc).__name__}: {exc}); "
                                "fix the input or report the pack bug"))
    return findings, (skipped if not findings else None)


def stack_policy(*, name: str, description: str, rule: StackRule, enforcement: EnforcementLevel,
                 severity: Severity, remediation: str, url: str,
                 config: Mapping[str, Mapping[str, Any]] | None = None,
                 tags: list[str] | None = None) -> StackValidationPolicy:
    def validate(args, report_violation) -> None:
        findings, skipped = [], None
        try:
            configured = settings(config, args.get_config())
            view = stackview.view_of(list(args.resources))
        except Exception as exc:  # noqa: BLE001
            report_violation(f"{name} could not read the stack ({type(exc).__name__}: {exc})", None)
            return
        findings, skipped = run_rule(rule, view, configured, name)
        for finding in findings:
            report_violation(finding.message, finding.urn)
        if skipped is not None:
            args.not_applicable(skipped.reason)

    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=enforcement,
        config_schema=PolicyConfigSchema(properties=dict(config)) if config else None,
        severity=severity, remediation_steps=remediation, url=url, tags=tags,
    )


def resource_policy(*, name: str, description: str, resource_types: set[str], rule: ResourceRule,
                    enforcement: EnforcementLevel, severity: Severity, remediation: str, url: str,
                    config: Mapping[str, Mapping[str, Any]] | None = None,
                    tags: list[str] | None = None) -> ResourceValidationPolicy:
    def validate(args, report_violation) -> None:
        if args.resource_type not in resource_types:
            return
        try:
            configured = settings(config, args.get_config())
            raw = stackview.raw_resource(args)
        except Exception as exc:  # noqa: BLE001
            report_violation(f"{name} could not read {args.urn} ({type(exc).__name__}: {exc})", None)
            return
        findings, skipped = run_rule(rule, raw, configured, name)
        for finding in findings:
            report_violation(finding.message, None)
        if skipped is not None:
            args.not_applicable(skipped.reason)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=enforcement,
        config_schema=PolicyConfigSchema(properties=dict(config)) if config else None,
        severity=severity, remediation_steps=remediation, url=url, tags=tags,
    )
