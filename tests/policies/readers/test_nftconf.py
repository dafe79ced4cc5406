"""nftables parsing and walking; fixtures are checked with `nft -c` (parse and validate only)."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest
from pack_builders import tool
from readers import nftconf, nftrules, nftwalk
from readers.bindconf import AddressSet

GATEWAY = """#!/usr/sbin/nft -f
flush ruleset
define MAILHOSTS = { 203.0.113.25 }
table inet filter {
  set customers { type ipv4_addr; flags interval; elements = { 100.64.0.0/16, 100.65.0.0/16 } }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ip saddr @customers ip daddr != $MAILHOSTS tcp dport 25 reject with tcp reset
    ip saddr @customers tcp dport { 465, 587, 2525 } accept
    jump customers_out
  }
  chain customers_out {
    ip saddr { 100.64.0.0/16,
               100.65.0.0/16 } counter accept
  }
}
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr 203.0.113.25 dnat to 10.0.1.25
    dnat ip to ip daddr map { 203.0.113.26 : 10.0.1.26 }
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    snat ip to ip saddr map { 10.0.1.26 : 203.0.113.26 }
    ip saddr 10.0.1.25 snat to 203.0.113.25
    oifname "wan0" masquerade
  }
}
"""


def nft_check(text: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "ruleset.nft"
    path.write_text(text)
    return subprocess.run([tool("nft"), "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)


def pool(prefix: str) -> AddressSet:
    return AddressSet.of(ipaddress.ip_network(prefix))


def test_fixture_is_valid_nftables(tmp_path) -> None:
    check = nft_check(GATEWAY, tmp_path)
    assert check.returncode == 0, check.stderr


def test_structure() -> None:
    rs = nftconf.parse_ruleset(GATEWAY)
    assert rs.problems == []
    forward = rs.chain("inet", "filter", "forward")
    assert (forward.chain_type, forward.hook, forward.priority, forward.policy) == ("filter", "forward", 0, "drop")
    assert len(forward.rules) == 4
    assert rs.sets[("inet", "filter", "customers")] == ["100.64.0.0/16", "100.65.0.0/16"]
    post = rs.base_chains("postrouting")[0]
    assert post.priority == 100 and len(post.rules) == 3
    # The anonymous set spanning two lines stayed one rule.
    assert rs.chain("inet", "filter", "customers_out").rules[0].text == \
        "ip saddr { 100.64.0.0/16, 100.65.0.0/16 } counter accept"


def test_define_is_substituted_and_negation_read() -> None:
    rs = nftconf.parse_ruleset(GATEWAY)
    rule = rs.chain("inet", "filter", "forward").rules[1]
    info = nftrules.analyse(rule, rs, ("inet", "filter"))
    daddr = next(m for m in info.matches if m.field == "daddr")
    assert daddr.negated and daddr.values == ["203.0.113.25"]
    assert info.verdict.kind == "reject"


@pytest.mark.parametrize("source,daddr,expected", [
    ("100.64.0.0/16", None, "reject"),  # customers to an outside server
    ("100.64.0.0/16", "203.0.113.25", "accept"),  # customers to our own mail host (via customers_out)
    ("192.0.2.0/24", None, "drop"),  # not a customer: chain policy
])
def test_forward_walk(source: str, daddr: str | None, expected: str) -> None:
    rs = nftconf.parse_ruleset(GATEWAY)
    (forward,) = rs.base_chains("forward")
    packet = nftwalk.Packet(pool(source), pool(daddr + "/32") if daddr else None)
    assert nftwalk.walk_filter(forward, packet, rs).final == expected


def test_submission_ports_are_not_port_25() -> None:
    rs = nftconf.parse_ruleset(GATEWAY)
    (forward,) = rs.base_chains("forward")
    packet = nftwalk.Packet(pool("100.64.0.0/16"), None, dport=587)
    walk = nftwalk.walk_filter(forward, packet, rs)
    assert walk.final == "accept" and "587" in walk.decided_by.rule.text


def test_interface_only_accept_makes_the_block_uncertain() -> None:
    text = GATEWAY.replace("    ct state established,related accept\n",
                           '    ct state established,related accept\n    iifname "cust0" oifname "wan0" accept\n')
    rs = nftconf.parse_ruleset(text)
    walk = nftwalk.walk_filter(rs.base_chains("forward")[0], nftwalk.Packet(pool("100.64.0.0/16"), None), rs)
    assert walk.final == "reject"
    assert [i.rule.text for i in walk.maybe_accepted_by] == ['iifname "cust0" oifname "wan0" accept']


def test_nat_pairs_and_first_snat() -> None:
    rs = nftconf.parse_ruleset(GATEWAY)
    pairs, unclear = nftwalk.dnat_pairs(rs)
    assert sorted((p.public, p.private) for p in pairs) == [("203.0.113.25", "10.0.1.25"),
                                                             ("203.0.113.26", "10.0.1.26")]
    assert unclear == []
    post = rs.base_chains("postrouting")
    for private, public in (("10.0.1.25", "203.0.113.25"), ("10.0.1.26", "203.0.113.26")):
        packet = nftwalk.Packet(pool(private + "/32"), None, assume_interfaces_match=True)
        info, _ = nftwalk.first_nat(post, packet, rs, ("snat", "masquerade"))
        target = info.nat.target or dict(info.nat.map_pairs)[private]
        assert (info.nat.kind, target) == ("snat", public)
    other = nftwalk.Packet(pool("10.0.1.99/32"), None, assume_interfaces_match=True)
    assert nftwalk.first_nat(post, other, rs, ("snat", "masquerade"))[0].nat.kind == "masquerade"


def test_flat_add_rule_syntax(tmp_path) -> None:
    text = ("add table inet f\n"
            "add chain inet f forwarding { type filter hook forward priority 0 ; policy accept ; }\n"
            "add set inet f pools { type ipv4_addr ; flags interval ; }\n"
            "add element inet f pools { 100.64.0.0/16 }\n"
            "add rule inet f forwarding ip saddr @pools tcp dport smtp drop\n")
    assert nft_check(text, tmp_path).returncode == 0
    rs = nftconf.parse_ruleset(text)
    (fwd,) = rs.base_chains("forward")
    assert nftwalk.walk_filter(fwd, nftwalk.Packet(pool("100.64.0.0/16"), None), rs).final == "drop"
    assert nftwalk.walk_filter(fwd, nftwalk.Packet(pool("100.66.0.0/16"), None), rs).final == "accept"


def test_garbage_is_tolerated() -> None:
    rs = nftconf.parse_ruleset("table inet x {\n chain c {\n type filter hook forward priority 0;\n"
                               " tcp dport {25 drop\n")
    assert rs.problems
    assert nftconf.parse_ruleset("}}} ;; {").problems


NETMAP = """table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    dnat ip prefix to ip daddr map { 203.0.113.32/28 : 10.0.2.0/28 }
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    snat ip prefix to ip saddr map { 10.0.2.0/28 : 203.0.113.32/28 }
  }
}
"""


def test_prefix_nat_is_netmap(tmp_path) -> None:
    assert nft_check(NETMAP, tmp_path).returncode == 0
    rs = nftconf.parse_ruleset(NETMAP)
    (pair,), _ = nftwalk.dnat_pairs(rs)
    assert (pair.public, pair.private, pair.prefix) == ("203.0.113.32/28", "10.0.2.0/28", True)
    assert nftrules.nat_address(pair.rule.nat, "203.0.113.45") == "10.0.2.13"
    assert nftrules.nat_address(pair.rule.nat, "198.51.100.1") is None  # not in the map
    packet = nftwalk.Packet(pool("10.0.2.13/32"), None)
    info, _ = nftwalk.first_nat(rs.base_chains("postrouting"), packet, rs, ("snat", "masquerade"))
    assert nftrules.nat_address(info.nat, "10.0.2.13") == "203.0.113.45"


def test_a_chain_sees_only_its_family() -> None:
    text = ("table ip6 f6 {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n"
            "  tcp dport 25 reject\n }\n}\n")
    rs = nftconf.parse_ruleset(text)
    (forward,) = rs.base_chains("forward")
    v4, v6 = nftwalk.Packet(pool("100.64.0.0/10"), None), nftwalk.Packet(pool("2001:db8::/32"), None)
    assert not nftwalk.sees(forward, v4) and nftwalk.sees(forward, v6)
    both = nftwalk.Packet(pool("100.64.0.0/10").union(pool("2001:db8::/32")), None)
    assert [(name, p.family) for name, p in nftwalk.by_family(both)] == [("IPv4", "ip"), ("IPv6", "ip6")]


def test_merge_appends_chains_and_keeps_the_parses_untouched() -> None:
    first = nftconf.parse_ruleset("table inet filter {\n chain forward {\n  type filter hook forward priority 0;\n"
                                  "  tcp dport 25 drop\n }\n}\n")
    second = nftconf.parse_ruleset("add rule inet filter forward ip saddr 10.0.0.0/8 accept\n")
    host = nftconf.Ruleset()
    nftconf.merge(host, first, "/etc/nftables.conf", "urn:a")
    nftconf.merge(host, second, "/etc/nftables.d/lan.nft", "urn:b")
    forward = host.chain("inet", "filter", "forward")
    assert forward.hook == "forward"
    assert [(r.quote, r.located, r.urn) for r in forward.rules] == [
        ("tcp dport 25 drop", "/etc/nftables.conf, line 4", "urn:a"),
        ("ip saddr 10.0.0.0/8 accept", "/etc/nftables.d/lan.nft, line 1", "urn:b")]
    assert len(first.chain("inet", "filter", "forward").rules) == 1 and first.chain(
        "inet", "filter", "forward").rules[0].where == ""
