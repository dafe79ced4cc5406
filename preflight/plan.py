"""Render a preview for people (a plan tree) and for machines (a JSON document).

Readable values: an unknown (computed at deployment) is the string "[unknown]", a secret is
"[secret]", an asset is {"text"|"path"|"uri": ...}, an archive {"path"|"uri"|"assets": ...}, a
resource reference its URN, whole numbers are ints. Every secret config placeholder is masked as
"[secret]" wherever it appears, even in values the program read without `get_secret`.

Against a deployed stack (`steps`, see preflight/steps.py) each resource carries the CLI's marker (`+`
create, `~` update, `+-` replace, `-` delete, blank for same) with its changed property paths below it,
`old => new`, and the counts are the CLI's (pkg/backend/display/diff.go renderSummaryEvent: ops in the
engine's StepOps order, "N changes" once two kinds of change are counted, default providers not counted).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from preflight.model import (
    ARCHIVE_SIG,
    ASSET_SIG,
    OUTPUT_VALUE_SIG,
    RESOURCE_REF_SIG,
    SECRET_SIG,
    SECRET_TEXT,
    SIG_KEY,
    STACK_TYPE,
    UNKNOWN,
    Registration,
    provider_urn,
)
from preflight.propertypath import parse_property_path
from preflight.steps import Step, not_compared, op_counts, urn_name

UNKNOWN_TEXT = "[unknown]"
# More leaf siblings of one type than this under one parent are summarised in the tree.
SUMMARY_THRESHOLD = 20
SUMMARY_SHOWN = 5
# The CLI's markers (pkg/resource/deploy/step.go RawPrefix) and its summary order (StepOps).
PREFIX = {"same": "  ", "create": "+ ", "update": "~ ", "delete": "- ", "replace": "+-"}
SUMMARY_ORDER = ("create", "update", "delete", "replace")
# Ops listed one by one in the tree; many same or created siblings of one type are summarised.
_ALWAYS_SHOWN = ("update", "replace", "delete")


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


@dataclass(frozen=True)
class _Node:
    """One line of the tree: a registration, or a resource of the state being deleted."""

    urn: str
    type: str
    name: str
    parent: str | None
    protect: bool
    op: str  # "create" without steps
    step: Step | None
    registration: Registration | None


def _nodes(registrations: list[Registration], steps: Mapping[str, Step] | None,
           deleted: list[Step]) -> list[_Node]:
    nodes = []
    for r in registrations:
        step = steps.get(r.urn) if steps is not None else None
        nodes.append(_Node(r.urn, r.type, r.name, r.parent, r.protect, step.op if step else "create", step, r))
    for step in deleted:
        old = step.old
        nodes.append(_Node(step.urn, step.type, step.name, old.parent if old is not None else None, step.protect,
                           "delete", step, None))
    return nodes


def _children_of(nodes: list[_Node]) -> tuple[list[_Node], dict[str, list[_Node]]]:
    known = {n.urn for n in nodes}
    roots: list[_Node] = []
    children: dict[str, list[_Node]] = {}
    for node in nodes:
        if node.parent and node.parent in known:
            children.setdefault(node.parent, []).append(node)
        else:
            roots.append(node)
    # The Stack heads the tree, as in `pulumi preview`; default providers follow it.
    roots.sort(key=lambda n: n.type != STACK_TYPE)
    return roots, children


class _Tree:
    def __init__(self, children: dict[str, list[_Node]], placeholders: tuple[str, ...], diff: bool):
        self.children = children
        self.placeholders = placeholders
        self.diff = diff  # with steps: changed keys under changed resources, only same/create summarised

    def line(self, node: _Node, depth: int) -> str:
        marker = " [protect]" if node.protect else ""
        return f"{'    ' * depth}{PREFIX[node.op]}{node.type} {node.name}{marker}"

    def group(self, node: _Node) -> tuple[str, str] | None:
        """The summary group of a leaf, None if it is always listed."""
        if node.urn in self.children or (self.diff and node.op in _ALWAYS_SHOWN):
            return None
        return node.type, node.op

    def lines(self, siblings: list[_Node], depth: int) -> list[str]:
        groups: dict[tuple[str, str], list[_Node]] = {}
        for sibling in siblings:
            group = self.group(sibling)
            if group is not None:
                groups.setdefault(group, []).append(sibling)
        summarised = {g for g, leaves in groups.items() if len(leaves) > SUMMARY_THRESHOLD}
        position_of = {id(leaf): index for g in summarised for index, leaf in enumerate(groups[g])}
        lines: list[str] = []
        for sibling in siblings:
            group = self.group(sibling)
            if group in summarised:
                position = position_of[id(sibling)]
                if position < SUMMARY_SHOWN:
                    lines.append(self.line(sibling, depth))
                if position == SUMMARY_SHOWN:
                    hidden = len(groups[group]) - SUMMARY_SHOWN
                    lines.append(f"{'    ' * depth}{PREFIX[sibling.op]}{sibling.type} ... and {hidden} more of "
                                 "this type")
                continue
            lines.append(self.line(sibling, depth))
            if self.diff and sibling.step is not None and sibling.op in ("update", "replace"):
                lines.extend(self.key_lines(sibling, depth + 1))
            lines.extend(self.lines(self.children.get(sibling.urn, []), depth + 1))
        return lines

    def key_lines(self, node: _Node, depth: int) -> list[str]:
        step, registration = node.step, node.registration
        assert step is not None and registration is not None
        old_inputs = readable(step.old.inputs, self.placeholders) if step.old is not None else {}
        new_inputs = readable(registration.inputs, self.placeholders)
        indent = "    " * depth
        lines = []
        for key in step.keys:
            forced = key in step.replace_keys
            if key == "provider" and forced:
                old = step.old.provider if step.old is not None else None
                lines.append(f"{indent}+-provider: {_provider_text(old)} => {_provider_text(registration.provider)}")
                continue
            old_found, old = _at(old_inputs, key)
            new_found, new = _at(new_inputs, key)
            if not old_found:
                lines.append(f"{indent}{'+-' if forced else '+ '}{key}: {_value_text(new)}")
            elif not new_found:
                lines.append(f"{indent}{'+-' if forced else '- '}{key}: {_value_text(old)}")
            else:
                lines.append(f"{indent}{'+-' if forced else '~ '}{key}: {_change_text(old, new)}")
        return lines


def _provider_text(reference: str | None) -> str:
    return provider_urn(reference) or "(none)"


def _at(value: Any, key: str) -> tuple[bool, Any]:
    """The readable value at a property path, (False, None) where there is none."""
    try:
        path = parse_property_path(key)
    except ValueError:
        return False, None
    for element in path:
        in_list = isinstance(element, int) and isinstance(value, list) and 0 <= element < len(value)
        if not (in_list or (isinstance(element, str) and isinstance(value, dict) and element in value)):
            return False, None
        value = value[element]
        if value is None:
            return False, None
    return True, value


def _value_text(value: Any, limit: int = 80) -> str:
    if isinstance(value, dict) and set(value) == {"text"}:
        value = value["text"]  # a text asset: its text
    if isinstance(value, str) and "\n" in value.strip("\n"):
        return f"(text, {len(value.splitlines())} lines)"
    return _short(json.dumps(value, sort_keys=True, ensure_ascii=False), limit)


def _change_text(old: Any, new: Any) -> str:
    """`old => new`; for two texts of several lines, the first line that differs."""
    if isinstance(old, dict) and set(old) == {"text"}:
        old = old["text"]
    if isinstance(new, dict) and set(new) == {"text"}:
        new = new["text"]
    if isinstance(old, str) and isinstance(new, str) and ("\n" in old.strip("\n") or "\n" in new.strip("\n")):
        old_lines, new_lines = old.splitlines(), new.splitlines()
        index = next((i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b),
                     min(len(old_lines), len(new_lines)))
        before = old_lines[index] if index < len(old_lines) else ""
        after = new_lines[index] if index < len(new_lines) else ""
        return (f"(text, {len(old_lines)} => {len(new_lines)} lines) line {index + 1}: "
                f"{_value_text(before, 60)} => {_value_text(after, 60)}")
    return f"{_value_text(old)} => {_value_text(new)}"


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def split_steps(registrations: list[Registration], steps: Iterable[Step] | Mapping[str, Step] | None,
                deletions: Iterable[Step] = ()) -> tuple[dict[str, Step] | None, list[Step]]:
    """(step of each registration by URN, the deletions): `steps` as a mapping urn -> Step or a list
    (the registrations' steps, deletions possibly among them)."""
    if steps is None:
        return None, list(deletions)
    listed = list(steps.values()) if isinstance(steps, Mapping) else list(steps)
    registered = {r.urn for r in registrations}
    by_urn = {step.urn: step for step in listed if step.urn in registered and step.op != "delete"}
    deleted = [step for step in listed if step.op == "delete"]
    seen = {step.urn for step in deleted}
    deleted += [step for step in deletions if step.urn not in seen]
    return by_urn, deleted


def summary_lines(steps: list[Step]) -> list[str]:
    """The CLI's `Resources:` block for a preview: one line per kind of change, then `N changes. M unchanged`."""
    counts = op_counts(steps)
    lines = ["Resources:"]
    kinds = [op for op in SUMMARY_ORDER if counts[op]]
    for op in kinds:
        lines.append(f"    {PREFIX[op]}{counts[op]} to {op}")
    pieces = []
    if len(kinds) >= 2:
        total = sum(counts[op] for op in kinds)
        pieces.append(f"{total} change{'' if total == 1 else 's'}")
    if counts["same"]:
        pieces.append(f"{counts['same']} unchanged")
    if pieces:
        lines.append("    " + ". ".join(pieces))
    return lines


def render_plan(registrations: list[Registration], *, project: str, stack: str, placeholders: Iterable[str] = (),
                host_files: Any = None, messages: Iterable[Any] = (), reads: Iterable[str] = (),
                warnings: Iterable[str] = (), steps: Iterable[Step] | Mapping[str, Step] | None = None,
                deletions: Iterable[Step] = (), guard: Any = None, errors: Iterable[str] = ()) -> str:
    """The plan as text: resource tree, diagnostics, stack outputs, counts, host files.

    With `steps` (a preview against state): ops, changed keys, deleted resources and the CLI's counts;
    `guard` is the mass-change guard's result, `errors` the engine's refusals (steps.protect_errors)."""
    placeholders = tuple(placeholders)
    by_urn, deleted = split_steps(registrations, steps, deletions)
    lines = [f"Previewing update of stack '{stack}' (project '{project}'), offline under Pulumi's mocks:", ""]
    roots, children = _children_of(_nodes(registrations, by_urn, deleted))
    lines.extend("  " + line for line in _Tree(children, placeholders, by_urn is not None).lines(roots, 0))

    diagnostics = [(m.severity, m.message) for m in messages if m.severity in ("warning", "error", "info")]
    diagnostics = [("warning", w) for w in warnings] + diagnostics
    errors = list(errors)
    if diagnostics or errors:
        lines += ["", "Diagnostics:"]
        for severity, message in diagnostics:
            lines.append(f"    {severity}: {_short(mask(message, placeholders), 400)}")
        for error in errors:
            # The engine's own words, whole: the command they end with is meant to be copied.
            lines.append("    error: " + mask(error, placeholders).replace("\n", "\n    "))

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
    lines.append("")
    if by_urn is None:
        lines += ["Resources:", f"    + {len(registrations)} to create"]
    else:
        all_steps = [*by_urn.values(), *deleted]
        lines += summary_lines(all_steps)
        skipped = not_compared(all_steps)
        if skipped:
            lines.append(f"    {skipped} secret value(s) in the state not compared (ciphertext; preflight holds no "
                         "real secrets): counted unchanged")
    if reads:
        lines.append(f"    {len(reads)} read with .get() (not registered, not sent to policy packs)")

    if guard is not None:
        lines += ["", "Mass-change guard:"]
        lines += ["    " + line for line in guard.message().splitlines()]

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
    lines = []
    if groups:
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


def resource_document(registration: Registration, placeholders: Iterable[str] = (),
                      step: Step | None = None) -> dict[str, Any]:
    document = {
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
    if step is not None:
        document.update(_step_fields(step))
    return document


def _step_fields(step: Step) -> dict[str, Any]:
    return {"op": step.op, "diff": list(step.keys), "replaceKeys": list(step.replace_keys)}


def deleted_document(step: Step, placeholders: Iterable[str] = ()) -> dict[str, Any]:
    """A resource of the state the program no longer registers, as the state has it."""
    old = step.old
    return {
        "urn": step.urn,
        "type": step.type,
        "name": step.name or urn_name(step.urn),
        "custom": old.custom if old is not None else True,
        "parent": old.parent if old is not None else None,
        "dependencies": list(old.dependencies) if old is not None else [],
        "protect": step.protect,
        "provider": old.provider if old is not None else None,
        "inputs": readable(dict(old.inputs), placeholders) if old is not None else {},
        **_step_fields(step),
    }


def preview_document(registrations: list[Registration], *, project: str, stack: str,
                     placeholders: Iterable[str] = (), host_files: Any = None, report: Any = None,
                     error: str | None = None, steps: Iterable[Step] | Mapping[str, Step] | None = None,
                     deletions: Iterable[Step] = (), guard: Any = None, errors: Iterable[str] = ()) -> dict[str, Any]:
    """The `--json` document (see the module docstring for how values are written). With `steps`: each
    resource's `op`, `diff` (changed property paths) and `replaceKeys`, the deleted resources, the
    counts in `summary`, the guard's result as `massChange`, the engine's refusals as `stepErrors`."""
    placeholders = tuple(placeholders)
    by_urn, deleted = split_steps(registrations, steps, deletions)
    stack_outputs = next((r.outputs for r in registrations if r.type == STACK_TYPE), {})
    resources = [resource_document(r, placeholders, by_urn.get(r.urn) if by_urn is not None else None)
                 for r in registrations]
    resources += [deleted_document(step, placeholders) for step in deleted]
    summary: dict[str, Any] = {"create": len(registrations)}
    if by_urn is not None:
        all_steps = [*by_urn.values(), *deleted]
        summary = op_counts(all_steps)
        summary["changes"] = sum(summary[op] for op in SUMMARY_ORDER)
        summary["notCompared"] = not_compared(all_steps)
    summary["byType"] = dict(sorted(counts_by_type(registrations).items()))
    document: dict[str, Any] = {
        "stack": stack,
        "project": project,
        "resources": resources,
        "outputs": readable(stack_outputs, placeholders),
        "summary": summary,
    }
    if guard is not None:
        document["massChange"] = guard.document()
    errors = list(errors)
    if errors:
        document["stepErrors"] = [mask(text, placeholders) for text in errors]
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
