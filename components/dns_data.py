"""The stack's DNS data, derived from its config: pure functions, no Pulumi.

One place decides which names exist and where they point, so that the forward records on
Cloudflare, the PTRs in our BIND zone files and the mail host's banner all agree
(lessons 5 and 7: FCrDNS), and SPF names exactly the addresses our mail leaves from (6).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from components.config import CustomerPool, StackConfig, Zone
from components.config.null_mx import NULL_MX_EXCHANGE, NULL_MX_PREFERENCE, is_null_mx
from components.render.bind import (
    GeneratedRange,
    ZoneRecord,
    pool_ptr_ranges,
    render_zone_file,
    reverse_zone_names,
    reverse_zone_of,
)

BIND_ZONE_DIR = "/etc/bind/zones"
SECONDARY_ZONE_DIR = "/var/cache/bind"


@dataclass(frozen=True)
class RecordSpec:
    """One record as Cloudflare takes it: a fully qualified owner name."""

    name: str
    type: str
    content: str
    ttl: int = 1
    priority: int | None = None
    proxied: bool = False

    @property
    def key(self) -> str:
        """Stable, readable resource-name suffix: type and owner (apex shown as '@')."""
        return f"{self.type.lower()}-{self.name}"


def _absolute(name: str, zone: str) -> str:
    if name == "@":
        return zone
    if name.endswith("."):
        return name.rstrip(".")
    if name == zone or name.endswith("." + zone):
        return name
    return f"{name}.{zone}"


def pool_zone_name(cfg: StackConfig) -> str:
    """The forward zone our BIND serves for customer pool names (delegated from Cloudflare)."""
    return f"pool.{cfg.organization.domain}"


def pool_name(cfg: StackConfig, pool: CustomerPool, a: int, b: int, c: int, d: int | str) -> str:
    return pool.ptr_pattern.format(a=a, b=b, c=c, d=d, kind=pool.kind, name=pool.name, domain=cfg.organization.domain)


def spf_record(cfg: StackConfig) -> str:
    """`v=spf1 ip4:... ip6:... -all`: only literal addresses, so no DNS lookups are spent."""
    terms = []
    for host in cfg.hosts_with("mail"):
        if host.public_address:
            terms.append(f"ip4:{host.public_address}")
        if host.public_address6:
            terms.append(f"ip6:{host.public_address6}")
    return " ".join(["v=spf1", *terms, "-all"])


def zone_records(cfg: StackConfig, zone: Zone) -> list[RecordSpec]:
    """Every record of a Cloudflare zone: the user's own, then what the stack adds."""
    domain = cfg.organization.domain
    records = [
        RecordSpec(_absolute(r.name, zone.name), r.type, _content(r.type, r.content), r.ttl, r.priority, r.proxied)
        for r in zone.records
    ]
    if zone.name == domain:
        records += _primary_zone_records(cfg)
    apex_mx = [r for r in records if r.type == "MX" and r.name == zone.name]
    if not apex_mx and zone.name != domain:
        # A zone that accepts no mail says so (RFC 7505 §3): senders give up at once instead of trying its
        # A/AAAA as an implicit MX (RFC 5321 §5.1). Our own domain always has the mail hosts' MX.
        records.append(RecordSpec(zone.name, "MX", NULL_MX_EXCHANGE, priority=NULL_MX_PREFERENCE))
    has_mx = any(not is_null_mx(r.type, r.content) for r in apex_mx)
    has_spf = any(r.type == "TXT" and r.name == zone.name and r.content.startswith("v=spf1") for r in records)
    if not has_spf:
        # A zone that sends no mail still says so: "v=spf1 -all" stops spoofing of it.
        records.append(RecordSpec(zone.name, "TXT", spf_record(cfg) if has_mx else "v=spf1 -all"))
    dmarc_name = f"_dmarc.{zone.name}"
    if not any(r.name == dmarc_name and r.type == "TXT" for r in records):
        report = f"; rua=mailto:{cfg.organization.contact_email}" if zone.name == domain else ""
        records.append(RecordSpec(dmarc_name, "TXT", f"v=DMARC1; p={zone.dmarc_policy}{report}"))
    return _dedupe(records)


def _content(rtype: str, content: str) -> str:
    if is_null_mx(rtype, content):
        return content  # the root is the null MX's whole exchange: without its dot it would be empty
    return content.rstrip(".") if rtype in ("CNAME", "MX", "NS") else content


def _primary_zone_records(cfg: StackConfig) -> list[RecordSpec]:
    domain = cfg.organization.domain
    out: list[RecordSpec] = []
    for host in cfg.hosts:
        fqdn = cfg.fqdn(host)
        if host.public_address:
            out.append(RecordSpec(fqdn, "A", str(host.public_address)))
        if host.public_address6:
            out.append(RecordSpec(fqdn, "AAAA", str(host.public_address6)))
    for preference, host in enumerate(cfg.hosts_with("mail"), start=1):
        out.append(RecordSpec(domain, "MX", cfg.fqdn(host), priority=10 * preference))
    for role, label in (("web", "www"), ("webmail", "webmail")):
        hosts = cfg.hosts_with(role)
        if hosts and hosts[0].name != label:
            out.append(RecordSpec(f"{label}.{domain}", "CNAME", cfg.fqdn(hosts[0])))
    if web := cfg.hosts_with("web"):
        out.append(RecordSpec(domain, "A", str(web[0].public_address)))
        if web[0].public_address6:
            out.append(RecordSpec(domain, "AAAA", str(web[0].public_address6)))
    if cfg.networks.customer_pools:
        for ns in cfg.hosts_with("dns"):
            out.append(RecordSpec(pool_zone_name(cfg), "NS", cfg.fqdn(ns)))
    return out


def _dedupe(records: list[RecordSpec]) -> list[RecordSpec]:
    """The user's record wins over a derived one with the same owner, type and content."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for record in records:
        ident = (record.name, record.type, record.content)
        if ident not in seen:
            seen.add(ident)
            out.append(record)
    return out


# ---------------------------------------------------------------------------------------
# BIND zone data: reverse zones for our blocks and the customer pools' forward names


@dataclass(frozen=True)
class ZoneFile:
    zone: str
    path: str
    text: str


def _nameservers(cfg: StackConfig) -> list[str]:
    return [cfg.fqdn(h) for h in cfg.hosts_with("dns")]


@dataclass(frozen=True)
class ReverseZoneData:
    zone: str
    ptrs: tuple[tuple[str, str], ...]  # (relative owner, host FQDN)
    has_pools: bool
    file: ZoneFile

    def absolute_ptrs(self) -> list[tuple[str, str]]:
        return [(f"{owner}.{self.zone}", target) for owner, target in self.ptrs]


def reverse_zones(cfg: StackConfig) -> list[ReverseZoneData]:
    """One reverse zone per octet/nibble cut of our public blocks and IPv4 customer pools."""
    zones: dict[str, tuple[list[ZoneRecord], list[GeneratedRange]]] = {}
    for block in cfg.networks.public_blocks:
        for name in reverse_zone_names(block):
            zones.setdefault(name, ([], []))
    for pool in cfg.networks.customer_pools:
        if pool.prefix.version == 4:
            for name in reverse_zone_names(pool.prefix):
                zones.setdefault(name, ([], []))
    for host in cfg.hosts:
        if not host.publish_ptr:
            continue
        for address in (host.public_address, host.public_address6):
            if address is None:
                continue
            zone = reverse_zone_of(address, zones)
            if zone is not None:
                owner = address.reverse_pointer.removesuffix("." + zone)
                zones[zone][0].append(ZoneRecord(owner, "PTR", cfg.fqdn(host)))
    for pool in cfg.networks.customer_pools:
        if pool.prefix.version != 4:
            continue
        for name in reverse_zone_names(pool.prefix):
            zones[name][1].extend(
                pool_ptr_ranges(pool.prefix, name, lambda a, b, c, d, pool=pool: pool_name(cfg, pool, a, b, c, d))
            )
    primary = cfg.hosts_with("dns")[0]
    out = []
    for name in sorted(zones):
        records, generated = zones[name]
        text = render_zone_file(
            origin=name,
            primary_ns=cfg.fqdn(primary),
            hostmaster=cfg.organization.contact_email,
            nameservers=_nameservers(cfg),
            records=records,
            generated=generated,
        )
        ptrs = tuple((r.owner, r.data) for r in records)
        out.append(ReverseZoneData(name, ptrs, bool(generated), ZoneFile(name, f"{BIND_ZONE_DIR}/db.{name}", text)))
    return out


def pool_zone_file(cfg: StackConfig) -> ZoneFile | None:
    """Forward A records for every pool address whose PTR names a host under the pool zone.

    Without them a customer's PTR would not resolve back, and FCrDNS checks elsewhere
    (other ISPs' mail servers, IRC) would fail for our customers.
    """
    zone = pool_zone_name(cfg)
    generated: list[GeneratedRange] = []
    for pool in cfg.networks.customer_pools:
        if pool.prefix.version != 4:
            continue
        blocks = [pool.prefix] if pool.prefix.prefixlen >= 24 else list(pool.prefix.subnets(new_prefix=24))
        for block in blocks:
            a, b, c, first = (int(x) for x in str(block.network_address).split("."))
            name = pool_name(cfg, pool, a, b, c, "$")
            if not name.endswith("." + zone):
                continue  # named in a zone we do not serve: nothing to generate here
            owner = name.removesuffix("." + zone)
            last = first + block.num_addresses - 1
            generated.append(GeneratedRange(first, last, owner, "A", f"{a}.{b}.{c}.$"))
    if not generated:
        return None
    primary = cfg.hosts_with("dns")[0]
    text = render_zone_file(
        origin=zone,
        primary_ns=cfg.fqdn(primary),
        hostmaster=cfg.organization.contact_email,
        nameservers=_nameservers(cfg),
        generated=generated,
    )
    return ZoneFile(zone, f"{BIND_ZONE_DIR}/db.{zone}", text)


def address_of(cfg: StackConfig, fqdn: str) -> ipaddress.IPv4Address | None:
    for host in cfg.hosts:
        if cfg.fqdn(host) == fqdn:
            return host.public_address
    return None


def forward_zone_file(cfg: StackConfig, zone: Zone) -> ZoneFile:
    """A forward zone's records (what Cloudflare would hold) as a BIND zone file.

    For stacks without Cloudflare (the lab): our own name servers serve the forward zones,
    with exactly the records `zone_records` gives Cloudflare.
    """
    records = [
        ZoneRecord(f"{r.name}.", r.type, f"{r.priority} {r.content}" if r.type == "MX" else r.content)
        for r in zone_records(cfg, zone)
    ]
    primary = cfg.hosts_with("dns")[0]
    text = render_zone_file(
        origin=zone.name,
        primary_ns=cfg.fqdn(primary),
        hostmaster=cfg.organization.contact_email,
        nameservers=_nameservers(cfg),
        records=records,
    )
    return ZoneFile(zone.name, f"{BIND_ZONE_DIR}/db.{zone.name}", text)
