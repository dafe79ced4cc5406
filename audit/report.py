"""An audit's Results as a person reads them (the table) and as tools do: JSON, SARIF 2.1.0 (GitHub code
scanning), JUnit XML, and what changed since a baseline (a previous run's JSON).

The conventions are preflight's (preflight/reports.py): the same SARIF schema URI and version, results
pinned to the stack file (code scanning shows only results with a physical location), a fingerprint per
result so that alerts are not merged, files written atomically so CI never uploads half a report.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.model import STATUSES, AuditOptions, Check, Result
from preflight.reports import SARIF_SCHEMA, SARIF_VERSION, stack_file, write_atomically

TOOL_NAME = "isp-audit"
JSON_FORMAT = 1  # bumped when the --json document changes incompatibly (a baseline is read back)
_SARIF_LEVELS = {"FAIL": "error", "WARN": "warning"}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # XML 1.0 cannot carry them, even escaped
_EVIDENCE_INDENT = " " * 6


class BaselineError(ValueError):
    """The --baseline file is not a previous run's --json document."""


@dataclass(frozen=True)
class AuditRun:
    """One audit: what was asked, of which stack, what was found and how long each check took."""

    stack: str
    options: AuditOptions
    results: tuple[Result, ...]
    checks: tuple[Check, ...]  # the checks that ran (their claims become SARIF rules)
    started: datetime.datetime
    seconds: float
    check_seconds: tuple[tuple[str, float], ...] = ()

    def counts(self) -> dict[str, int]:
        return {status: sum(r.status == status for r in self.results) for status in STATUSES}

    @property
    def failed(self) -> bool:
        return any(r.status == "FAIL" for r in self.results)


@dataclass(frozen=True)
class BaselineDiff:
    """Compared by Result.key (check, target): what broke, what was repaired, what still is broken."""

    new_failures: tuple[Result, ...]
    fixed: tuple[tuple[Result, str], ...]  # the previous FAIL and what it is now ("PASS", or "not checked")
    still_failing: tuple[Result, ...]
    new_warnings: tuple[Result, ...]


# ---------------------------------------------------------------------------------------------------
# The table


def _lesson_order(lesson: str) -> tuple[int, str]:
    first = re.match(r"\d+", lesson)
    return (int(first.group(0)) if first else 99, lesson)


def ordered(results: Iterable[Result]) -> list[Result]:
    """Grouped by lesson (by its first number), then by check and target: the order of every format."""
    return sorted(results, key=lambda r: (_lesson_order(r.lesson), r.check, r.target))


def table(run: AuditRun, diff: BaselineDiff | None = None) -> str:
    """One line per Result, `STATUS  lesson  check  target  summary`, the evidence under FAIL and WARN."""
    results = ordered(run.results)
    widths = [max((len(getattr(r, name)) for r in results), default=0) for name in ("lesson", "check", "target")]
    lines: list[str] = []
    lesson = None
    for result in results:
        if result.lesson != lesson:
            if lesson is not None:
                lines.append("")
            lesson = result.lesson
        fields = (result.lesson, result.check, result.target)
        columns = "  ".join(text.ljust(width) for text, width in zip(fields, widths, strict=True))
        lines.append(f"{result.status:<4}  {columns}  {result.summary}".rstrip())
        if result.status != "PASS":
            lines += [f"{_EVIDENCE_INDENT}{line}" for item in result.evidence for line in item.splitlines()]
    counts = run.counts()
    lines.append("")
    lines.append(f"{run.stack}: {len(results)} results from {len(run.checks)} checks ({run.options.vantage}): "
                 f"{counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL in {run.seconds:.1f} s")
    if diff is not None:
        lines += ["", *baseline_lines(diff)]
    return "\n".join(lines) + "\n"


def baseline_lines(diff: BaselineDiff) -> list[str]:
    def line(result: Result, note: str = "") -> str:
        return f"  {result.check}  {result.target}  {result.summary}{note}"

    lines = [f"since the baseline: {len(diff.new_failures)} new failures, {len(diff.fixed)} fixed, "
             f"{len(diff.still_failing)} still failing, {len(diff.new_warnings)} new warnings"]
    for title, items in (("new failures:", [line(r) for r in diff.new_failures]),
                         ("fixed:", [line(r, f" (now {now})") for r, now in diff.fixed]),
                         ("still failing:", [line(r) for r in diff.still_failing]),
                         ("new warnings:", [line(r) for r in diff.new_warnings])):
        if items:
            lines += [title, *items]
    return lines


# ---------------------------------------------------------------------------------------------------
# JSON, and the baseline read back from it


def _options_document(options: AuditOptions) -> dict[str, Any]:
    document = dataclasses.asdict(options)
    document["now"] = options.now.isoformat()
    return document


def json_document(run: AuditRun, diff: BaselineDiff | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": JSON_FORMAT,
        "tool": TOOL_NAME,
        "stack": run.stack,
        "options": _options_document(run.options),
        "started": run.started.isoformat(),
        "seconds": round(run.seconds, 3),
        "checks": [{"id": c.id, "lesson": c.lesson, "vantage": c.vantage, "claim": c.claim,
                    "seconds": round(dict(run.check_seconds).get(c.id, 0.0), 3)} for c in run.checks],
        "counts": run.counts(),
        "results": [dataclasses.asdict(r) | {"evidence": list(r.evidence)} for r in ordered(run.results)],
    }
    if diff is not None:
        document["baseline"] = {
            "newFailures": [list(r.key) for r in diff.new_failures],
            "fixed": [list(r.key) + [now] for r, now in diff.fixed],
            "stillFailing": [list(r.key) for r in diff.still_failing],
            "newWarnings": [list(r.key) for r in diff.new_warnings],
        }
    return document


def load_baseline(path: Path) -> tuple[Result, ...]:
    """The Results of a previous `--json` file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BaselineError(f"--baseline {path}: cannot be read as JSON ({error})") from None
    if not isinstance(document, dict) or document.get("tool") != TOOL_NAME or not isinstance(
            document.get("results"), list):
        raise BaselineError(f"--baseline {path}: not the --json output of {TOOL_NAME} (no `tool` and `results`)")
    if document.get("format") != JSON_FORMAT:
        raise BaselineError(f"--baseline {path}: format {document.get('format')!r}, this audit reads {JSON_FORMAT}")
    try:
        return tuple(Result(check=str(r["check"]), lesson=str(r["lesson"]), target=str(r["target"]),
                            status=r["status"], summary=str(r.get("summary", "")),
                            evidence=tuple(str(e) for e in r.get("evidence", ())),
                            seconds=float(r.get("seconds", 0.0)))
                     for r in document["results"] if r.get("status") in STATUSES)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise BaselineError(f"--baseline {path}: a result lacks {error}") from None


def compare(previous: Iterable[Result], current: Iterable[Result]) -> BaselineDiff:
    before = {r.key: r for r in previous}
    now = {r.key: r for r in current}
    was = {key: r.status for key, r in before.items()}
    new_failures = [r for r in now.values() if r.status == "FAIL" and was.get(r.key) != "FAIL"]
    still = [r for r in now.values() if r.status == "FAIL" and was.get(r.key) == "FAIL"]
    # FAIL -> WARN is not called fixed: it could no longer be decided, so it is a new warning.
    fixed = [(r, now[key].status if key in now else "not checked") for key, r in before.items()
             if r.status == "FAIL" and (key not in now or now[key].status == "PASS")]
    new_warnings = [r for r in now.values() if r.status == "WARN" and was.get(r.key) != "WARN"]
    return BaselineDiff(new_failures=tuple(ordered(new_failures)), fixed=tuple(fixed),
                        still_failing=tuple(ordered(still)), new_warnings=tuple(ordered(new_warnings)))


# ---------------------------------------------------------------------------------------------------
# SARIF 2.1.0


def _sarif_rule(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "name": check.id,
        "shortDescription": {"text": check.claim},
        "fullDescription": {"text": f"Lesson {check.lesson} ({check.vantage} vantage): {check.claim}"},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": [TOOL_NAME, *(f"lesson-{n.strip()}" for n in check.lesson.split(","))],
                       "lesson": check.lesson, "vantage": check.vantage},
    }


def _fingerprint(stack: str, result: Result) -> str:
    # The key, not the summary: the same broken target stays one alert while its evidence changes.
    return hashlib.sha256("\n".join([stack, result.check, result.target]).encode()).hexdigest()


def _baseline_state(result: Result, previous: dict[tuple[str, str], str] | None) -> str | None:
    if previous is None:
        return None
    before = previous.get(result.key)
    if before == result.status:
        return "unchanged"
    return "updated" if before in _SARIF_LEVELS else "new"


def _sarif_result(run: AuditRun, result: Result, rule_index: dict[str, int],
                  previous: dict[tuple[str, str], str] | None) -> dict[str, Any]:
    message = "\n".join([f"{result.status} {result.target}: {result.summary}", *result.evidence])
    document: dict[str, Any] = {
        "ruleId": result.check,
        "level": _SARIF_LEVELS[result.status],
        "message": {"text": message},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": stack_file(run.stack)}, "region": {"startLine": 1}},
            "logicalLocations": [{"name": result.target, "fullyQualifiedName": f"{run.stack}/{result.target}",
                                  "kind": "resource"}],
        }],
        "partialFingerprints": {"ispAuditResult/v1": _fingerprint(run.stack, result)},
        "properties": {"lesson": result.lesson, "status": result.status, "target": result.target},
    }
    if result.check in rule_index:
        document["ruleIndex"] = rule_index[result.check]
    if (state := _baseline_state(result, previous)) is not None:
        document["baselineState"] = state
    return document


def sarif_document(run: AuditRun, baseline: Sequence[Result] | None = None) -> dict[str, Any]:
    """One run, one rule per check that ran, one result per FAIL (error) and WARN (warning)."""
    rules = [_sarif_rule(check) for check in run.checks]
    for result in ordered(run.results):  # a Result of no registered check (the test mail): a rule of its own
        if all(rule["id"] != result.check for rule in rules):
            rules.append(_sarif_rule(Check(result.check, result.lesson, run.options.vantage, result.summary,
                                           lambda ctx: ())))
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    previous = {r.key: r.status for r in baseline} if baseline is not None else None
    results = [_sarif_result(run, r, rule_index, previous) for r in ordered(run.results) if r.status in _SARIF_LEVELS]
    driver = {"name": TOOL_NAME, "rules": rules}
    invocation = {"executionSuccessful": True, "startTimeUtc": _utc(run.started),
                  "endTimeUtc": _utc(run.started + datetime.timedelta(seconds=run.seconds))}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [{
        "tool": {"driver": driver}, "invocations": [invocation], "results": results,
        "properties": {"stack": run.stack, "vantage": run.options.vantage, "counts": run.counts()}}]}


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------------
# JUnit


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def junit_tree(run: AuditRun) -> ET.ElementTree:
    """A testsuite per lesson, a testcase per Result (classname the check, name the target): FAIL is a
    failure; WARN passes with a `warning` property and its evidence in system-out."""
    root = ET.Element("testsuites", name=f"{TOOL_NAME} ({run.stack})", time=f"{run.seconds:.3f}")
    by_lesson: dict[str, list[Result]] = {}
    for result in ordered(run.results):
        by_lesson.setdefault(result.lesson, []).append(result)
    totals = {"tests": 0, "failures": 0}
    for lesson, results in by_lesson.items():
        suite = ET.SubElement(root, "testsuite", name=f"lesson {lesson}")
        properties = ET.SubElement(suite, "properties")
        for name, value in (("stack", run.stack), ("vantage", run.options.vantage)):
            ET.SubElement(properties, "property", name=name, value=_xml_text(value))
        failures = 0
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=result.check, name=_xml_text(result.target),
                                 time=f"{result.seconds:.3f}")
            details = _xml_text("\n".join([result.summary, *result.evidence]))
            if result.status == "FAIL":
                failures += 1
                failure = ET.SubElement(case, "failure", message=_xml_text(result.summary), type="FAIL")
                failure.text = details
            elif result.status == "WARN":
                case_properties = ET.SubElement(case, "properties")
                ET.SubElement(case_properties, "property", name="warning", value=_xml_text(result.summary))
                ET.SubElement(case, "system-out").text = "WARN: " + details
        suite.set("tests", str(len(results)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        totals["tests"] += len(results)
        totals["failures"] += failures
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return ET.ElementTree(root)


# ---------------------------------------------------------------------------------------------------
# Files


def write_json(run: AuditRun, path: Path, diff: BaselineDiff | None = None) -> None:
    write_atomically(Path(path), (json.dumps(json_document(run, diff), indent=2) + "\n").encode())


def write_sarif(run: AuditRun, path: Path, baseline: Sequence[Result] | None = None) -> None:
    write_atomically(Path(path), (json.dumps(sarif_document(run, baseline), indent=2) + "\n").encode())


def write_junit(run: AuditRun, path: Path) -> None:
    buffer = io.BytesIO()
    junit_tree(run).write(buffer, encoding="utf-8", xml_declaration=True)
    write_atomically(Path(path), buffer.getvalue())
