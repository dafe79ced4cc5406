"""customer-smtp-egress-blocked and mail-nat-symmetric over delivered nftables rulesets."""

from __future__ import annotations

import pytest
from pack_builders import component, copy_file, run, view_of
from rules import gateway as gateway_rules

GW = "10.0.0.1"
RULESET = """table inet filter {
  set customers { type ipv4_addr; flags interval; elements = { 100.64.0.0/16 } }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    ip saddr @customers ip daddr != 203.0.113.25 tcp dport 25 reject with tcp reset
    ip saddr @customers accept
  }
}
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr 203.0.113.25 dnat to 10.0.1.25
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    ip saddr 10.0.1.25 snat to 203.0.113.25
    ip saddr 10.0.0.0/8 oifname "wan0" masquerade
  }
}
"""


def egress(text: str | None, config: dict | None = None, evidence: list | None = None):
    resources = [copy_file(GW, "/etc/nftables.conf", text)] if text is not None else []
    if evidence is not None:
        resources.append(component("isp:gateway:Gateway", "gw", {"customerPools": evidence}))
    return run(gateway_rules.egress_findings, view_of(*resources), config)


def test_compliant_gateway() -> None:
    assert egress(RULESET) == ([], None)
    assert egress(RULESET, evidence=[{"name": "dsl", "prefix": "100.64.0.0/16"}]) == ([], None)


def test_no_ruleset_at_all_is_a_violation() -> None:
    (message,), _ = egress(None)
    assert message.startswith("no nftables ruleset is deployed by this stack")
    assert "lesson 1" in message


def test_accept_before_the_block() -> None:
    text = RULESET.replace("    ip saddr @customers accept\n", "").replace(
        "    ct state established,related accept\n",
        "    ct state established,related accept\n    ip saddr @customers accept\n")
    (message,), _ = egress(text)
    assert message == ("/etc/nftables.conf on 10.0.0.1: new TCP/25 from 100.64.0.0/16 to an outside server is not "
                       "rejected: chain inet filter forward accepts it with 'ip saddr @customers accept' (line 6); "
                       "limit: customers reach port 25 only on our own mail hosts")


def test_no_port_25_rule() -> None:
    text = RULESET.replace("    ip saddr @customers ip daddr != 203.0.113.25 tcp dport 25 reject with tcp reset\n", "")
    (message,), _ = egress(text)
    assert "no forward rule drops or rejects tcp dport 25" in message


def test_pools_from_evidence_that_the_rule_misses() -> None:
    (message,), _ = egress(RULESET, evidence=["100.64.0.0/16", "100.80.0.0/16"])
    assert "from 100.80.0.0/16" in message and "policy accept" in message


def test_pools_from_config() -> None:
    messages, _ = egress(RULESET, config={"customerPools": ["100.90.0.0/16"]})
    assert messages and "100.90.0.0/16" in messages[0]


def test_interface_scoped_block_counts_and_unknown_accept_is_flagged() -> None:
    scoped = RULESET.replace("ip saddr @customers ip daddr != 203.0.113.25 tcp dport 25",
                             'iifname "cust0" ip daddr != 203.0.113.25 tcp dport 25')
    assert egress(scoped) == ([], None)
    uncertain = RULESET.replace("    ct state established,related accept\n",
                                '    ct state established,related accept\n    iifname "lan0" accept\n')
    (message,), _ = egress(uncertain)
    assert "may accept it first with 'iifname \"lan0\" accept'" in message


def test_forward_policy_drop_without_accept_blocks() -> None:
    text = ("table inet filter {\n chain forward {\n  type filter hook forward priority 0; policy drop;\n"
            "  tcp dport { 465, 587 } accept\n  tcp dport 25 drop\n }\n}\n")
    assert egress(text) == ([], None)


def test_host_firewall_without_forward_chain() -> None:
    text = "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n"
    (message,), _ = egress(text)
    assert message.startswith("no delivered ruleset has a forward chain")


# -- mail-nat-symmetric ------------------------------------------------------------------------


def nat(text: str):
    return run(gateway_rules.nat_findings, view_of(copy_file(GW, "/etc/nftables.conf", text)))


def test_symmetric_nat_passes() -> None:
    assert nat(RULESET) == ([], None)


def test_masquerade_first() -> None:
    snat = "    ip saddr 10.0.1.25 snat to 203.0.113.25\n"
    masquerade = '    ip saddr 10.0.0.0/8 oifname "wan0" masquerade\n'
    text = RULESET.replace(snat + masquerade, masquerade + snat)
    (message,), _ = nat(text)
    assert message == ("/etc/nftables.conf on 10.0.0.1: dnat 203.0.113.25 -> 10.0.1.25 (line 13): 10.0.1.25 meets "
                       "'ip saddr 10.0.0.0/8 oifname \"wan0\" masquerade' (chain ip nat postrouting, line 17) "
                       "before any snat to 203.0.113.25, so it sends from the interface address, not 203.0.113.25; put "
                       "'ip saddr 10.0.1.25 snat to 203.0.113.25' first")


@pytest.mark.parametrize("change,expected", [
    (("snat to 203.0.113.25", "snat to 203.0.113.99"), "leaves as 203.0.113.99, not 203.0.113.25"),
    (("    ip saddr 10.0.1.25 snat to 203.0.113.25\n    ip saddr 10.0.0.0/8 oifname \"wan0\" masquerade\n", ""),
     "has no snat for 10.0.1.25"),
])
def test_asymmetric_nat(change, expected: str) -> None:
    (message,), _ = nat(RULESET.replace(*change))
    assert expected in message


def test_no_dnat_is_not_applicable() -> None:
    assert nat("table inet filter {\n}\n") == ([], "no delivered nftables ruleset has a dnat rule")
