"""Tenants stay in their zone: which names are the ISP's own, and what a customer zone may hold.

The ISP's own names (decided here, for the model and for anyone reading a refusal):

- `organization.domain` and everything under it: the hosts (`<host>.<domain>`), `www`,
  `webmail`, the apex, `pool.<domain>` (the customer pools' names, served by our BIND and
  delegated from Cloudflare by NS records in the primary zone);
- the customer pools' names wherever a `ptrPattern` puts them: the pattern's constant tail
  (`{kind}-{a}-{b}-{c}-{d}.{name}.pool.{domain}` -> `lab.pool.example.net`); outside our domain,
  the shortest zone of `zones` holding such a tail is the ISP's own too;
- every reverse name (`in-addr.arpa`, `ip6.arpa`, anything under `arpa`): the reverse zones of
  `networks.publicBlocks` and `customerPools` are made by the program itself from the networks
  (`components/dns_data.py`), never written in `zones`.

Every other zone of `zones`/`zonesFrom` is a customer's, and:

- `not-a-reverse-zone`, `not-an-isp-zone`, `not-a-parent-of-an-isp-zone`: it is not named like,
  under or above one of the ISP's own (names are compared lowercase, without the final dot);
- `owner-inside-zone` (every zone, ours too): a fully qualified owner (`mail.example.net.`)
  lies in its zone. A relative owner always does: Cloudflare appends the zone's name to a name
  that does not end in it, so `mail.example.net` in `customer.org` is
  `mail.example.net.customer.org`, never ours;
- it may point at our names as our hosts serve them, and only so (an MX at our mail host is
  ordinary hosting): `mx-to-our-mail-host`, `ns-to-our-name-server`, `cname-to-an-existing-name`;
- `web-name-not-at-our-name-server`: its apex, `www` and `webmail` (the names the policy pack
  takes for web names, lesson 8) never point at one of our name servers that serves no web, which
  would make the pack see DNS and web on one of our addresses and block every deploy (where our
  own host already serves both, the breach is the ISP's own, and the pack judges it);
- TXT, CAA and SRV contents are the customer's own: nothing of ours is read from them.

A refusal names the entry (`isp:zones[3].records[0].name`, or `customers.yaml: [3]...` for a
zone read from a file) and its rule.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

if TYPE_CHECKING:
    from components.config.model import CustomerPool, StackConfig, Zone

WEB_LABELS = ("www", "webmail")  # with the apex: what the pack's lesson 8 rule calls a zone's web names
MAX_REPORTED = 20
_COUNTER = re.compile(r"{[abcd]}")


def within(name: str, zone: str) -> bool:
    """`name` is `zone` or a name below it (both lowercase, without the final dot)."""
    return name == zone or name.endswith("." + zone)


def _plain(name: str) -> str:
    return name.rstrip(".").lower()


def pool_tail(pool: CustomerPool, domain: str) -> str | None:
    """The constant part of a pool's names: the labels after the last one holding an address octet."""
    labels = pool.ptr_pattern.split(".")
    last = max((i for i, label in enumerate(labels) if _COUNTER.search(label)), default=len(labels) - 1)
    tail = ".".join(labels[last + 1 :])
    return _plain(tail.format(kind=pool.kind, name=pool.name, domain=domain)) if tail else None


class _Names:
    """The ISP's own names and hosts, as the checks need them."""

    def __init__(self, cfg: StackConfig) -> None:
        domain = cfg.organization.domain
        self.domain = domain
        self.roots: dict[str, str] = {domain: "primary zone (organization.domain)"}
        self.pool_tails: set[str] = set()
        for pool in cfg.networks.customer_pools:
            tail = pool_tail(pool, domain)
            if tail:
                self.pool_tails.add(tail)
            if tail and not within(tail, domain):
                self.roots.setdefault(tail, f"customer pool {pool.name}'s names (ptrPattern)")
        # Pool names outside our domain live in a zone of ours: the shortest zone of `zones` holding them (the
        # one the ISP lists; a customer's zone equal to or under their tail is refused, never taken for it).
        self.own_zones = {domain}
        for tail in self.roots:
            holders = [z.name for z in cfg.zones if within(tail, z.name)]
            if tail != domain and holders:
                self.own_zones.add(min(holders, key=len))
        self.mail = {cfg.fqdn(h) for h in cfg.hosts_with("mail")}
        self.dns = {cfg.fqdn(h) for h in cfg.hosts_with("dns")}
        # Name servers that serve no web: a customer's web name there would manufacture a lesson 8 breach.
        # Where one of our own hosts already serves both, that is the ISP's own breach, judged by the pack.
        pure_dns = [h for h in cfg.hosts_with("dns") if not {"web", "webmail"} & set(h.roles)]
        self.pure_dns = {cfg.fqdn(h) for h in pure_dns}
        self.dns_addresses = {str(a) for h in pure_dns for a in (h.public_address, h.public_address6)
                              if a is not None}
        # Names of ours a customer may CNAME to, and the addresses each has in our data.
        self.addresses: dict[str, set[str]] = {}
        for host in cfg.hosts:
            found = {str(a) for a in (host.public_address, host.public_address6) if a is not None}
            if found:
                self.addresses.setdefault(cfg.fqdn(host), set()).update(found)
        for role, label in (("web", "www"), ("webmail", "webmail")):
            if hosts := cfg.hosts_with(role):
                self.addresses.setdefault(f"{label}.{domain}", set()).update(self.addresses.get(cfg.fqdn(hosts[0]), ()))
        if web := cfg.hosts_with("web"):
            self.addresses.setdefault(domain, set()).update(self.addresses.get(cfg.fqdn(web[0]), ()))
        self.aliases: dict[str, str] = {}  # our own CNAMEs, followed as a resolver would
        for zone in cfg.zones:
            if zone.name in self.own_zones:
                for record in zone.records:
                    owner = record_owner(record.name, zone.name)
                    entry = self.addresses.setdefault(owner, set())
                    if record.type in ("A", "AAAA"):
                        entry.add(_address(record.content))
                    elif record.type == "CNAME":
                        self.aliases.setdefault(owner, _plain(record.content))

    def root_of(self, name: str) -> str | None:
        """The own root (domain, pool names, `arpa`) that `name` is at or under."""
        if within(name, "arpa"):
            return "arpa"
        return next((root for root in self.roots if within(name, root)), None)

    def at_name_server(self, name: str) -> bool:
        for _ in range(8):  # a CNAME chain of ours, as far as a resolver follows one
            if name in self.pure_dns or self.addresses.get(name, set()) & self.dns_addresses:
                return True
            if name not in self.aliases:
                return False
            name = self.aliases[name]
        return False


def record_owner(name: str, zone: str) -> str:
    """A record's owner as Cloudflare places it (components/dns_data.py does the same)."""
    if name == "@":
        return zone
    if name.endswith("."):
        return _plain(name)
    name = name.lower()
    return name if within(name, zone) else f"{name}.{zone}"


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _zone_problems(names: _Names, zone_name: str) -> str | None:
    zone = _plain(zone_name)
    if within(zone, "arpa"):
        return ("is a reverse zone; the reverse zones of our blocks and pools are made by the program from "
                "networks, and no customer zone may lie under .arpa (rule: not-a-reverse-zone)")
    for root, what in names.roots.items():
        if zone == root:
            return f"is the ISP's own {what} (rule: not-an-isp-zone)"
        if within(zone, root):
            return f"lies under {root}, the ISP's own {what} (rule: not-an-isp-zone)"
        if within(root, zone):
            return (f"is a parent of {root}, the ISP's own {what}; it would claim our names "
                    "(rule: not-a-parent-of-an-isp-zone)")
    return None


def _content_problem(names: _Names, zone: str, owner: str, rtype: str, content: str) -> str | None:
    """Why a customer record's content may not point where it does (None: it may)."""
    web_name = owner in (zone, *(f"{label}.{zone}" for label in WEB_LABELS))
    if rtype in ("A", "AAAA"):
        if web_name and _address(content) in names.dns_addresses:
            return (f"points {owner}, a web name of a customer zone, at our name server's address; the pack "
                    "would see DNS and web on one address (lesson 8) (rule: web-name-not-at-our-name-server)")
        return None
    if rtype not in ("MX", "NS", "CNAME"):
        return None
    target = _plain(content)
    if names.root_of(target) is None:
        return None  # outside our names: the customer's own business
    if rtype == "MX" and target not in names.mail:
        return (f"names {target} as a mail exchanger; into the ISP's names an MX may only name one of our mail "
                f"hosts ({', '.join(sorted(names.mail))}) (rule: mx-to-our-mail-host)")
    if rtype == "NS" and target not in names.dns:
        return (f"names {target} as a name server; into the ISP's names an NS may only name one of our name "
                f"servers ({', '.join(sorted(names.dns))}) (rule: ns-to-our-name-server)")
    if rtype == "CNAME":
        pooled = any(within(target, tail) for tail in names.pool_tails)  # a customer's own dynamic address
        if target not in names.addresses and not pooled:
            return f"points at {target}, which is no name of ours (rule: cname-to-an-existing-name)"
        if web_name and names.at_name_server(target):
            return (f"points {owner}, a web name of a customer zone, at our name server {target}; the pack would "
                    "see DNS and web on one address (lesson 8) (rule: web-name-not-at-our-name-server)")
    return None


def _error(loc: tuple[str | int, ...], value: str, why: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("tenancy", "{why}", {"why": why}), loc=loc, input=value)


def tenancy_errors(cfg: StackConfig) -> list[InitErrorDetails]:
    """Every zone or record that reaches outside its tenant's zone (at most MAX_REPORTED)."""
    names = _Names(cfg)
    errors: list[InitErrorDetails] = []
    zones: list[Zone] = list(cfg.zones)
    for i, zone in enumerate(zones):
        customer = zone.name not in names.own_zones
        if customer and (why := _zone_problems(names, zone.name)):
            errors.append(_error(("zones", i, "name"), zone.name, why))
            continue
        for j, record in enumerate(zone.records):
            if record.name.endswith(".") and not within(_plain(record.name), zone.name):
                errors.append(_error(("zones", i, "records", j, "name"), record.name,
                                     f"is fully qualified outside its zone {zone.name}; a zone holds only names "
                                     "inside itself: write it relative to the zone (rule: owner-inside-zone)"))
            elif customer and (why := _content_problem(names, zone.name, record_owner(record.name, zone.name),
                                                       record.type, record.content)):
                errors.append(_error(("zones", i, "records", j, "content"), record.content, why))
            if len(errors) >= MAX_REPORTED:
                return errors
    return errors


def enforce_tenancy(cfg: StackConfig) -> None:
    """Raise the model's own ValidationError, each entry located at its zone or record."""
    if errors := tenancy_errors(cfg):
        raise ValidationError.from_exception_data("StackConfig", errors)
