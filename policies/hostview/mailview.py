"""Mail hosts as the rules see them: Postfix instances per host and their public addresses.

A host's files are tied to its public address through the stack's own data: the 1:1 NAT
of its `smtp_bind_address` (or of the host's own address) in a delivered nftables
ruleset, else the A/AAAA records of its `myhostname`.
"""

from __future__ import annotations

from dataclasses import dataclass

from readers import postfixconf

from hostview.evidence import HostFile
from hostview.gatewayview import address_of, snat_public
from hostview.stackview import StackView


@dataclass
class PostfixHost:
    host: str
    main_file: HostFile | None
    master_file: HostFile | None
    main: postfixconf.MainCf
    master: postfixconf.MasterCf | None

    @property
    def label(self) -> str:
        f = self.main_file or self.master_file
        return f.label if f else self.host

    @property
    def urn(self) -> str | None:
        f = self.main_file or self.master_file
        return f.urn if f else None

    def services(self, command: str = "smtpd") -> list[postfixconf.MasterService]:
        if self.master is None:
            return []
        return [s for s in self.master.services if s.service_type == "inet" and s.command == command]

    def value(self, name: str, service: postfixconf.MasterService | None = None) -> str | None:
        return self.main.get(name, service.overrides if service else None)


def postfix_hosts(view: StackView) -> list[PostfixHost]:
    """One entry per main.cf (paired with a master.cf on the same host), plus lone master.cf files."""
    out: list[PostfixHost] = []
    for host, files in view.hosts().items():
        mains = [f for f in files if f.kind == "postfix-main"]
        masters = [f for f in files if f.kind == "postfix-master"]
        master_file = masters[0] if masters else None
        master = view.parsed(master_file) if master_file else None
        for main_file in mains:
            main = view.parsed(main_file) or postfixconf.MainCf()
            out.append(PostfixHost(host, main_file, master_file, main, master))
        if not mains and master_file is not None:
            out.append(PostfixHost(host, None, master_file, postfixconf.MainCf(), master))
    return out


def public_addresses(view: StackView, ph: PostfixHost) -> list[tuple[str, str]]:
    """The addresses the world sees this Postfix send from, each with how we know."""
    found: list[tuple[str, str]] = []
    sources = [ph.value("smtp_bind_address"), ph.value("smtp_bind_address6")]
    host_address = address_of(ph.host) if ph.host else None
    if host_address is not None:
        sources.append(str(host_address))
    for private in sources:
        if private and address_of(private) is not None:
            address = address_of(private)
            if address.is_global:
                found.append((str(address), "the host's own address"))
            found.extend(snat_public(view, private))
    if not found:
        myhostname = ph.value("myhostname")
        if myhostname:
            found.extend((a, f"A/AAAA of myhostname {myhostname}") for a in view.addresses(myhostname))
    return list(dict.fromkeys(found))


def mail_host_addresses(view: StackView) -> dict[str, str]:
    """address -> how it is a mail host: MX target addresses and Postfix hosts' public addresses."""
    found: dict[str, str] = {}
    for fact in view.of_type("MX"):
        for address in view.addresses(fact.rec.value):
            found.setdefault(address, f"MX target {fact.rec.value}")
    for ph in postfix_hosts(view):
        for address, how in public_addresses(view, ph):
            found.setdefault(address, f"Postfix on {ph.host} ({how})")
    return found
