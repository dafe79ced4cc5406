"""What should be, read from the stack config: the facts every check compares the live network with.

Nothing here decides a rule anew. The names, records and policies come from the functions the program
publishes with (components/dns_data.py: zone_records, reverse_zones, pool_zone_file, mta_sts_policies;
components/config/mail_auth.py: hosted_mail_domains), so the audit expects exactly what a deploy of the
same config publishes. Pure: no network, no files beyond what the config names.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import StackConfig, Zone
from components.config.mail_auth import hosted_mail_domains
from components.dns_data import (
    RecordSpec,
    mta_sts_policies,
    pool_zone_file,
    reverse_zones,
    zone_records,
)
from components.render import mtasts

WebRole = str  # "www" | "apex" | "webmail" | "mta-sts"


@dataclass(frozen=True)
class Endpoint:
    """A host as the outside sees it: its FQDN and public addresses (IPv4 first, then IPv6)."""

    name: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class WebName:
    """A public web name and the host whose addresses it must lead to."""

    name: str
    role: WebRole
    host: Endpoint


@dataclass(frozen=True)
class DkimExpectation:
    """`<selector>._domainkey.<domain>` TXT publishes this key (RFC 6376 §3.6.2.1); `signing`: the mail
    hosts sign with it now (signWith), so a verifier needs it today."""

    domain: str
    selector: str
    algorithm: str
    public_key: str
    signing: bool

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True)
class DmarcExpectation:
    """`_dmarc.<zone>` (RFC 7489 §6.3): its p= and adkim/aspf ("r" relaxed, "s" strict); `record` the
    whole TXT text the stack publishes."""

    zone: str
    policy: str
    alignment: str
    record: str = ""


@dataclass(frozen=True)
class MtaStsExpectation:
    """A hosted mail domain's MTA-STS (RFC 8461): the policy text served at
    https://mta-sts.<domain>/.well-known/mta-sts.txt, the id of `_mta-sts.<domain>` and the mx lines."""

    domain: str
    policy: str
    id: str
    mx: tuple[str, ...]


@dataclass(frozen=True)
class Expectation:
    name_servers: tuple[Endpoint, ...]
    mail_hosts: tuple[Endpoint, ...]
    bind_zones: tuple[str, ...]  # answered authoritatively by our name servers
    cloudflare_zones: tuple[str, ...]
    web_names: tuple[WebName, ...]
    hosted_mail_domains: tuple[str, ...]
    dkim: tuple[DkimExpectation, ...]
    dmarc: tuple[DmarcExpectation, ...]
    mta_sts: tuple[MtaStsExpectation, ...]
    tls_rpt: tuple[tuple[str, tuple[str, ...]], ...]  # (domain, rua URIs)
    submission_ports: tuple[int, ...]
    public_blocks: tuple[str, ...]
    customer_pools: tuple[str, ...]
    addresses: frozenset[str]  # every public address of the stack: all an audit may contact
    domain: str = ""  # organization.domain
    stack: str = ""

    @classmethod
    def from_config(cls, cfg: StackConfig, stack: str = "") -> Expectation:
        hosts = {h.name: _endpoint(cfg, h) for h in cfg.hosts}
        records = {zone.name: zone_records(cfg, zone) for zone in cfg.zones}
        bind, cloudflare = _zones_by_server(cfg)
        return cls(
            stack=stack,
            domain=cfg.organization.domain,
            name_servers=tuple(hosts[h.name] for h in cfg.hosts_with("dns")),
            mail_hosts=tuple(hosts[h.name] for h in cfg.hosts_with("mail")),
            bind_zones=bind,
            cloudflare_zones=cloudflare,
            web_names=_web_names(cfg, hosts),
            hosted_mail_domains=tuple(hosted_mail_domains(cfg)),
            dkim=_dkim(cfg),
            dmarc=tuple(_dmarc(zone, records[zone.name]) for zone in cfg.zones),
            mta_sts=_mta_sts(cfg),
            tls_rpt=_tls_rpt(cfg, records),
            submission_ports=tuple(cfg.mail.submission_ports),
            public_blocks=tuple(str(n) for n in cfg.networks.public_blocks),
            customer_pools=tuple(str(p.prefix) for p in cfg.networks.customer_pools),
            addresses=frozenset(a for endpoint in hosts.values() for a in endpoint.addresses),
        )


def _endpoint(cfg: StackConfig, host) -> Endpoint:
    addresses = tuple(str(a) for a in (host.public_address, host.public_address6) if a is not None)
    return Endpoint(cfg.fqdn(host), addresses)


def _zones_by_server(cfg: StackConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which zones our BIND serves and which Cloudflare does, decided as components/stack.py plans them:
    forward zones on Cloudflare unless the stack delivers locally (the lab), reverse zones on BIND unless
    `dns.reverseZonesOn: cloudflare` and they hold no pool names, the pool zone always on BIND."""
    local = cfg.delivery == "local"
    bind: list[str] = []
    cloudflare: list[str] = []
    for zone in cfg.zones:
        (bind if local else cloudflare).append(zone.name)
    for data in reverse_zones(cfg):
        on_cloudflare = cfg.dns.reverse_zones_on == "cloudflare" and not data.has_pools and not local
        (cloudflare if on_cloudflare else bind).append(data.zone)
    if (pool := pool_zone_file(cfg)) is not None:
        bind.append(pool.zone)
    return tuple(bind), tuple(cloudflare)


def _web_names(cfg: StackConfig, hosts: dict[str, Endpoint]) -> tuple[WebName, ...]:
    """The names components/dns_data.py points at the first web and webmail hosts."""
    domain = cfg.organization.domain
    out: list[WebName] = []
    if web := cfg.hosts_with("web"):
        out.append(WebName(f"www.{domain}", "www", hosts[web[0].name]))
        out.append(WebName(domain, "apex", hosts[web[0].name]))
    if webmail := cfg.hosts_with("webmail"):
        out.append(WebName(cfg.webmail_fqdn, "webmail", hosts[webmail[0].name]))
    if web:
        out += [WebName(f"mta-sts.{d}", "mta-sts", hosts[web[0].name]) for d in mta_sts_policies(cfg)]
    return tuple(out)


def _dkim(cfg: StackConfig) -> tuple[DkimExpectation, ...]:
    if cfg.mail.dkim is None:
        return ()
    signing = set(cfg.mail.dkim.sign_with)
    return tuple(DkimExpectation(domain, key.selector, key.algorithm, key.public_key, key.selector in signing)
                 for domain in hosted_mail_domains(cfg) for key in cfg.mail.dkim.keys)


def _tags(text: str) -> dict[str, str]:
    """`v=DMARC1; p=reject; adkim=r` -> {"v": "DMARC1", "p": "reject", "adkim": "r"} (RFC 7489 §6.4)."""
    pairs = (part.partition("=") for part in text.split(";"))
    return {key.strip().lower(): value.strip() for key, sep, value in pairs if sep}


def _txt(records: list[RecordSpec], name: str, prefix: str) -> str:
    return next((r.content for r in records if r.type == "TXT" and r.name == name and r.content.startswith(prefix)),
                "")


def _dmarc(zone: Zone, records: list[RecordSpec]) -> DmarcExpectation:
    """From the record the stack publishes (an operator's own `_dmarc` TXT wins there, so here too)."""
    record = _txt(records, f"_dmarc.{zone.name}", "v=DMARC1")
    tags = _tags(record)
    return DmarcExpectation(zone.name, tags.get("p", "none"), tags.get("adkim", "r"), record)


def _mta_sts(cfg: StackConfig) -> tuple[MtaStsExpectation, ...]:
    out = []
    for domain, policy in mta_sts_policies(cfg).items():
        mx = tuple(line.removeprefix("mx:").strip() for line in policy.splitlines() if line.startswith("mx:"))
        out.append(MtaStsExpectation(domain, policy, mtasts.policy_id(policy), mx))
    return tuple(out)


def _tls_rpt(cfg: StackConfig, records: dict[str, list[RecordSpec]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each hosted mail domain that receives mail publishes `_smtp._tls` (RFC 8460 §3)."""
    out = []
    for domain in hosted_mail_domains(cfg):
        record = _txt(records.get(domain, []), f"_smtp._tls.{domain}", "v=TLSRPTv1")
        if record:
            out.append((domain, tuple(u for u in _tags(record).get("rua", "").split(",") if u)))
    return tuple(out)
