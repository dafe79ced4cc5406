"""named.conf and zone files, checked by BIND's own named-checkconf / named-checkzone."""

from __future__ import annotations

import ipaddress
import re
from datetime import date

import pytest

from components.render.bind import (
    GeneratedRange,
    ZoneEntry,
    ZoneRecord,
    pool_ptr_ranges,
    render_named_conf,
    render_zone_file,
    reverse_zone_names,
    reverse_zone_of,
)
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
    with pytest.raises(ValueError, match="zone name"):
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
        today=date(2026, 11, 24),
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
        today=date(2026, 11, 24),
    )
    dumped = _check_zone(tmp_path, zone, text)
    assert re.search(r"^25\.113\.0\.203\.in-addr\.arpa\.\s+\d+\s+IN\s+PTR\s+mail\.example\.net\.$", dumped, re.M)
    generated = re.findall(r"^(\d+)\.113\.0\.203\.in-addr\.arpa\.\s+\d+\s+IN\s+PTR\s+biz-", dumped, re.M)
    assert sorted(int(g) for g in generated) == list(range(128, 192))


def test_serial_is_stable_for_same_content_and_grows_by_day():
    def render(day, target="mail.example.net"):
        text = render_zone_file(
            origin="113.0.203.in-addr.arpa",
            primary_ns="ns1.example.net",
            hostmaster="hostmaster@example.net",
            nameservers=["ns1.example.net"],
            records=[ZoneRecord("25", "PTR", target)],
            today=day,
        )
        return int(re.search(r"SOA\s+\S+\s+\S+\s+\(\s*(\d+)", text).group(1))

    assert render(date(2026, 11, 24)) == render(date(2026, 11, 24))
    assert render(date(2026, 11, 25), "mx.example.net") > render(date(2026, 11, 24))


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
    with pytest.raises(ValueError, match="outside"):
        GeneratedRange(0, 256, "$", "PTR", "x.example.net.").line()
