"""hostview.gatewayview: one firewall per host from every file and command it receives, in load order."""

from __future__ import annotations

import pytest
from hostview import evidence, gatewayview
from pack_builders import SECRET, SIG, copy_file, record, resource, view_of, zone

GW = "gw.example.net"


def remote_command(host: str, name: str, create: str):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "root", "privateKey": "not-a-key"}},
             "create": create}
    return resource("command:remote:Command", name, props)


def forward_rules(view) -> list[str]:
    (hr,) = gatewayview.rulesets(view)
    return [r.quote for r in hr.ruleset.chain("ip", "filter", "FORWARD").rules]


@pytest.mark.parametrize("path,kind", [
    ("/etc/iptables/rules.v4", "iptables"), ("/etc/iptables/rules.v6", "iptables"),
    ("/etc/sysconfig/iptables", "iptables"), ("/etc/sysconfig/ip6tables", "iptables"),
    ("/etc/iptables.up.rules", "iptables"), ("/etc/init.d/iptables", "script"),
    ("/etc/network/if-pre-up.d/iptables", "script"), ("/usr/local/sbin/firewall.sh", "script"),
    ("/etc/nftables.conf", "nftables"), ("/etc/nftables.d/lan.conf", "nftables"),
    ("/etc/sysconfig/iptables-config", "other"),
])
def test_classify(path: str, kind: str) -> None:
    assert evidence.classify(path) == kind


def test_heredoc_file_restored_by_the_same_command() -> None:
    text = ("apt-get install -y iptables-persistent\ncat > /etc/iptables/rules.v4 <<'EOF'\n*filter\n"
            ":FORWARD DROP [0:0]\n-A FORWARD -s 100.64.0.0/10 -p tcp --dport 25 -j REJECT\nCOMMIT\nEOF\n"
            "iptables-restore < /etc/iptables/rules.v4\n")
    (hr,) = gatewayview.rulesets(view_of(remote_command(GW, "fw", text)))
    (rule,) = hr.ruleset.chain("ip", "filter", "FORWARD").rules
    assert rule.located == "/etc/iptables/rules.v4 (heredoc in command fw (line 2)), line 3"
    assert hr.host == GW and hr.notes == ()


def test_load_order_boot_files_then_scripts_then_commands() -> None:
    rules = copy_file(GW, "/etc/iptables/rules.v4", "*filter\n-A FORWARD -s 10.0.0.1 -j ACCEPT\nCOMMIT\n")
    script = copy_file(GW, "/etc/network/if-up.d/fw", "#!/bin/sh\niptables -A FORWARD -s 10.0.0.2 -j ACCEPT\n")
    command = remote_command(GW, "fw", "iptables -I FORWARD 1 -s 10.0.0.3 -j DROP")
    assert forward_rules(view_of(command, script, rules)) == [
        "iptables -I FORWARD 1 -s 10.0.0.3 -j DROP", "-A FORWARD -s 10.0.0.1 -j ACCEPT",
        "iptables -A FORWARD -s 10.0.0.2 -j ACCEPT"]
    # A command that restores the file after its own rules: the restore replaces the table.
    later = remote_command(GW, "fw", "iptables -A FORWARD -s 10.0.0.3 -j DROP\n"
                                     "iptables-restore < /etc/iptables/rules.v4\n")
    assert forward_rules(view_of(rules, later)) == ["-A FORWARD -s 10.0.0.1 -j ACCEPT"]
    # A file a command restores is loaded there, not also at boot: `--noflush` appends it once.
    extra = copy_file(GW, "/etc/iptables/extra.rules", "*filter\n-A FORWARD -s 10.0.0.4 -j DROP\nCOMMIT\n")
    noflush = remote_command(GW, "fw", "iptables -A FORWARD -s 10.0.0.3 -j DROP\n"
                                       "iptables-restore --noflush < /etc/iptables/extra.rules\n")
    assert forward_rules(view_of(extra, noflush)) == ["iptables -A FORWARD -s 10.0.0.3 -j DROP",
                                                      "-A FORWARD -s 10.0.0.4 -j DROP"]


def test_spellings_of_one_host_share_one_firewall() -> None:
    net = zone("example.net")
    v4 = copy_file(GW, "/etc/iptables/rules.v4", "*filter\n-A FORWARD -s 10.0.0.1 -j ACCEPT\nCOMMIT\n")
    command = remote_command("198.51.100.1", "fw", "iptables -A FORWARD -s 10.0.0.2 -j ACCEPT")
    view = view_of(net, record("gw.example.net", "A", "198.51.100.1", zone_resource=net), v4, command)
    assert forward_rules(view) == ["-A FORWARD -s 10.0.0.1 -j ACCEPT", "iptables -A FORWARD -s 10.0.0.2 -j ACCEPT"]


def test_a_restored_file_the_stack_does_not_deliver_is_noted() -> None:
    (hr,) = gatewayview.rulesets(view_of(remote_command(GW, "fw", "iptables-restore < /root/old.rules")))
    assert hr.notes == ("command fw on gw.example.net, line 1: 'iptables-restore' restores /root/old.rules, which "
                        "the stack does not deliver to this host (its rules are not known)",)


def test_dnat_map_and_snat_public_from_iptables_and_netmap() -> None:
    net = zone("example.net")
    rules = ("*nat\n-A PREROUTING -d 198.51.100.25/32 -j DNAT --to-destination 10.0.1.25\n"
             "-A PREROUTING -d 198.51.100.32/28 -j NETMAP --to 10.0.2.0/28\n"
             "-A POSTROUTING -s 10.0.1.25/32 -j SNAT --to-source 198.51.100.25\n"
             "-A POSTROUTING -s 10.0.2.0/28 -j NETMAP --to 198.51.100.32/28\nCOMMIT\n")
    view = view_of(net, record("www.example.net", "A", "198.51.100.40", zone_resource=net),
                   copy_file(GW, "/etc/iptables/rules.v4", rules))
    assert gatewayview.dnat_map(view) == {"198.51.100.25": {"10.0.1.25"}, "198.51.100.40": {"10.0.2.8"}}
    assert gatewayview.snat_public(view, "10.0.2.8") == [("198.51.100.40", "snat of 10.0.2.8 in /etc/iptables/rules.v4 "
                                                                            "on gw.example.net")]
    assert gatewayview.snat_public(view, "10.0.1.25")[0][0] == "198.51.100.25"


def test_hosts_without_firewall_evidence_have_no_ruleset() -> None:
    view = view_of(copy_file("mail.example.net", "/etc/postfix/main.cf", "myhostname = mail.example.net\n"),
                   remote_command("mail.example.net", "install", "apt-get install -y postfix"))
    assert gatewayview.rulesets(view) == []
