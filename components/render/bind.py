"""BIND: named.conf and zone files (lessons 3, 5 and 8).

Pure functions: typed values in, text out. Every value that reaches a file is checked
against the grammar it lands in, so no value can add a directive or close a block.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.render import quoting
from components.render.quoting import RenderValueError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_FQDN_RE = re.compile(r"^(?:(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\.)+[A-Za-z][A-Za-z0-9-]{0,62}\.?$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+-]+$")
# A $GENERATE template: DNS label characters, dots and the `$` iterator only.
_TEMPLATE_RE = re.compile(r"^[A-Za-z0-9$._-]+$")
_OWNER_RE = re.compile(
    r"^(?:\*\.)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)
# MX data: a preference 0-65535 written plainly (int() would also take " 10", "1_0" or "١٠"), one space, a name.
_MX_RE = re.compile(r"^(0|[1-9][0-9]{0,4}) ([^ ]+)$")
# The root name as a zone file writes it: the null MX's exchange ("written in master files as '.'", RFC 7505 §3).
_ROOT = "."
# TXT data, written inside quotes: printable ASCII but the quote, the backslash and parentheses.
_TXT_RE = re.compile(r'[\x20-\x21\x23-\x27\x2a-\x5b\x5d-\x7e]*')
# The words an address match list may hold besides addresses and prefixes.
_ACL_KEYWORDS = ("any", "none", "localhost", "localnets")


def _fqdn(value: Any, what: str) -> str:
    """Absolute name with the trailing dot, as zone files and named.conf want it."""
    if type(value) is not str or len(value) > 254 or not _FQDN_RE.fullmatch(value):
        raise RenderValueError(what, value, "must be a domain name of letters, digits, - and _ (like ns1.example.net)")
    return value if value.endswith(".") else value + "."


def _path(value: Any, what: str) -> str:
    if type(value) is not str or not _PATH_RE.fullmatch(value) or ".." in value.split("/") or len(value) > 1024:
        raise RenderValueError(what, value, "must be a plain absolute path of letters, digits and . _ / + -")
    return value


def _acl_element(value: Any, what: str) -> str:
    """An address-match-list element: any/none/localhost/localnets or an address/prefix, written
    from the parsed address (never the text as given: a scope id or netmask would come along)."""
    if type(value) is str and value in _ACL_KEYWORDS:
        return value
    network = quoting.ip_network(value, what)
    # A single address is written as one, as BIND itself prints it.
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def _acl_body(elements: Any, what: str) -> str:
    cleaned = [_acl_element(e, f"{what}[{i}]") for i, e in enumerate(quoting.listing(elements, what))] or ["none"]
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
    # BIND refuses responses-per-second above 1000 (named-checkconf: "responses-per-second 1001 > 1000").
    rate = quoting.positive_int(rate_limit_per_second, "rate_limit_per_second", maximum=1000)
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
        f"\trate-limit {{ responses-per-second {rate}; slip 2; window 15; }};",
        "};",
    ]
    seen: set[str] = set()
    for index, zone in enumerate(quoting.listing(zones, "zones")):
        where = f"zones[{index}]"
        if not isinstance(zone, ZoneEntry):
            raise RenderValueError(where, zone, "must be a ZoneEntry")
        origin = _fqdn(zone.name, f"{where}.name").rstrip(".").lower()
        if origin in seen:
            raise RenderValueError(f"{where}.name", origin, "is listed twice")
        seen.add(origin)
        zone_file = _path(zone.file, f"{where}.file")
        lines.append("")
        lines.append(f'zone "{origin}" {{')
        primaries = [
            quoting.ip_address(p, f"{where}.primaries[{i}]")
            for i, p in enumerate(quoting.listing(zone.primaries, f"{where}.primaries"))
        ]
        if not primaries:
            lines += [
                "\ttype primary;",
                f'\tfile "{zone_file}";',
                "\tallow-transfer { isp_transfer; };",
                "\tnotify yes;",
            ]
        else:
            lines += [
                "\ttype secondary;",
                f'\tfile "{zone_file}";',
                f"\tprimaries {{ {' '.join(f'{p};' for p in primaries)} }};",
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

    def line(self, where: str = "generated") -> str:
        for what, number in (("start", self.start), ("stop", self.stop)):
            if type(number) is not int or not 0 <= number <= 255:
                raise RenderValueError(f"{where}.{what}", number, "$GENERATE counters run from 0 to 255")
        if self.start > self.stop:
            raise RenderValueError(f"{where}.stop", self.stop, f"$GENERATE {self.start}-{self.stop} runs backwards")
        if self.rrtype not in ("PTR", "A"):
            raise RenderValueError(f"{where}.rrtype", self.rrtype, "$GENERATE type must be PTR or A")
        for what, text in (("owner", self.owner), ("target", self.target)):
            if type(text) is not str or len(text) > 254 or not _TEMPLATE_RE.fullmatch(text):
                raise RenderValueError(
                    f"{where}.{what}", text, "a $GENERATE template holds only letters, digits, . _ - and $"
                )
        # What BIND will generate, at both ends of the counter, must be what the type needs:
        # names of labels up to 63 characters, and for A a dotted quad.
        for counter in (str(self.start), str(self.stop)):
            owner = self.owner.replace("$", counter)
            if not _names_fit(owner):
                raise RenderValueError(f"{where}.owner", self.owner, "would generate a label longer than 63 characters")
            target = self.target.replace("$", counter)
            fits = _is_ipv4(target) if self.rrtype == "A" else _names_fit(target)
            if not fits:
                rule = "must generate IPv4 addresses" if self.rrtype == "A" else "would generate an invalid name"
                raise RenderValueError(f"{where}.target", self.target, rule)
        return f"$GENERATE {self.start}-{self.stop} {self.owner} {self.rrtype} {self.target}"


def _names_fit(name: str) -> bool:
    labels = name.removesuffix(".").split(".")
    return len(name) <= 254 and all(0 < len(label) <= 63 for label in labels)


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isascii() and p.isdigit() and str(int(p)) == p and int(p) < 256 for p in parts)


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
        if type(target) is not str:
            raise RenderValueError("ptr_name", target, "must be a domain name")
        _fqdn(target.replace("$", "0"), "ptr_name")  # what every generated name will look like
        ranges.append(GeneratedRange(first, last, owner, "PTR", target.rstrip(".") + "."))
    return ranges


def _intersection(a: IPNetwork, b: IPNetwork) -> IPNetwork | None:
    if not a.overlaps(b):
        return None
    return a if a.prefixlen >= b.prefixlen else b


# The SOA serial a rendered zone carries: ten digits, always the same. The program renders no date, so one
# config gives byte-identical zone files on any day and machine; the delivery sets the serial on the host
# from the live zone (components/zone_serial.py), overwriting exactly these ten digits in place.
ZONE_SERIAL_PLACEHOLDER = "0000000000"


@dataclass(frozen=True)
class ZoneRecord:
    owner: str  # relative to the origin ("@" for the apex) or absolute with a trailing dot
    rrtype: str
    data: str

    def line(self, where: str = "record") -> str:
        if self.rrtype not in ("A", "AAAA", "PTR", "NS", "CNAME", "MX", "TXT"):
            raise RenderValueError(f"{where}.rrtype", self.rrtype, "must be A, AAAA, PTR, NS, CNAME, MX or TXT")
        if self.owner != "@" and (type(self.owner) is not str or len(self.owner) > 254
                                  or not _OWNER_RE.fullmatch(self.owner)):
            raise RenderValueError(f"{where}.owner", self.owner, "must be '@' or a domain name (relative or absolute)")
        data = self.data
        if self.rrtype in ("A", "AAAA"):
            # Written from the parsed address: canonical text, never a scope id or other leftovers.
            data = str(quoting.ip_address(data, f"{where}.data", version=4 if self.rrtype == "A" else 6))
        elif self.rrtype in ("PTR", "NS", "CNAME"):
            data = _fqdn(data, f"{where}.data")
        elif self.rrtype == "MX":
            mx = _MX_RE.fullmatch(data) if type(data) is str else None
            if mx is None or int(mx[1]) > 65535:
                raise RenderValueError(f"{where}.data", data, "must be 'PREFERENCE HOST' with a preference 0-65535")
            if mx[2] == _ROOT:
                # RFC 7505 §3: an MX to the root is the null MX ("accepts no mail"), whose preference is 0.
                if mx[1] != "0":
                    raise RenderValueError(f"{where}.data", data, "an MX to the root '.' is the null MX: '0 .' only")
                data = f"0 {_ROOT}"
            else:
                data = f"{int(mx[1])} {_fqdn(mx[2], f'{where}.data')}"
        elif self.rrtype == "TXT":
            # Parentheses too: inside quotes BIND reads them as text, but a reader that counts them
            # to join multi-line records (the pack's zonetext does) would read the rest of the file
            # as one record.
            if type(data) is not str or not _TXT_RE.fullmatch(data):
                raise RenderValueError(
                    f"{where}.data", data, "TXT data must be printable ASCII without quotes, backslashes or parentheses"
                )
            data = " ".join(f'"{data[i : i + 255]}"' for i in range(0, max(len(data), 1), 255))
        return f"{self.owner}\tIN\t{self.rrtype}\t{data}"


def _line(entry: Any, kind: type, where: str) -> str:
    if not isinstance(entry, kind):
        raise RenderValueError(where, entry, f"must be a {kind.__name__}")
    return entry.line(where)


def render_zone_file(
    *,
    origin: str,
    primary_ns: str,
    hostmaster: str,
    nameservers: Sequence[str],
    records: Sequence[ZoneRecord] = (),
    generated: Sequence[GeneratedRange] = (),
    ttl: int = 3600,
) -> str:
    """A zone file with SOA, NS, records and `$GENERATE` runs (lessons 5 and 7: PTRs).

    The SOA serial is ZONE_SERIAL_PLACEHOLDER: the delivery sets it on the host (components/zone_serial.py),
    which finds it by this layout (the one line `@<TAB>IN<TAB>SOA<TAB>... ( <ten digits> ...`)."""
    origin_fqdn = _fqdn(origin, "origin").lower()
    local, at, domain = hostmaster.partition("@") if type(hostmaster) is str else ("", "", "")
    if not at or not re.fullmatch(r"[a-z0-9][a-z0-9_+-]{0,62}", local):
        raise RenderValueError("hostmaster", hostmaster, "must be a mailbox whose local part is a-z 0-9 _ + -")
    rname = f"{local}.{_fqdn(domain, 'hostmaster')}"
    ttl = quoting.positive_int(ttl, "ttl", maximum=2**31 - 1)
    nameservers = quoting.listing(nameservers, "nameservers")
    if not nameservers:
        raise RenderValueError("nameservers", nameservers, "a zone needs at least one NS")
    body = [ZoneRecord("@", "NS", _fqdn(ns, f"nameservers[{i}]")).line() for i, ns in enumerate(nameservers)]
    records = quoting.listing(records, "records")
    body += [_line(r, ZoneRecord, f"records[{i}]") for i, r in enumerate(records)]
    for i, record in enumerate(records):
        # BIND drops ("ignoring out-of-zone data") a record named outside the zone, and so would
        # the pack's reader: a name that would vanish is refused instead.
        owner = record.owner.lower()
        if owner.endswith(".") and owner != origin_fqdn and not owner.endswith("." + origin_fqdn):
            raise RenderValueError(f"records[{i}].owner", record.owner, f"is outside the zone {origin_fqdn}")
    body += [_line(g, GeneratedRange, f"generated[{i}]") for i, g in enumerate(quoting.listing(generated, "generated"))]
    text_body = "\n".join(body)
    head = [
        "; Rendered by the isp Pulumi program; local edits are replaced on the next deploy.",
        f"$ORIGIN {origin_fqdn}",
        f"$TTL {ttl}",
        f"@\tIN\tSOA\t{_fqdn(primary_ns, 'primary_ns')} {rname} ( {ZONE_SERIAL_PLACEHOLDER} 3600 900 1209600 3600 )",
    ]
    return "\n".join(head) + "\n" + text_body + "\n"
