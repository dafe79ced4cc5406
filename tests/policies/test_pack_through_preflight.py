"""The pack end to end, as `pulumi preview --policy-pack policies` runs it: through preflight.

Two kinds of stacks are judged: a hand-written program (raw pulumi-cloudflare and
pulumi-command resources, none of our components), and copies of our prod stack with one
lesson broken in its config.
"""

from __future__ import annotations

import json

import pytest
from preflight_runs import handmade, host_config, preflight, prod_copy, violations_of

MANDATORY = {
    "no-open-recursion",
    "dns-not-cohosted-with-web",
    "mail-host-fcrdns",
    "prod-zones-protected",
    "webmail-certificate-matches",
    "null-mx-alone",
    "dmarc-enforcement-needs-dkim",
    "dkim-record-matches-signing-key",
}
ADVISORY = {
    "smtp-banner-matches-ptr",
    "spf-valid",
    "customer-smtp-egress-blocked",
    "mail-nat-symmetric",
    "submission-requires-auth",
    "daily-send-limit",
    "message-size-limit",
    "maildir-not-mbox",
    "one-dump-per-database",
    "null-mx-sends-nothing",
}








def test_handmade_compliant_stack_passes_every_policy(tmp_path):
    code, document, output = preflight(handmade(tmp_path, "prod", []), "prod", tmp_path)
    assert code == 0, output
    assert document["violations"] == [], document["violations"]


@pytest.mark.parametrize("policy", sorted(MANDATORY | ADVISORY))
def test_handmade_stack_breaking_one_lesson_is_caught(tmp_path, policy):
    code, document, output = preflight(handmade(tmp_path, "prod", [policy]), "prod", tmp_path)
    found = violations_of(document, policy)
    assert found, output
    level = "mandatory" if policy in MANDATORY else "advisory"
    assert {v["enforcementLevel"] for v in found} == {level}
    assert code == (1 if policy in MANDATORY else 0), output
    assert all(v["urn"].startswith("urn:pulumi:prod::handmade::") for v in found)






def _dns_onto_web(config: dict) -> None:
    """The name servers retired, and BIND moved onto the web host."""
    config["isp:hosts"] = [h for h in config["isp:hosts"] if h["name"] not in ("ns1", "ns2")]
    host_config(config, "www")["roles"] = ["dns", "web", "webmail"]


@pytest.mark.parametrize(
    ("mutate", "policy"),
    [
        (lambda c: c.update({"isp:dns": {"recursionClients": ["any"]}}), "no-open-recursion"),
        (lambda c: c.update({"isp:dns": {"recursionClients": ["0.0.0.0/0", "::/0"]}}), "no-open-recursion"),
        (_dns_onto_web, "dns-not-cohosted-with-web"),
        (lambda c: host_config(c, "mail").update(publishPtr=False), "mail-host-fcrdns"),
    ],
)
def test_prod_with_a_broken_lesson_is_blocked(tmp_path, mutate, policy):
    code, document, output = preflight(prod_copy(tmp_path, mutate), "prod", tmp_path)
    assert code == 1, output
    found = violations_of(document, policy)
    assert found and {v["enforcementLevel"] for v in found} == {"mandatory"}
    assert f"[mandatory] {policy}" in output


def test_policy_pack_config_can_relax_a_level(tmp_path):
    config = tmp_path / "pack-config.json"
    config.write_text(json.dumps({"no-open-recursion": "advisory"}))
    project = prod_copy(tmp_path, lambda c: c.update({"isp:dns": {"recursionClients": ["any"]}}))
    code, document, output = preflight(project, "prod", tmp_path, "--policy-pack-config", str(config))
    assert code == 0, output
    assert {v["enforcementLevel"] for v in violations_of(document, "no-open-recursion")} == {"advisory"}


def test_sarif_and_junit_for_ci(tmp_path):
    project = prod_copy(tmp_path, lambda c: host_config(c, "mail").update(publishPtr=False))
    sarif, junit = tmp_path / "out.sarif", tmp_path / "out.xml"
    code, _, output = preflight(project, "prod", tmp_path, "--sarif", str(sarif), "--junit", str(junit))
    assert code == 1, output
    document = json.loads(sarif.read_text())
    assert document["version"] == "2.1.0"
    results = [r for run in document["runs"] for r in run["results"]]
    assert any(r["ruleId"] == "mail-host-fcrdns" and r["level"] == "error" for r in results)
    assert "mail-host-fcrdns" in junit.read_text() and "<failure" in junit.read_text()


def test_secrets_never_surface_in_any_output(tmp_path):
    """The program's SSH key is a secret: not in the terminal, JSON, SARIF, JUnit or build/."""
    broken = ["no-open-recursion", "mail-host-fcrdns", "spf-valid"]
    sarif, junit = tmp_path / "out.sarif", tmp_path / "out.xml"
    code, document, output = preflight(
        handmade(tmp_path, "prod", broken), "prod", tmp_path, "--sarif", str(sarif), "--junit", str(junit)
    )
    assert code == 1, output
    assert document["violations"]
    secret = "SSH-KEY-MATERIAL-7f3a9c"
    written = [p for p in (tmp_path / "build").rglob("*") if p.is_file()]
    assert written  # the host files were written, so they are checked too
    for text in [
        output,
        json.dumps(document),
        sarif.read_text(),
        junit.read_text(),
        *(p.read_text(errors="replace") for p in written),
    ]:
        assert secret not in text


def test_lab_stack_local_delivery_is_judged_too(tmp_path):
    """The lab delivers with local.Commands, not CopyToRemote: its named.conf is judged all the same."""
    code, document, output = preflight(prod_copy(tmp_path, lambda c: None, "lab"), "lab", tmp_path)
    assert code == 0, output
    not_judged = [n for n in document["notApplicable"] if n["policy"] == "no-open-recursion"]
    opened = prod_copy(
        tmp_path / "opened", lambda c: c.setdefault("isp:dns", {}).update(recursionClients=["any"]), "lab"
    )
    code, document, output = preflight(opened, "lab", tmp_path / "opened")
    assert code == 1, output
    found = violations_of(document, "no-open-recursion")
    assert found and all("command:local:Command::" in v["urn"] for v in found), [v["urn"] for v in found]
    assert not_judged == []  # the lab's named.conf, written by a local.Command, was read and judged (not skipped)
