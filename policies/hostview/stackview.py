"""One typed view of what a stack will deploy, built once per AnalyzeStack.

Everything the rules read comes from here: DNS records (Cloudflare `DnsRecord`/`Record`
and BIND zone files delivered to hosts, `$GENERATE` ranges kept lazy), zones (a name is
looked up in the longest zone suffix; a Cloudflare record's name is placed in the zone its
`zoneId` comes from, as Cloudflare places it, when the engine's dependencies name that zone:
the id itself is unknown at a first preview), the files delivered by
`command:remote:CopyToRemote` (by host and kind) and the evidence our own `isp:` components
register.

What each resource delivers is read in `hostview.evidence`; a value unknown at preview is
listed in `view.unknowns`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dns.reversename
from readers import (
    apacheconf,
    bindconf,
    caddyconf,
    dovecotconf,
    iptablesconf,
    lighttpdconf,
    maildropconf,
    nftconf,
    nginxconf,
    policyservices,
    postfixconf,
    procmailconf,
    ratelimitconf,
    zonetext,
)
from readers.zonetext import Rec, norm_name
from values import UNKNOWN

from hostview.evidence import (
    COMMAND_TYPES,
    EVIDENCE_KEYS,
    RECORD_TYPES,
    ZONE_TYPES,
    CommandText,
    HostFile,
    RawResource,
    _keys,
    command_text,
    files_of,
    raw_resource,
    read,
)

# ---------------------------------------------------------------------------------------
# The view


@dataclass
class ZoneInfo:
    name: str
    urn: str
    protect: bool
    source: str  # "cloudflare" or a file label


@dataclass(frozen=True)
class RecordFact:
    rec: Rec
    source: str  # "cloudflare" or a zone file label
    urn: str


@dataclass
class StackView:
    stack: str = ""
    zones: dict[str, ZoneInfo] = field(default_factory=dict)
    records: list[RecordFact] = field(default_factory=list)
    ranges: list[tuple[zonetext.GenerateRange, str]] = field(default_factory=list)
    files: list[HostFile] = field(default_factory=list)
    commands: list[CommandText] = field(default_factory=list)
    evidence: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    unknowns: list[str] = field(default_factory=list)
    # DNS records with a value unknown at preview: (name, type, urn), None where that part is unknown.
    pending_records: list[tuple[str | None, str | None, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files/zones the view could not read
    zone_resources: list[RawResource] = field(default_factory=list)
    _index: dict[tuple[str, str], list[RecordFact]] = field(default_factory=lambda: defaultdict(list))
    _names: set[str] = field(default_factory=set)
    _by_type: dict[str, list[RecordFact]] = field(default_factory=lambda: defaultdict(list))
    _range_index: dict[tuple[str, str], list[zonetext.GenerateRange]] = field(default_factory=lambda: defaultdict(list))
    _parsed: dict[tuple[int, str], Any] = field(default_factory=dict)

    # -- building -------------------------------------------------------------------

    def add_record(self, rec: Rec, source: str, urn: str) -> None:
        fact = RecordFact(rec, source, urn)
        self.records.append(fact)
        self._index[(rec.name, rec.rtype)].append(fact)
        self._names.add(rec.name)
        self._by_type[rec.rtype].append(fact)

    def add_range(self, rng: zonetext.GenerateRange, source: str) -> None:
        self.ranges.append((rng, source))
        self._range_index[(rng.origin, rng.rtype)].append(rng)

    # -- DNS lookups ----------------------------------------------------------------

    def records_of(self, name: str, rtype: str) -> list[Rec]:
        name = norm_name(name)
        found = [f.rec for f in self._index.get((name, rtype), [])]
        labels = name.split(".")
        for i in range(len(labels)):
            for rng in self._range_index.get((".".join(labels[i:]), rtype), []):
                found.extend(rng.lookup(name))
        for rng in self._range_index.get(("", rtype), []):
            found.extend(rng.lookup(name))
        return found

    def of_type(self, rtype: str) -> list[RecordFact]:
        return list(self._by_type.get(rtype, []))

    def values(self, name: str, rtype: str) -> list[str]:
        return [r.value for r in self.records_of(name, rtype)]

    def addresses(self, name: str) -> list[str]:
        """A and AAAA of `name`, following CNAMEs inside the stack (at most 8 hops)."""
        name = norm_name(name)
        for _ in range(8):
            found = self.values(name, "A") + self.values(name, "AAAA")
            if found:
                return _unique(found)
            cname = self.values(name, "CNAME")
            if not cname:
                return []
            name = cname[0]
        return []

    def ptr_names(self, address: str) -> list[str]:
        """The PTR names of `address`, following CNAMEs as a resolver does (at most 8 hops): RFC 2317
        classless delegation answers `25.100.51.198.in-addr.arpa CNAME 25.0-25.100.51.198.in-addr.arpa`."""
        try:
            name = norm_name(dns.reversename.from_address(address).to_text())
        except (ValueError, SyntaxError):
            return []
        seen = {name}
        for _ in range(8):
            found = self.values(name, "PTR")
            if found:
                return _unique(found)
            cname = self.values(name, "CNAME")
            if not cname or cname[0] in seen:
                return []
            name = cname[0]
            seen.add(name)
        return []

    def zone_for(self, name: str) -> str | None:
        """The longest zone of the stack that `name` is in."""
        labels = norm_name(name).split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.zones:
                return candidate
        return None

    def visible(self, name: str) -> bool:
        """Can the stack's data answer for `name` (inside one of its zones or holding records)?"""
        name = norm_name(name)
        return self.zone_for(name) is not None or name in self._names

    def spf_lookup(self, name: str, rtype: str) -> list[str] | None:
        """The resolver SPF evaluation uses: None outside the stack, [] for no data."""
        if not self.visible(name):
            return None
        if rtype in ("A", "AAAA"):
            found = self.addresses(name)
            return [a for a in found if (":" in a) == (rtype == "AAAA")]
        return self.values(name, rtype)

    # -- files ------------------------------------------------------------------------

    def files_of_kind(self, *kinds: str) -> list[HostFile]:
        return [f for f in self.files if f.kind in kinds]

    def hosts(self) -> dict[str, list[HostFile]]:
        grouped: dict[str, list[HostFile]] = defaultdict(list)
        for f in self.files:
            grouped[f.host].append(f)
        return dict(grouped)

    def parsed(self, f: HostFile) -> Any:
        """The parsed form of a file (memoised): NamedConf, MainCf, MasterCf, Ruleset, ..."""
        key = (id(f), f.kind)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_file(f)
            except Exception as exc:  # noqa: BLE001 - a hostile file must not take the whole view down
                self._parsed[key] = None
                f.problem = f"cannot parse ({type(exc).__name__}: {exc})"
                self.problems.append(f"{f.label}: {f.problem}")
        return self._parsed[key]

    def customer_pools(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _networks(self.evidence.get("customerPools", []))

    def own_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _networks(self.evidence.get("ownNetworks", []))

    def unknown_note(self) -> str:
        if not self.unknowns:
            return ""
        shown = "; ".join(self.unknowns[:3])
        more = f" and {len(self.unknowns) - 3} more" if len(self.unknowns) > 3 else ""
        return f" (note: unknown during preview: {shown}{more})"


def _networks(values: list[Any]) -> list:
    out = []
    for value in values:
        if isinstance(value, Mapping):
            value = value.get("prefix")
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            continue
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# The parser of each kind of delivered file.
_PARSERS = {
    "bind": bindconf.parse_named_conf,
    "postfix-main": postfixconf.parse_main_cf,
    "postfix-master": postfixconf.parse_master_cf,
    "nftables": nftconf.parse_ruleset,
    "iptables": iptablesconf.parse_save,
    "ratelimit": ratelimitconf.parse_rate_limit_yaml,
    "dovecot": dovecotconf.parse,
    "procmail": procmailconf.parse,
    "maildrop": maildropconf.parse,
    "postfwd": policyservices.parse_postfwd,
    "cluebringer": policyservices.parse_cluebringer,
    "nginx": nginxconf.parse,
    "apache": apacheconf.parse,
    "caddy": caddyconf.parse,
    "lighttpd": lighttpdconf.parse,
}


def parse_file(f: HostFile) -> Any:
    """Parse a delivered file by kind; None when the kind has no parser or the text is unknown."""
    parser = _PARSERS.get(f.kind)
    return None if f.text is None or parser is None else parser(f.text)


def stack_name(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<type>::<name> -> <stack>."""
    if urn.startswith("urn:pulumi:"):
        return urn[len("urn:pulumi:"):].split("::", 1)[0]
    return ""


def _cloudflare_fqdn(name: Any, zone_name: Any) -> str | None:
    """The name a Cloudflare record really gets. With its zone known (the zoneId's dependency), as
    Cloudflare places it: a name that does not end in the zone's name gets the zone's name appended
    (`mail.example.net` in zone customer.org is mail.example.net.customer.org; the API's `name` is the
    "complete DNS record name, including the zone name"), so a customer zone's record never speaks for
    a name of another zone. Without a known zone, a fully qualified name inside one of the stack's
    zones is taken as written."""
    if not isinstance(name, str) or not name:
        return None
    name = norm_name(name)
    if isinstance(zone_name, str) and zone_name:
        zone = norm_name(zone_name)
        if name in ("@", ""):
            return zone
        if name == zone or name.endswith("." + zone):
            return name
        return f"{name}.{zone}"
    return name


def _record_from_fields(fields: dict[str, Any], fqdn: str) -> Rec | None:
    rtype = fields.get("type")
    content = fields.get("content")
    if content in (None, UNKNOWN):
        content = fields.get("value")
    if not isinstance(rtype, str) or not isinstance(content, str):
        return None
    rtype = rtype.upper()
    priority = fields.get("priority")
    priority = int(priority) if isinstance(priority, (int, float)) and not isinstance(priority, bool) else None
    content = content.strip()
    if rtype == "MX":
        parts = content.split()
        if len(parts) == 2 and parts[0].isdigit():
            priority, content = int(parts[0]), parts[1]
        return Rec(fqdn, rtype, norm_name(content), priority)
    if rtype in ("CNAME", "NS", "PTR"):
        return Rec(fqdn, rtype, norm_name(content))
    if rtype == "TXT":
        return Rec(fqdn, rtype, txt_text(content))
    if rtype in ("A", "AAAA"):
        try:
            return Rec(fqdn, rtype, str(ipaddress.ip_address(content)))
        except ValueError:
            return Rec(fqdn, rtype, content)
    return Rec(fqdn, rtype, content)


def txt_text(content: str) -> str:
    """TXT content as published: `"a" "b"` -> `ab`; unquoted text as is."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    out, i = [], 0
    while i < len(content):
        if content[i] == '"':
            j = i + 1
            buf = []
            while j < len(content) and content[j] != '"':
                if content[j] == "\\" and j + 1 < len(content):
                    j += 1
                buf.append(content[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def build_view(raws: list[RawResource]) -> StackView:
    view = StackView()
    for raw in raws:
        if raw.urn and not view.stack:
            view.stack = stack_name(raw.urn)
    # Zones first: records are placed by the longest zone suffix.
    for raw in raws:
        if raw.rtype in ZONE_TYPES:
            view.zone_resources.append(raw)
            zone = raw.fields.get("name")
            if isinstance(zone, str) and zone:
                view.zones.setdefault(norm_name(zone), ZoneInfo(norm_name(zone), raw.urn, raw.protect, "cloudflare"))
            elif zone is UNKNOWN:
                view.unknowns.append(f"zone name of {raw.name}")
    for raw in raws:
        for f in files_of(raw):
            view.files.append(f)
            if f.text is None and f.problem:
                if "unknown" in f.problem:
                    view.unknowns.append(f"{f.label}: {f.problem}")
                elif f.kind != "other":
                    view.problems.append(f"{f.label}: {f.problem}")
        if raw.rtype.startswith("isp:"):
            for key in EVIDENCE_KEYS:
                value = raw.fields.get(key)
                if isinstance(value, list):
                    view.evidence[key].extend(v for v in value if v is not UNKNOWN)
        if raw.rtype in COMMAND_TYPES:
            if any(raw.fields.get(k) is UNKNOWN for k in ("create", "update")):
                view.unknowns.append(f"the command text of {raw.name}")
            view.commands.append(command_text(raw))
    _add_zone_files(view)
    for raw in raws:
        if raw.rtype not in RECORD_TYPES:
            continue
        fields = raw.fields
        # The deprecated Record carries `value` where DnsRecord has `content`; either one may be set.
        content = "content" if fields.get("content") is not None else "value"
        unknown = [k for k in ("name", "type", content) if fields.get(k) is UNKNOWN]
        fqdn = _cloudflare_fqdn(fields.get("name"), fields.get("zoneName"))
        rtype = fields.get("type").upper() if isinstance(fields.get("type"), str) else None
        if unknown and not (unknown == ["content"] and isinstance(fields.get("value"), str)):
            view.unknowns.append(f"{', '.join(unknown)} of DNS record {raw.name}")
            view.pending_records.append((fqdn, rtype, raw.urn))
            continue
        if rtype == "MX" and fields.get("priority") is UNKNOWN:
            view.pending_records.append((fqdn, rtype, raw.urn))
        rec = _record_from_fields(fields, fqdn) if fqdn else None
        if rec is not None:
            view.add_record(rec, "cloudflare", raw.urn)
    return view


def _add_zone_files(view: StackView) -> None:
    """Zone files: origin from the host's named.conf zone block, else $ORIGIN, else the file name."""
    declared: dict[tuple[str, str], str] = {}
    declared_base: dict[tuple[str, str], str] = {}
    for f in view.files_of_kind("bind"):
        conf = view.parsed(f)
        if conf is None:
            continue
        for zone in conf.zones:
            if zone.file and zone.name:
                declared[(f.host, zone.file)] = zone.name
                declared_base[(f.host, posixpath.basename(zone.file))] = zone.name
    for f in view.files_of_kind("zone"):
        if f.text is None:
            continue
        origin = (declared.get((f.host, f.path)) or declared_base.get((f.host, f.basename))
                  or zonetext.origin_from_text(f.text) or zonetext.origin_from_filename(f.basename))
        if not origin:
            view.problems.append(f"{f.label}: cannot tell the zone's origin "
                                 "(no named.conf zone block, $ORIGIN or db.<zone> name)")
            continue
        try:
            parsed = zonetext.read_zone(f.text, origin)
        except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on a hostile file
            view.problems.append(f"{f.label}: cannot parse ({type(exc).__name__}: {exc})")
            continue
        view.problems.extend(f"{f.label}: {p}" for p in parsed.problems)
        view.zones.setdefault(origin, ZoneInfo(origin, f.urn, False, f.label))
        for rec in parsed.records:
            view.add_record(rec, f.label, f.urn)
        for rng in parsed.ranges:
            view.add_range(rng, f.label)


# ---------------------------------------------------------------------------------------
# One view per AnalyzeStack. When the stack policies share their resource objects (see
# packruntime.share_stack_resources) the same objects mean the same view, checked by identity;
# fresh objects (the SDK's own AnalyzeStack, tests) are matched by a digest of the raw facts
# (cheap), so the parsing (dear) happens once either way.

@dataclass
class _BuiltView:
    view: StackView
    resources: tuple[Any, ...]  # held, so an identical object cannot be a new one
    raws: list[RawResource]
    digest: str | None = None  # computed only when fresh objects must be compared

    def key(self) -> str:
        if self.digest is None:
            self.digest = _digest(self.raws)
        return self.digest


_cache_lock = threading.Lock()
_cache: _BuiltView | None = None


def _stable(value: Any) -> Any:
    """A repr-able form that is equal for equal content (assets are new objects per policy)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _stable(read(value, k))) for k in _keys(value)))
    if isinstance(value, (list, tuple)):
        return tuple(_stable(v) for v in value)
    for attr in ("text", "path", "uri"):
        if hasattr(value, attr) and not isinstance(value, str):
            return (type(value).__name__, attr, str(getattr(value, attr)))
    if hasattr(value, "assets"):
        return (type(value).__name__, _stable(dict(value.assets)))
    return value


def _digest(raws: list[RawResource]) -> str:
    h = hashlib.sha256()
    for raw in raws:
        facts = sorted((k, repr(_stable(v))) for k, v in raw.fields.items())
        h.update(repr((raw.urn, raw.rtype, raw.protect, facts)).encode())
    return h.hexdigest()


def view_of(resources: list[Any]) -> StackView:
    """The view of a stack (PolicyResource objects), reusing the last one for the same facts."""
    global _cache
    with _cache_lock:
        if _cache is not None and len(_cache.resources) == len(resources) and all(
                a is b for a, b in zip(_cache.resources, resources, strict=True)):
            return _cache.view
    raws = [raw_resource(r) for r in resources]
    with _cache_lock:
        if _cache is not None and _cache.key() == (key := _digest(raws)):
            _cache = _BuiltView(_cache.view, tuple(resources), raws, key)
            return _cache.view
        _cache = _BuiltView(build_view(raws), tuple(resources), raws)
        return _cache.view
