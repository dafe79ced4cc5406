"""SPF syntax, RFC 7208 4.6.4 lookup counting (10 vs 11, with qualifiers) and offline evaluation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readers import spfrecord

DATA = {
    ("example.net", "TXT"): ["v=spf1 mx include:_spf.example.net -all"],
    ("example.net", "MX"): ["mail.example.net"],
    ("mail.example.net", "A"): ["198.51.100.25"],
    ("mail.example.net", "AAAA"): ["2001:db8::25"],
    ("_spf.example.net", "TXT"): ["v=spf1 ip4:203.0.113.0/24 a:relay.example.net ~all"],
    ("relay.example.net", "A"): ["203.0.113.9"],
    ("relay.example.net", "AAAA"): [],
}
ZONE = "example.net"


def lookup(name: str, rtype: str):
    """The stack's data: names under example.net are visible (absent = no records), others are not."""
    if name == ZONE or name.endswith("." + ZONE):
        return list(DATA.get((name, rtype), []))
    return None


# Each DNS-querying term once, with the qualifiers that counting tools have missed.
QUALIFIED = ["~include:a.example.org", "-mx", "+a", "?exists:%{i}.x.example.org", "ptr", "a:b.example.org",
             "mx:c.example.org", "include:d.example.org", "?a", "~mx:e.example.org"]
FREE = ["ip4:192.0.2.0/24", "ip6:2001:db8::/32", "exp=explain.example.org", "-all"]


@pytest.mark.parametrize("extra,expected",
                         [([], 10), (["redirect=f.example.org"], 11), (["+include:g.example.org"], 11)])
def test_lookup_boundary_with_qualifiers(extra: list[str], expected: int) -> None:
    terms = QUALIFIED + extra + FREE
    if extra and extra[0].startswith("redirect"):
        terms.remove("-all")  # redirect only counts without 'all'
    text = "v=spf1 " + " ".join(terms)
    record = spfrecord.parse(text)
    assert record.errors == []
    count = spfrecord.count_lookups("other.example.org", text, lambda name, rtype: None)
    assert count.lookups == expected
    assert len(count.terms) == expected


def test_free_terms_cost_nothing() -> None:
    count = spfrecord.count_lookups("x.example.org", "v=spf1 " + " ".join(FREE), lambda n, t: None)
    assert count.lookups == 0


def test_includes_inside_the_stack_are_followed() -> None:
    count = spfrecord.count_lookups(ZONE, DATA[(ZONE, "TXT")][0], lookup)
    # mx, include:_spf, then a:relay inside _spf.
    assert count.lookups == 3
    assert count.terms[-1] == "_spf.example.net: a:relay.example.net"


def test_void_lookups_are_counted_for_names_we_can_see() -> None:
    text = "v=spf1 a:nx1.example.net a:nx2.example.net mx:nx3.example.net -all"
    assert spfrecord.count_lookups(ZONE, text, lookup).void_lookups == 3


@pytest.mark.parametrize("text", [
    "v=spf1 ip4:300.1.1.1 -all",
    "v=spf1 ip4:192.0.2.0/33 -all",
    "v=spf1 include -all",
    "v=spf1 foo:bar -all",
    "v=spf1 a:bad_domain -all",
    "v=spf1 redirect=a.example.org redirect=b.example.org",
    "v=spf1 -redirect=a.example.org",
    "v=spf1 ip6:192.0.2.1 -all",
    "v=spf1 all:x",
    "v=spf1 include:%{z}.example.org -all",
])
def test_syntax_errors(text: str) -> None:
    assert spfrecord.parse(text).errors


def test_valid_syntax_forms() -> None:
    for text in ("v=spf1 a/24 mx:example.org/24//64 a//64 ip6:2001:db8::/32 exists:%{ir}.%{v}._spf.%{d} ~all",
                 "V=SPF1 MX -ALL", "v=spf1 redirect=_spf.example.org", "v=spf1 custom=value -all"):
        assert spfrecord.parse(text).errors == [], text
    assert spfrecord.is_spf("v=spf1") and spfrecord.is_spf("V=spf1 -all")
    assert not spfrecord.is_spf("v=spf10 -all") and not spfrecord.is_spf("v=DMARC1; p=reject")


@pytest.mark.parametrize("address,expected", [
    ("198.51.100.25", "pass"),  # mx
    ("2001:db8::25", "pass"),  # mx, AAAA
    ("203.0.113.77", "pass"),  # include -> ip4
    ("203.0.113.9", "pass"),  # include -> a:relay
    ("192.0.2.1", "fail"),  # -all
])
def test_evaluate_over_stack_data(address: str, expected: str) -> None:
    assert spfrecord.evaluate(ZONE, address, lookup) == expected


def test_evaluate_reports_unknown_when_an_invisible_term_decides() -> None:
    data = {("example.net", "TXT"): ["v=spf1 include:_spf.google.com -all"]}

    def partial(name, rtype):
        return data.get((name, rtype), []) if name.endswith("example.net") else None

    assert spfrecord.evaluate(ZONE, "192.0.2.1", partial) == "unknown"
    data[("example.net", "TXT")] = ["v=spf1 ip4:192.0.2.0/24 include:_spf.google.com -all"]
    assert spfrecord.evaluate(ZONE, "192.0.2.1", partial) == "pass"
    data[("example.net", "TXT")] = ["v=spf1 mx ~all"]
    assert spfrecord.evaluate(ZONE, "192.0.2.1", partial) == "softfail"
    data[("example.net", "TXT")] = ["v=spf1 mx", "v=spf1 -all"]
    assert spfrecord.evaluate(ZONE, "192.0.2.1", partial) == "permerror"


# ---------------------------------------------------------------------------------------
# Cross-check with pyspf (RFC 7208 reference-style evaluator) fed the same offline data.

TERMS = ["ip4:192.0.2.0/25", "ip4:198.51.100.25", "ip6:2001:db8::/64", "a", "a:relay.example.net", "mx",
         "a/24", "mx:example.net/30", "include:_spf.example.net"]


def pyspf_result(address: str, data: dict) -> str:
    import spf  # pyspf, imported late: its DNS hook is patched per call

    def fake_lookup(name, qtype, *args, **kwargs):
        name = name.rstrip(".").lower()
        if qtype == "TXT":
            return [((name, qtype), [t.encode()]) for t in data.get((name, "TXT"), [])]
        if qtype == "MX":
            return [((name, qtype), (10, v)) for v in data.get((name, "MX"), [])]
        return [((name, qtype), v) for v in data.get((name, qtype), [])]

    original = spf.DNSLookup
    spf.DNSLookup = fake_lookup
    try:
        return spf.query(address, "postmaster@example.net", "helo.example.net").check()[0]
    finally:
        spf.DNSLookup = original


@settings(max_examples=200, deadline=None)
@given(
    terms=st.lists(st.tuples(st.sampled_from(["", "+", "-", "~", "?"]), st.sampled_from(TERMS)), max_size=5),
    final=st.sampled_from(["-all", "~all", "?all", ""]),
    address=st.sampled_from(["192.0.2.5", "192.0.2.200", "198.51.100.25", "198.51.100.26", "203.0.113.9",
                             "203.0.113.77", "2001:db8::25", "2001:db8:1::1"]),
)
def test_evaluation_agrees_with_pyspf(terms, final, address) -> None:
    text = " ".join(["v=spf1", *(q + t for q, t in terms), final]).strip()
    data = {**DATA, ("example.net", "TXT"): [text], ("example.net", "A"): ["198.51.100.1"]}

    def visible(name, rtype):
        return list(data.get((name, rtype), [])) if name.endswith(ZONE) else None

    assert spfrecord.evaluate(ZONE, address, visible) == pyspf_result(address, data)
