"""Zone files through dnspython, with $GENERATE kept lazy and equal to dnspython's expansion."""

from __future__ import annotations

import subprocess
import time

import dns.zone
from hypothesis import given, settings
from hypothesis import strategies as st
from pack_builders import tool
from readers import zonetext

HEAD = "$TTL 3600\n@ IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n@ IN NS ns1.example.net.\n"


def dnspython_expansion(origin: str, line: str) -> set[tuple[str, str, str]]:
    """What dnspython's own $GENERATE support makes of one line (it expands every name)."""
    zone = dns.zone.from_text(HEAD + line + "\n", origin + ".", relativize=False, check_origin=False)
    out = set()
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rtype in ("SOA", "NS"):
                continue
            for rdata in rdataset:
                value = rdata.to_text()
                if rtype in ("PTR", "CNAME"):
                    value = zonetext.norm_name(value)
                out.add((zonetext.norm_name(name.to_text()), rtype, value))
    return out


def lazy_expansion(origin: str, line: str) -> set[tuple[str, str, str]]:
    _, ranges, problems = zonetext.split_generate(line + "\n", origin)
    assert problems == []
    return {(r.name, r.rtype, r.value) for rng in ranges for r in rng.expand()}


def test_dnspython_reads_generate_and_so_do_we() -> None:
    line = "$GENERATE 1-4 host-$ A 192.0.2.$"
    expected = {(f"host-{i}.example.net", "A", f"192.0.2.{i}") for i in range(1, 5)}
    assert dnspython_expansion("example.net", line) == expected
    assert lazy_expansion("example.net", line) == expected


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 40),
    span=st.integers(0, 30),
    step=st.integers(1, 4),
    offset=st.integers(-5, 20),
    width=st.integers(0, 4),
    base=st.sampled_from("doxX"),
    prefix=st.sampled_from(["dyn-", "", "a.b-"]),
)
def test_lazy_lookup_agrees_with_dnspython(start, span, step, offset, width, base, prefix) -> None:
    stop = start + span
    if start + offset < 0:
        offset = -start
    line = f"$GENERATE {start}-{stop}/{step} {prefix}${{{offset},{width},{base}}} CNAME target-$.example.net."
    expected = dnspython_expansion("example.net", line)
    assert lazy_expansion("example.net", line) == expected
    (rng,) = zonetext.split_generate(line, "example.net")[1]
    for name, rtype, value in expected:
        assert [(r.rtype, r.value) for r in rng.lookup(name)] == [(rtype, value)]
    assert rng.lookup(f"{prefix}zzz.example.net") == []
    assert rng.lookup("other.example.org") == []


def test_nibble_mode_matches_dnspython() -> None:
    line = "$GENERATE 0-40 ${0,3,n} PTR host-$.example.net."
    origin = "8.b.d.0.1.0.0.2.ip6.arpa"
    expected = dnspython_expansion(origin, line)
    assert lazy_expansion(origin, line) == expected
    (rng,) = zonetext.split_generate(line, origin)[1]
    for name, _, value in expected:
        assert rng.lookup(name)[0].value == value


def test_a_slash_16_pool_is_read_without_expanding() -> None:
    lines = [f"$GENERATE 0-255 $.{c} PTR dyn-100-64-{c}-$.pool.example.net." for c in range(256)]
    text = HEAD + "\n".join(lines) + "\n"
    began = time.perf_counter()
    zone_file = zonetext.read_zone(text, "64.100.in-addr.arpa")
    assert time.perf_counter() - began < 2.0
    assert len(zone_file.ranges) == 256 and zone_file.problems == []
    # Only the SOA and NS were expanded into objects; 65 536 PTRs stay as 256 ranges.
    assert len(zone_file.records) == 2
    hits = [r for rng in zone_file.ranges for r in rng.lookup("7.200.64.100.in-addr.arpa")]
    assert [h.value for h in hits] == ["dyn-100-64-200-7.pool.example.net"]
    assert sum(rng.count for rng in zone_file.ranges) == 65536


def test_records_are_normalised_and_the_zone_is_valid_bind(tmp_path) -> None:
    text = HEAD + ('@ IN MX 10 mail\n@ IN TXT "v=spf1 " "mx -all"\nmail IN A 192.0.2.25\nns1 IN A 192.0.2.53\n'
                   "www IN CNAME @\n$GENERATE 10-12 dyn-$ A 192.0.2.$\n")
    path = tmp_path / "db.example.net"
    path.write_text(text)
    check = subprocess.run([tool("named-checkzone"), "example.net", str(path)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout
    zone_file = zonetext.read_zone(text, "example.net")
    recs = {(r.name, r.rtype, r.value, r.priority) for r in zone_file.records}
    assert ("example.net", "MX", "mail.example.net", 10) in recs
    assert ("example.net", "TXT", "v=spf1 mx -all", None) in recs
    assert ("www.example.net", "CNAME", "example.net", None) in recs
    assert zone_file.ranges[0].lookup("dyn-11.example.net")[0].value == "192.0.2.11"


def test_problems_are_reported_not_raised() -> None:
    zone_file = zonetext.read_zone(HEAD + "www IN A not-an-address\n$INCLUDE other.zone\n", "example.net")
    assert len(zone_file.problems) == 2
    assert zonetext.read_zone(HEAD + "$GENERATE 9-1 x-$ A 192.0.2.$\n", "example.net").problems


def test_origin_from_text_and_filename() -> None:
    assert zonetext.origin_from_text("; hi\n$TTL 60\n$ORIGIN example.net.\n@ A 192.0.2.1\n") == "example.net"
    assert zonetext.origin_from_text("@ A 192.0.2.1\n$ORIGIN example.net.\n") is None
    assert zonetext.origin_from_filename("db.example.net") == "example.net"
    assert zonetext.origin_from_filename("example.net.zone.new") == "example.net"
    assert zonetext.origin_from_filename("db.192.0.2") == "2.0.192.in-addr.arpa"
    assert zonetext.origin_from_filename("named.conf") is None
