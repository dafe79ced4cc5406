"""SARIF and JUnit reports and the CLI's `Policies:` block of policy results, from hand-built reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from preflight.model import Registration
from preflight.reports import (
    SARIF_SCHEMA,
    abbreviate_pack_path,
    display_type_name,
    policies_block,
    sarif_document,
    write_junit,
    write_sarif,
)
from preflight.verdicts import PolicyReport, Remediation, Violation

RECORD_URN = "urn:pulumi:prod::isp::cloudflare:index/dnsRecord:DnsRecord::mx"
HOST_URN = "urn:pulumi:prod::isp::isp:mail:Host::mail"
STACK_URN = "urn:pulumi:prod::isp::pulumi:pulumi:Stack::isp-prod"
TRICKY = 'banner <mail.example.net> & "quotes" \x07bell'


def violation(policy: str, level: str, urn: str, message: str, *, pack: str = "isp-lessons", severity: str = ""):
    return Violation(pack, "2.0.0", policy, f"{policy} description", level, severity, urn,
                     f"{policy} description\n{message}")


def policy(name: str, level: str, **extra) -> dict:
    return {"name": name, "description": f"{name} description", "enforcementLevel": level, "severity": "",
            "remediationSteps": "", "url": "", **extra}


def report() -> PolicyReport:
    packs = [{"name": "isp-lessons", "version": "2.0.0", "policies": [
        policy("fcrdns", "mandatory", severity="high", url="https://example.invalid/fcrdns"),
        policy("spf-record", "advisory", remediationSteps="Publish SPF, see https://www.rfc-editor.org/rfc/rfc7208."),
        policy("maildir", "disabled"),
        policy("quiet", "mandatory"),
    ]}]
    violations = [
        violation("fcrdns", "mandatory", HOST_URN, TRICKY, severity="high"),
        violation("fcrdns", "mandatory", RECORD_URN, "PTR does not match", severity="high"),
        violation("spf-record", "advisory", RECORD_URN, "no SPF record for example.net"),
        violation("stack-check", "mandatory", STACK_URN, "from another pack", pack="other-pack"),
    ]
    return PolicyReport(violations=violations, not_applicable=[], packs=packs)


REGISTRATIONS = [
    Registration(HOST_URN, "isp:mail:Host", "mail", custom=False),
    Registration(RECORD_URN, "cloudflare:index/dnsRecord:DnsRecord", "mx", custom=True),
]


def check_sarif_structure(document: dict) -> None:
    """The keys SARIF 2.1.0 requires (and code scanning needs), checked by hand: jsonschema is not installed."""
    assert document["$schema"] == SARIF_SCHEMA and document["version"] == "2.1.0"
    for run in document["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        rule_ids = [rule["id"] for rule in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids))
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"]
            assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
        for result in run["results"]:
            assert result["message"]["text"] and result["level"] in ("note", "warning", "error")
            if "ruleIndex" in result:
                assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
            for location in result["locations"]:
                assert location["physicalLocation"]["artifactLocation"]["uri"]
                assert location["physicalLocation"]["region"]["startLine"] >= 1


def test_sarif_has_one_run_per_pack_and_one_result_per_violation(tmp_path):
    write_sarif(report(), tmp_path / "out" / "policy.sarif", stack="prod")
    document = json.loads((tmp_path / "out" / "policy.sarif").read_text())
    check_sarif_structure(document)
    lessons, other = document["runs"]
    assert (lessons["tool"]["driver"]["name"], lessons["tool"]["driver"]["version"]) == ("isp-lessons", "2.0.0")
    assert other["tool"]["driver"]["name"] == "other-pack"  # a pack named only by a violation still gets a run
    assert [(r["ruleId"], r["level"]) for r in lessons["results"]] == [
        ("fcrdns", "error"), ("fcrdns", "error"), ("spf-record", "warning")]
    first = lessons["results"][0]
    assert first["message"]["text"].endswith(TRICKY)
    assert first["locations"][0]["logicalLocations"] == [
        {"name": "mail", "fullyQualifiedName": HOST_URN, "kind": "resource"}]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.prod.yaml"
    fingerprints = {r["partialFingerprints"]["pulumiPolicyViolation/v1"] for r in lessons["results"]}
    assert len(fingerprints) == 3  # same file and line: only fingerprints tell them apart


def test_sarif_rules_carry_help_and_severity():
    rules = {rule["id"]: rule for rule in sarif_document(report(), stack="prod")["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["fcrdns"]["helpUri"] == "https://example.invalid/fcrdns"
    assert rules["fcrdns"]["properties"]["security-severity"] == "8.0"
    assert rules["spf-record"]["helpUri"] == "https://www.rfc-editor.org/rfc/rfc7208"  # found in the steps
    assert rules["spf-record"]["help"]["text"].startswith("Publish SPF")
    assert "helpUri" not in rules["quiet"]
    assert rules["maildir"]["defaultConfiguration"] == {"level": "none", "enabled": False}


def test_junit_has_a_suite_per_pack_and_a_case_per_policy(tmp_path):
    path = tmp_path / "policy.xml"
    write_junit(report(), path, stack="prod", registrations=REGISTRATIONS)
    root = ET.parse(path).getroot()  # parses: special characters are escaped, the bell character replaced
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "2", "1")
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    lessons = suites["isp-lessons"]
    assert (lessons.get("tests"), lessons.get("failures"), lessons.get("skipped")) == ("4", "1", "1")
    cases = {case.get("name"): case for case in lessons.findall("testcase")}
    assert set(cases) == {"fcrdns", "spf-record", "maildir", "quiet"}
    failures = cases["fcrdns"].findall("failure")
    assert [f.get("message") for f in failures] == [
        'mail: banner <mail.example.net> & "quotes" \ufffdbell', "mx: PTR does not match"]
    assert f"urn: {HOST_URN}\ntype: isp:mail:Host\nseverity: high" in failures[0].text
    assert cases["spf-record"].find("failure") is None
    assert cases["spf-record"].find("system-out").text == f"advisory: {RECORD_URN}: no SPF record for example.net"
    assert cases["maildir"].find("skipped").get("message") == "policy disabled"
    assert list(cases["quiet"]) == []  # a policy without violations passes
    properties = {p.get("name"): p.get("value") for p in lessons.find("properties")}
    assert properties == {"stack": "prod", "version": "2.0.0", "resources": "2"}
    assert [case.get("name") for case in suites["other-pack"].findall("testcase")] == ["stack-check"]


def test_empty_report_gives_valid_empty_documents(tmp_path):
    empty = PolicyReport(violations=[], not_applicable=[], packs=[])
    write_junit(empty, tmp_path / "policy.xml", stack="dev", registrations=[])
    root = ET.parse(tmp_path / "policy.xml").getroot()
    assert (root.get("tests"), list(root)) == ("0", [])
    document = sarif_document(empty, stack="dev")
    check_sarif_structure(document)
    assert document["runs"] == []


def _changes():
    """Steps of a preview against state (2 created, 1 updated, 1 replaced, 2 deleted, 3 same, and a default
    provider's create the CLI does not count) and a guard that fired."""
    from preflight.guard import GuardResult
    from preflight.steps import Step

    record = "cloudflare:index/dnsRecord:DnsRecord"
    steps = [Step(op, f"urn:pulumi:prod::isp::{record}::r{i}", record, f"r{i}")
             for i, op in enumerate(["create", "create", "update", "replace", "same", "same", "same"])]
    steps.append(Step("create", "urn:pulumi:prod::isp::pulumi:providers:cloudflare::default_6_23_0",
                      "pulumi:providers:cloudflare", "default_6_23_0"))
    deleted = [Step("delete", f"urn:pulumi:prod::isp::{record}::gone{i}", record, f"gone{i}") for i in range(2)]
    guard = GuardResult(deleted=2, replaced=1, existing=12, percent=25.0, threshold=20.0, minimum=10,
                        first=("urn:a",), fired=True, overridden=False)
    return steps, deleted, guard


def test_sarif_runs_carry_the_change_counts_and_the_guard():
    steps, deleted, guard = _changes()
    document = sarif_document(report(), stack="prod", steps=steps, deletions=deleted, guard=guard)
    check_sarif_structure(document)
    for run in document["runs"]:
        assert run["properties"]["changes"] == {"create": 2, "update": 1, "replace": 1, "delete": 2, "same": 3}
        assert run["properties"]["massChange"]["status"] == "fired"
        assert run["properties"]["stack"] == "prod"
    assert "changes" not in sarif_document(report(), stack="prod")["runs"][0]["properties"]


def test_junit_suites_carry_the_change_counts(tmp_path):
    steps, deleted, guard = _changes()
    path = tmp_path / "policy.xml"
    write_junit(report(), path, stack="prod", registrations=REGISTRATIONS, steps={s.urn: s for s in steps},
                deletions=deleted, guard=guard)
    for suite in ET.parse(path).getroot().findall("testsuite"):
        properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert {k: properties[k] for k in ("create", "update", "replace", "delete", "same")} == {
            "create": "2", "update": "1", "replace": "1", "delete": "2", "same": "3"}
        assert (properties["massChange"], properties["massChangePercent"]) == ("fired", "25.0")


def test_sarif_file_carries_them_too(tmp_path):
    steps, deleted, guard = _changes()
    write_sarif(report(), tmp_path / "policy.sarif", stack="prod", steps=steps + deleted, guard=guard)
    run = json.loads((tmp_path / "policy.sarif").read_text())["runs"][0]
    assert run["properties"]["changes"]["delete"] == 2


# ---------------------------------------------------------------------------------------------------
# The CLI's `Policies:` block (pulumi/pulumi pkg/backend/display/progress.go, printPolicies, and diff.go,
# renderDiffPolicyViolationEvent), written out by hand from that source.

ISP_PACK_DIR = "/work/repo/policies"
GATEWAY_URN = "urn:pulumi:prod::isp::isp:network:Gateway::gw"


def display_report() -> PolicyReport:
    """Two packs run from directories and one only named by its violations; every level, a stack policy."""
    packs = [
        {"name": "isp-lessons", "version": "2.0.0", "path": ISP_PACK_DIR, "policies": []},
        {"name": "clean-pack", "version": "0.3.0", "path": "/work/repo/clean", "policies": []},
    ]
    violations = [
        violation("spf-record", "advisory", RECORD_URN, "no SPF record for example.net", severity="low"),
        violation("quiet", "mandatory", HOST_URN, "first line\nsecond line\n"),
        violation("fcrdns", "mandatory", RECORD_URN, "PTR does not match", severity="high"),
        violation("fcrdns", "mandatory", HOST_URN, "no PTR", severity="high"),
        violation("stack-lessons", "advisory", STACK_URN, "the stack as a whole"),
        violation("banner-warning", "advisory", GATEWAY_URN, "only a warning", pack="advisory-pack"),
    ]
    remediations = [
        Remediation("isp-lessons", "ttl-floor", RECORD_URN, ""),
        Remediation("isp-lessons", "ttl-floor", HOST_URN, ""),
        Remediation("isp-lessons", "add-comment", RECORD_URN, ""),
    ]
    return PolicyReport(violations=violations, not_applicable=[], packs=packs, remediations=remediations)


def test_the_policies_block_is_the_clis():
    block = policies_block(display_report(), local_paths={ISP_PACK_DIR: "./policies/"})
    assert block == (
        "Policies:\n"
        # Packs sorted by `name@vversion`; a mark per pack: mandatory failed, advisory warned, none passed.
        "    \u26a0\ufe0f advisory-pack@v2.0.0\n"
        "        - [advisory]  banner-warning  (isp:network:Gateway: gw)\n"
        "          banner-warning description\n"
        "          only a warning\n"
        "    \u2705 clean-pack@v0.3.0 (local: /work/repo/clean)\n"
        "    \u274c isp-lessons@v2.0.0 (local: policies)\n"
        # Remediations first, as counts per policy by name (the CLI without --show-policy-remediations).
        "        - [remediate]  add-comment  (1 resource)\n"
        "        - [remediate]  ttl-floor  (2 resources)\n"
        # Then by level, severity (unspecified after low), policy name and URN; the type as DisplayName.
        "        - [mandatory] [severity: high]  fcrdns  (cloudflare:index:DnsRecord: mx)\n"
        "          fcrdns description\n"
        "          PTR does not match\n"
        "        - [mandatory] [severity: high]  fcrdns  (isp:mail:Host: mail)\n"
        "          fcrdns description\n"
        "          no PTR\n"
        # A message ending in a newline keeps one empty, indented line (the engine adds a newline, one is trimmed).
        "        - [mandatory]  quiet  (isp:mail:Host: mail)\n"
        "          quiet description\n"
        "          first line\n"
        "          second line\n"
        "          \n"
        "        - [advisory] [severity: low]  spf-record  (cloudflare:index:DnsRecord: mx)\n"
        "          spf-record description\n"
        "          no SPF record for example.net\n"
        # A stack policy's violation is the root stack's (pkg/resource/deploy/step_generator.go,
        # resolveStackPolicyViolationURN).
        "        - [advisory]  stack-lessons  (pulumi:pulumi:Stack: isp-prod)\n"
        "          stack-lessons description\n"
        "          the stack as a whole\n"
        "\n"
    )


def test_the_block_holds_what_upstreams_integration_tests_look_for():
    """pulumi/pulumi-policy tests/integration/integration_test.go: TestValidateResource (line 326) and
    TestUnknownValues (lines 497-501) look for these strings in the CLI's output."""
    unknown = "can't run policy '{}' from policy pack 'unknown-values-policy@v0.0.1' during preview: " \
              "string value at .prefix can't be known during preview"
    report = PolicyReport(violations=[
        Violation("validate-resource-test-policy", "0.0.1", "dynamic-no-state-with-value-1",
                  "Prohibits setting state to 1 on dynamic resources.", "mandatory", "",
                  "urn:pulumi:test::policy-test::pulumi-nodejs:dynamic:Resource::a",
                  "Prohibits setting state to 1 on dynamic resources.\n'state' must not have the value 1."),
        Violation("unknown-values-policy", "0.0.1", "unknown-values-resource-validation", "", "advisory", "",
                  "urn:pulumi:test::policy-test::random:index/randomPet:RandomPet::pet",
                  unknown.format("unknown-values-resource-validation")),
        Violation("unknown-values-policy", "0.0.1", "unknown-values-stack-validation", "", "advisory", "",
                  "urn:pulumi:test::policy-test::pulumi:pulumi:Stack::policy-test-test",
                  unknown.format("unknown-values-stack-validation")),
    ], not_applicable=[], packs=[])
    block = policies_block(report)
    for wanted in (
        "validate-resource-test-policy@v0.0.1",
        "[mandatory]  dynamic-no-state-with-value-1  (pulumi-nodejs:dynamic:Resource: a)",
        "'state' must not have the value 1.",
        "unknown-values-policy@v0.0.1",
        "[advisory]  unknown-values-resource-validation  (random:index:RandomPet: pet)",
        unknown.format("unknown-values-resource-validation"),
        "[advisory]  unknown-values-stack-validation",
        unknown.format("unknown-values-stack-validation"),
    ):
        assert wanted in block


def test_a_violation_without_a_urn_has_no_resource_clause():
    report = PolicyReport(violations=[violation("stack-check", "mandatory", "", "whole stack")], not_applicable=[],
                          packs=[])
    assert "        - [mandatory]  stack-check\n          stack-check description\n" in policies_block(report)


def test_secret_placeholders_in_messages_are_masked():
    report = PolicyReport(violations=[violation("leak", "advisory", HOST_URN, "key preflight-secret-isp-key-1")],
                          not_applicable=[], packs=[])
    block = policies_block(report, placeholders=["preflight-secret-isp-key-1"])
    assert "preflight-secret" not in block and "key [secret]" in block


def test_type_display_names_are_the_engines():
    """pulumi/pulumi sdk/go/common/tokens/tokens_test.go, TestTypeDisplayName."""
    cases = {
        "incomplete": "incomplete",
        "pkg:mod:": "pkg:mod:",
        "pkg:mod:typ": "pkg:mod:typ",
        "pkg:Mod/foo:typ": "pkg:Mod/foo:typ",
        "pkg:mod/foo/bar:Bar": "pkg:mod/foo:Bar",
        "pkg:mod/foo/bar/baz:Baz": "pkg:mod/foo/bar:Baz",
        "cloudflare:index/zoneDnssec:ZoneDnssec": "cloudflare:index:ZoneDnssec",
    }
    assert {given: display_type_name(given) for given in cases} == cases


def test_long_pack_paths_are_abbreviated_as_the_engine_does():
    """pulumi/pulumi pkg/engine/update.go, abbreviateFilePath: cleaned; beyond 75 characters the first two and
    last two parts."""
    assert abbreviate_pack_path("./policies/") == "policies"
    long = "/home/operator/src/" + "x" * 40 + "/deep/nested/policies"
    assert abbreviate_pack_path(long) == "/home/.../nested/policies"
