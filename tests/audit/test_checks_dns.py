"""audit/checks/dns.py against a loopback FakeDns: recursion refused, authoritative answers, DNSSEC."""

from __future__ import annotations

import datetime

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from context_builder import SILENCE_TIMEOUT, Endpoint, context, expectation, results
from cryptography.hazmat.primitives.asymmetric import ec
from fakes import FakeDns

from audit.checks.dns import authoritative_answers, dnssec, recursion_refused

HOST = "127.0.0.53"
ZONE = "example.net"
SOA = "ns1.example.net. hostmaster.example.net. 2026120601 7200 900 1209600 300"
OUTSIDE = "www.outside.test"
NOW = datetime.datetime.now(datetime.UTC)


class SigningFakeDns(FakeDns):
    """FakeDns that adds the RRSIGs when the query has DO. fakes.py tests `query.want_dnssec()`, which in
    dnspython is a setter returning None, so the stock fake never sends them."""

    def _answer(self, response: dns.message.Message, name: str, rdtype: str, query: dns.message.Message) -> None:
        super()._answer(response, name, rdtype, query)
        signatures = self.zones.get((name, "RRSIG"))
        if query.ednsflags & dns.flags.DO and signatures and rdtype != "RRSIG":
            response.answer.append(dns.rrset.from_text_list(name, 300, "IN", "RRSIG", signatures))


def _expect(zones=(ZONE,)):
    return expectation(name_servers=[Endpoint("ns1.example.net", (HOST,))], bind_zones=zones)


def _run(function, server: FakeDns, zones=(ZONE,), **options):
    ctx = context(_expect(zones), ports=server.ports(53), resolver=object(), outside_name=OUTSIDE, **options)
    return results(function, ctx)


# ------------------------------------------------------------------------------------ recursion-refused

def test_recursion_refused_passes_on_refused():
    with FakeDns({(ZONE, "SOA"): [SOA]}, host=HOST) as server:
        [result] = _run(recursion_refused, server)
    assert (result.status, result.target) == ("PASS", f"ns1.example.net {HOST}")
    assert f"{OUTSIDE}. A +rd" in result.evidence[0] and "REFUSED" in result.evidence[0]
    assert server.queries == [("udp", f"{OUTSIDE}.", "A", True)]


def test_open_resolver_fails_with_the_answer_as_evidence():
    zones = {(ZONE, "SOA"): [SOA], (OUTSIDE, "A"): ["192.0.2.1"]}
    with FakeDns(zones, origins=[ZONE], refuse_recursion=False, host=HOST) as server:
        [result] = _run(recursion_refused, server)
    assert result.status == "FAIL" and "open resolver" in result.summary
    assert "192.0.2.1" in result.evidence[0] and "ra" in result.evidence[0]


def test_ra_without_data_is_still_an_open_resolver():
    with FakeDns({(ZONE, "SOA"): [SOA]}, origins=[ZONE], refuse_recursion=False, host=HOST) as server:
        [result] = _run(recursion_refused, server)  # NXDOMAIN with RA: it recursed
    assert result.status == "FAIL" and "NXDOMAIN" in result.summary


def test_an_answer_without_ra_and_without_data_passes():
    with FakeDns({(ZONE, "SOA"): [SOA]}, rcodes={OUTSIDE: "NOERROR"}, host=HOST) as server:
        [result] = _run(recursion_refused, server)
    assert result.status == "PASS" and "without RA" in result.summary


def test_silent_name_server_is_a_warn():
    with FakeDns({(ZONE, "SOA"): [SOA]}, behaviour="silent", host=HOST) as server:
        [result] = _run(recursion_refused, server, timeout=SILENCE_TIMEOUT)
    assert result.status == "WARN" and "timeout" in result.evidence[0]


def test_garbage_is_a_warn_not_a_crash():
    with FakeDns({(ZONE, "SOA"): [SOA]}, behaviour="garbage", host=HOST) as server:
        [result] = _run(recursion_refused, server)
    assert result.status == "WARN"


# -------------------------------------------------------------------------------- authoritative-answers

def test_authoritative_soa_passes_for_every_zone():
    with FakeDns({(ZONE, "SOA"): [SOA]}, host=HOST) as server:
        [result] = _run(authoritative_answers, server)
    assert (result.status, result.target) == ("PASS", f"{ZONE} @ ns1.example.net {HOST}")
    assert "+nord" in result.evidence[0] and "aa" in result.evidence[0] and "2026120601" in result.evidence[0]
    assert server.queries == [("udp", f"{ZONE}.", "SOA", False)]


def test_answer_without_aa_fails():
    with FakeDns({(ZONE, "SOA"): [SOA]}, flags={ZONE: "QR"}, host=HOST) as server:
        [result] = _run(authoritative_answers, server)
    assert result.status == "FAIL" and "without AA" in result.summary


def test_zone_the_server_does_not_serve_fails_refused():
    with FakeDns({(ZONE, "SOA"): [SOA]}, host=HOST) as server:
        by_zone = {r.target.split()[0]: r for r in _run(authoritative_answers, server, zones=(ZONE, "other.net"))}
    assert by_zone[ZONE].status == "PASS"
    assert by_zone["other.net"].status == "FAIL" and "REFUSED" in by_zone["other.net"].summary


def test_servfail_fails():
    with FakeDns({(ZONE, "SOA"): [SOA]}, rcodes={ZONE: "SERVFAIL"}, host=HOST) as server:
        [result] = _run(authoritative_answers, server)
    assert result.status == "FAIL" and "SERVFAIL" in result.summary


def test_silent_server_is_a_warn_for_each_zone():
    with FakeDns({(ZONE, "SOA"): [SOA]}, behaviour="silent", host=HOST) as server:
        found = _run(authoritative_answers, server, zones=(ZONE, "2.0.192.in-addr.arpa"), timeout=SILENCE_TIMEOUT)
    assert [r.status for r in found] == ["WARN", "WARN"]


# ------------------------------------------------------------------------------------------------ dnssec

def _signed_zone(*, signing_key=None, inception=None, expiration=None):
    """DNSKEY and the SOA's RRSIG texts; the SOA signed with `signing_key` (default: the published key)."""
    published = ec.generate_private_key(ec.SECP256R1())
    signer = signing_key or published
    origin = dns.name.from_text(ZONE)
    dnskey = dns.dnssec.make_dnskey(published.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257)
    signer_dnskey = dns.dnssec.make_dnskey(signer.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257)
    soa = dns.rrset.from_text(origin, 300, "IN", "SOA", SOA)
    rrsig = dns.dnssec.sign(soa, signer, origin, signer_dnskey,
                            inception=inception or NOW - datetime.timedelta(days=1),
                            expiration=expiration or NOW + datetime.timedelta(days=30))
    if signing_key is not None:  # the signature names the published key's tag, as a wrong key would
        rrsig = rrsig.replace(key_tag=dns.dnssec.key_id(dnskey))
    return {(ZONE, "SOA"): [SOA], (ZONE, "DNSKEY"): [dnskey.to_text()], (ZONE, "RRSIG"): [rrsig.to_text()]}


def test_signed_zone_validates():
    with SigningFakeDns(_signed_zone(), host=HOST) as server:
        [result] = _run(dnssec, server)
    assert (result.status, result.target) == ("PASS", ZONE) and "ns1.example.net" in result.summary
    assert any("+dnssec" in line and "DNSKEY" in line for line in result.evidence)
    assert any("chain of trust" in line and "not checked" in line for line in result.evidence)
    assert any(line.startswith("RRSIG SOA key tag") for line in result.evidence)


def test_unsigned_zone_gives_no_result():
    with FakeDns({(ZONE, "SOA"): [SOA]}, host=HOST) as server:
        assert _run(dnssec, server) == []


def test_signature_by_another_key_fails():
    zone = _signed_zone(signing_key=ec.generate_private_key(ec.SECP256R1()))
    with SigningFakeDns(zone, host=HOST) as server:
        [result] = _run(dnssec, server)
    assert result.status == "FAIL" and "does not validate" in result.summary


def test_expired_signature_fails():
    zone = _signed_zone(inception=NOW - datetime.timedelta(days=40), expiration=NOW - datetime.timedelta(days=2))
    with SigningFakeDns(zone, host=HOST) as server:
        [result] = _run(dnssec, server)
    assert result.status == "FAIL" and "expired" in result.summary


def test_signature_judged_at_the_audits_time():
    with SigningFakeDns(_signed_zone(), host=HOST) as server:
        [result] = _run(dnssec, server, now=NOW + datetime.timedelta(days=60))
    assert result.status == "FAIL" and "expired" in result.summary


def test_signed_zone_without_rrsig_fails():
    zone = _signed_zone()
    del zone[(ZONE, "RRSIG")]
    with SigningFakeDns(zone, host=HOST) as server:
        [result] = _run(dnssec, server)
    assert result.status == "FAIL" and "RRSIG over the SOA" in result.summary


def test_silent_name_servers_give_a_warn():
    with SigningFakeDns(_signed_zone(), behaviour="silent", host=HOST) as server:
        [result] = _run(dnssec, server, timeout=SILENCE_TIMEOUT)
    assert (result.status, result.target) == ("WARN", ZONE)
