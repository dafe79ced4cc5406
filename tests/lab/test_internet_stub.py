"""The lab's authoritative stub answers like an authoritative server: answers, referrals, NODATA, NXDOMAIN."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import pytest

from lab.internet import AuthoritativeZone, internet_config
from lab.settings import load_lab
from lab.topology import build_topology


@pytest.fixture(scope="module")
def zones() -> dict[str, AuthoritativeZone]:
    topology = build_topology(load_lab("lab"))
    config = internet_config(topology, sink_log=None)  # type: ignore[arg-type]
    return {entry["origin"]: AuthoritativeZone.from_text(entry["origin"], entry["zone"]) for entry in config["dns"]}


def ask(zone: AuthoritativeZone, name: str, rdtype: str) -> dns.message.Message:
    return zone.respond(dns.message.make_query(name, rdtype))


def test_the_root_refers_to_the_outside_domain_with_glue(zones):
    answer = ask(zones["."], "www.outside.test", "A")
    assert answer.rcode() == dns.rcode.NOERROR and not answer.flags & dns.flags.AA
    assert [r.to_text() for r in answer.authority] == ["outside.test. 86400 IN NS ns.outside.test."]
    assert [r.to_text() for r in answer.additional] == ["ns.outside.test. 86400 IN A 192.0.2.53"]


def test_the_root_delegates_our_zones_to_our_name_server(zones):
    answer = ask(zones["."], "mail.isp.test", "A")
    assert answer.authority[0].to_text() == "isp.test. 86400 IN NS ns1.isp.test."
    assert answer.additional[0].to_text() == "ns1.isp.test. 86400 IN A 198.51.100.53"
    reverse = ask(zones["."], "25.100.51.198.in-addr.arpa", "PTR")
    assert reverse.authority[0].name.to_text() == "100.51.198.in-addr.arpa."


def test_priming_and_empty_non_terminals(zones):
    priming = ask(zones["."], ".", "NS")
    assert priming.flags & dns.flags.AA and len(priming.answer[0]) == 13
    ent = ask(zones["."], "test", "NS")  # exists only because names below it do
    assert ent.rcode() == dns.rcode.NOERROR and not ent.answer and ent.authority[0].rdtype == 6  # SOA
    missing = ask(zones["."], "nowhere.invalid", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.flags & dns.flags.AA


def test_ds_at_a_cut_is_answered_by_the_parent(zones):
    answer = ask(zones["."], "outside.test", "DS")
    assert answer.flags & dns.flags.AA and not answer.answer
    assert answer.authority[0].rdtype == 6  # no DS: an insecure delegation, proven by NODATA


def test_the_outside_domain_answers_authoritatively(zones):
    outside = zones["outside.test."]
    www = ask(outside, "www.outside.test", "A")
    assert www.flags & dns.flags.AA and www.answer[0].to_text() == "www.outside.test. 300 IN A 192.0.2.80"
    assert ask(outside, "outside.test", "MX").answer[0].to_text() == "outside.test. 300 IN MX 10 mx.outside.test."
    assert ask(outside, "isp.test", "A").rcode() == dns.rcode.REFUSED
