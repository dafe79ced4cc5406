"""audit/resolver.py: our zones from our name servers (RD off), other names only through --resolver,
PTR names from dns.reversename, and pyspf asking nobody else."""

from __future__ import annotations

from types import SimpleNamespace

import spf

from audit.expect import Endpoint
from audit.net import Net
from audit.resolver import StackResolver
from tests.audit.fakes import FakeDns

NS1, NS2, RESOLVER = "127.0.0.1", "127.0.0.2", "127.0.0.9"
OURS = {
    ("isp.test", "SOA"): ["ns1.isp.test. hostmaster.isp.test. 1 7200 900 1209600 300"],
    ("isp.test", "MX"): ["20 mx2.isp.test.", "10 mx1.isp.test."],
    ("isp.test", "TXT"): ["v=spf1 ip4:192.0.2.25 include:_spf.isp.test -all"],
    ("_spf.isp.test", "TXT"): ["v=spf1 ip6:2001:db8::25 -all"],
    ("mx1.isp.test", "A"): ["192.0.2.25"],
    ("mx1.isp.test", "AAAA"): ["2001:db8::25"],
    ("www.isp.test", "CNAME"): ["mx1.isp.test."],
    ("2.0.192.in-addr.arpa", "SOA"): ["ns1.isp.test. hostmaster.isp.test. 1 7200 900 1209600 300"],
    ("25.2.0.192.in-addr.arpa", "PTR"): ["mx1.isp.test."],
    ("5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"): ["mx1.isp.test."],
    ("8.b.d.0.1.0.0.2.ip6.arpa", "SOA"): ["ns1.isp.test. hostmaster.isp.test. 1 7200 900 1209600 300"],
}
BIND_ZONES = ("isp.test", "2.0.192.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa")
ELSEWHERE = {("example.org", "SOA"): ["a.example.org. h.example.org. 1 2 3 4 5"],
             ("www.example.org", "A"): ["203.0.113.80"]}


def stack_resolver(port: int, *, resolver: str | None = None, servers=(NS1,)) -> StackResolver:
    expect = SimpleNamespace(bind_zones=BIND_ZONES,
                             name_servers=(Endpoint("ns1.isp.test", servers),))
    net = Net(frozenset({NS1, NS2, RESOLVER}), timeout=0.3, tries=1, ports={53: port})
    return StackResolver(expect, net, resolver)  # type: ignore[arg-type]


def test_our_names_are_asked_of_our_name_servers_without_recursion():
    with FakeDns(OURS) as ns:
        resolver = stack_resolver(ns.port)
        answer = resolver.query("mx1.isp.test", "A")
        resolver.query("mx1.isp.test.", "A")  # the same question: kept, not asked again
    assert answer.asked and "aa" in answer.flags and answer.records("A") == ("192.0.2.25",)
    assert ns.queries == [("udp", "mx1.isp.test.", "A", False)]
    assert resolver.asked == ["127.0.0.1: mx1.isp.test. A +nord"]


def test_addresses_ptr_txt_mx():
    with FakeDns(OURS) as ns:
        resolver = stack_resolver(ns.port)
        assert resolver.addresses("mx1.isp.test") == ("192.0.2.25", "2001:db8::25")
        assert resolver.addresses("www.isp.test") == ("192.0.2.25", "2001:db8::25")  # through the CNAME
        assert resolver.ptr("192.0.2.25") == ("mx1.isp.test",)
        assert resolver.ptr("2001:db8::25") == ("mx1.isp.test",)
        assert resolver.txt("isp.test") == ("v=spf1 ip4:192.0.2.25 include:_spf.isp.test -all",)
        assert resolver.mx("isp.test") == ((10, "mx1.isp.test"), (20, "mx2.isp.test"))
        assert resolver.addresses("nothing.isp.test") == ()


def test_the_first_name_server_that_answers_gives_the_answer():
    with FakeDns(OURS, behaviour="silent") as dead, FakeDns(OURS, host=NS2, port=dead.port) as alive:
        resolver = stack_resolver(dead.port, servers=(NS1, NS2))
        answer = resolver.query("mx1.isp.test", "A")
    assert answer.records("A") == ("192.0.2.25",) and answer.query_text.startswith(NS2)
    assert len(dead.queries) == 0 and len(alive.queries) == 1  # silent servers record nothing
    assert resolver.asked == [f"{NS1}: mx1.isp.test. A +nord", f"{NS2}: mx1.isp.test. A +nord"]


def test_a_name_server_that_did_not_answer_is_asked_last_for_the_rest_of_the_run():
    with FakeDns(OURS, behaviour="silent") as dead, FakeDns(OURS, host=NS2, port=dead.port) as alive:
        resolver = stack_resolver(dead.port, servers=(NS1, NS2))
        first = resolver.query("mx1.isp.test", "A")
        second = resolver.query("isp.test", "MX")  # a new question: the silent one is not waited on first
    assert first.query_text.startswith(NS2) and second.query_text.startswith(NS2)
    assert resolver.asked == [f"{NS1}: mx1.isp.test. A +nord", f"{NS2}: mx1.isp.test. A +nord",
                              f"{NS2}: isp.test. MX +nord"]
    assert resolver.silent == {NS1} and len(alive.queries) == 2


def test_ipv4_name_servers_are_asked_before_ipv6():
    expect = SimpleNamespace(bind_zones=BIND_ZONES, name_servers=(Endpoint("ns1", ("2001:db8::53", NS1)),
                                                                  Endpoint("ns2", (NS2,))))
    resolver = StackResolver(expect, Net(frozenset({NS1}), timeout=0.3, tries=1), None)  # type: ignore[arg-type]
    assert resolver.servers == (NS1, NS2, "2001:db8::53")


def test_other_names_are_not_asked_without_a_resolver():
    with FakeDns(OURS) as ns:
        resolver = stack_resolver(ns.port)
        answer = resolver.query("www.example.org", "A")
        ptr = resolver.ptr("198.51.100.7")  # a reverse zone someone else serves
    assert not answer.asked and "--resolver" in answer.error and answer.records("A") == ()
    assert ptr == () and ns.queries == [] and resolver.asked == []


def test_other_names_go_to_the_resolver_with_recursion():
    with FakeDns(OURS) as ns, FakeDns(ELSEWHERE, host=RESOLVER, port=ns.port, refuse_recursion=False) as upstream:
        resolver = stack_resolver(ns.port, resolver=RESOLVER)
        assert resolver.addresses("www.example.org") == ("203.0.113.80",)
    assert ns.queries == [] and upstream.queries[0] == ("udp", "www.example.org.", "A", True)


def test_pyspf_asks_only_through_the_stack_resolver():
    original = spf.DNSLookup
    with FakeDns(OURS) as ns:
        resolver = stack_resolver(ns.port)
        with resolver.pyspf():
            passes = spf.query(i="192.0.2.25", s="probe@isp.test", h="mx1.isp.test", querytime=5).check()
            included = spf.query(i="2001:db8::25", s="probe@isp.test", h="mx1.isp.test", querytime=5).check()
            fails = spf.query(i="192.0.2.99", s="probe@isp.test", h="mx1.isp.test", querytime=5).check()
            unknown = spf.query(i="192.0.2.25", s="probe@example.org", h="mx1.isp.test", querytime=5).check()
    assert spf.DNSLookup is original
    assert passes[0] == "pass" and included[0] == "pass" and fails[0] == "fail"
    assert unknown[0] == "temperror" and "--resolver" in unknown[2]
    assert {name for _, name, _, _ in ns.queries} >= {"isp.test.", "_spf.isp.test."}
