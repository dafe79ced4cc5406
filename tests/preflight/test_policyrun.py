"""preflight.policyrun drives real policy packs (tests/preflight/packs) over a preview's registrations."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest
from pack_helpers import (
    ALL_URNS,
    API_TOKEN,
    COPY_URN,
    DNS,
    DNS_PACK,
    INTROSPECT_PACK,
    MAIL,
    MAIL_PACK,
    MAIL_URN,
    PROVIDER_URN,
    RECORD_URN,
    ROOT_URN,
    VAULT_PASSWORD,
    ZONE_URN,
    Runner,
    how_the_pack_ran,
    registrations,
    violations,
)

from preflight.reports import write_junit, write_sarif
from preflight.verdicts import PackError


@pytest.fixture(scope="module")
def default_run():
    with pytest.MonkeyPatch.context() as monkeypatch:
        runner = Runner(monkeypatch)
        report = runner.run([DNS_PACK, MAIL_PACK])
    return runner, report


def test_each_pack_is_started_and_stopped(default_run):
    runner, report = default_run
    runner.assert_all_stopped(expected=2)
    assert [pack["name"] for pack in report.packs] == [DNS, MAIL]


def test_levels_and_severities_arrive_as_declared(default_run):
    _, report = default_run
    [ttl] = violations(report, "record-ttl-limit")
    assert (ttl.enforcement_level, ttl.severity, ttl.urn) == ("mandatory", "high", RECORD_URN)
    [size] = violations(report, "message-size-limit")
    assert (size.enforcement_level, size.severity, size.urn) == ("advisory", "medium", MAIL_URN)
    assert {v.enforcement_level for v in violations(report, "resource-inventory")} == {"advisory"}


def test_schema_default_reaches_the_policy(default_run):
    _, report = default_run
    [ttl] = violations(report, "record-ttl-limit")
    assert ttl.message.endswith("ttl 86400 exceeds 3600")  # maxTtl's schema default
    [size] = violations(report, "message-size-limit")
    assert size.message.endswith("messageSizeLimit 20971520 exceeds 10485760")


def test_unknown_value_at_preview_gives_the_sdks_advisory(default_run):
    _, report = default_run
    [zone] = violations(report, "record-zone-known")
    assert zone.urn == RECORD_URN  # the SDK leaves the urn empty; the request's urn is used
    assert zone.enforcement_level == "advisory"  # the policy is mandatory; the SDK downgrades
    assert zone.severity == "low"  # unset in the diagnostic, taken from the policy
    assert "can't run policy 'record-zone-known'" in zone.message and "during preview" in zone.message


def test_every_registration_is_analyzed_with_its_options_and_provider(default_run):
    _, report = default_run
    inventory = {v.urn: v.message.splitlines()[-1] for v in violations(report, "resource-inventory")}
    assert set(inventory) == ALL_URNS  # stack, provider, component and custom resources
    assert inventory[RECORD_URN] == (
        f"type=cloudflare:index/dnsRecord:DnsRecord name=www parent={ZONE_URN} provider={PROVIDER_URN} protect=True"
    )
    assert inventory[ROOT_URN] == "type=pulumi:pulumi:Stack name=isp-dev parent=- provider=- protect=False"


def test_analyze_stack_sees_every_resource_with_parents(default_run):
    _, report = default_run
    stack_view = {}
    for violation in violations(report, "stack-inventory"):
        stack_view.setdefault(violation.urn, []).append(violation.message.splitlines()[-1])
    assert set(stack_view) == ALL_URNS
    assert stack_view[RECORD_URN] == [f"parent={ZONE_URN} dependencies={ZONE_URN}"]
    assert stack_view[ZONE_URN] == [f"parent={ROOT_URN} dependencies=-"]
    # The pack names an unregistered URN: the engine shows that on the root stack.
    assert "resources=7 token=[secret]" in stack_view[ROOT_URN]


def test_remediation_runs_before_analysis(default_run):
    _, report = default_run
    assert [(r.policy, r.urn) for r in report.remediations] == [("maildir-not-mbox", MAIL_URN)]
    assert violations(report, "no-mbox-left") == []  # AnalyzeStack saw the remediated mailbox format
    reasons = {(n.policy, n.urn): n.reason for n in report.not_applicable}
    assert reasons[("maildir-not-mbox", MAIL_URN)] == "Policy does not implement validate"


def test_assets_reach_the_policy_as_assets(default_run):
    _, report = default_run
    [main_cf] = violations(report, "main-cf-maildir")
    assert main_cf.urn == COPY_URN
    assert main_cf.message.endswith("main.cf does not set home_mailbox = Maildir/")


def test_secrets_never_reach_the_report(default_run, tmp_path):
    _, report = default_run
    [vault] = violations(report, "vault-password-length")
    assert vault.message.endswith("password [secret] is too short")  # the pack leaked it; redacted
    write_sarif(report, tmp_path / "policy.sarif", stack="dev")
    write_junit(report, tmp_path / "policy.xml", stack="dev", registrations=registrations())
    everything = json.dumps([vars(v) for v in report.violations]) + json.dumps(report.packs)
    everything += (tmp_path / "policy.sarif").read_text() + (tmp_path / "policy.xml").read_text()
    assert VAULT_PASSWORD not in everything and API_TOKEN not in everything


def test_reports_of_a_real_run(default_run, tmp_path):
    _, report = default_run
    write_sarif(report, tmp_path / "policy.sarif", stack="dev")
    sarif = json.loads((tmp_path / "policy.sarif").read_text())
    assert sarif["version"] == "2.1.0" and [run["tool"]["driver"]["name"] for run in sarif["runs"]] == [DNS, MAIL]
    dns_run = sarif["runs"][0]
    rules = {rule["id"]: rule for rule in dns_run["tool"]["driver"]["rules"]}
    assert rules["record-ttl-limit"]["helpUri"] == "https://example.invalid/policies/record-ttl-limit"
    [ttl] = [result for result in dns_run["results"] if result["ruleId"] == "record-ttl-limit"]
    assert ttl["level"] == "error"
    assert ttl["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == RECORD_URN
    assert ttl["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.dev.yaml"

    write_junit(report, tmp_path / "policy.xml", stack="dev", registrations=registrations())
    suites = {suite.get("name"): suite for suite in ET.parse(tmp_path / "policy.xml").getroot()}
    cases = {case.get("name"): case for case in suites[DNS].iter("testcase")}
    assert [f.get("type") for f in cases["record-ttl-limit"].findall("failure")] == ["mandatory"]
    assert cases["record-zone-known"].find("failure") is None  # advisory after the SDK's downgrade
    assert "can't run policy" in cases["record-zone-known"].find("system-out").text


def test_policy_raising_during_analyze_gives_pack_error(tmp_path, monkeypatch):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text(textwrap.dedent("""\
        from pulumi_policy import PolicyPack, ResourceValidationPolicy

        def broken(args, report_violation):
            raise KeyError("no such field in " + args.name)

        PolicyPack("broken-pack", [ResourceValidationPolicy("broken", "Always raises.", validate=broken)])
        """))
    runner = Runner(monkeypatch)
    with pytest.raises(PackError) as caught:
        runner.run([tmp_path])
    message = str(caught.value)
    assert "policy pack 'broken-pack'" in message and "failed in Analyze" in message
    assert "no such field in isp-dev" in message  # the first registration analysed is the stack
    runner.assert_all_stopped(expected=1)


def test_versions_come_from_pulumipolicy_yaml(default_run):
    _, report = default_run
    versions = {pack["name"]: pack["version"] for pack in report.packs}
    assert versions == {DNS: "1.2.3", MAIL: "0.0.1"}  # no version in the mail pack's yaml
    assert {v.policy_pack_version for v in report.violations if v.policy_pack == DNS} == {"1.2.3"}


def test_configure_stack_carries_the_stack_tags(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: isp\nruntime: python\ndescription: The ISP\n")
    runner = Runner(monkeypatch)
    report = runner.run([INTROSPECT_PACK], project_dir=project)
    assert how_the_pack_ran(report)["stackTags"] == {
        "pulumi:project": "isp", "pulumi:runtime": "python", "pulumi:description": "The ISP"}
    runner.assert_all_stopped(expected=1)
