"""The stack's DNS data, derived from its config: pure functions, no Pulumi.

One place decides which names exist and where they point, so that the forward records on
Cloudflare, the PTRs in our BIND zone files and the mail host's banner all agree
(lessons 5 and 7: FCrDNS), and SPF names exactly the addresses our mail leaves from (6).
Every zone gets DMARC (RFC 7489) with reports to organization.contactEmail; every hosted mail
domain (components/config/mail_auth.py) its DKIM keys, MTA-STS and TLS-RPT (lesson 6).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from components.config import CustomerPool, StackConfig, Zone
from components.config.mail_auth import dmarc_policy, is_hosted_mail_domain
from components.config.null_mx import NULL_MX_EXCHANGE, NULL_MX_PREFERENCE, is_null_mx
from components.config.tenancy import within
from components.render import mtasts
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
    records = _user_records(zone)
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
    _add_unless_written(records, RecordSpec(f"_dmarc.{zone.name}", "TXT", dmarc_record(cfg, zone)))
    if within(_report_domain(cfg), zone.name) and zone is _report_zone(cfg):  # the cheap test first: 10,000 zones
        records += _report_authorizations(cfg)
    if is_hosted_mail_domain(cfg, zone):
        records += _mail_auth_records(cfg, zone, records)
    return _dedupe(records)


def _user_records(zone: Zone) -> list[RecordSpec]:
    return [
        RecordSpec(_absolute(r.name, zone.name), r.type, _content(r.type, r.content), r.ttl, r.priority, r.proxied)
        for r in zone.records
    ]


def _add_unless_written(records: list[RecordSpec], record: RecordSpec) -> None:
    """The operator's own record of that name and type wins over the derived one (a CNAME over any)."""
    if not any(r.name == record.name and (r.type == record.type or "CNAME" in (r.type, record.type))
               for r in records):
        records.append(record)


def dmarc_record(cfg: StackConfig, zone: Zone) -> str:
    """`v=DMARC1; p=...; adkim=...; aspf=...; rua=mailto:...` (RFC 7489 §6.3: v first, then p)."""
    alignment = "s" if zone.dmarc_alignment == "strict" else "r"
    return (f"v=DMARC1; p={dmarc_policy(cfg, zone)}; adkim={alignment}; aspf={alignment}; "
            f"rua=mailto:{cfg.organization.contact_email}")


def _report_domain(cfg: StackConfig) -> str:
    return cfg.organization.contact_email.rpartition("@")[2]


def _report_zone(cfg: StackConfig) -> Zone | None:
    """The zone of ours holding the contact mailbox's domain (the longest that does), if any."""
    report_domain = _report_domain(cfg)
    holders = [z for z in cfg.zones if within(report_domain, z.name)]
    return max(holders, key=lambda z: len(z.name), default=None)


def _report_authorizations(cfg: StackConfig) -> list[RecordSpec]:
    """RFC 7489 §7.1: a report receiver outside a domain says it accepts that domain's reports, with
    `<domain>._report._dmarc.<receiver>` TXT "v=DMARC1"; without it reporters drop the rua."""
    report_domain = _report_domain(cfg)
    out = []
    for zone in cfg.zones:
        name = f"{zone.name}._report._dmarc.{report_domain}"
        # A name over 253 characters cannot exist; that zone's reports are the only ones lost.
        if not within(zone.name, report_domain) and len(name) <= 253:
            out.append(RecordSpec(name, "TXT", "v=DMARC1"))
    return out


def _apex_mx_hosts(records: list[RecordSpec], zone: Zone) -> list[str]:
    """The zone's MX hosts in MX order (preference, then as listed); the null MX is none."""
    apex = sorted((r.priority or 0, i, r.content) for i, r in enumerate(records)
                  if r.type == "MX" and r.name == zone.name and not is_null_mx(r.type, r.content))
    return list(dict.fromkeys(content.lower() for _, _, content in apex))


def _tls_report_uris(cfg: StackConfig) -> list[str]:
    return list(cfg.mail.tls_rpt.rua or [f"mailto:{cfg.organization.contact_email}"])


def _mail_auth_records(cfg: StackConfig, zone: Zone, records: list[RecordSpec]) -> list[RecordSpec]:
    """A hosted mail domain's DKIM keys (RFC 6376 §3.6.2.1), MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3)."""
    out = list(records)
    if cfg.mail.dkim is not None:
        for key in cfg.mail.dkim.keys:
            _add_unless_written(out, RecordSpec(f"{key.selector}._domainkey.{zone.name}", "TXT",
                                                f"v=DKIM1; k={key.algorithm}; p={key.public_key}"))
    mx_hosts = _apex_mx_hosts(records, zone)
    if not mx_hosts:
        return out[len(records):]  # accepts no mail: nothing to secure or report on
    if cfg.mail.mta_sts is not None:
        policy = mtasts.render_mta_sts_policy(cfg.mail.mta_sts.mode, mx_hosts, cfg.mail.mta_sts.max_age)
        _add_unless_written(out, RecordSpec(f"_mta-sts.{zone.name}", "TXT",
                                            mtasts.mta_sts_record(mtasts.policy_id(policy))))
        _add_unless_written(out, RecordSpec(f"mta-sts.{zone.name}", "CNAME", cfg.fqdn(cfg.hosts_with("web")[0])))
    _add_unless_written(out, RecordSpec(f"_smtp._tls.{zone.name}", "TXT", mtasts.tls_rpt_record(_tls_report_uris(cfg))))
    return out[len(records):]


def mta_sts_policies(cfg: StackConfig) -> dict[str, str]:
    """The MTA-STS policy text of each hosted mail domain that receives mail, as served at
    https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2); empty without mail.mtaSts."""
    if cfg.mail.mta_sts is None:
        return {}
    out = {}
    for zone in cfg.zones:
        if not is_hosted_mail_domain(cfg, zone):
            continue
        records = _user_records(zone) + (_primary_zone_records(cfg) if zone.name == cfg.organization.domain else [])
        if mx_hosts := _apex_mx_hosts(records, zone):
            out[zone.name] = mtasts.render_mta_sts_policy(cfg.mail.mta_sts.mode, mx_hosts, cfg.mail.mta_sts.max_age)
    return out


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
