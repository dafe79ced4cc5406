"""The gateway as the rules see it: each host's firewall ruleset and the NAT it performs.

A host's netfilter state comes from everything it receives (`hostview.hosts`): nftables files
(merged: a host loads them together), iptables-save files (kind "iptables": Debian's
`rules.v4`/`rules.v6`, `/etc/sysconfig/iptables`), and `iptables`/`ip6tables`/`iptables-restore`/
`ipset` commands in delivered scripts and in Command texts. The iptables side is replayed in
order: save files no command restores are loaded first (as at boot), then scripts, then
commands (a command's `iptables-restore < FILE` loads that file at that point). Everything
ends in one model (`readers.nftconf.Ruleset`), each rule knowing the file or command and line
it was written at and the operator's own text.

`dnat_map` and `snat_public` answer where a public address is forwarded and where a private
address leaves from.
"""

from __future__ import annotations

import ipaddress
import posixpath
from dataclasses import dataclass

from readers import iptablesconf, nftconf, nftrules, nftwalk
from values import AddressSet

from hostview import hosts as hostsview
from hostview.evidence import HostFile
from hostview.stackview import StackView

_KEY = ("gateway-rulesets", 0)


@dataclass(frozen=True)
class HostRuleset:
    """The firewall of one host, read from all it receives."""

    host: str  # the host's label
    ruleset: nftconf.Ruleset
    sources: tuple[str, ...]  # the files and commands it was read from
    urn: str  # the first of them, for findings no single rule owns
    notes: tuple[str, ...] = ()  # what was not read or not understood

    @property
    def label(self) -> str:
        return f"{self.host} [{', '.join(self.sources)}]"


def rulesets(view: StackView) -> list[HostRuleset]:
    """One entry per host that receives any firewall rules (memoised on the view)."""
    hosts = hostsview.of(view)
    cached = view._parsed.get(_KEY)
    if cached is not None and cached[0] is hosts:
        return cached[1]
    found = [hr for hr in (_host_ruleset(view, host) for host in hosts) if hr is not None]
    view._parsed[_KEY] = (hosts, found)
    return found


def _memo(view: StackView, owner, text: str, tag: str, parse):
    key = (id(owner), tag)
    if key not in view._parsed:
        view._parsed[key] = (owner, parse(text))  # the owner held: its id cannot be reused while memoised
    return view._parsed[key][1]


def _where(f: HostFile) -> str:
    return f.path + (f" ({f.via})" if f.via else "")


def _is_script(f: HostFile) -> bool:
    if f.text is None:
        return False
    if f.kind == "script":
        return True
    if f.kind == "iptables":
        return not iptablesconf.looks_like_save(f.text)
    return f.kind == "other" and f.text.startswith("#!") and ("tables" in f.text or "ipset" in f.text)


def _host_ruleset(view: StackView, host: hostsview.Host) -> HostRuleset | None:
    rs = nftconf.Ruleset()
    sources: list[str] = []
    notes: list[str] = []
    urns: list[str] = []
    for f in host.of_kind("nftables"):
        parsed = view.parsed(f) if f.text is not None else None
        if parsed is None:
            notes.append(f"{_where(f)}: {f.problem or 'not readable'}")
            continue
        nftconf.merge(rs, parsed, _where(f), f.urn)
        sources.append(_where(f))
        urns.append(f.urn)
    saves = {}
    for f in host.of_kind("iptables"):
        if f.text is None:
            notes.append(f"{_where(f)}: {f.problem or 'not readable'}")
        elif not _is_script(f):
            saves[f.deployed_path] = f
    scripts = [(f, _memo(view, f, f.text, "iptables-script", iptablesconf.read_script))
               for f in host.files if _is_script(f)]
    scripts = [(f, s) for f, s in scripts if s.steps or s.problems]
    commands = [(c, [_memo(view, c, t, f"iptables-command-{i}", iptablesconf.read_script)
                     for i, t in enumerate(c.texts)]) for c in host.commands]
    commands = [(c, [s for s in parsed if s.steps or s.problems]) for c, parsed in commands]
    commands = [(c, parsed) for c, parsed in commands if parsed]
    restored = {step.path for _, s in scripts for step in s.steps if isinstance(step, iptablesconf.Restore)}
    restored |= {step.path for _, parsed in commands for s in parsed for step in s.steps
                 if isinstance(step, iptablesconf.Restore)}
    if saves or scripts or commands:
        netfilter = iptablesconf.Netfilter()

        def save_at(path: str | None):
            f = saves.get(path) if path else None
            if f is None:
                return None
            sources.append(_where(f))
            urns.append(f.urn)
            return view.parsed(f), _where(f), f.urn

        for path, f in saves.items():
            if path not in restored:
                save = view.parsed(f)
                netfilter.restore(save, _family(f, save), _where(f), f.urn)
                sources.append(_where(f))
                urns.append(f.urn)
        for f, script in scripts:
            notes.extend(f"{_where(f)}, {p}" for p in script.problems)
            netfilter.run(script.steps, _where(f), f.urn, save_at)
            sources.append(_where(f))
            urns.append(f.urn)
        for command, parsed in commands:
            for script in parsed:
                notes.extend(f"{command.label}, {p}" for p in script.problems)
                netfilter.run(script.steps, command.label, command.urn, save_at)
            sources.append(command.label)
            urns.append(command.urn)
        nftconf.merge(rs, netfilter.ruleset(_resolver(view)))
    if not sources and not notes:
        return None
    notes.extend(rs.problems)
    return HostRuleset(host.label, rs, tuple(dict.fromkeys(sources)), urns[0] if urns else "",
                       tuple(dict.fromkeys(notes)))


def _family(f: HostFile, save: iptablesconf.SaveFile) -> str:
    """ip6 for rules.v6, ip6tables*, /etc/sysconfig/ip6tables, else what the addresses say, else ip."""
    base = posixpath.basename(f.deployed_path)
    if base.startswith("ip6") or base.endswith(("v6", "6.rules")) or "ip6tables" in f.deployed_path:
        return "ip6"
    if base.endswith("v4") or base.startswith("iptables"):
        return "ip"
    return save.family_hint or "ip"


def _resolver(view: StackView):
    """Host names in rules are resolved when iptables loads them: through the stack's own DNS data, else unknown."""

    def resolve(name: str) -> list[str] | None:
        return (view.addresses(name) or None) if view.visible(name) else None

    return resolve


def address_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def first_snat(rs: nftconf.Ruleset, private: str) -> tuple[nftrules.RuleInfo, nftconf.Chain] | None:
    """The first snat or masquerade in postrouting that connections from `private` meet."""
    packet = nftwalk.Packet(AddressSet.of(ipaddress.ip_network(private)), None, assume_interfaces_match=True)
    chains = [c for c in rs.base_chains("postrouting") if nftwalk.sees(c, packet)]
    return nftwalk.first_nat(chains, packet, rs, ("snat", "masquerade"))


def snat_public(view: StackView, private: str) -> list[tuple[str, str]]:
    """Where connections from `private` leave: (public address, how) from each gateway ruleset."""
    address = address_of(private)
    if address is None:
        return []
    found = []
    for hr in rulesets(view):
        hit = first_snat(hr.ruleset, str(address))
        if hit is None or hit[0].nat.kind != "snat":
            continue
        target = address_of(nftrules.nat_address(hit[0].nat, str(address)) or "")
        if target is not None:
            where = hit[0].rule.where or ", ".join(hr.sources)
            found.append((str(target), f"snat of {address} in {where} on {hr.host}"))
    return found


def dnat_map(view: StackView) -> dict[str, set[str]]:
    """public address -> private addresses it is forwarded to (all rulesets). A NETMAP prefix maps the
    addresses the stack knows inside it (its A/AAAA records)."""
    mapping: dict[str, set[str]] = {}
    known = None
    for hr in rulesets(view):
        pairs, _unclear = nftwalk.dnat_pairs(hr.ruleset)
        for pair in pairs:
            if pair.prefix:
                if known is None:
                    known = {f.rec.value for rtype in ("A", "AAAA") for f in view.of_type(rtype)}
                net = nftrules.parse_net(pair.public)
                inside = [a for a in known if net is not None and address_of(a) is not None
                          and address_of(a).version == net.version and address_of(a) in net]
                for public in inside:
                    private = address_of(nftrules.nat_address(pair.rule.nat, public) or "")
                    if private is not None:
                        mapping.setdefault(str(address_of(public)), set()).add(str(private))
                continue
            pub, priv = address_of(pair.public), address_of(pair.private)
            if pub is not None and priv is not None:
                mapping.setdefault(str(pub), set()).add(str(priv))
    return mapping
