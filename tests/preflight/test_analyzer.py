"""preflight.analyzer drives real policy packs (tests/preflight/packs) through the analyzer protocol."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from preflight import analyzer
from preflight.analyzer import (
    PackError,
    PackProject,
    PolicyConfig,
    PolicyInfo,
    analyze_request,
    pack_environment,
    pack_interpreter,
    parse_policy_pack_config,
    reconcile_policy_pack_config,
    run_policy_packs,
    schema_errors,
    secret_values,
    stack_resource,
    validate_policy_pack_config,
)
from preflight.model import ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration
from preflight.reports import write_junit, write_sarif

PACKS = Path(__file__).resolve().parent / "packs"
DNS_PACK, MAIL_PACK, CRASHING_PACK = PACKS / "dns_guard", PACKS / "mail_guard", PACKS / "crashing"
DNS, MAIL = "preflight-fixture-dns", "preflight-fixture-mail"

PREFIX = "urn:pulumi:dev::isp::"
ROOT_URN = PREFIX + "pulumi:pulumi:Stack::isp-dev"
PROVIDER_URN = PREFIX + "pulumi:providers:cloudflare::default_6_23_0"
ZONE_URN = PREFIX + "isp:dns:Zone::example"
RECORD_URN = PREFIX + "isp:dns:Zone$cloudflare:index/dnsRecord:DnsRecord::www"
VAULT_URN = PREFIX + "test:index:Vault::secrets"
MAIL_URN = PREFIX + "test:index:MailHost::mx1"
COPY_URN = PREFIX + "command:remote:CopyToRemote::main-cf"
VAULT_PASSWORD = "hunter2-but-longer"
API_TOKEN = "tok-abcdef-123456"


def secret(value):
    return {SIG_KEY: SECRET_SIG, "value": value}


def registrations() -> list[Registration]:
    record_inputs = {"zoneId": UNKNOWN, "name": "www", "type": "A", "content": "192.0.2.10", "ttl": 86400}
    mail_inputs = {"messageSizeLimit": 20971520, "mailboxFormat": "mbox"}
    main_cf = {SIG_KEY: ASSET_SIG, "text": "mailbox_size_limit = 0\n"}
    return [
        Registration(ROOT_URN, "pulumi:pulumi:Stack", "isp-dev", custom=False, outputs={"zone": "example.net"}),
        Registration(
            PROVIDER_URN, "pulumi:providers:cloudflare", "default_6_23_0", custom=True, parent=ROOT_URN,
            inputs={"version": "6.23.0"}, outputs={"version": "6.23.0"},
        ),
        Registration(
            ZONE_URN, "isp:dns:Zone", "example", custom=False, parent=ROOT_URN, inputs={"name": "example.net"}
        ),
        Registration(
            RECORD_URN, "cloudflare:index/dnsRecord:DnsRecord", "www", custom=True, parent=ZONE_URN,
            dependencies=[ZONE_URN], property_dependencies={"zoneId": [ZONE_URN], "ttl": []},
            provider=f"{PROVIDER_URN}::{UNKNOWN}", protect=True,
            inputs={**record_inputs, "__defaults": []}, outputs={**record_inputs, "id": UNKNOWN},
        ),
        Registration(
            VAULT_URN, "test:index:Vault", "secrets", custom=True, parent=ROOT_URN,
            inputs={"password": secret(VAULT_PASSWORD)}, outputs={"password": secret(VAULT_PASSWORD), "id": UNKNOWN},
        ),
        Registration(
            MAIL_URN, "test:index:MailHost", "mx1", custom=True, parent=ROOT_URN,
            inputs=mail_inputs, outputs={**mail_inputs, "id": UNKNOWN},
        ),
        Registration(
            COPY_URN, "command:remote:CopyToRemote", "main-cf", custom=True, parent=ROOT_URN,
            inputs={"source": main_cf, "remotePath": "/etc/postfix/main.cf"},
        ),
    ]


ALL_URNS = {registration.urn for registration in registrations()}


class Runner:
    """Runs packs over the fixture registrations and records every process started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.processes: list[subprocess.Popen] = []
        processes = self.processes

        class RecordingPopen(subprocess.Popen):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                processes.append(self)

        monkeypatch.setattr(analyzer.subprocess, "Popen", RecordingPopen)

    def run(self, pack_dirs: list[Path], config_file: Path | None = None):
        return run_policy_packs(
            registrations(), project="isp", stack="dev", organization="acme",
            config={"isp:apiToken": API_TOKEN, "isp:domain": "example.net"}, secret_keys=["isp:apiToken"],
            pack_dirs=pack_dirs, pack_config_file=config_file,
        )

    def assert_all_stopped(self, expected: int) -> None:
        """`expected` packs were started; they and every other process (relays) have stopped."""
        packs = [process for process in self.processes if "pulumi.policy" in " ".join(map(str, process.args))]
        assert len(packs) == expected
        assert all(process.poll() is not None for process in self.processes), "a pack process is still running"


def violations(report, policy: str, urn: str | None = None):
    return [v for v in report.violations if v.policy == policy and (urn is None or v.urn == urn)]


def write_config(directory: Path, config: dict) -> Path:
    path = directory / "policy-config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def default_run():
    with pytest.MonkeyPatch.context() as monkeypatch:
        runner = Runner(monkeypatch)
        report = runner.run([DNS_PACK, MAIL_PACK])
    return runner, report


@pytest.fixture(scope="module")
def configured_run(tmp_path_factory):
    config_file = write_config(tmp_path_factory.mktemp("configured"), {
        "record-ttl-limit": {"maxTtl": 100000},
        "message-size-limit": {"enforcementLevel": "mandatory", "maxBytes": 1048576},
        "maildir-not-mbox": "advisory",
        "resource-inventory": "disabled",
    })
    with pytest.MonkeyPatch.context() as monkeypatch:
        runner = Runner(monkeypatch)
        report = runner.run([DNS_PACK, MAIL_PACK], config_file)
    return runner, report


# --- a run with the packs' own configuration -----------------------------------------------------------


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


def test_versions_come_from_pulumipolicy_yaml(default_run):
    _, report = default_run
    versions = {pack["name"]: pack["version"] for pack in report.packs}
    assert versions == {DNS: "1.2.3", MAIL: "0.0.1"}  # no version in the mail pack's yaml
    assert {v.policy_pack_version for v in report.violations if v.policy_pack == DNS} == {"1.2.3"}


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


# --- configuration -----------------------------------------------------------------------------------------


def test_config_file_overrides_levels_and_properties(configured_run):
    runner, report = configured_run
    runner.assert_all_stopped(expected=2)
    assert violations(report, "record-ttl-limit") == []  # maxTtl raised above the record's 86400
    [size] = violations(report, "message-size-limit")
    assert size.enforcement_level == "mandatory" and size.message.endswith("exceeds 1048576")
    assert violations(report, "resource-inventory") == []
    levels = {policy["name"]: policy["enforcementLevel"] for pack in report.packs for policy in pack["policies"]}
    assert levels["resource-inventory"] == "disabled" and levels["message-size-limit"] == "mandatory"
    assert levels["record-ttl-limit"] == "mandatory"  # an entry with only properties keeps the level


def test_remediation_off_leaves_the_stack_policy_to_catch_mbox(configured_run):
    _, report = configured_run
    assert report.remediations == []
    [mbox] = violations(report, "no-mbox-left")
    assert (mbox.urn, mbox.enforcement_level, mbox.severity) == (MAIL_URN, "mandatory", "high")


def test_all_disabled_silences_every_policy(tmp_path, monkeypatch):
    runner = Runner(monkeypatch)
    report = runner.run([DNS_PACK, MAIL_PACK], write_config(tmp_path, {"all": "disabled"}))
    runner.assert_all_stopped(expected=2)
    assert report.violations == [] and report.remediations == []
    assert {policy["enforcementLevel"] for pack in report.packs for policy in pack["policies"]} == {"disabled"}


def test_config_violating_the_schema_is_rejected(tmp_path, monkeypatch):
    runner = Runner(monkeypatch)
    config_file = write_config(tmp_path, {"message-size-limit": {"maxBytes": "ten megabytes"}})
    with pytest.raises(PackError) as caught:
        runner.run([MAIL_PACK], config_file)
    assert "message-size-limit: maxBytes: Invalid type. Expected: integer, given: string" in str(caught.value)
    runner.assert_all_stopped(expected=1)


# --- failures ----------------------------------------------------------------------------------------------


def test_crashing_pack_reports_its_stderr_and_stops_the_others(monkeypatch):
    runner = Runner(monkeypatch)
    with pytest.raises(PackError) as caught:
        runner.run([DNS_PACK, CRASHING_PACK])
    message = str(caught.value)
    assert "exited before printing its gRPC port" in message and "exited with code 1" in message
    assert "RuntimeError: fixture pack crashed on purpose before serving" in message
    runner.assert_all_stopped(expected=2)  # the dns pack, already running, is stopped too


def test_silent_pack_times_out_and_is_killed(tmp_path, monkeypatch):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text(
        f"import sys, time\nprint('{API_TOKEN} is the token', file=sys.stderr, flush=True)\ntime.sleep(120)\n"
    )
    monkeypatch.setattr(analyzer, "PACK_START_TIMEOUT_SECONDS", 2.0)
    runner = Runner(monkeypatch)
    with pytest.raises(PackError) as caught:
        runner.run([tmp_path])
    assert "did not print its gRPC port within 2 s" in str(caught.value)
    assert "[secret] is the token" in str(caught.value) and API_TOKEN not in str(caught.value)
    runner.assert_all_stopped(expected=1)


def test_pack_with_another_runtime_is_refused(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: nodejs\n")
    with pytest.raises(PackError, match="runs Python packs only"):
        run_policy_packs([], project="p", stack="s", organization="o", config={}, secret_keys=[], pack_dirs=[tmp_path])


# --- pure parts --------------------------------------------------------------------------------------------

POLICIES = [
    PolicyInfo("ttl", "", "mandatory", config_schema={
        "properties": {"maxTtl": {"type": "integer", "default": 3600, "minimum": 1}}, "required": ["maxTtl"]}),
    PolicyInfo("size", "", "advisory", config_schema={"properties": {"maxBytes": {"type": "integer"}}}),
    PolicyInfo("plain", "", "advisory"),
]


def test_parse_policy_pack_config():
    parsed = parse_policy_pack_config(json.dumps({
        "all": "advisory", "ttl": {"enforcementLevel": "disabled", "maxTtl": 60}, "size": {"maxBytes": 5}, "empty": {},
    }))
    assert parsed == {
        "all": PolicyConfig("advisory"), "ttl": PolicyConfig("disabled", {"maxTtl": 60}),
        "size": PolicyConfig("", {"maxBytes": 5}),
    }
    assert parse_policy_pack_config("  \n") == {}
    for bad, reason in (('{"ttl": "loud"}', "enforcement level 'loud'"), ('{"ttl": 3}', "not a JSON integer"),
                        ("[1]", "JSON object"), ("{", "not valid JSON")):
        with pytest.raises(PackError, match=reason):
            parse_policy_pack_config(bad)


def test_reconcile_layers_defaults_initial_config_and_file():
    initial = {"size": PolicyConfig("mandatory", {"maxBytes": 10})}
    file_config = {"all": PolicyConfig("advisory"), "ttl": PolicyConfig("", {"maxTtl": 60}),
                   "size": PolicyConfig("disabled")}
    assert reconcile_policy_pack_config(POLICIES, None, None) == {
        "ttl": PolicyConfig("mandatory", {"maxTtl": 3600}), "size": PolicyConfig("advisory"),
        "plain": PolicyConfig("advisory"),
    }
    assert reconcile_policy_pack_config(POLICIES, initial, file_config) == {
        "ttl": PolicyConfig("advisory", {"maxTtl": 60}),  # `all` first, then the policy's own entry
        "size": PolicyConfig("disabled", {"maxBytes": 10}),
        "plain": PolicyConfig("advisory"),
        "all": PolicyConfig("advisory"),  # the engine keeps it too; no policy has that name
    }


def test_validate_policy_pack_config_reports_each_policy():
    config = {"ttl": PolicyConfig("mandatory", {"maxTtl": 0}), "size": PolicyConfig("advisory", {"maxBytes": 1.5})}
    assert validate_policy_pack_config(POLICIES, config) == [
        "ttl: maxTtl: Must be greater than or equal to 1",
        "size: maxBytes: Invalid type. Expected: integer, given: number",
    ]
    assert validate_policy_pack_config(POLICIES, {}) == ["ttl: (root): maxTtl is required"]


def test_schema_errors_follow_json_types():
    assert schema_errors({"type": "integer"}, 250.0) == []  # numbers cross the wire as doubles
    assert schema_errors({"type": "integer"}, True) == ["(root): Invalid type. Expected: integer, given: boolean"]
    assert schema_errors({"enum": [1, "a"]}, True) == ['(root): must be one of [1, "a"]']
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"ports": {"type": "array", "items": {"type": "integer", "maximum": 65535}}}}
    assert schema_errors(schema, {"ports": [25, 70000], "extra": 1}) == [
        "ports.1: Must be less than or equal to 65535", "(root): Additional property extra is not allowed",
    ]
    assert schema_errors({"type": "string", "pattern": "^[a-z]+$", "maxLength": 3}, "abcd") == [
        "(root): String length must be less than or equal to 3"]


def test_missing_virtualenv_falls_back_to_this_interpreter(tmp_path, capsys):
    project = PackProject(tmp_path, "python", {"virtualenv": "venv"})
    assert pack_interpreter(project) == (Path(sys.executable), None)
    assert f"virtualenv {tmp_path / 'venv'} does not exist" in capsys.readouterr().err
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")
    assert pack_interpreter(project) == (tmp_path / "venv" / "bin" / "python", tmp_path / "venv")


def test_pack_environment_carries_the_stack():
    base = {"PATH": "/usr/bin", "PYTHONHOME": "/x", "PULUMI_CONFIG": '{"stale": "1"}'}
    env = pack_environment(base, project="isp", stack="dev", organization="", config={"isp:a": "1"},
                           secret_keys=["isp:a"], dry_run=True, venv_dir=Path("/packs/p/venv"))
    assert json.loads(env["PULUMI_CONFIG"]) == {"isp:a": "1"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["isp:a"]
    assert (env["PULUMI_PROJECT"], env["PULUMI_STACK"], env["PULUMI_DRY_RUN"]) == ("isp", "dev", "true")
    assert "PULUMI_ORGANIZATION" not in env and "PYTHONHOME" not in env  # empty values are left out
    assert env["PATH"] == "/packs/p/venv/bin:/usr/bin"


def test_requests_carry_what_the_engine_sends():
    regs = registrations()
    by_urn = {r.urn: r for r in regs}
    record = by_urn[RECORD_URN]
    request = analyze_request(record, record.inputs, by_urn)
    assert "__defaults" not in request.properties  # internal keys are skipped, as SkipInternalKeys does
    assert request.properties["zoneId"] == UNKNOWN and request.properties["ttl"] == 86400
    assert (request.provider.urn, request.provider.name, request.provider.properties["version"]) == (
        PROVIDER_URN, "default_6_23_0", "6.23.0")
    assert request.options.parent == ZONE_URN and request.options.protect
    assert "__defaults" in analyze_request(record, record.inputs, by_urn, for_remediate=True).properties
    resource = stack_resource(record, record.outputs, by_urn)
    assert resource.parent == ZONE_URN and list(resource.dependencies) == [ZONE_URN]
    assert list(resource.propertyDependencies) == ["zoneId"]  # empty lists are skipped
    assert resource.properties["id"] == UNKNOWN


def test_secret_values_hide_credentials_but_keep_addresses():
    connection = secret({"host": "192.0.2.25", "user": "root", "privateKey": "-----BEGIN KEY----- abc"})
    reg = Registration("urn:a", "t", "a", custom=True, inputs={"connection": connection, "pw": secret("s3cret-pw")})
    found = secret_values({"isp:token": API_TOKEN, "isp:domain": "example.net"}, ["isp:token"], [reg])
    assert found == {API_TOKEN, "s3cret-pw", "-----BEGIN KEY----- abc"}



def test_config_with_properties_for_no_policy_fails_as_in_the_cli(tmp_path, monkeypatch):
    runner = Runner(monkeypatch)
    with pytest.raises(PackError, match="'max-bytes'.*no enforcement level"):
        runner.run([MAIL_PACK], write_config(tmp_path, {"max-bytes": {"maxBytes": 5}}))
    runner.assert_all_stopped(expected=1)


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


def test_a_config_too_large_for_the_environment_still_reaches_the_pack(monkeypatch, capsys):
    # As PULUMI_CONFIG this is more than Linux lets one environment variable hold (exec fails: E2BIG).
    config = {"isp:apiToken": API_TOKEN, "isp:notes": "x" * (200 * 1024)}
    runner = Runner(monkeypatch)
    report = run_policy_packs(registrations(), project="isp", stack="dev", organization="acme", config=config,
                              secret_keys=["isp:apiToken"], pack_dirs=[DNS_PACK])
    runner.assert_all_stopped(expected=1)
    inventory = [v.message for v in violations(report, "stack-inventory", ROOT_URN)]
    assert any("resources=7 token=[secret]" in message for message in inventory)  # the pack read its config
    assert "pulumi/pulumi#20402" in capsys.readouterr().err
