"""Render a preview for people (a plan tree) and for machines (a JSON document).

Readable values: an unknown (computed at deployment) is the string "[unknown]", a secret is
"[secret]", an asset is {"text"|"path"|"uri": ...}, an archive {"path"|"uri"|"assets": ...}, a
resource reference its URN, whole numbers are ints. Every secret config placeholder is masked as
"[secret]" wherever it appears, even in values the program read without `get_secret`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from preflight.model import ARCHIVE_SIG, ASSET_SIG, RESOURCE_REF_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration

OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN_TEXT = "[unknown]"
SECRET_TEXT = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
# More leaf siblings of one type than this under one parent are summarised in the tree.
SUMMARY_THRESHOLD = 20
SUMMARY_SHOWN = 5


def mask(text: str, placeholders: Iterable[str]) -> str:
    """Replace every secret placeholder in `text` by "[secret]"."""
    for placeholder in placeholders:
        if placeholder in text:
            text = text.replace(placeholder, SECRET_TEXT)
    return text


def readable(value: Any, placeholders: Iterable[str] = ()) -> Any:
    """A wire-form value made readable (see the module docstring)."""
    placeholders = tuple(placeholders)
    return _readable(value, placeholders)


def _readable(value: Any, placeholders: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return UNKNOWN_TEXT if value == UNKNOWN else mask(value, placeholders)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_readable(item, placeholders) for item in value]
    if not isinstance(value, dict):
        return value
    signature = value.get(SIG_KEY)
    if signature == SECRET_SIG:
        return SECRET_TEXT
    if signature == ASSET_SIG:
        return {key: _readable(value[key], placeholders) for key in ("text", "path", "uri") if key in value}
    if signature == ARCHIVE_SIG:
        return {key: _readable(value[key], placeholders) for key in ("path", "uri", "assets") if key in value}
    if signature == RESOURCE_REF_SIG:
        return value.get("urn", UNKNOWN_TEXT)
    if signature == OUTPUT_VALUE_SIG:
        if value.get("secret"):
            return SECRET_TEXT
        return _readable(value["value"], placeholders) if "value" in value else UNKNOWN_TEXT
    return {key: _readable(item, placeholders) for key, item in value.items()}


def counts_by_type(registrations: list[Registration]) -> Counter[str]:
    return Counter(r.type for r in registrations)


def _children_of(registrations: list[Registration]) -> tuple[list[Registration], dict[str, list[Registration]]]:
    known = {r.urn for r in registrations}
    roots: list[Registration] = []
    children: dict[str, list[Registration]] = {}
    for registration in registrations:
        if registration.parent and registration.parent in known:
            children.setdefault(registration.parent, []).append(registration)
        else:
            roots.append(registration)
    # The Stack heads the tree, as in `pulumi preview`; default providers follow it.
    roots.sort(key=lambda r: r.type != STACK_TYPE)
    return roots, children


def _line(registration: Registration, depth: int) -> str:
    marker = " [protect]" if registration.protect else ""
    return f"{'    ' * depth}+ {registration.type} {registration.name}{marker}"


def _tree_lines(siblings: list[Registration], children: dict[str, list[Registration]], depth: int) -> list[str]:
    leaves_by_type: dict[str, list[Registration]] = {}
    for sibling in siblings:
        if sibling.urn not in children:
            leaves_by_type.setdefault(sibling.type, []).append(sibling)
    summarised = {t for t, leaves in leaves_by_type.items() if len(leaves) > SUMMARY_THRESHOLD}
    position_of = {id(leaf): index for t in summarised for index, leaf in enumerate(leaves_by_type[t])}
    lines: list[str] = []
    for sibling in siblings:
        if sibling.type in summarised and sibling.urn not in children:
            leaves = leaves_by_type[sibling.type]
            position = position_of[id(sibling)]
            if position < SUMMARY_SHOWN:
                lines.append(_line(sibling, depth))
            if position == SUMMARY_SHOWN:
                hidden = len(leaves) - SUMMARY_SHOWN
                lines.append(f"{'    ' * depth}+ {sibling.type} ... and {hidden} more of this type")
            continue
        lines.append(_line(sibling, depth))
        lines.extend(_tree_lines(children.get(sibling.urn, []), children, depth + 1))
    return lines


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_plan(registrations: list[Registration], *, project: str, stack: str, placeholders: Iterable[str] = (),
                host_files: Any = None, messages: Iterable[Any] = (), reads: Iterable[str] = (),
                warnings: Iterable[str] = ()) -> str:
    """The plan as text: resource tree, diagnostics, stack outputs, counts, host files."""
    placeholders = tuple(placeholders)
    lines = [f"Previewing update of stack '{stack}' (project '{project}'), offline under Pulumi's mocks:", ""]
    roots, children = _children_of(registrations)
    lines.extend("  " + line for line in _tree_lines(roots, children, 0))

    diagnostics = [(m.severity, m.message) for m in messages if m.severity in ("warning", "error", "info")]
    diagnostics = [("warning", w) for w in warnings] + diagnostics
    if diagnostics:
        lines += ["", "Diagnostics:"]
        for severity, message in diagnostics:
            lines.append(f"    {severity}: {_short(mask(message, placeholders), 400)}")

    stack_outputs = next((r.outputs for r in registrations if r.type == STACK_TYPE), {})
    if stack_outputs:
        lines += ["", "Outputs:"]
        for key, value in sorted(readable(stack_outputs, placeholders).items()):
            lines.append(f"    {key}: {_short(value)}")

    counts = counts_by_type(registrations)
    lines += ["", "Resources by type:"]
    width = len(str(max(counts.values(), default=0)))
    for resource_type, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"    {count:>{width}} {resource_type}")
    reads = list(reads)
    lines += ["", "Resources:", f"    + {len(registrations)} to create"]
    if reads:
        lines.append(f"    {len(reads)} read with .get() (not registered, not sent to policy packs)")

    if host_files is not None and (host_files.written or host_files.notes):
        lines += ["", f"Host files ({len(host_files.written)} written under {host_files.hosts_dir}):"]
        for written in host_files.written:
            lines.append(f"    {written.host}:{written.remote_path} ({written.size} bytes)")
        for note in host_files.notes:
            lines.append(f"    skipped {note.urn}: {mask(note.reason, placeholders)}")
    return "\n".join(lines) + "\n"


def render_violations(report: Any, placeholders: Iterable[str] = ()) -> str:
    """Policy results grouped by policy: level, count, then each URN and message."""
    placeholders = tuple(placeholders)
    groups: dict[tuple[str, str], list[Any]] = {}
    for violation in report.violations:
        groups.setdefault((violation.policy_pack, violation.policy), []).append(violation)
    lines = [""]
    if not groups:
        lines.append("Policies: no violations.")
    else:
        lines.append("Policy violations:")
        for (pack, policy), violations in sorted(groups.items(), key=lambda item: _group_order(item[1], item[0])):
            level = violations[0].enforcement_level
            lines.append(f"    [{level}] {policy} ({pack}): {len(violations)} violation(s)")
            for violation in violations:
                lines.append(f"        {violation.urn or '(stack)'}")
                for text in mask(str(violation.message), placeholders).splitlines() or [""]:
                    if text.strip():
                        lines.append(f"            {text.rstrip()}")
    for remediation in getattr(report, "remediations", []):
        lines.append(f"    remediated by {remediation.policy} ({remediation.policy_pack}): {remediation.urn}")
    levels = Counter(v.enforcement_level for v in report.violations)
    summary = ", ".join(f"{count} {level}" for level, count in sorted(levels.items())) or "none"
    lines.append(f"Policy violations by level: {summary}; "
                 f"{len(report.not_applicable)} policy check(s) not applicable.")
    return "\n".join(lines) + "\n"


def _group_order(violations: list[Any], key: tuple[str, str]) -> tuple[int, str, str]:
    return (0 if violations[0].enforcement_level == "mandatory" else 1, *key)


def resource_document(registration: Registration, placeholders: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "urn": registration.urn,
        "type": registration.type,
        "name": registration.name,
        "custom": registration.custom,
        "parent": registration.parent,
        "dependencies": list(registration.dependencies),
        "protect": registration.protect,
        "provider": registration.provider,
        "inputs": readable(registration.inputs, placeholders),
    }


def preview_document(registrations: list[Registration], *, project: str, stack: str,
                     placeholders: Iterable[str] = (), host_files: Any = None, report: Any = None,
                     error: str | None = None) -> dict[str, Any]:
    """The `--json` document (see the module docstring for how values are written)."""
    placeholders = tuple(placeholders)
    stack_outputs = next((r.outputs for r in registrations if r.type == STACK_TYPE), {})
    document: dict[str, Any] = {
        "stack": stack,
        "project": project,
        "resources": [resource_document(r, placeholders) for r in registrations],
        "outputs": readable(stack_outputs, placeholders),
        "summary": {"create": len(registrations), "byType": dict(sorted(counts_by_type(registrations).items()))},
    }
    if host_files is not None:
        document["hostFiles"] = [
            {"host": f.host, "remotePath": f.remote_path, "file": str(f.local_path), "bytes": f.size, "urn": f.urn}
            for f in host_files.written
        ]
        document["hostFileNotes"] = [{"urn": n.urn, "reason": mask(n.reason, placeholders)}
                                     for n in host_files.notes]
    if report is not None:
        document["violations"] = [
            {
                "policyPack": v.policy_pack,
                "policy": v.policy,
                "enforcementLevel": v.enforcement_level,
                "severity": v.severity,
                "urn": v.urn,
                "message": mask(str(v.message), placeholders),
                "description": mask(str(getattr(v, "description", "") or ""), placeholders),
            }
            for v in report.violations
        ]
        document["remediations"] = [
            {"policyPack": r.policy_pack, "policy": r.policy, "urn": r.urn}
            for r in getattr(report, "remediations", [])
        ]
        document["notApplicable"] = [
            {"policyPack": n.policy_pack, "policy": n.policy, "urn": n.urn, "reason": mask(str(n.reason), placeholders)}
            for n in report.not_applicable
        ]
    if error is not None:
        document["error"] = mask(error, placeholders)
    return document
