"""The audit's report formats: the table, JSON (and reading it back as a baseline), SARIF 2.1.0, JUnit."""

from __future__ import annotations

import datetime
import json
import site
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audit import report
from audit.model import AuditOptions, Check, Result

NOW = datetime.datetime(2026, 12, 6, 3, 15, tzinfo=datetime.UTC)
CHECKS = (
    Check("recursion-refused", "3", "outside", "our name servers refuse recursion to outsiders", lambda ctx: ()),
    Check("smtp-banner-matches-ptr", "5", "outside", "the greeting names the PTR name", lambda ctx: ()),
    Check("webmail-certificate", "10", "outside", "webmail's certificate names webmail", lambda ctx: ()),
)
RESULTS = (
    Result("webmail-certificate", "10", "webmail.isp.test 198.51.100.43:443", "WARN", "expires in 9 days",
           ("subject CN=webmail.isp.test; names webmail.isp.test", "not after 2026-12-15T00:00:00+00:00")),
    Result("recursion-refused", "3", "ns1.isp.test 198.51.100.53", "FAIL", "recursion offered to an outsider",
           ("198.51.100.53: www.example.com. A +rd -> NOERROR flags qr rd ra", "www.example.com. 300 IN A 192.0.2.1")),
    Result("smtp-banner-matches-ptr", "5", "mail.isp.test 198.51.100.25:25", "PASS", "220 mail.isp.test ESMTP",
           ("banner 220 mail.isp.test ESMTP Postfix",)),
)


def make_run(results=RESULTS, checks=CHECKS) -> report.AuditRun:
    return report.AuditRun(stack="lab", options=AuditOptions(now=NOW, cafile="lab-ca.pem"), results=tuple(results),
                           checks=tuple(checks), started=NOW, seconds=2.5,
                           check_seconds=(("recursion-refused", 0.25),))


def test_table_groups_by_lesson_and_shows_evidence_of_fail_and_warn():
    text = report.table(make_run())
    lines = text.splitlines()
    status_lines = [line for line in lines if line[:4] in ("PASS", "WARN", "FAIL")]
    assert [line.split()[:3] for line in status_lines] == [
        ["FAIL", "3", "recursion-refused"], ["PASS", "5", "smtp-banner-matches-ptr"],
        ["WARN", "10", "webmail-certificate"]]
    fail = lines.index(status_lines[0])
    assert lines[fail + 1] == "      198.51.100.53: www.example.com. A +rd -> NOERROR flags qr rd ra"
    assert lines[fail + 2].strip() == "www.example.com. 300 IN A 192.0.2.1"
    assert "banner 220 mail.isp.test ESMTP Postfix" not in text  # a PASS keeps its evidence for --json
    assert "expires in 9 days" in text and "not after 2026-12-15" in text
    # Columns line up: every target starts at the same offset.
    offsets = {line.index(r.target) for line, r in zip(status_lines, report.ordered(RESULTS), strict=True)}
    assert len(offsets) == 1
    assert "lab: 3 results from 3 checks (outside): 1 PASS, 1 WARN, 1 FAIL in 2.5 s" in text


def test_json_has_every_result_the_options_and_timings(tmp_path):
    path = tmp_path / "out" / "audit.json"
    report.write_json(make_run(), path)
    document = json.loads(path.read_text())
    assert document["tool"] == "isp-audit" and document["stack"] == "lab"
    assert len(document["results"]) == 3
    assert document["results"][0]["evidence"] == list(RESULTS[1].evidence)
    assert document["options"]["cafile"] == "lab-ca.pem"
    assert document["options"]["now"] == NOW.isoformat()
    assert document["counts"] == {"PASS": 1, "WARN": 1, "FAIL": 1}
    assert {c["id"]: c["seconds"] for c in document["checks"]}["recursion-refused"] == 0.25
    assert document["seconds"] == 2.5 and document["started"] == NOW.isoformat()
    # Read back as a baseline, the same Results.
    assert set(report.load_baseline(path)) == set(RESULTS)


def test_baseline_diff(tmp_path):
    previous = (
        Result("recursion-refused", "3", "ns1.isp.test 198.51.100.53", "FAIL", "open"),  # still failing
        Result("smtp-banner-matches-ptr", "5", "mail.isp.test 198.51.100.25:25", "FAIL", "wrong"),  # fixed
        Result("fcrdns", "5", "mail.isp.test 198.51.100.25", "FAIL", "no PTR"),  # gone: not checked
        Result("webmail-certificate", "10", "webmail.isp.test 198.51.100.43:443", "PASS", "ok"),  # now WARN
        Result("spf", "6", "isp.test", "PASS", "ok"),
    )
    current = (*RESULTS, Result("spf", "6", "isp.test", "FAIL", "softfail"))  # new failure
    diff = report.compare(previous, current)
    assert [r.key for r in diff.new_failures] == [("spf", "isp.test")]
    assert [r.key for r in diff.still_failing] == [("recursion-refused", "ns1.isp.test 198.51.100.53")]
    assert sorted((r.check, now) for r, now in diff.fixed) == [("fcrdns", "not checked"),
                                                              ("smtp-banner-matches-ptr", "PASS")]
    assert [r.check for r in diff.new_warnings] == ["webmail-certificate"]
    text = report.table(make_run(current), diff)
    assert "since the baseline: 1 new failures, 2 fixed, 1 still failing, 1 new warnings" in text
    assert "  fcrdns  mail.isp.test 198.51.100.25  no PTR (now not checked)" in text
    path = tmp_path / "a.json"
    report.write_json(make_run(current), path, diff)
    assert json.loads(path.read_text())["baseline"]["newFailures"] == [["spf", "isp.test"]]


@pytest.mark.parametrize("content, words", [
    ("not json", "cannot be read as JSON"),
    ('{"results": []}', "not the --json output"),
    ('{"tool": "isp-audit", "format": 99, "results": []}', "format 99"),
    ('{"tool": "isp-audit", "format": 1, "results": [{"status": "FAIL"}]}', "lacks"),
])
def test_a_bad_baseline_says_why(tmp_path, content, words):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(report.BaselineError, match=words):
        report.load_baseline(path)


def _sarif_schema() -> dict | None:
    """SARIF 2.1.0's JSON schema if an installed package ships a copy (nothing is downloaded); else the
    structural checks below stand alone."""
    for root in site.getsitepackages():
        for path in Path(root).rglob("sarif-schema-2.1.0.json"):
            return json.loads(path.read_text())
    return None


def test_sarif(tmp_path):
    path = tmp_path / "audit.sarif"
    report.write_sarif(make_run(), path)
    document = json.loads(path.read_text())
    schema = _sarif_schema()
    if schema is not None:
        import jsonschema

        jsonschema.validate(document, schema)
    assert document["$schema"].endswith("sarif-schema-2.1.0.json") and document["version"] == "2.1.0"
    (run,) = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "isp-audit"
    assert [r["id"] for r in rules] == [c.id for c in CHECKS]
    assert rules[0]["shortDescription"]["text"] == CHECKS[0].claim
    assert rules[0]["properties"]["lesson"] == "3" and "lesson-3" in rules[0]["properties"]["tags"]
    # One result per FAIL (error) and WARN (warning); a PASS is no alert.
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [("recursion-refused", "error"),
                                                                  ("webmail-certificate", "warning")]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.lab.yaml"
        (logical,) = location["logicalLocations"]
        assert logical["name"] in {r.target for r in RESULTS}
        assert result["partialFingerprints"]["ispAuditResult/v1"]
    assert "www.example.com. 300 IN A 192.0.2.1" in run["results"][0]["message"]["text"]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["startTimeUtc"].endswith("Z")


def test_sarif_fingerprint_follows_the_target_not_the_evidence():
    first = report.sarif_document(make_run())["runs"][0]["results"][0]
    changed = (RESULTS[0], RESULTS[1].__class__(**{**RESULTS[1].__dict__, "evidence": ("other",)}), RESULTS[2])
    second = report.sarif_document(make_run(changed))["runs"][0]["results"][0]
    assert first["partialFingerprints"] == second["partialFingerprints"]
    assert first["message"] != second["message"]


def test_sarif_baseline_state_and_a_result_without_a_registered_check():
    extra = Result("test-mail", "-", "someone@isp.test", "FAIL", "refused: 554")
    baseline = (Result("recursion-refused", "3", "ns1.isp.test 198.51.100.53", "FAIL", "open"),)
    document = report.sarif_document(make_run((*RESULTS, extra)), baseline)
    (run,) = document["runs"]
    states = {r["ruleId"]: r["baselineState"] for r in run["results"]}
    assert states == {"recursion-refused": "unchanged", "webmail-certificate": "new", "test-mail": "new"}
    assert "test-mail" in [rule["id"] for rule in run["tool"]["driver"]["rules"]]


def test_junit(tmp_path):
    path = tmp_path / "audit.xml"
    report.write_junit(make_run(), path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    cases = root.findall(".//testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [(r.check, r.target) for r in
                                                                    report.ordered(RESULTS)]
    failing, passing, warning = cases
    assert failing.find("failure").get("message") == "recursion offered to an outsider"
    assert "192.0.2.1" in failing.find("failure").text
    assert passing.find("failure") is None and passing.find("system-out") is None
    assert warning.find("failure") is None
    assert warning.find("properties/property").get("value") == "expires in 9 days"
    assert warning.find("system-out").text.startswith("WARN: expires in 9 days")
