"""Gateway lessons: customers' outbound TCP/25 is blocked (1), mail NAT is 1:1 (7).

Both judge each host's whole netfilter state (`hostview.gatewayview`): nftables files and
iptables/ip6tables (save files, scripts, commands) in one model, so one walk judges every
dialect; an `ip` chain sees IPv4 only, `ip6` IPv6 only, `inet` both. Messages quote the rule
as the operator wrote it, with its file or command and line.

How the egress walk treats what it cannot know (interface names, marks, rate limits, ipsets
the stack does not define): a rule that names port 25 and drops/rejects counts as the block
even if it also matches on an interface (it is written for the customer side); an unknowable
rule that may accept before the block leaves it not judged (a note saying what would settle
it). For NAT, interface matches count as matching: the mail host's connections leave through
the Internet-facing interface. NETMAP (iptables) and `snat ip prefix to ... map` (nftables)
are 1:1 prefix mappings, checked at both ends of the prefix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hostview import gatewayview, stackview
from pulumi_policy import Severity
from readers import nftconf, nftrules, nftwalk
from values import AddressSet

from rules.kit import ADVISORY, Finding, NotApplicable, Note, Outcome, declare, setting

# ---------------------------------------------------------------------------------------
# customer-smtp-egress-blocked


def _pools(view: stackview.StackView, config: Mapping[str, Any]) -> list:
    pools = view.customer_pools()
    for text in config.customer_pools:
        try:
            pools.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            continue
    return pools


def _chains_reached(rs: nftconf.Ruleset, base: nftconf.Chain) -> list[nftconf.Chain]:
    found, todo = [], [base]
    while todo:
        chain = todo.pop()
        if any(chain is seen for seen in found):
            continue
        found.append(chain)
        for rule in chain.rules:
            verdict = nftrules.analyse(rule, rs, (chain.family, chain.table)).verdict
            if verdict is not None and verdict.kind in ("jump", "goto"):
                target = rs.chain(chain.family, chain.table, verdict.target)
                if target is not None:
                    todo.append(target)
    return found


_UNIVERSE = {"ip": nftwalk.IPV4, "ip6": nftwalk.IPV6}


def inferred_sources(rs: nftconf.Ruleset, forward: list[nftconf.Chain]) -> list[tuple[str, AddressSet, bool]]:
    """Without known pools: the sources that forward rules dropping TCP/25 are written for (an `ip`
    chain's rule speaks for IPv4 sources only, an `ip6` chain's for IPv6)."""
    probe = nftwalk.Packet(AddressSet.everything(), None, saddr_is_everything=True)
    sources: list[tuple[str, AddressSet, bool]] = []
    for base in forward:
        for chain in _chains_reached(rs, base):
            for rule in chain.rules:
                info = nftrules.analyse(rule, rs, (chain.family, chain.table))
                verdict = info.verdict
                if verdict is None or verdict.kind not in ("drop", "reject"):
                    continue
                if not any(m.field == "dport" and nftwalk.evaluate(m, probe, rs) is True for m in info.matches):
                    continue
                # An `ip ...`/`ip6 ...` match (or the chain's family) limits the rule to one family.
                families = {m.family for m in info.matches if m.family} | ({base.family} & set(_UNIVERSE))
                only = families.pop() if len(families) == 1 else ""
                universe = _UNIVERSE.get(only, AddressSet.everything())
                family = {"ip": " (IPv4)", "ip6": " (IPv6)"}.get(only, "")
                saddr = [m for m in info.matches if m.field == "saddr"]
                if not saddr:
                    sources.append(("any source" + family, universe, True))
                    continue
                for match in saddr:
                    values = nftwalk.address_values(match, rs)
                    if values is not None and values.is_empty():
                        continue  # an empty set (e.g. no IPv6 pools yet) matches nobody
                    if values is not None and not match.negated:
                        sources.append((", ".join(match.values), values.intersect(universe), False))
                    elif values is not None:
                        sources.append((f"any source but {', '.join(match.values)}" + family,
                                        universe.minus(values), True))
    return [(label, addresses, everything) for label, addresses, everything in sources if not addresses.is_empty()]


@dataclass(frozen=True)
class CustomerSmtpEgressBlockedConfig:
    customer_pools: tuple[str, ...] = setting((), 'Customer prefixes (used when no component evidence names them).')


@declare(
    "customer-smtp-egress-blocked", lesson=1, level=ADVISORY, severity=Severity.HIGH,
    config=CustomerSmtpEgressBlockedConfig,
    description="The gateway rejects customers' forwarded TCP/25 to anything but our own mail hosts.",
    remediation="In the gateway's forward chain, before any accept for customer traffic: "
                "`ip saddr @customer_pools ip daddr != @our_mail_hosts tcp dport 25 reject with tcp reset` "
                "(iptables: `-I FORWARD 1 -s POOL ! -d MAILHOST -p tcp --dport 25 -j REJECT --reject-with "
                "tcp-reset`; the same in ip6tables for IPv6 pools).",
    url="https://www.rfc-editor.org/rfc/rfc5068#section-3",
    tags=["gateway", "mail", "lesson-1"],
)
def egress_findings(view: stackview.StackView, config: CustomerSmtpEgressBlockedConfig) -> Iterator[Outcome]:
    rulesets = gatewayview.rulesets(view)
    if not rulesets:
        yield Finding("no firewall ruleset (nftables, iptables or ip6tables) is deployed by this stack: nothing "
                      "enforces lesson 1, customers' outbound TCP/25 must be rejected at the gateway except to our own "
                      "mail hosts" + view.unknown_note())
        return
    routers = [hr for hr in rulesets if hr.ruleset.base_chains("forward")]
    if not routers:
        unread = [hr for hr in rulesets if hr.notes]
        for hr in unread:
            yield _note(hr, "no forward chain read")
        if not unread:
            labels = "; ".join(hr.label for hr in rulesets)
            yield Finding(f"no delivered ruleset has a forward chain ({labels}): nothing filters customers' routed "
                          "TCP/25", rulesets[0].urn)
        return
    pools = _pools(view, config)
    for hr in routers:
        rs, forward = hr.ruleset, hr.ruleset.base_chains("forward")
        if hr.notes:
            yield _note(hr, "forward chains judged without it")
        if pools:
            packets = [(str(p), nftwalk.Packet(AddressSet.of(p), None)) for p in pools]
        else:
            sources = inferred_sources(rs, forward)
            if not sources:
                yield Finding(f"{hr.label}: no forward rule drops or rejects tcp dport 25; customers can send mail "
                              "directly to any server (limit: TCP/25 only to our own mail hosts)", hr.urn)
                continue
            packets = [(label, nftwalk.Packet(addresses, None, saddr_is_everything=everything))
                       for label, addresses, everything in sources]
        for label, packet in packets:
            for family, part in nftwalk.by_family(packet):
                yield from _judge_egress(hr, forward, f"{label} ({family})" if family else label, part)


def _note(hr: gatewayview.HostRuleset, consequence: str) -> Note:
    shown = "; ".join(hr.notes[:3]) + (f" and {len(hr.notes) - 3} more" if len(hr.notes) > 3 else "")
    return Note(f"{hr.label}: not read: {shown}; {consequence}",
                until_up=all("unknown during preview" in n for n in hr.notes))


def _judge_egress(hr: gatewayview.HostRuleset, forward: list[nftconf.Chain], label: str,
                  packet: nftwalk.Packet) -> Iterator[Outcome]:
    rs = hr.ruleset
    chains = [c for c in forward if nftwalk.sees(c, packet)]
    if not chains:
        family = "IPv6" if packet.family == "ip6" else "IPv4"
        yield Finding(f"{hr.label}: new TCP/25 from {label} to an outside server is not filtered: no forward chain "
                      f"sees {family} ({', '.join(c.label for c in forward)} are for the other family); limit: "
                      "customers reach port 25 only on our own mail hosts", hr.urn)
        return
    reasons, uncertain, urn = [], [], None
    for chain in chains:
        walk = nftwalk.walk_filter(chain, packet, rs)
        if walk.final in ("drop", "reject") and not walk.maybe_accepted_by:
            return
        if walk.maybe_accepted_by and walk.final in ("drop", "reject"):
            first = walk.maybe_accepted_by[0].rule
            blocked_by = (f"its {walk.final} '{walk.decided_by.rule.quote}'" if walk.decided_by is not None
                          else f"its policy {walk.final}")
            uncertain.append(f"chain {chain.label} may accept it with '{first.quote}' ({first.located}), a match "
                             f"the pack cannot evaluate, before {blocked_by}")
        elif walk.decided_by is not None:
            rule = walk.decided_by.rule
            reasons.append(f"chain {chain.label} accepts it with '{rule.quote}' ({rule.located})")
            urn = urn or rule.urn
        elif walk.maybe_accepted_by:
            rule = walk.maybe_accepted_by[0].rule
            reasons.append(f"chain {chain.label} may accept it with '{rule.quote}' ({rule.located}) and otherwise "
                           f"lets it fall through to policy {walk.final or 'accept'}")
            urn = urn or rule.urn
        else:
            reasons.append(f"chain {chain.label} lets it fall through to policy {walk.final or 'accept'}")
    if uncertain and not reasons:
        yield Note(f"{hr.label}: whether new TCP/25 from {label} to an outside server is rejected is not judged: "
                   f"{'; '.join(uncertain)}; to settle it, reject TCP/25 from the customer prefixes before that rule "
                   "or make it match addresses")
        return
    yield Finding(f"{hr.label}: new TCP/25 from {label} to an outside server is not rejected: "
                  f"{'; '.join(reasons + uncertain)}; limit: customers reach port 25 only on our own mail hosts",
                  urn or hr.urn)


# ---------------------------------------------------------------------------------------
# mail-nat-symmetric


@declare(
    "mail-nat-symmetric", lesson=7, level=ADVISORY, severity=Severity.MEDIUM,
    description="Each dnat public -> private has a snat private -> the same public that no earlier rule overrides.",
    remediation="For every `ip daddr PUB dnat to PRIV` add `ip saddr PRIV snat to PUB` in the postrouting nat "
                "chain, before any masquerade or general snat that would also match PRIV (iptables: "
                "`-t nat -I POSTROUTING 1 -s PRIV -j SNAT --to-source PUB`, or NETMAP both ways).",
    url="https://wiki.nftables.org/wiki-nftables/index.php/Performing_Network_Address_Translation_(NAT)",
    tags=["gateway", "mail", "lesson-7"],
)
def nat_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    judged = False
    for hr in gatewayview.rulesets(view):
        pairs, unclear = nftwalk.dnat_pairs(hr.ruleset)
        for info in unclear:
            yield Note(f"{hr.label}: '{info.rule.quote}' ({info.rule.located}) forwards no single public address or "
                       "prefix, so its 1:1 NAT is not judged")
        if not pairs:
            continue
        judged = True
        if hr.notes:
            yield _note(hr, "NAT judged without it")
        for pair in pairs:
            yield from _judge_pair(hr, pair)
    if not judged:
        yield NotApplicable("no delivered nftables or iptables ruleset has a dnat rule")


def _judge_pair(hr: gatewayview.HostRuleset, pair: nftwalk.NatPair) -> Iterator[Finding]:
    rule = pair.rule.rule
    what = (f"{hr.label}: {'NETMAP' if pair.prefix else 'dnat'} {pair.public} -> {pair.private} ('{rule.quote}', "
            f"{rule.located})")
    samples = _samples(pair)
    if samples is None:
        yield Finding(f"{what}: the target is not a single address, so 1:1 NAT cannot be checked", rule.urn or hr.urn)
        return
    for public, private in samples:
        hit = gatewayview.first_snat(hr.ruleset, str(private))
        snat = (f"-t nat -I POSTROUTING 1 -s {private} -j SNAT --to-source {public}" if rule.source
                else f"ip saddr {private} snat to {public}")
        if hit is None:
            yield Finding(f"{what} has no snat for {private}: its outgoing mail does not leave as {public}; add "
                          f"'{snat}' in postrouting", rule.urn or hr.urn)
            return
        info, chain = hit
        if info.nat.kind == "masquerade":
            yield Finding(f"{what}: {private} meets '{info.rule.quote}' (chain {chain.label}, {info.rule.located}) "
                          f"before any snat to {public}, so it sends from the interface address, not {public}; put "
                          f"'{snat}' first", info.rule.urn or hr.urn)
            return
        target = nftrules.nat_address(info.nat, str(private)) or ""
        if gatewayview.address_of(target) != public:
            yield Finding(f"{what}: {private} meets '{info.rule.quote}' (chain {chain.label}, {info.rule.located}) "
                          f"first and leaves as {target or 'another address'}, not {public}; receive and send must "
                          "use the same public address", info.rule.urn or hr.urn)
            return


def _samples(pair: nftwalk.NatPair) -> list[tuple[Any, Any]] | None:
    """(public, private) addresses to check. A NETMAP prefix is checked at its first and last address: both
    mappings keep host bits, so the round trip is the identity on the prefix if it is at both ends."""
    if not pair.prefix:
        public, private = gatewayview.address_of(pair.public), gatewayview.address_of(pair.private)
        return None if public is None or private is None else [(public, private)]
    net = nftrules.parse_net(pair.public)
    if net is None:
        return None
    out = []
    for public in dict.fromkeys((net.network_address, net.broadcast_address)):
        private = gatewayview.address_of(nftrules.nat_address(pair.rule.nat, str(public)) or "")
        if private is None:
            return None
        out.append((public, private))
    return out
