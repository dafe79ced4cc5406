"""customer-smtp-egress-blocked and mail-nat-symmetric over each host's firewall: nftables, iptables-save files
(rules.v4/rules.v6), iptables commands in scripts and in Commands, IPv4 and IPv6."""

from __future__ import annotations

import pytest
from pack_builders import SECRET, SIG, component, copy_file, resource, run, view_of
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
    assert message.startswith("no firewall ruleset (nftables, iptables or ip6tables) is deployed by this stack")
    assert "lesson 1" in message


def test_accept_before_the_block() -> None:
    text = RULESET.replace("    ip saddr @customers accept\n", "").replace(
        "    ct state established,related accept\n",
        "    ct state established,related accept\n    ip saddr @customers accept\n")
    (message,), _ = egress(text)
    assert message == ("10.0.0.1 [/etc/nftables.conf]: new TCP/25 from 100.64.0.0/16 to an outside server is not "
                       "rejected: chain inet filter forward accepts it with 'ip saddr @customers accept' "
                       "(/etc/nftables.conf, line 6); limit: customers reach port 25 only on our own mail hosts")


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
    messages, reason = egress(uncertain)
    assert messages == []  # not judged, never a violation on what the pack cannot evaluate
    assert ("may accept it with 'iifname \"lan0\" accept' (/etc/nftables.conf, line 6), a match the pack cannot "
            "evaluate, before its reject 'ip saddr @customers ip daddr != 203.0.113.25 tcp dport 25 reject with tcp "
            "reset'") in reason
    assert "to settle it" in reason


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
    assert message == ("10.0.0.1 [/etc/nftables.conf]: dnat 203.0.113.25 -> 10.0.1.25 ('ip daddr 203.0.113.25 dnat "
                       "to 10.0.1.25', /etc/nftables.conf, line 13): 10.0.1.25 meets "
                       "'ip saddr 10.0.0.0/8 oifname \"wan0\" masquerade' (chain ip nat postrouting, "
                       "/etc/nftables.conf, line 17) before any snat to 203.0.113.25, so it sends from the interface "
                       "address, not 203.0.113.25; put 'ip saddr 10.0.1.25 snat to 203.0.113.25' first")


@pytest.mark.parametrize("change,expected", [
    (("snat to 203.0.113.25", "snat to 203.0.113.99"), "leaves as 203.0.113.99, not 203.0.113.25"),
    (("    ip saddr 10.0.1.25 snat to 203.0.113.25\n    ip saddr 10.0.0.0/8 oifname \"wan0\" masquerade\n", ""),
     "has no snat for 10.0.1.25"),
])
def test_asymmetric_nat(change, expected: str) -> None:
    (message,), _ = nat(RULESET.replace(*change))
    assert expected in message


def test_no_dnat_is_not_applicable() -> None:
    assert nat("table inet filter {\n}\n") == ([], "no delivered nftables or iptables ruleset has a dnat rule")


def test_nftables_netmap_prefix_form_is_one_to_one() -> None:
    """nft(8): `snat ip prefix to ip saddr map { ... }` is the nftables spelling of NETMAP."""
    text = RULESET.replace("    ip daddr 203.0.113.25 dnat to 10.0.1.25\n",
                           "    dnat ip prefix to ip daddr map { 203.0.113.16/28 : 10.0.1.16/28 }\n").replace(
        "    ip saddr 10.0.1.25 snat to 203.0.113.25\n",
        "    snat ip prefix to ip saddr map { 10.0.1.16/28 : 203.0.113.16/28 }\n")
    assert nat(text) == ([], None)
    (message,), _ = nat(text.replace("10.0.1.16/28 : 203.0.113.16/28", "10.0.1.16/28 : 203.0.113.32/28"))
    assert "10.0.1.16 meets 'snat ip prefix to ip saddr map { 10.0.1.16/28 : 203.0.113.32/28 }'" in message
    assert "leaves as 203.0.113.32, not 203.0.113.16" in message


# -- iptables / ip6tables ------------------------------------------------------------------------

# Debian's iptables-persistent files, as `iptables-save` writes them (iptables-extensions(8) options).
RULES_V4 = """# Generated by iptables-save v1.8.9 (nf_tables) on Tue Mar  4 10:12:01 2025
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 203.0.113.25/32 -i eth0 -j DNAT --to-destination 10.0.1.25
-A POSTROUTING -s 10.0.1.25/32 -o eth0 -j SNAT --to-source 203.0.113.25
-A POSTROUTING -s 100.64.0.0/10 -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:customers - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -s 100.64.0.0/10 -i eth1 -j customers
-A customers ! -d 203.0.113.25/32 -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset
-A customers -p tcp -m multiport --dports 465,587 -j ACCEPT
-A customers -j ACCEPT
COMMIT
"""
RULES_V6 = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -s 2001:db8:100::/40 ! -d 2001:db8:25::25/128 -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset
-A FORWARD -s 2001:db8:100::/40 -j ACCEPT
COMMIT
"""
POOLS = [{"prefix": "100.64.0.0/10"}, {"prefix": "2001:db8:100::/40"}]
# A hand-written firewall script: variables, loops, `-I FORWARD 1` above the customer accepts.
FIREWALL_SH = """#!/bin/sh
# /usr/local/sbin/firewall.sh - the border router
set -e
IPT=/usr/sbin/iptables
WAN=eth0
CUSTOMERS="100.64.0.0/10 198.18.0.0/15"
MAILHOST=203.0.113.25

$IPT -F
$IPT -t nat -F
$IPT -X
$IPT -P FORWARD DROP
$IPT -A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
for net in $CUSTOMERS; do
    $IPT -A FORWARD -s $net -o $WAN -j ACCEPT
done
# lesson 1, inserted above the accepts
for net in $CUSTOMERS; do
    $IPT -I FORWARD 1 -s $net ! -d $MAILHOST -p tcp --dport 25 -j REJECT --reject-with tcp-reset
done
$IPT -t nat -A PREROUTING -i $WAN -d $MAILHOST -j DNAT --to-destination 10.0.1.25
$IPT -t nat -A POSTROUTING -s 10.0.1.25 -o $WAN -j SNAT --to-source $MAILHOST
$IPT -t nat -A POSTROUTING -o $WAN -j MASQUERADE
"""


def remote_command(host: str, name: str, create: str):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "root", "privateKey": "not-a-key"}},
             "create": create}
    return resource("command:remote:Command", name, props)


def judged(rule, *resources, config: dict | None = None):
    return run(rule, view_of(*resources), config)


def v4(text: str = RULES_V4):
    return copy_file(GW, "/etc/iptables/rules.v4", text)


def v6(text: str = RULES_V6):
    return copy_file(GW, "/etc/iptables/rules.v6", text)


def pools(*prefixes):
    return component("isp:gateway:Gateway", "gw", {"customerPools": list(prefixes) or POOLS})


def test_iptables_persistent_files_block_both_families() -> None:
    assert judged(gateway_rules.egress_findings, v4(), v6(), pools()) == ([], None)
    assert judged(gateway_rules.egress_findings, v4(), v6()) == ([], None)  # sources read from the rules


def test_iptables_accept_before_the_reject_is_a_violation() -> None:
    text = RULES_V4.replace("-A FORWARD -s 100.64.0.0/10 -i eth1 -j customers\n",
                            "-A FORWARD -s 100.64.0.0/10 -j ACCEPT\n-A FORWARD -s 100.64.0.0/10 -i eth1 -j customers\n")
    (message,), _ = judged(gateway_rules.egress_findings, v4(text), v6(), pools())
    assert message == ("10.0.0.1 [/etc/iptables/rules.v4, /etc/iptables/rules.v6]: new TCP/25 from 100.64.0.0/10 to "
                       "an outside server is not rejected: chain iptables FORWARD accepts it with "
                       "'-A FORWARD -s 100.64.0.0/10 -j ACCEPT' (/etc/iptables/rules.v4, line 20); limit: customers "
                       "reach port 25 only on our own mail hosts")


def test_ip6tables_missing_or_accepting_is_a_violation() -> None:
    (message,), _ = judged(gateway_rules.egress_findings, v4(), pools())
    assert "from 2001:db8:100::/40 to an outside server is not filtered: no forward chain sees IPv6" in message
    text = RULES_V6.replace("-A FORWARD -s 2001:db8:100::/40 ! -d", "-A FORWARD -s 2001:db8:200::/40 ! -d")
    (message,), _ = judged(gateway_rules.egress_findings, v4(), v6(text), pools())
    assert ("chain ip6tables FORWARD accepts it with '-A FORWARD -s 2001:db8:100::/40 -j ACCEPT' "
            "(/etc/iptables/rules.v6, line 7)") in message


def test_iptables_reject_with_negated_mail_host_is_compliant_and_a_stray_port_is_not() -> None:
    text = RULES_V4.replace("--dport 25 -j REJECT", "--dport 2525 -j REJECT")
    (message,), _ = judged(gateway_rules.egress_findings, v4(text), v6(), pools())
    assert "iptables FORWARD accepts it with '-A customers -j ACCEPT' (/etc/iptables/rules.v4, line 23)" in message
    # The jump names no source: whether customers arrive on eth1 is not known, so neither is the verdict.
    unsure = text.replace("-A FORWARD -s 100.64.0.0/10 -i eth1 -j customers", "-A FORWARD -i eth1 -j customers")
    messages, reason = judged(gateway_rules.egress_findings, v4(unsure), v6(), pools())
    assert messages == []
    assert ("may accept it with '-A customers -j ACCEPT' (/etc/iptables/rules.v4, line 23), a match the pack "
            "cannot evaluate, before its policy drop") in reason


def test_firewall_script_with_insert_at_the_top_is_compliant() -> None:
    script = copy_file(GW, "/usr/local/sbin/firewall.sh", FIREWALL_SH)
    assert judged(gateway_rules.egress_findings, script, pools("100.64.0.0/10", "198.18.0.0/15")) == ([], None)
    assert judged(gateway_rules.nat_findings, script) == ([], None)


def test_firewall_script_appending_after_the_accepts_is_a_violation() -> None:
    script = copy_file(GW, "/usr/local/sbin/firewall.sh", FIREWALL_SH.replace("-I FORWARD 1", "-A FORWARD"))
    messages, _ = judged(gateway_rules.egress_findings, script, pools("100.64.0.0/10", "198.18.0.0/15"))
    assert len(messages) == 2
    assert messages[1] == ("10.0.0.1 [/usr/local/sbin/firewall.sh]: new TCP/25 from 198.18.0.0/15 to an outside "
                           "server is not rejected: chain iptables FORWARD accepts it with '/usr/sbin/iptables -A "
                           "FORWARD -s 198.18.0.0/15 -o eth0 -j ACCEPT' (/usr/local/sbin/firewall.sh, line 15); "
                           "limit: customers reach port 25 only on our own mail hosts")


def test_init_script_stop_branch_does_not_undo_the_start_branch() -> None:
    init = ("#!/bin/sh\n### BEGIN INIT INFO\n# Provides: firewall\n### END INIT INFO\n"
            "start() {\n  iptables -P FORWARD DROP\n"
            "  iptables -A FORWARD -s 100.64.0.0/10 -p tcp --dport smtp -j REJECT\n"
            "  iptables -A FORWARD -s 100.64.0.0/10 -j ACCEPT\n}\n"
            "stop() {\n  iptables -F\n  iptables -P FORWARD ACCEPT\n}\n"
            'case "$1" in\n  start|restart) start ;;\n  stop) stop ;;\n  *) echo "usage: $0 start|stop" ;;\nesac\n')
    script = copy_file(GW, "/etc/init.d/firewall", init)
    assert judged(gateway_rules.egress_findings, script, pools("100.64.0.0/10")) == ([], None)


def test_iptables_commands_in_a_remote_command() -> None:
    create = ("iptables -P FORWARD DROP && iptables -A FORWARD -s 100.64.0.0/10 -j ACCEPT\n"
              "ip6tables -P FORWARD DROP\n"
              "ip6tables -A FORWARD -s 2001:db8:100::/40 -p tcp --dport 25 -j REJECT\n"
              "ip6tables -A FORWARD -s 2001:db8:100::/40 -j ACCEPT\n")
    (message,), _ = judged(gateway_rules.egress_findings, remote_command(GW, "fw", create), pools())
    assert message.startswith("10.0.0.1 [command fw on 10.0.0.1]: new TCP/25 from 100.64.0.0/10 to an outside server "
                              "is not rejected: chain iptables FORWARD accepts it with 'iptables -A FORWARD -s "
                              "100.64.0.0/10 -j ACCEPT' (command fw on 10.0.0.1, line 1)")
    fixed = "iptables -I FORWARD 1 -s 100.64.0.0/10 -p tcp --dport 25 -j REJECT\n" + create
    assert judged(gateway_rules.egress_findings, remote_command(GW, "fw", fixed), pools()) == ([], None)


def test_unknown_ipset_before_the_block_is_not_judged_and_a_defined_one_is() -> None:
    text = RULES_V4.replace("-A FORWARD -s 100.64.0.0/10 -i eth1 -j customers\n",
                            "-A FORWARD -m set --match-set trusted src -j ACCEPT\n"
                            "-A FORWARD -s 100.64.0.0/10 -i eth1 -j customers\n")
    messages, reason = judged(gateway_rules.egress_findings, v4(text), v6(), pools())
    assert messages == []
    assert "may accept it with '-A FORWARD -m set --match-set trusted src -j ACCEPT' (/etc/iptables/rules.v4" in reason
    ipset = remote_command(GW, "sets", "ipset create trusted hash:net\nipset add trusted 192.0.2.0/24\n")
    assert judged(gateway_rules.egress_findings, ipset, v4(text), v6(), pools()) == ([], None)


def test_iptables_nat_one_to_one_and_masquerade_first() -> None:
    assert judged(gateway_rules.nat_findings, v4()) == ([], None)
    swapped = RULES_V4.replace("-A POSTROUTING -s 10.0.1.25/32 -o eth0 -j SNAT --to-source 203.0.113.25\n", "").replace(
        "COMMIT\n*filter", "-A POSTROUTING -s 10.0.1.25/32 -o eth0 -j SNAT --to-source 203.0.113.25\nCOMMIT\n*filter")
    swapped = swapped.replace("-A POSTROUTING -s 100.64.0.0/10 -o eth0 -j MASQUERADE",
                              "-A POSTROUTING -o eth0 -j MASQUERADE")
    (message,), _ = judged(gateway_rules.nat_findings, v4(swapped))
    assert message == ("10.0.0.1 [/etc/iptables/rules.v4]: dnat 203.0.113.25 -> 10.0.1.25 ('-A PREROUTING -d "
                       "203.0.113.25/32 -i eth0 -j DNAT --to-destination 10.0.1.25', /etc/iptables/rules.v4, line 7): "
                       "10.0.1.25 meets '-A POSTROUTING -o eth0 -j MASQUERADE' (chain iptables -t nat POSTROUTING, "
                       "/etc/iptables/rules.v4, line 8) before any snat to 203.0.113.25, so it sends from the "
                       "interface address, not 203.0.113.25; put '-t nat -I POSTROUTING 1 -s 10.0.1.25 -j SNAT "
                       "--to-source 203.0.113.25' first")


@pytest.mark.parametrize("post,expected", [
    ("-A POSTROUTING -s 10.0.1.16/28 -j NETMAP --to 203.0.113.16/28", None),
    ("-A POSTROUTING -s 10.0.1.16/28 -j NETMAP --to 203.0.113.48/28", "leaves as 203.0.113.48, not 203.0.113.16"),
    ("-A POSTROUTING -s 10.0.1.16/28 -j SNAT --to-source 203.0.113.16", "leaves as 203.0.113.16, not 203.0.113.31"),
    ("-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE", "before any snat to 203.0.113.16"),
])
def test_iptables_netmap(post: str, expected: str | None) -> None:
    text = ("*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
            f"-A PREROUTING -d 203.0.113.16/28 -j NETMAP --to 10.0.1.16/28\n{post}\nCOMMIT\n")
    messages, _ = judged(gateway_rules.nat_findings, v4(text))
    if expected is None:
        assert messages == []
    else:
        (message,) = messages
        assert "NETMAP 203.0.113.16/28 -> 10.0.1.16/28 ('-A PREROUTING -d 203.0.113.16/28 -j NETMAP" in message
        assert expected in message


def test_ip6tables_nat() -> None:
    text = ("*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
            "-A PREROUTING -d 2001:db8:25::25/128 -j DNAT --to-destination fd00::25\n"
            "-A POSTROUTING -s fd00::/64 -o eth0 -j MASQUERADE\n"
            "-A POSTROUTING -s fd00::25/128 -o eth0 -j SNAT --to-source 2001:db8:25::25\nCOMMIT\n")
    (message,), _ = judged(gateway_rules.nat_findings, v6(text))
    assert ("fd00::25 meets '-A POSTROUTING -s fd00::/64 -o eth0 -j MASQUERADE' (chain ip6tables -t nat "
            "POSTROUTING") in message
    lines = text.split("\n")
    lines[4], lines[5] = lines[5], lines[4]
    assert judged(gateway_rules.nat_findings, v6("\n".join(lines))) == ([], None)


def test_nftables_and_iptables_on_one_host_are_judged_together() -> None:
    """iptables-nft and nft tables coexist: a reject in either base chain stops the packet."""
    nft_only_accepts = ("table inet filter {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n"
                        "  ip saddr 100.64.0.0/10 accept\n }\n}\n")
    assert judged(gateway_rules.egress_findings, copy_file(GW, "/etc/nftables.conf", nft_only_accepts), v4(), v6(),
                  pools()) == ([], None)


def test_unreadable_firewall_is_not_judged() -> None:
    messages, reason = judged(gateway_rules.egress_findings, v4("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DROP\n"))
    assert messages == []
    assert "table filter has no COMMIT (iptables-restore applies none of it)" in reason
