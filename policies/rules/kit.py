"""Declaring a policy at its rule, and turning the rule into a pulumi_policy object.

A rule is a generator over the typed view (stack rules) or one resource's raw facts
(resource rules) yielding `Finding`s (message, optional URN), `Note`s (what it could not
judge) or one `NotApplicable`. It is declared right where it is written, octoDNS-style:

    @dataclass(frozen=True)
    class LookupConfig:
        lookup_limit: int = setting(10, "Most DNS-querying SPF terms (RFC 7208: 10).", minimum=1)

    @declare("spf-valid", lesson=6, level=ADVISORY, severity=Severity.MEDIUM, config=LookupConfig,
             description=..., remediation=..., url=...)
    def spf_findings(view, config: LookupConfig): ...

The config's JSON schema is generated from the dataclass (camelCase keys, defaults written
once); the rule receives an instance. Every declaration lands in `DECLARED`, from which the
lesson registry (`lessons.py`) and the pack are assembled. The wrappers never let an
exception escape (a rule that cannot judge says why, as a violation of the policy itself)
and report "not applicable" through the SDK when a rule found nothing to judge.

"Not judged" (`Note`): a mandatory policy must not block on what it did not understand, and
its `report_violation` always reports at the policy's level. The SDK gives a validate call
two answers that never block: not-applicable with a reason, and the UnknownValueError that it
reports as "can't run during preview" (advisory). So the wrapper reports the findings first,
then any `Note(until_up=True)` (a value unknown at preview: judged at `up`) as that error,
else the notes as the not-applicable reason ("not judged: ..."); either reaches the engine
next to the violations already reported.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hostview import evidence, stackview
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE


@dataclass(frozen=True)
class Finding:
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class NotApplicable:
    reason: str


@dataclass(frozen=True)
class Note:
    """Not judged: what the rule could not see or understand, naming host, file and what would settle it.
    `until_up`: the gap is a value unknown during preview, so the rule judges it at `up`."""

    message: str
    until_up: bool = False


Outcome = Finding | NotApplicable | Note
StackRule = Callable[[stackview.StackView, Mapping[str, Any]], Iterable[Outcome]]
ResourceRule = Callable[[evidence.RawResource, Mapping[str, Any]], Iterable[Outcome]]



ADVISORY = EnforcementLevel.ADVISORY
MANDATORY = EnforcementLevel.MANDATORY


def setting(default: Any, description: str, *, minimum: int | None = None) -> Any:
    """A typed policy config field: its default and description, written once."""
    meta = {"description": description}
    if minimum is not None:
        meta["minimum"] = minimum
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        item = typing.get_args(annotation)[0]
        return {"type": "array", "items": {"type": _JSON_TYPES[item]}}
    return {"type": _JSON_TYPES[annotation]}


def config_schema(config_type: type | None) -> dict[str, dict[str, Any]]:
    """The JSON schema properties of a config dataclass (camelCase keys, defaults as JSON)."""
    if config_type is None:
        return {}
    hints = typing.get_type_hints(config_type)
    out: dict[str, dict[str, Any]] = {}
    for f in fields(config_type):
        spec = _json_type(hints[f.name])
        default = f.default
        spec["default"] = list(default) if isinstance(default, tuple) else default
        spec.update(f.metadata)
        out[camel(f.name)] = spec
    return out


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


def typed_config(config_type: type | None, given: Mapping[str, Any] | None) -> Any:
    """An instance of the policy's config dataclass from the engine's config (defaults first)."""
    if config_type is None:
        return None
    values = settings(config_schema(config_type), given)
    hints = typing.get_type_hints(config_type)
    kwargs = {}
    for f in fields(config_type):
        value = values.get(camel(f.name), f.default)
        if typing.get_origin(hints[f.name]) in (tuple, list):
            value = tuple(value)
        elif hints[f.name] is int and isinstance(value, float):
            value = int(value)
        kwargs[f.name] = value
    return config_type(**kwargs)


@dataclass(frozen=True)
class Declaration:
    """One policy as declared at its rule: what the registry, the README and the pack read."""

    id: str
    lesson: int | str  # a lesson number, or "safety"
    level: EnforcementLevel
    severity: Severity
    description: str
    remediation: str
    url: str
    rule: Callable[..., Iterable[Outcome]]
    config: type | None = None
    resource_types: frozenset[str] | None = None  # None: a stack policy
    tags: tuple[str, ...] = ()

    def policy(self) -> StackValidationPolicy | ResourceValidationPolicy:
        build = stack_policy if self.resource_types is None else resource_policy
        return build(self)


DECLARED: list[Declaration] = []


def declare(policy_id: str, *, lesson: int | str, level: EnforcementLevel, severity: Severity, description: str,
            remediation: str, url: str, config: type | None = None, resource_types: Iterable[str] | None = None,
            tags: Iterable[str] = ()) -> Callable[[Callable], Callable]:
    """Declare the policy `policy_id` at its rule function (see the module docstring)."""
    def register(rule: Callable) -> Callable:
        declaration = Declaration(
            policy_id, lesson, level, severity, description, remediation, url, rule, config,
            frozenset(resource_types) if resource_types is not None else None, tuple(tags))
        DECLARED[:] = [d for d in DECLARED if d.id != policy_id] + [declaration]
        rule.declaration = declaration
        return rule
    return register

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


@dataclass(frozen=True)
class Verdict:
    """A rule's outcomes, sorted for the wrapper."""

    findings: list[Finding]
    notes: list[Note]
    skipped: NotApplicable | None

    def reason(self) -> str | None:
        """What goes through the SDK's not-applicable channel: the notes, else why nothing was judged."""
        notes = [n.message for n in self.notes if not n.until_up]
        skipped = self.skipped.reason if self.skipped is not None and not self.findings else None
        if notes:
            return "; ".join([*([skipped] if skipped else []), "not judged: " + " | ".join(notes)])
        return skipped

    def unknown(self) -> evidence.UnknownValueError | None:
        """The SDK's "can't run during preview" for the notes that wait for `up`, or None."""
        waiting = [n.message for n in self.notes if n.until_up]
        if not waiting:
            return None
        others = [n.message for n in self.notes if not n.until_up]
        error = evidence.UnknownValueError(UNKNOWN_STRING_VALUE, [])
        # The SDK prints this after "can't run policy ... during preview: ".
        error.message = "; ".join(waiting) + (f" (also not judged: {' | '.join(others)})" if others else "")
        return error


# An exception may quote the input it choked on: file text that can hold a key or a token (under the
# CLI the pack sees secrets decrypted). Its message reaches the verdict scrubbed: a small copy of
# components/config/redaction.py's `scrub` (the pack runs in its own virtualenv, without the program).
_PEM_RE = re.compile(r"-----BEGIN [A-Z0-9 ]{0,64}-----(?:.*?-----END [A-Z0-9 ]{0,64}-----|[^'\"\n]*)", re.DOTALL)
_RUN_RE = re.compile(r"[A-Za-z0-9+/=_.:~%-]{20,}")
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _random_looking(run: str) -> bool:
    """Tokens, keys, base64 and hex, not names, camelCase, paths or addresses (thresholds: redaction.py)."""
    alnum = "".join(c for c in run if c.isascii() and c.isalnum())
    if len(alnum) < 16 or len(set(alnum)) < 10 or re.fullmatch(r"[0-9a-fA-F:.]+(/\d+)?", run) and ":" in run:
        return False  # too short, too plain, or an IPv6 address
    if len(alnum) >= 32 and re.fullmatch(r"[0-9a-fA-F]+", alnum) and not alnum.isdigit() and not alnum.isalpha():
        return True
    kinds = ["d" if c.isdigit() else "u" if c.isupper() else "l" for c in alnum]
    switches = sum(a != b for a, b in zip(kinds, kinds[1:], strict=False)) / (len(kinds) - 1)
    words = len(_WORD_RE.findall(run)) / len(alnum)
    return (switches >= 0.4 and words >= 0.38) or (len(alnum) >= 30 and switches >= 0.3 and words >= 0.3)


def scrubbed(text: str) -> str:
    """`text` with PEM blocks and random-looking strings replaced by their length, one line."""
    text = _PEM_RE.sub(lambda m: f"[redacted: {len(m.group(0))} characters]", text)
    text = _RUN_RE.sub(lambda m: f"[redacted: {len(m.group(0))} characters]" if _random_looking(m.group(0))
                       else m.group(0), text)
    return " ".join(text.split())


def judge(rule: Callable[..., Iterable[Outcome]], subject: Any, config: Mapping[str, Any],
          policy_name: str) -> Verdict:
    """Run a rule; an exception becomes one finding that says the rule could not judge."""
    findings: list[Finding] = []
    notes: list[Note] = []
    skipped: NotApplicable | None = None
    try:
        for outcome in rule(subject, config):
            if isinstance(outcome, Finding):
                findings.append(outcome)
            elif isinstance(outcome, Note):
                notes.append(outcome)
            elif isinstance(outcome, NotApplicable) and skipped is None:
                skipped = outcome
    except evidence.UnknownValueError:
        raise  # the SDK reports "can't run during preview" (advisory); at update the value is known
    except Exception as exc:  # noqa: BLE001 - a policy must answer, never crash the analyzer
        findings.append(Finding(f"{policy_name} could not judge this input ({type(exc).__name__}: "
                                f"{scrubbed(str(exc))}); fix the input or report the pack bug"))
    return Verdict(findings, notes, skipped)


def run_rule(rule: Callable[..., Iterable[Outcome]], subject: Any, config: Mapping[str, Any],
             policy_name: str) -> tuple[list[Finding], NotApplicable | None]:
    """(findings, not-applicable) as the wrapper reports them; notes waiting for `up` raise the SDK's error."""
    verdict = judge(rule, subject, config, policy_name)
    if (error := verdict.unknown()) is not None:
        raise error
    reason = verdict.reason()
    return verdict.findings, (NotApplicable(reason) if reason is not None else None)


def _report(verdict: Verdict, args: Any, report_violation: Callable[[str, str | None], None],
            with_urn: bool) -> None:
    for finding in verdict.findings:
        report_violation(finding.message, finding.urn if with_urn else None)
    if (error := verdict.unknown()) is not None:
        raise error  # after the findings, which the engine already holds
    if (reason := verdict.reason()) is not None:
        args.not_applicable(reason)


def _schema(declaration: Declaration) -> PolicyConfigSchema | None:
    properties = config_schema(declaration.config)
    return PolicyConfigSchema(properties=properties) if properties else None


def stack_policy(declaration: Declaration) -> StackValidationPolicy:
    name = declaration.id

    def validate(args, report_violation) -> None:
        try:
            configured = typed_config(declaration.config, args.get_config())
            view = stackview.view_of(list(args.resources))
        except Exception as exc:  # noqa: BLE001
            report_violation(f"{name} could not read the stack ({type(exc).__name__}: {scrubbed(str(exc))})", None)
            return
        _report(judge(declaration.rule, view, configured, name), args, report_violation, with_urn=True)

    return StackValidationPolicy(
        name=name, description=declaration.description, validate=validate, enforcement_level=declaration.level,
        config_schema=_schema(declaration), severity=declaration.severity,
        remediation_steps=declaration.remediation, url=declaration.url, tags=list(declaration.tags) or None,
    )


def resource_policy(declaration: Declaration) -> ResourceValidationPolicy:
    name = declaration.id
    types = declaration.resource_types or frozenset()

    def validate(args, report_violation) -> None:
        if args.resource_type not in types:
            return
        try:
            configured = typed_config(declaration.config, args.get_config())
            raw = evidence.raw_resource(args)
        except Exception as exc:  # noqa: BLE001
            report_violation(f"{name} could not read {args.urn} ({type(exc).__name__}: {scrubbed(str(exc))})",
                             None)
            return
        _report(judge(declaration.rule, raw, configured, name), args, report_violation, with_urn=False)

    return ResourceValidationPolicy(
        name=name, description=declaration.description, validate=validate, enforcement_level=declaration.level,
        config_schema=_schema(declaration), severity=declaration.severity,
        remediation_steps=declaration.remediation, url=declaration.url, tags=list(declaration.tags) or None,
    )
