"""BIND: named.conf and zone files (lessons 3, 5 and 8).

Pure functions: typed values in, text out. Every value that reaches a file is checked
against the grammar it lands in, so no value can add a directive or close a block.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_FQDN_RE = re.compile(r"^(?:(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\.)+[A-Za-z][A-Za-z0-9-]{0,62}\.?$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+-]+$")
# A $GENERATE template: DNS label characters, dots and the `$` iterator only.
_TEMPLATE_RE = re.compile(r"^[A-Za-z0-9$._-]+$")
_OWNER_RE = re.compile(
    r"^(?:\*\.)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _fqdn(value: str, what: str) -> str:
    """Absolute name with the trailing dot, as zone files and named.conf want it."""
    if not isinstance(value, str) or len(value) > 254 or not _FQDN_RE.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not a domain name")
    return value if value.endswith(".") else value + "."


def _path(value: str, what: str) -> str:
    if not _PATH_RE.fullmatch(value) or "/../" in value or value.endswith("/.."):
        raise ValueError(f"{what}: {value!r} is not a plain absolute path")
    return value


def _acl_element(value: str, what: str) -> str:
    """An address-match-list element: 'any', 'none' or an address/prefix."""
    if value in ("any", "none", "localhost", "localnets"):
        return value
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is neither an address, a prefix nor any/none") from None
    # A single address is written as one, as BIND itself prints it.
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def _address(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not an IP address") from None


def _acl_body(elements: Sequence[str], what: str) -> str:
    cleaned = [_acl_element(e, what) for e in elements] or ["none"]
    return " ".join(f"{e};" for e in cleaned)


@dataclass(frozen=True)
class ZoneEntry:
    """One zone in named.conf: served as primary from `file`, or fetched from `primaries`."""

    name: str
    file: str
    primaries: tuple[str, ...] = ()  # empty: we are the primary

    @property
    def is_primary(self) -> bool:
        return not self.primaries


def render_named_conf(
    *,
    own_networks: Sequence[str],
    recursion_clients: Sequence[str],
    transfer_peers: Sequence[str],
    zones: Sequence[ZoneEntry],
    rate_limit_per_second: int = 10,
    directory: str = "/var/cache/bind",
) -> str:
    """A complete named.conf: authoritative answers to all, recursion for our blocks only.

    Lesson 3 is written the way the BIND ARM's inheritance cannot undo: `allow-query { any; }`
    opens authoritative answers, while `allow-recursion` *and* `allow-query-cache` are set
    explicitly, so neither falls back to allow-query.
    """
    if not 1 <= int(rate_limit_per_second) <= 10000:
        raise ValueError(f"rate_limit_per_second: {rate_limit_per_second!r} is outside 1..10000")
    lines = [
        "// Rendered by the isp Pulumi program; local edits are replaced on the next deploy.",
        "// Lesson 3: authoritative answers to all, recursion only for our own blocks.",
        f'acl "isp_nets" {{ {_acl_body(own_networks, "own_networks")} }};',
        f'acl "isp_recursion" {{ {_acl_body(recursion_clients, "recursion_clients")} }};',
        f'acl "isp_transfer" {{ {_acl_body(transfer_peers, "transfer_peers")} }};',
        "",
        "options {",
        f'\tdirectory "{_path(directory, "directory")}";',
        "\trecursion yes;",
        "\tallow-query { any; };",
        "\tallow-recursion { isp_recursion; };",
        "\tallow-query-cache { isp_recursion; };",
        "\tallow-transfer { none; };",
        "\tdnssec-validation auto;",
        "\tlisten-on { any; };",
        "\tlisten-on-v6 { any; };",
        '\tversion "not disclosed";',
        "\tminimal-responses yes;",
        "\t// Response rate limiting blunts reflection attacks on the authoritative side.",
        f"\trate-limit {{ responses-per-second {int(rate_limit_per_second)}; slip 2; window 15; }};",
        "};",
    ]
    seen: set[str] = set()
    for zone in zones:
        origin = _fqdn(zone.name, "zone name").rstrip(".").lower()
        if origin in seen:
            raise ValueError(f"zones: {origin} listed twice")
        seen.add(origin)
        lines.append("")
        lines.append(f'zone "{origin}" {{')
        if zone.is_primary:
            lines += [
                "\ttype primary;",
                f'\tfile "{_path(zone.file, "zone file")}";',
                "\tallow-transfer { isp_transfer; };",
                "\tnotify yes;",
            ]
        else:
            primaries = " ".join(f"{_address(p, 'primaries')};" for p in zone.primaries)
            lines += [
                "\ttype secondary;",
                f'\tfile "{_path(zone.file, "zone file")}";',
                f"\tprimaries {{ {primaries} }};",
                "\tallow-transfer { none; };",
            ]
        lines.append("};")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Zone files


def reverse_zone_names(prefix: IPNetwork) -> list[str]:
    """The reverse zones that hold `prefix`'s PTRs, cut at octet (IPv4) or nibble (IPv6) borders.

    IPv4 blocks of /17-/32 live in their /24 zone(s), /9-/16 in /16 zones (a /16 pool is one
    zone, not 256); IPv6 blocks in the zone at their nibble boundary.
    """
    if prefix.version == 4:
        if prefix.prefixlen <= 8:
            raise ValueError(f"{prefix}: IPv4 blocks shorter than /9 are not supported")
        cut = 16 if prefix.prefixlen <= 16 else 24
        octets = cut // 8
        if prefix.prefixlen >= cut:
            subnets: Iterable[IPNetwork] = [prefix.supernet(new_prefix=cut)]
        else:
            subnets = prefix.subnets(new_prefix=cut)
        return [".".join(reversed(str(n.network_address).split(".")[:octets])) + ".in-addr.arpa" for n in subnets]
    nibbles = prefix.prefixlen // 4
    full = prefix.network_address.exploded.replace(":", "")
    return [".".join(reversed(full[:nibbles])) + ".ip6.arpa"]


def reverse_zone_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address, zones: Iterable[str]) -> str | None:
    """The longest of `zones` that contains the PTR owner of `address`."""
    owner = address.reverse_pointer
    best = None
    for zone in zones:
        if (owner == zone or owner.endswith("." + zone)) and (best is None or len(zone) > len(best)):
            best = zone
    return best


@dataclass(frozen=True)
class GeneratedRange:
    """A `$GENERATE` line: owners and targets for a run of addresses, never expanded here."""

    start: int
    stop: int
    owner: str  # relative owner template with `$`, e.g. "$" or "$.7"
    rrtype: str  # PTR or A
    target: str  # template with `$`, e.g. "dyn-203-0-113-$.pool.example.net."

    def line(self) -> str:
        if not 0 <= self.start <= self.stop <= 255:
            raise ValueError(f"$GENERATE range {self.start}-{self.stop} is outside 0-255")
        if self.rrtype not in ("PTR", "A"):
            raise ValueError(f"$GENERATE type {self.rrtype!r} is not PTR or A")
        for what, text in (("owner", self.owner), ("target", self.target)):
            if not _TEMPLATE_RE.fullmatch(text):
                raise ValueError(f"$GENERATE {what}: {text!r} holds characters a zone file would misread")
        return f"$GENERATE {self.start}-{self.stop} {self.owner} {self.rrtype} {self.target}"


def pool_ptr_ranges(
    prefix: ipaddress.IPv4Network, zone: str, name_for: Callable[[int, int, int, str], str]
) -> list[GeneratedRange]:
    """$GENERATE PTR lines for the part of an IPv4 pool that falls in reverse zone `zone`.

    `name_for(a, b, c, d)` returns the PTR target with d given as "$".
    """
    zone_octets = [int(x) for x in reversed(zone.removesuffix(".in-addr.arpa").split("."))]
    zone_net = ipaddress.ip_network(
        ".".join(map(str, zone_octets + [0] * (4 - len(zone_octets)))) + f"/{8 * len(zone_octets)}"
    )
    part = _intersection(prefix, zone_net)
    if part is None:
        return []
    ranges = []
    # One line per /24 inside the zone: a /16 pool is 256 lines, still one zone file.
    blocks = [part] if part.prefixlen >= 24 else list(part.subnets(new_prefix=24))
    for block in blocks:
        a, b, c, first = (int(x) for x in str(block.network_address).split("."))
        last = first + block.num_addresses - 1
        owner = "$" if len(zone_octets) == 3 else f"$.{c}"
        target = name_for(a, b, c, "$")
        _fqdn(target.replace("$", "0"), "pool PTR name")  # what every generated name will look like
        ranges.append(GeneratedRange(first, last, owner, "PTR", target.rstrip(".") + "."))
    return ranges


def _intersection(a: IPNetwork, b: IPNetwork) -> IPNetwork | None:
    if not a.overlaps(b):
        return None
    return a if a.prefixlen >= b.prefixlen else b


def zone_serial(body: str, today: date) -> int:
    """A YYYYMMDDnn serial: the day it was rendered, plus two digits from the content.

    Secondaries only transfer a zone whose serial grew; a content change on a later day
    always grows it, and the same content on the same day keeps the same serial so a
    repeated preview shows no diff.
    """
    return int(today.strftime("%Y%m%d")) * 100 + zlib.crc32(body.encode()) % 100


@dataclass(frozen=True)
class ZoneRecord:
    owner: str  # relative to the origin ("@" for the apex) or absolute with a trailing dot
    rrtype: str
    data: str

    def line(self) -> str:
        if self.rrtype not in ("A", "AAAA", "PTR", "NS", "CNAME", "MX", "TXT"):
            raise ValueError(f"record type {self.rrtype!r} is not supported in zone files")
        if self.owner != "@" and not _OWNER_RE.fullmatch(self.owner):
            raise ValueError(f"record owner {self.owner!r} is not a domain name")
        data = self.data
        if self.rrtype in ("A", "AAAA"):
            data = str(ipaddress.ip_address(data))
        elif self.rrtype in ("PTR", "NS", "CNAME"):
            data = _fqdn(data, f"{self.rrtype} target")
        elif self.rrtype == "MX":
            preference, _, host = data.partition(" ")
            data = f"{int(preference)} {_fqdn(host, 'MX target')}"
        elif self.rrtype == "TXT":
            if not re.fullmatch(r"^[\x20-\x7e]*$", data) or '"' in data or "\\" in data:
                raise ValueError(f"TXT data {data!r} must be printable without quotes or backslashes")
            data = " ".join(f'"{data[i : i + 255]}"' for i in range(0, max(len(data), 1), 255))
        return f"{self.owner}\tIN\t{self.rrtype}\t{data}"


def _line(entry: ZoneRecord | GeneratedRange, where: str) -> str:
    try:
        return entry.line()
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def render_zone_file(
    *,
    origin: str,
    primary_ns: str,
    hostmaster: str,
    nameservers: Sequence[str],
    records: Sequence[ZoneRecord] = (),
    generated: Sequence[GeneratedRange] = (),
    today: date,
    ttl: int = 3600,
) -> str:
    """A zone file with SOA, NS, records and `$GENERATE` runs (lessons 5 and 7: PTRs)."""
    origin_fqdn = _fqdn(origin, "origin").lower()
    if "@" not in hostmaster:
        raise ValueError(f"hostmaster: {hostmaster!r} is not a mailbox")
    local, _, domain = hostmaster.partition("@")
    if not re.fullmatch(r"^[a-z0-9][a-z0-9_+-]*$", local):
        raise ValueError(f"hostmaster: {hostmaster!r} has a local part a zone file cannot hold")
    rname = f"{local}.{_fqdn(domain, 'hostmaster domain')}"
    if not nameservers:
        raise ValueError("nameservers: a zone needs at least one NS")
    body = [ZoneRecord("@", "NS", _fqdn(ns, f"nameservers[{i}]")).line() for i, ns in enumerate(nameservers)]
    body += [_line(r, f"records[{i}]") for i, r in enumerate(records)]
    body += [_line(g, f"generated[{i}]") for i, g in enumerate(generated)]
    text_body = "\n".join(body)
    serial = zone_serial(origin_fqdn + text_body, today)
    head = [
        "; Rendered by the isp Pulumi program; local edits are replaced on the next deploy.",
        f"$ORIGIN {origin_fqdn}",
        f"$TTL {int(ttl)}",
        f"@\tIN\tSOA\t{_fqdn(primary_ns, 'primary_ns')} {rname} ( {serial} 3600 900 1209600 3600 )",
    ]
    return "\n".join(head) + "\n" + text_body + "\n"
