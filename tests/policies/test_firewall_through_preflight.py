"""Lessons 1 and 7 end to end through preflight on a hand-written iptables router (programs/firewall):
rules.v4/rules.v6 delivered by CopyToRemote, and iptables/ip6tables commands run by a remote.Command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from preflight_runs import preflight, violations_of

FIREWALL = Path(__file__).parent / "programs" / "firewall"
POLICIES = ("customer-smtp-egress-blocked", "mail-nat-symmetric")


def _program(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "firewall"
    shutil.copytree(FIREWALL, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"firewall:case": case}}))
    return project


@pytest.mark.parametrize(("case", "expected"), [
    ("rules-compliant", {}),
    ("rules-broken", {
        "customer-smtp-egress-blocked": "chain iptables FORWARD accepts it with '-A FORWARD -s 100.64.0.0/10 -i eth1 "
                                        "-j ACCEPT' (/etc/iptables/rules.v4, line 18)",
        "mail-nat-symmetric": "10.0.1.25 meets '-A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE' (chain iptables "
                              "-t nat POSTROUTING, /etc/iptables/rules.v4, line 8) before any snat to 198.51.100.25"}),
    ("commands-compliant", {}),
    ("commands-broken-v6", {
        "customer-smtp-egress-blocked": "chain ip6tables FORWARD accepts it with 'ip6tables -A FORWARD -s "
                                        "2001:db8:100::/40 -j ACCEPT' (command firewall on gw.example.net, line 12)"}),
])
def test_iptables_router(tmp_path, case, expected):
    status, document, output = preflight(_program(tmp_path, case), "dev", tmp_path)
    assert status == 0, output  # both policies are advisory
    for policy in POLICIES:
        found = violations_of(document, policy)
        if policy not in expected:
            assert found == [], found
            continue
        (violation,) = found
        assert violation["enforcementLevel"] == "advisory"
        assert "\ngw.example.net (198.51.100.1) [" in violation["message"], violation
        assert expected[policy] in violation["message"], violation
    judged = [n for n in document.get("notApplicable", []) if n.get("policy") in POLICIES]
    assert judged == [], judged  # both policies judged the router
