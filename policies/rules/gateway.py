"""Gateway lessons: customers' outbound TCP/25 is blocked (1), mail NAT is 1:1 (7).

How the egress walk treats what it cannot know (interface names, marks, rate limits): a
rule that names port 25 and drops/rejects counts as the block even if it also matches on an
interface (it is written for the customer side); an unknowable rule that may accept before
it makes the block uncertain, which is reported. For NAT, interface matches count as
matching: the mail host's connections leave through the Internet-facing interface.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hostview import gatewayview, stackview
from pulumi_policy import Severity
from readers import nftconf
from values import AddressSet

from rules.kit import ADVISORY, Finding, NotApplicable, Outcome, declare, setting

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
        if chain in found:
            continue
        found.append(chain)
        for rule in chain.rules:
            verdict = nftconf.analyse(rule, rs, (chain.family, chain.table)).verdict
            if verdict is not None and verdict.kind in ("jump", "goto"):
                target = rs.chain(chain.family, chain.table, verdict.target)
                if target is not None:
                    todo.append(target)
    return found


def inferred_sources(rs: nftconf.Ruleset, forward: list[nftconf.Chain]) -> list[tuple[str, AddressSet, bool]]:
    """Without known pools: the sources that forward rules dropping TCP/25 are written for."""
    probe = nftconf.Packet(AddressSet.everything(), None, saddr_is_everything=True)
    sources: list[tuple[str, AddressSet, bool]] = []
    for base in forward:
        for chain in _chains_reached(rs, base):
            for rule in chain.rules:
                info = nftconf.analyse(rule, rs, (chain.family, chain.table))
                verdict = info.verdict
                if verdict is None or verdict.kind not in ("drop", "reject"):
                    continue
                if not any(m.field == "dport" and nftconf.evaluate(m, probe, rs) is True for m in info.matches):
                    continue
                saddr = [m for m in info.matches if m.field == "saddr"]
                if not saddr:
                    sources.append(("any source", AddressSet.everything(), True))
                    continue
                for match in saddr:
                    values = nftconf.address_values(match, rs)
                    if values is not None and values.is_empty():
                        continue  # an empty set (e.g. no IPv6 pools yet) matches nobody
                    if values is not None and not match.negated:
                        sources.append((", ".join(match.values), values, False))
                    elif values is not None:
                        sources.append((f"any source but {', '.join(match.values)}",
                                        AddressSet.everything().minus(values), True))
    return sources


@dataclass(frozen=True)
class CustomerSmtpEgressBlockedConfig:
    customer_pools: tuple[str, ...] = setting((), 'Customer prefixes (used when no component evidence names them).')


@declare(
    "customer-smtp-egress-blocked", lesson=1, level=ADVISORY, severity=Severity.HIGH,
    config=CustomerSmtpEgressBlockedConfig,
    description="The gateway rejects customers' forwarded TCP/25 to anything but our own mail hosts.",
    remediation="In the gateway's forward chain, before any accept for customer traffic: "
                     "`ip saddr @customer_pools ip daddr != @our_mail_hosts tcp dport 25 reject with tcp reset`.",
    url="https://www.rfc-editor.org/rfc/rfc5068#section-3",
    tags=["gateway", "mail", "lesson-1"],
)
def egress_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    rulesets = gatewayview.rulesets(view)
    if not rulesets:
        unread = [f.label for f in view.files_of_kind("nftables")]
        why = f" (unreadable: {', '.join(unread)})" if unread else ""
        yield Finding("no nftables ruleset is deployed by this stack" + why + ": nothing enforces lesson 1, customers' "
                      "outbound TCP/25 must be rejected at the gateway except to our own mail hosts")
        return
    routers = [(f, rs, rs.base_chains("forward")) for f, rs in rulesets]
    routers = [(f, rs, chains) for f, rs, chains in routers if chains]
    if not routers:
        labels = ", ".join(f.label for f, _ in rulesets)
        yield Finding(f"no delivered ruleset has a forward chain ({labels}): nothing filters customers' routed TCP/25")
        return
    pools = _pools(view, config)
    for f, rs, forward in routers:
        if pools:
            packets = [(str(p), nftconf.Packet(AddressSet.of(p), None)) for p in pools]
        else:
            sources = inferred_sources(rs, forward)
            if not sources:
                yield Finding(f"{f.label}: no forward rule drops or rejects tcp dport 25; customers can send mail "
                              "directly to any server (limit: TCP/25 only to our own mail hosts)", f.urn)
                continue
            packets = [(label, nftconf.Packet(addresses, None, saddr_is_everything=everything))
                       for label, addresses, everything in sources]
        for label, packet in packets:
            yield from _judge_egress(f, rs, forward, label, packet)


def _judge_egress(f, rs, forward, label, packet) -> Iterator[Finding]:
    reasons = []
    for chain in forward:
        walk = nftconf.walk_filter(chain, packet, rs)
        if walk.final in ("drop", "reject") and not walk.maybe_accepted_by:
            return
        if walk.maybe_accepted_by:
            first = walk.maybe_accepted_by[0]
            reasons.append(f"chain {chain.label} may accept it first with '{first.rule.text}' (line {first.rule.line}, "
                           "a match the pack cannot evaluate)")
        elif walk.decided_by is not None:
            reasons.append(f"chain {chain.label} accepts it with '{walk.decided_by.rule.text}' "
                           f"(line {walk.decided_by.rule.line})")
        else:
            reasons.append(f"chain {chain.label} lets it fall through to policy {walk.final or 'accept'}")
    yield Finding(f"{f.label}: new TCP/25 from {label} to an outside server is not rejected: {'; '.join(reasons)}; "
                  "limit: customers reach port 25 only on our own mail hosts", f.urn)


# ---------------------------------------------------------------------------------------
# mail-nat-symmetric


@declare(
    "mail-nat-symmetric", lesson=7, level=ADVISORY, severity=Severity.MEDIUM,
    description="Each dnat public -> private has a snat private -> the same public that no earlier rule overrides.",
    remediation="For every `ip daddr PUB dnat to PRIV` add `ip saddr PRIV snat to PUB` in the postrouting nat "
                     "chain, before any masquerade or general snat that would also match PRIV.",
    url="https://wiki.nftables.org/wiki-nftables/index.php/Performing_Network_Address_Translation_(NAT)",
    tags=["gateway", "mail", "lesson-7"],
)
def nat_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    judged = False
    for f, rs in gatewayview.rulesets(view):
        pairs, _unclear = nftconf.dnat_pairs(rs)
        if not pairs:
            continue
        judged = True
        postrouting = rs.base_chains("postrouting")
        for pair in pairs:
            yield from _judge_pair(f, rs, postrouting, pair)
    if not judged:
        yield NotApplicable("no delivered nftables ruleset has a dnat rule")


def _judge_pair(f, rs, postrouting, pair: nftconf.NatPair) -> Iterator[Finding]:
    what = f"{f.label}: dnat {pair.public} -> {pair.private} (line {pair.rule.rule.line})"
    try:
        private = ipaddress.ip_address(pair.private)
        public = ipaddress.ip_address(pair.public)
    except ValueError:
        yield Finding(f"{what}: the target is not a single address, so 1:1 NAT cannot be checked", f.urn)
        return
    packet = nftconf.Packet(AddressSet.of(ipaddress.ip_network(private)), None, assume_interfaces_match=True)
    hit = nftconf.first_nat(postrouting, packet, rs, ("snat", "masquerade"))
    if hit is None:
        yield Finding(f"{what} has no snat for {private}: its outgoing mail does not leave as {public}; add "
                      f"'ip saddr {private} snat to {public}' in postrouting", f.urn)
        return
    info, chain = hit
    nat = info.nat
    target = nat.target
    if nat.map_pairs:
        target = next((right for left, right in nat.map_pairs if nftconf.overlaps_text(packet.saddr, left)), "")
    if nat.kind == "masquerade":
        yield Finding(f"{what}: {private} meets '{info.rule.text}' (chain {chain.label}, line {info.rule.line}) before "
                      f"any snat to {public}, so it sends from the interface address, not {public}; put "
                      f"'ip saddr {private} snat to {public}' first", f.urn)
        return
    try:
        leaves_as = ipaddress.ip_address(target)
    except ValueError:
        leaves_as = None
    if leaves_as != public:
        yield Finding(f"{what}: {private} meets '{info.rule.text}' (chain {chain.label}, line {info.rule.line}) first "
                      f"and leaves as {target or 'another address'}, not {public}; receive and send must use the same "
                      "public address", f.urn)
