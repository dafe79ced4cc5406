"""named.conf and zone files, checked by BIND's own named-checkconf / named-checkzone."""

from __future__ import annotations

import ipaddress
import re

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from components.render.bind import (
    ZONE_SERIAL_PLACEHOLDER,
    GeneratedRange,
    ZoneEntry,
    ZoneRecord,
    pool_ptr_ranges,
    render_named_conf,
    render_zone_file,
    reverse_zone_names,
    reverse_zone_of,
)
from components.render.quoting import RenderValueError
from tests.components.clock import run_moved
from tests.conftest import require_tool, run_tool

OWN = ["10.20.0.0/24", "198.51.100.0/24", "203.0.113.0/25", "2001:db8:100::/48"]


def _canonical(tmp_path, text: str) -> str:
    """What BIND itself reads from the file: `named-checkconf -p` prints the parsed config."""
    checkconf = require_tool("named-checkconf")
    path = tmp_path / "named.conf"
    path.write_text(text)
    result = run_tool(checkconf, "-p", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _option(canonical: str, name: str) -> str | None:
    match = re.search(rf"^\s*{name}\s+\{{([^}}]*)\}};", canonical, re.M)
    return " ".join(match.group(1).replace('"', "").split()) if match else None


def _acl(canonical: str, name: str) -> list[str]:
    match = re.search(rf'^acl "{name}" \{{(.*?)^\}};', canonical, re.M | re.S)
    assert match, f"acl {name} missing"
    return [_normal(e.strip().strip('"')) for e in match.group(1).split(";") if e.strip()]


def _normal(element: str) -> str:
    try:
        return str(ipaddress.ip_network(element))
    except ValueError:
        return element


def test_recursion_limited_to_our_blocks_authoritative_to_all(tmp_path):
    text = render_named_conf(
        own_networks=OWN,
        recursion_clients=OWN,
        transfer_peers=["10.20.0.12"],
        zones=[ZoneEntry("100.51.198.in-addr.arpa", "/etc/bind/zones/db.100.51.198.in-addr.arpa")],
    )
    canonical = _canonical(tmp_path, text)
    assert _option(canonical, "allow-query") == "any;"
    # Both set explicitly: neither inherits allow-query's "any" (BIND ARM inheritance).
    assert _option(canonical, "allow-recursion") == "isp_recursion;"
    assert _option(canonical, "allow-query-cache") == "isp_recursion;"
    assert _acl(canonical, "isp_recursion") == OWN
    assert _acl(canonical, "isp_transfer") == ["10.20.0.12/32"]
    assert _option(canonical, "allow-transfer") == "none;"  # the options default: no transfers
    zone_block = canonical[canonical.index('zone "100.51.198.in-addr.arpa"') :]
    assert _option(zone_block, "allow-transfer") == "isp_transfer;"


def test_secondary_zone_points_at_primary(tmp_path):
    text = render_named_conf(
        own_networks=OWN,
        recursion_clients=OWN,
        transfer_peers=[],
        zones=[ZoneEntry("pool.example.net", "/var/cache/bind/db.pool.example.net", primaries=("10.20.0.11",))],
    )
    canonical = _canonical(tmp_path, text)
    assert re.search(r'zone "pool.example.net" \{\s*type (secondary|slave);', canonical)
    assert "10.20.0.11" in canonical
    assert _acl(canonical, "isp_transfer") == ["none"]


@pytest.mark.parametrize(
    "hostile",
    ["10.0.0.0/8; }; options { recursion yes", "any;\nallow-query { any; }", "$(reboot)", '"quoted"'],
)
def test_hostile_acl_values_cannot_add_directives(hostile):
    with pytest.raises(ValueError, match="own_networks|recursion_clients"):
        render_named_conf(own_networks=[hostile], recursion_clients=OWN, transfer_peers=[], zones=[])
    with pytest.raises(ValueError, match="recursion_clients"):
        render_named_conf(own_networks=OWN, recursion_clients=[hostile], transfer_peers=[], zones=[])


@pytest.mark.parametrize("hostile", ['x.example.net"; }; zone "evil', "a b.example.net", "ex\nample.net"])
def test_hostile_zone_names_rejected(hostile):
    with pytest.raises(RenderValueError, match=r"zones\[0\]\.name"):
        render_named_conf(
            own_networks=OWN, recursion_clients=OWN, transfer_peers=[], zones=[ZoneEntry(hostile, "/etc/bind/db.x")]
        )


def test_reverse_zone_cuts():
    assert reverse_zone_names(ipaddress.ip_network("198.51.100.0/24")) == ["100.51.198.in-addr.arpa"]
    assert reverse_zone_names(ipaddress.ip_network("203.0.113.128/26")) == ["113.0.203.in-addr.arpa"]
    assert reverse_zone_names(ipaddress.ip_network("10.8.0.0/16")) == ["8.10.in-addr.arpa"]
    assert len(reverse_zone_names(ipaddress.ip_network("10.8.0.0/14"))) == 4
    assert reverse_zone_names(ipaddress.ip_network("2001:db8:100::/48")) == ["0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"]
    zones = ["100.51.198.in-addr.arpa", "51.198.in-addr.arpa"]
    assert reverse_zone_of(ipaddress.ip_address("198.51.100.25"), zones) == "100.51.198.in-addr.arpa"
    assert reverse_zone_of(ipaddress.ip_address("192.0.2.1"), zones) is None


def _check_zone(tmp_path, origin: str, text: str) -> str:
    checkzone = require_tool("named-checkzone")
    path = tmp_path / f"db.{origin}"
    path.write_text(text)
    # -D dumps the zone as BIND loaded it, $GENERATE expanded: the ground truth.
    result = run_tool(checkzone, "-D", "-o", "-", origin, str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_slash16_pool_is_one_zone_of_256_generate_lines(tmp_path):
    pool = ipaddress.ip_network("10.8.0.0/16")
    zone = reverse_zone_names(pool)[0]
    ranges = pool_ptr_ranges(pool, zone, lambda a, b, c, d: f"dyn-{a}-{b}-{c}-{d}.pool.example.net")
    assert len(ranges) == 256
    text = render_zone_file(
        origin=zone,
        primary_ns="ns1.example.net",
        hostmaster="hostmaster@example.net",
        nameservers=["ns1.example.net", "ns2.example.net"],
        generated=ranges,
    )
    assert text.count("\n") < 300  # the file stays small: BIND expands it, not us
    dumped = _check_zone(tmp_path, zone, text)
    assert re.search(
        r"^7\.200\.8\.10\.in-addr\.arpa\.\s+\d+\s+IN\s+PTR\s+dyn-10-8-200-7\.pool\.example\.net\.$", dumped, re.M
    )
    assert len(re.findall(r"\sPTR\s", dumped)) == 65536


def test_host_ptrs_and_partial_pool_in_a_slash24(tmp_path):
    zone = "113.0.203.in-addr.arpa"
    pool = ipaddress.ip_network("203.0.113.128/26")
    text = render_zone_file(
        origin=zone,
        primary_ns="ns1.example.net",
        hostmaster="hostmaster@example.net",
        nameservers=["ns1.example.net"],
        records=[ZoneRecord("25", "PTR", "mail.example.net")],
        generated=pool_ptr_ranges(pool, zone, lambda a, b, c, d: f"biz-{d}.pool.example.net"),
    )
    dumped = _check_zone(tmp_path, zone, text)
    assert re.search(r"^25\.113\.0\.203\.in-addr\.arpa\.\s+\d+\s+IN\s+PTR\s+mail\.example\.net\.$", dumped, re.M)
    generated = re.findall(r"^(\d+)\.113\.0\.203\.in-addr\.arpa\.\s+\d+\s+IN\s+PTR\s+biz-", dumped, re.M)
    assert sorted(int(g) for g in generated) == list(range(128, 192))


def test_the_soa_carries_the_placeholder_serial(tmp_path):
    """The program renders no date: the serial is ZONE_SERIAL_PLACEHOLDER, set on the host at delivery
    (components/zone_serial.py); BIND loads the file as it is rendered."""
    text = render_zone_file(origin="113.0.203.in-addr.arpa", primary_ns="ns1.example.net",
                            hostmaster="hostmaster@example.net", nameservers=["ns1.example.net"],
                            records=[ZoneRecord("25", "PTR", "mail.example.net")])
    soa = [line for line in text.splitlines() if "\tSOA\t" in line]
    assert soa == [f"@\tIN\tSOA\tns1.example.net. hostmaster.example.net. ( {ZONE_SERIAL_PLACEHOLDER} 3600 900 1209600 "
                   "3600 )"]
    assert ZONE_SERIAL_PLACEHOLDER == "0" * 10  # ten digits: the delivery overwrites them in place
    dumped = _check_zone(tmp_path, "113.0.203.in-addr.arpa", text)
    assert re.search(r"\sSOA\s.* 0 3600 900 1209600 3600$", dumped, re.M), dumped


_RENDER = """
from components.render.bind import ZoneRecord, render_zone_file
print(render_zone_file(origin="example.net", primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
                       nameservers=["ns1.example.org"], records=[ZoneRecord("www", "A", "192.0.2.1")]), end="")
"""


def test_the_rendered_zone_does_not_depend_on_the_day():
    """Rendered now and with the clock a year and a half later, in another time zone: the same bytes."""
    now = run_moved(_RENDER, days=0)
    assert now == run_moved(_RENDER, days=550.4, tz="Asia/Kathmandu", hash_seed=3)
    assert f"( {ZONE_SERIAL_PLACEHOLDER} 3600" in now


@pytest.mark.parametrize(
    "record",
    [
        ZoneRecord("25", "PTR", "mail.example.net.\n@ IN NS evil.example."),
        ZoneRecord("www", "TXT", 'x" "y'),
        ZoneRecord("www", "TXT", "a\nb"),
        ZoneRecord("$INCLUDE", "A", "192.0.2.1"),
        ZoneRecord("www;x", "A", "192.0.2.1"),
    ],
)
def test_hostile_records_cannot_add_lines(record):
    with pytest.raises(ValueError):
        record.line()


def test_generate_templates_refuse_zone_syntax():
    with pytest.raises(ValueError, match="GENERATE"):
        GeneratedRange(0, 10, "$", "PTR", "x.example.net. ; evil").line()
    with pytest.raises(ValueError, match="from 0 to 255"):
        GeneratedRange(0, 256, "$", "PTR", "x.example.net.").line()


# ---------------------------------------------------------------------------------------
# Holes the renderer fuzz found (tests/fuzz/test_render_fuzz.py), kept as regressions.

# Python's ipaddress takes any text after '%' as an IPv6 scope id and str() gives it back:
# these spellings added a whole zone, or opened recursion to everyone, and named-checkconf
# accepted the result.
SCOPED = [
    '2001:db8::1%0; }; zone "evil.example" { type primary; file "evil.db"; }; acl "y" { none',
    "fe80::1%lo; any",
    "2001:db8::%1; any/64",
]


@pytest.mark.parametrize("hostile", SCOPED)
def test_acl_elements_with_a_scope_id_are_refused(hostile):
    with pytest.raises(RenderValueError) as refused:
        render_named_conf(own_networks=OWN, recursion_clients=[hostile], transfer_peers=[], zones=[])
    assert refused.value.parameter == "recursion_clients[0]"


def test_scoped_address_objects_are_refused_too():
    scoped = ipaddress.ip_address("2001:db8::1%x; any")
    with pytest.raises(RenderValueError, match=r"transfer_peers\[0\]"):
        render_named_conf(own_networks=OWN, recursion_clients=OWN, transfer_peers=[scoped], zones=[])
    with pytest.raises(RenderValueError, match=r"zones\[0\]\.primaries\[0\]"):
        render_named_conf(own_networks=OWN, recursion_clients=OWN, transfer_peers=[], zones=[
            ZoneEntry("b.example.org", "/var/cache/bind/db.b", ("2001:db8::53%0; }; zone x { type hint",)),
        ])


def test_refused_scope_id_would_have_passed_named_checkconf(tmp_path):
    """Why the rule matters: BIND itself reads `ADDR%SCOPE;` as an address and the rest as statements."""
    text = render_named_conf(own_networks=OWN, recursion_clients=["2001:db8::1"], transfer_peers=[], zones=[])
    injected = text.replace("2001:db8::1;", SCOPED[0] + ";")
    canonical = _canonical(tmp_path, injected)
    assert 'zone "evil.example"' in canonical


@pytest.mark.parametrize("hostile", ["10", b"\x0a\x00\x00\x01", 0, None])
def test_acl_lists_and_elements_must_be_text_lists(hostile):
    """A bare string was iterated character by character ("10" gave 0.0.0.1 and 0.0.0.0); bytes
    and ints passed ipaddress's packed and integer forms."""
    with pytest.raises(RenderValueError, match="recursion_clients"):
        render_named_conf(own_networks=OWN, recursion_clients=hostile, transfer_peers=[], zones=[])
    with pytest.raises(RenderValueError, match=r"recursion_clients\[0\]"):
        render_named_conf(own_networks=OWN, recursion_clients=[hostile], transfer_peers=[], zones=[])


@pytest.mark.parametrize(
    ("zone", "parameter"),
    [
        (ZoneEntry(None, "/etc/bind/db.x"), r"zones\[0\]\.name"),
        (ZoneEntry("x.example.net", None), r"zones\[0\]\.file"),
        (ZoneEntry("x.example.net", "/etc/bind/db.x", 1), r"zones\[0\]\.primaries"),
        (ZoneEntry("x.example.net", "/etc/bind/db.x", "10.20.0.11"), r"zones\[0\]\.primaries"),
    ],
)
def test_wrong_types_are_refusals_naming_the_parameter_not_crashes(zone, parameter):
    with pytest.raises(RenderValueError, match=parameter):
        render_named_conf(own_networks=OWN, recursion_clients=OWN, transfer_peers=[], zones=[zone])


@pytest.mark.parametrize("rate", [1001, 10000, 0, None, 10.5, "10", True])
def test_rate_limit_is_what_bind_accepts(rate):
    with pytest.raises(RenderValueError, match="rate_limit_per_second"):
        render_named_conf(own_networks=OWN, recursion_clients=OWN, transfer_peers=[], zones=[],
                          rate_limit_per_second=rate)


def test_rate_limit_bound_is_binds_own(tmp_path):
    text = render_named_conf(own_networks=OWN, recursion_clients=OWN, transfer_peers=[], zones=[],
                             rate_limit_per_second=1000)
    _canonical(tmp_path, text)
    path = tmp_path / "over.conf"
    path.write_text(text.replace("responses-per-second 1000", "responses-per-second 1001"))
    assert run_tool(require_tool("named-checkconf"), str(path)).returncode != 0


def _zone(*records):
    return render_zone_file(origin="example.net", primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
                            nameservers=["ns1.example.org"], records=list(records))


@pytest.mark.parametrize(
    ("record", "parameter"),
    [
        # A scope id with a newline: the zone file got an NS record for another name server.
        (ZoneRecord("www", "AAAA", "2001:db8::1%\n@ IN NS evil.example."), r"records\[0\]\.data"),
        (ZoneRecord("www", "AAAA", ipaddress.ip_address("2001:db8::1%\n@ IN NS evil.example.")), r"records\[0\]\.data"),
        # An IPv6 address in an A record (named-checkzone refuses the file) and the reverse.
        (ZoneRecord("www", "A", "2001:db8::1"), r"records\[0\]\.data"),
        (ZoneRecord("www", "AAAA", "192.0.2.1"), r"records\[0\]\.data"),
        # int() takes blanks, underscores and other scripts' digits: MX preferences are plain.
        (ZoneRecord("@", "MX", "\u0661\u0660 mail.example.net"), r"records\[0\]\.data"),
        (ZoneRecord("@", "MX", " 10 mail.example.net"), r"records\[0\]\.data"),
        (ZoneRecord("@", "MX", "1_0 mail.example.net"), r"records\[0\]\.data"),
        (ZoneRecord("@", "MX", "70000 mail.example.net"), r"records\[0\]\.data"),
        # RFC 7505 §3: an MX to the root is the null MX, and its preference is 0.
        (ZoneRecord("@", "MX", "10 ."), r"records\[0\]\.data"),
        (ZoneRecord("@", "MX", "00 ."), r"records\[0\]\.data"),
        (ZoneRecord("@", "MX", "0 .."), r"records\[0\]\.data"),
        (ZoneRecord("@", "MX", "0 "), r"records\[0\]\.data"),
        (ZoneRecord(None, "A", "192.0.2.1"), r"records\[0\]\.owner"),
        (ZoneRecord("www", None, "192.0.2.1"), r"records\[0\]\.rrtype"),
    ],
)
def test_zone_record_values_are_refused_naming_the_record(record, parameter):
    with pytest.raises(RenderValueError, match=parameter):
        _zone(record)


@pytest.mark.parametrize("text", ["(", "x ) y", "v=spf1 (ip4:192.0.2.1) -all"])
def test_txt_parentheses_are_refused(text):
    """BIND reads parentheses inside quotes as text, but the pack's zone reader counts them to join
    multi-line records: after `TXT "("` it read the rest of the file as one record and expanded
    the pool's `$GENERATE` lines (a /16 pool is 65536 records) instead of keeping them as ranges."""
    with pytest.raises(RenderValueError, match=r"records\[0\]\.data"):
        _zone(ZoneRecord("@", "TXT", text))


@pytest.mark.parametrize(
    "generated",
    [GeneratedRange(True, 10, "$", "A", "192.0.2.$"), GeneratedRange(0, 10.0, "$", "A", "192.0.2.$"),
     GeneratedRange(5, 1, "$", "A", "192.0.2.$"), GeneratedRange(0, 10, None, "A", "192.0.2.$")],
)
def test_generate_ranges_are_refused_naming_the_range(generated):
    with pytest.raises(RenderValueError, match=r"generated\[0\]"):
        render_zone_file(origin="example.net", primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
                         nameservers=["ns1.example.org"], generated=[generated])


def test_accepted_mx_and_addresses_still_load(tmp_path):
    checkzone = require_tool("named-checkzone")
    text = _zone(ZoneRecord("@", "MX", "0 mail.example.net"), ZoneRecord("mail", "A", "192.0.2.25"),
                 ZoneRecord("mail", "AAAA", "2001:DB8:0::25"), ZoneRecord("@", "TXT", "v=spf1 -all; x"))
    assert "2001:db8::25" in text  # written from the parsed address
    path = tmp_path / "db.example.net"
    path.write_text(text)
    result = run_tool(checkzone, "example.net", str(path))
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("generated", "parameter"),
    [
        # Each passed the character whitelist, and named-checkzone refused the zone file.
        (GeneratedRange(0, 10, "a" * 63 + "$", "A", "192.0.2.$"), r"generated\[0\]\.owner"),  # "label too long"
        (GeneratedRange(0, 10, "dyn-$", "A", "a.192.0.2.$"), r"generated\[0\]\.target"),  # "bad dotted quad"
        (GeneratedRange(0, 10, "dyn-$", "A", "192.0.2$"), r"generated\[0\]\.target"),
        (GeneratedRange(0, 255, "dyn-$", "A", "192.0.2.1$"), r"generated\[0\]\.target"),  # 1255 is no octet
        (GeneratedRange(0, 10, "$", "PTR", "x" * 62 + "$.example.net."), r"generated\[0\]\.target"),
    ],
)
def test_generate_templates_must_generate_what_bind_loads(generated, parameter):
    with pytest.raises(RenderValueError, match=parameter):
        render_zone_file(origin="example.net", primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
                         nameservers=["ns1.example.org"], generated=[generated])


def test_generate_templates_at_the_limits_still_load(tmp_path):
    text = render_zone_file(
        origin="example.net", primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
        nameservers=["ns1.example.org"],
        generated=[GeneratedRange(0, 255, "a" * 60 + "$", "A", "192.0.2.$"),
                   GeneratedRange(0, 99, "p$", "PTR", "x" * 61 + "$.example.net.")],
    )
    path = tmp_path / "db.example.net"
    path.write_text(text)
    result = run_tool(require_tool("named-checkzone"), "example.net", str(path))
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("owner", ["mail.aexample.net.", "example.org.", "net.", "xexample.net."])
def test_record_owners_outside_the_zone_are_refused(owner):
    with pytest.raises(RenderValueError, match=r"records\[0\]\.owner"):
        _zone(ZoneRecord(owner, "A", "192.0.2.1"))


def test_out_of_zone_records_would_silently_vanish(tmp_path):
    """Why: BIND loads the zone without them ("ignoring out-of-zone data"), as the pack's reader does."""
    text = _zone(ZoneRecord("Mail.Example.NET.", "A", "192.0.2.1"), ZoneRecord("example.net.", "A", "192.0.2.2"))
    path = tmp_path / "db.example.net"
    path.write_text(text + "mail.aexample.net.\tIN\tA\t192.0.2.3\n")
    result = run_tool(require_tool("named-checkzone"), "example.net", str(path))
    assert result.returncode == 0 and "out-of-zone" in result.stdout, result.stdout


def test_the_null_mx_loads_as_preference_zero_to_the_root(tmp_path):
    """RFC 7505 §3: 'MX 0 .' in master-file form; BIND loads it, and its dump reads back as the root."""
    text = _zone(ZoneRecord("@", "MX", "0 ."), ZoneRecord("@", "TXT", "v=spf1 -all"))
    assert "@\tIN\tMX\t0 .\n" in text
    loaded = _check_zone(tmp_path, "example.net", text)
    (mx,) = dns.zone.from_text(loaded, origin="example.net").find_rdataset("@", dns.rdatatype.MX)
    assert (mx.preference, mx.exchange) == (0, dns.name.root)
