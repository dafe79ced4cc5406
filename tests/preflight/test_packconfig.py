"""preflight.packconfig: policy pack config parsed, reconciled and validated as the engine does."""

from __future__ import annotations

import json

import pytest
from pack_helpers import DNS_PACK, MAIL_PACK, MAIL_URN, Runner, violations, write_config

from preflight.packconfig import (
    PolicyConfig,
    parse_policy_pack_config,
    reconcile_policy_pack_config,
    validate_policy_pack_config,
)
from preflight.verdicts import PackError, PolicyConfigError, PolicyInfo


@pytest.fixture(scope="module")
def configured_run(tmp_path_factory):
    config_file = write_config(tmp_path_factory.mktemp("configured"), {
        # Every entry names its level: the whole file goes to both packs (see the two-pack tests below).
        "record-ttl-limit": {"enforcementLevel": "mandatory", "maxTtl": 100000},
        "message-size-limit": {"enforcementLevel": "mandatory", "maxBytes": 1048576},
        "maildir-not-mbox": "advisory",
        "resource-inventory": "disabled",
    })
    with pytest.MonkeyPatch.context() as monkeypatch:
        runner = Runner(monkeypatch)
        report = runner.run([DNS_PACK, MAIL_PACK], config_file)
    return runner, report


def test_config_file_overrides_levels_and_properties(configured_run):
    runner, report = configured_run
    runner.assert_all_stopped(expected=2)
    assert violations(report, "record-ttl-limit") == []  # maxTtl raised above the record's 86400
    [size] = violations(report, "message-size-limit")
    assert size.enforcement_level == "mandatory" and size.message.endswith("exceeds 1048576")
    assert violations(report, "resource-inventory") == []
    levels = {policy["name"]: policy["enforcementLevel"] for pack in report.packs for policy in pack["policies"]}
    assert levels["resource-inventory"] == "disabled" and levels["message-size-limit"] == "mandatory"
    assert levels["record-ttl-limit"] == "mandatory"


def test_an_entry_with_only_properties_keeps_the_policys_level(tmp_path, monkeypatch):
    runner = Runner(monkeypatch)
    report = runner.run([DNS_PACK], write_config(tmp_path, {"record-ttl-limit": {"maxTtl": 100000}}))
    assert violations(report, "record-ttl-limit") == []
    [levels] = [{policy["name"]: policy["enforcementLevel"] for policy in pack["policies"]} for pack in report.packs]
    assert levels["record-ttl-limit"] == "mandatory"


def test_the_whole_file_reaches_every_pack_as_in_the_cli(tmp_path, monkeypatch):
    # update.go gives each pack the whole file: the mail pack gets record-ttl-limit with no level, and the CLI
    # fails in Configure ("invalid enforcement level").
    runner = Runner(monkeypatch)
    with pytest.raises(PackError, match="'record-ttl-limit', which is not a policy of policy pack "
                                        "'preflight-fixture-mail'.*no enforcement level"):
        runner.run([DNS_PACK, MAIL_PACK], write_config(tmp_path, {"record-ttl-limit": {"maxTtl": 100000}}))
    runner.assert_all_stopped(expected=2)


def test_schema_errors_of_every_pack_are_listed_as_the_cli_prints_them(tmp_path, monkeypatch):
    runner = Runner(monkeypatch)
    config_file = write_config(tmp_path, {
        "message-size-limit": {"enforcementLevel": "advisory", "maxBytes": "ten megabytes"},
        "record-ttl-limit": {"enforcementLevel": "mandatory", "maxTtl": 0},
    })
    with pytest.raises(PolicyConfigError) as caught:
        runner.run([MAIL_PACK, DNS_PACK], config_file)
    assert caught.value.lines == [  # sorted across packs, pack name and version first (update.go)
        "validating policy config: preflight-fixture-dns 1.2.3  record-ttl-limit: maxTtl: Must be greater than or "
        "equal to 1",
        "validating policy config: preflight-fixture-mail 0.0.1  message-size-limit: maxBytes: Invalid type. "
        "Expected: integer, given: string",
    ]
    assert str(caught.value).count("\nerror: validating policy config: ") == 1  # one CLI line per error
    runner.assert_all_stopped(expected=2)


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
    with pytest.raises(PolicyConfigError) as caught:
        runner.run([MAIL_PACK], config_file)
    assert caught.value.lines == ["validating policy config: preflight-fixture-mail 0.0.1  message-size-limit: "
                                  "maxBytes: Invalid type. Expected: integer, given: string"]
    runner.assert_all_stopped(expected=1)


def test_config_with_properties_for_no_policy_fails_as_in_the_cli(tmp_path, monkeypatch):
    runner = Runner(monkeypatch)
    with pytest.raises(PackError, match="'max-bytes'.*no enforcement level"):
        runner.run([MAIL_PACK], write_config(tmp_path, {"max-bytes": {"maxBytes": 5}}))
    runner.assert_all_stopped(expected=1)


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
    assert validate_policy_pack_config(POLICIES, {}) == ["ttl: maxTtl is required"]  # "(root): " trimmed
