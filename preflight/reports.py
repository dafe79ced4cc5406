"""Policy results as SARIF 2.1.0 (GitHub code scanning), JUnit XML (CI test reports) and the `Policies:`
block the Pulumi CLI prints (policies_block), so a log reads the same with or without the CLI.

A preview against state adds its change counts (the CLI's: steps.op_counts) and the mass-change guard's
result: in each SARIF run's properties and in each JUnit testsuite's properties."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Registration
from .steps import Step, op_counts
from .verdicts import PolicyReport, Remediation, Violation

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
_SARIF_LEVELS = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}
# GitHub ranks code scanning alerts by a CVSS-like "security-severity" score.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}
_URL = re.compile(r"https?://[^\s)>\]\"']+")
# Characters XML 1.0 cannot carry, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def stack_file(stack: str) -> str:
    """The file a stack's configuration lives in: where a violation can be pinned in a repository."""
    return f"Pulumi.{stack}.yaml"


def _help_uri(policy: dict) -> str:
    """The policy's url, or else the first link in its remediation steps or description."""
    if policy.get("url"):
        return policy["url"]
    for text in (policy.get("remediationSteps") or "", policy.get("description") or ""):
        found = _URL.search(text)
        if found:
            return found.group(0).rstrip(".,;")
    return ""


def _sarif_rule(policy: dict, pack_name: str) -> dict:
    level = policy.get("enforcementLevel", "advisory")
    rule = {
        "id": policy["name"],
        "shortDescription": {"text": policy.get("description") or policy["name"]},
        "defaultConfiguration": {"level": _SARIF_LEVELS.get(level, "warning"), "enabled": level != "disabled"},
        "properties": {"tags": ["pulumi-policy", pack_name], "enforcementLevel": level},
    }
    if policy.get("remediationSteps"):
        rule["help"] = {"text": policy["remediationSteps"]}
    help_uri = _help_uri(policy)
    if help_uri:
        rule["helpUri"] = help_uri
    severity = policy.get("severity") or ""
    if severity:
        rule["properties"]["severity"] = severity
        rule["properties"]["security-severity"] = _SECURITY_SEVERITY[severity]
    return rule


def _urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if "::" in urn else urn


def _fingerprint(violation: Violation) -> str:
    key = "\n".join([violation.policy_pack, violation.policy, violation.urn, violation.message])
    return hashlib.sha256(key.encode()).hexdigest()


def _sarif_result(violation: Violation, rule_index: dict[str, int], stack: str) -> dict:
    location: dict = {
        # Code scanning shows results only with a physical location; the stack file is the closest.
        "physicalLocation": {"artifactLocation": {"uri": stack_file(stack)}, "region": {"startLine": 1}},
    }
    if violation.urn:
        location["logicalLocations"] = [
            {"name": _urn_name(violation.urn), "fullyQualifiedName": violation.urn, "kind": "resource"}
        ]
    result = {
        "ruleId": violation.policy,
        "level": _SARIF_LEVELS[violation.enforcement_level],
        "message": {"text": violation.message or violation.description or violation.policy},
        "locations": [location],
        # Every result sits on the same line; without a fingerprint code scanning would merge them.
        "partialFingerprints": {"pulumiPolicyViolation/v1": _fingerprint(violation)},
        "properties": {"enforcementLevel": violation.enforcement_level, "urn": violation.urn},
    }
    if violation.policy in rule_index:
        result["ruleIndex"] = rule_index[violation.policy]
    if violation.severity:
        result["properties"]["severity"] = violation.severity
    return result


def _packs_with_violations(report: PolicyReport) -> list[dict]:
    """The report's packs, plus a bare entry for a pack named only by violations."""
    packs = list(report.packs)
    known = {pack["name"] for pack in packs}
    for violation in report.violations:
        if violation.policy_pack not in known:
            known.add(violation.policy_pack)
            packs.append({"name": violation.policy_pack, "version": violation.policy_pack_version, "policies": []})
    return packs


def _all_steps(steps: Iterable[Step] | Mapping[str, Step] | None, deletions: Iterable[Step]) -> list[Step] | None:
    if steps is None:
        return None
    listed = list(steps.values()) if isinstance(steps, Mapping) else list(steps)
    seen = {step.urn for step in listed if step.op == "delete"}
    return listed + [step for step in deletions if step.urn not in seen]


def change_properties(steps: Iterable[Step] | Mapping[str, Step] | None, deletions: Iterable[Step] = (),
                      guard: Any = None) -> dict[str, Any]:
    """{"changes": op counts, "massChange": the guard's result}, each only when there is one."""
    properties: dict[str, Any] = {}
    listed = _all_steps(steps, deletions)
    if listed is not None:
        properties["changes"] = op_counts(listed)
    if guard is not None:
        properties["massChange"] = guard.document()
    return properties


def sarif_document(report: PolicyReport, *, stack: str, steps: Iterable[Step] | Mapping[str, Step] | None = None,
                   deletions: Iterable[Step] = (), guard: Any = None) -> dict:
    """A SARIF 2.1.0 log: one run per policy pack, one rule per policy, one result per violation."""
    changes = change_properties(steps, deletions, guard)
    runs = []
    for pack in _packs_with_violations(report):
        rules = [_sarif_rule(policy, pack["name"]) for policy in pack["policies"]]
        rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
        driver = {"name": pack["name"], "rules": rules}
        if pack.get("version"):
            driver["version"] = pack["version"]
        results = [
            _sarif_result(violation, rule_index, stack)
            for violation in report.violations
            if violation.policy_pack == pack["name"] and violation.enforcement_level in _SARIF_LEVELS
        ]
        runs.append({"tool": {"driver": driver}, "results": results, "properties": {"stack": stack, **changes}})
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside `path`, then rename: CI never uploads half a report, nor a previous run's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_sarif(report: PolicyReport, path: Path, *, stack: str, **changes: Any) -> None:
    """`changes`: sarif_document's steps, deletions and guard."""
    document = sarif_document(report, stack=stack, **changes)
    write_atomically(Path(path), (json.dumps(document, indent=2) + "\n").encode())


# ---------------------------------------------------------------------------------------------------
# JUnit


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def _specific_message(violation: Violation) -> str:
    """The pack's own words: the SDK prefixes every message with the policy description."""
    message = violation.message
    if violation.description and message.startswith(violation.description):
        message = message[len(violation.description) :].lstrip("\n") or message
    return message


def _policies_of(pack: dict, violations: Iterable[Violation]) -> list[dict]:
    """The pack's policies, plus any policy only its violations name."""
    policies = list(pack["policies"])
    names = {policy["name"] for policy in policies}
    for violation in violations:
        if violation.policy not in names:
            names.add(violation.policy)
            policies.append({"name": violation.policy, "enforcementLevel": violation.enforcement_level})
    return policies


def _junit_change_properties(changes: dict[str, Any]) -> list[tuple[str, Any]]:
    """Flat name/value pairs: `create`, `update`, ... and `massChange` (its status), `massChangePercent`."""
    pairs: list[tuple[str, Any]] = list(changes.get("changes", {}).items())
    guard = changes.get("massChange")
    if guard is not None:
        pairs += [("massChange", guard["status"]), ("massChangePercent", guard["percent"]),
                  ("massChangeThreshold", guard["threshold"])]
    return pairs


def junit_tree(report: PolicyReport, *, stack: str, registrations: list[Registration],
               steps: Iterable[Step] | Mapping[str, Step] | None = None, deletions: Iterable[Step] = (),
               guard: Any = None) -> ET.ElementTree:
    """One testsuite per pack, one testcase per policy; a mandatory violation is a failure, an advisory one
    is written to the testcase's system-out, a disabled policy is skipped."""
    extra = _junit_change_properties(change_properties(steps, deletions, guard))
    type_by_urn = {registration.urn: registration.type for registration in registrations}
    root = ET.Element("testsuites", name=f"pulumi policy preflight ({stack})")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for pack in _packs_with_violations(report):
        violations = [violation for violation in report.violations if violation.policy_pack == pack["name"]]
        suite = ET.SubElement(root, "testsuite", name=pack["name"])
        properties = ET.SubElement(suite, "properties")
        base = [("stack", stack), ("version", pack.get("version", "")), ("resources", len(registrations))]
        for name, value in base + extra:
            ET.SubElement(properties, "property", name=name, value=_xml_text(str(value)))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for policy in _policies_of(pack, violations):
            counts["tests"] += 1
            mine = [violation for violation in violations if violation.policy == policy["name"]]
            case = ET.SubElement(suite, "testcase", classname=pack["name"], name=policy["name"])
            mandatory = [violation for violation in mine if violation.enforcement_level in ("mandatory", "remediate")]
            advisory = [violation for violation in mine if violation.enforcement_level == "advisory"]
            for violation in mandatory:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=_xml_text(f"{_urn_name(violation.urn)}: {_specific_message(violation)}"),
                    type="mandatory",
                )
                failure.text = _xml_text(
                    f"urn: {violation.urn}\ntype: {type_by_urn.get(violation.urn, '?')}\n"
                    f"severity: {violation.severity or '-'}\n\n{violation.message}"
                )
            if mandatory:
                counts["failures"] += 1
            elif policy.get("enforcementLevel") == "disabled" and not mine:
                ET.SubElement(case, "skipped", message="policy disabled")
                counts["skipped"] += 1
            if advisory:
                out = ET.SubElement(case, "system-out")
                out.text = _xml_text(
                    "\n".join(f"advisory: {violation.urn}: {_specific_message(violation)}" for violation in advisory)
                )
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: PolicyReport, path: Path, *, stack: str, registrations: list[Registration],
                **changes: Any) -> None:
    """`changes`: junit_tree's steps, deletions and guard."""
    buffer = io.BytesIO()
    tree = junit_tree(report, stack=stack, registrations=registrations, **changes)
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    write_atomically(Path(path), buffer.getvalue())


# ---------------------------------------------------------------------------------------------------
# The CLI's display


# pulumi/pulumi pkg/backend/display/progress.go, printPolicies: the mark before each pack's heading.
PACK_PASSED, PACK_WARNED, PACK_FAILED = "\u2705", "\u26a0\ufe0f", "\u274c"
_SUB_ITEM_INDENT = " " * 8
# progress.go, enforcementRank and severityRank: the order of a pack's violations (unknowns last).
_ENFORCEMENT_RANK = {"remediate": 0, "mandatory": 1, "advisory": 2, "disabled": 3}
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "": 4}


def display_type_name(type_token: str) -> str:
    """`cloudflare:index/dnsRecord:DnsRecord` -> `cloudflare:index:DnsRecord` (sdk/go/common/tokens/tokens.go,
    Type.DisplayName): the module loses its last segment when that is the type's name, camelCased."""
    components = type_token.split(":")
    if len(components) != 3 or not components[2]:
        return type_token
    package, module, name = components
    if "/" not in module:
        return type_token
    module_path, file = module.rsplit("/", 1)
    if file != name[:1].lower() + name[1:]:
        return type_token
    return f"{package}:{module_path}:{name}"


def _valid_urn(urn: str) -> bool:
    """sdk/go/common/resource/urn/urn.go, URN.IsValid."""
    return urn.startswith("urn:pulumi:") and urn.count("::") >= 3


def _resource_clause(urn: str) -> str:
    """`  (type: name)` of a violation's resource, "" without a URN (pkg/backend/display/diff.go,
    policyResourceClause). URN.Type is the last `$` segment of the qualified type; URN.Name all after the
    fourth `::` (urn.go)."""
    if not _valid_urn(urn):
        return ""
    _, _, qualified_type, name = urn.removeprefix("urn:pulumi:").split("::", 3)
    return f"  ({display_type_name(qualified_type.rsplit('$', 1)[-1])}: {name})"


def abbreviate_pack_path(path: str) -> str:
    """A local pack's path as the CLI shows it (pkg/engine/update.go, abbreviateFilePath): cleaned, and beyond
    75 characters the first two and last two parts around `...`."""
    path = os.path.normpath(path)
    if len(path) > 75:
        parts = path.split("/")
        if len(parts) > 4:
            path = "/".join(parts[:2] + ["..."] + parts[-2:])
    return path


def _violation_lines(violation: Violation, placeholders: tuple[str, ...]) -> list[str]:
    """pkg/backend/display/diff.go, renderDiffPolicyViolationEvent with printPolicies' prefixes: the heading
    `- [level] [severity: s]  policy  (type: name)`, then the message, every line indented under it. The engine
    sends the message with a newline added (pkg/engine/events.go, policyViolationEvent); one is trimmed."""
    from .plan import mask

    severity = f" [severity: {violation.severity}]" if violation.severity else ""
    heading = (f"{_SUB_ITEM_INDENT}- [{violation.enforcement_level}]{severity}  {violation.policy}"
               f"{_resource_clause(violation.urn)}")
    message = mask(violation.message, placeholders)
    return [heading] + [f"{_SUB_ITEM_INDENT}  {line}" for line in message.split("\n")]


def _violation_order(violation: Violation) -> tuple[int, int, str, str]:
    return (_ENFORCEMENT_RANK.get(violation.enforcement_level, 99), _SEVERITY_RANK.get(violation.severity, 99),
            violation.policy, violation.urn)


@dataclass
class _PackSummary:
    """progress.go, policyPackSummary: one pack's heading and what happened under it."""

    paths: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    remediations: list[Remediation] = field(default_factory=list)


def policies_block(report: PolicyReport, *, local_paths: Mapping[str, str] | None = None,
                   placeholders: Iterable[str] = ()) -> str:
    """The `Policies:` block `pulumi preview --policy-pack` prints, without colours (pkg/backend/display/
    progress.go, printPolicies): per pack `name@vVERSION`, sorted, marked passed, warned (advisory only) or
    failed (a mandatory violation), with `(local: path)` for a pack run from a directory; under it one
    `- [remediate]  policy  (N resources)` line per remediating policy, by name (the CLI's default, without
    --show-policy-remediations), then each violation by level (remediate, mandatory, advisory), severity,
    policy and URN. `local_paths` maps a pack's directory (its report `path`) to the path as the user gave it.

    The CLI also prints this block when no violation occurred; it is printed only when a pack ran."""
    local_paths = local_paths or {}
    placeholders = tuple(placeholders)
    packs: dict[str, _PackSummary] = {}
    version_of: dict[str, str] = {}
    for pack in report.packs:
        version_of.setdefault(pack["name"], pack.get("version", ""))
        summary = packs.setdefault(f"{pack['name']}@v{pack.get('version', '')}", _PackSummary())
        if pack.get("path"):
            summary.paths.append(abbreviate_pack_path(local_paths.get(pack["path"], pack["path"])))
    # As the CLI keys events by the pack name and version they carry, a pack known only by them gets its own.
    for violation in report.violations:
        packs.setdefault(f"{violation.policy_pack}@v{violation.policy_pack_version}",
                         _PackSummary()).violations.append(violation)
    for remediation in report.remediations:
        packs.setdefault(f"{remediation.policy_pack}@v{version_of.get(remediation.policy_pack, '')}",
                         _PackSummary()).remediations.append(remediation)

    lines = ["Policies:"]
    for key in sorted(packs):
        summary = packs[key]
        levels = {violation.enforcement_level for violation in summary.violations}
        mark = PACK_FAILED if "mandatory" in levels else PACK_WARNED if levels else PACK_PASSED
        local = f" (local: {'; '.join(sorted(summary.paths))})" if summary.paths else ""
        lines.append(f"    {mark} {key}{local}")
        counts = Counter(remediation.policy for remediation in summary.remediations)
        for policy, count in sorted(counts.items()):
            resources = "resource" if count == 1 else "resources"
            lines.append(f"{_SUB_ITEM_INDENT}- [remediate]  {policy}  ({count} {resources})")
        for violation in sorted(summary.violations, key=_violation_order):
            lines.extend(_violation_lines(violation, placeholders))
    return "\n".join(lines) + "\n\n"
