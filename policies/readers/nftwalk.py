"""Walking a packet through an nftables model (`readers.nftconf`): filter verdicts and NAT.

Matching is three-valued: True, False, or None when the pack cannot know (interface names,
marks, rate limits...). Callers decide what an unknown means for their lesson. A chain of
family `ip` sees only IPv4 packets and `ip6` only IPv6 (`sees`); `inet` sees both.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from values import AddressSet

from readers.nftconf import Chain, Ruleset
from readers.nftrules import Match, RuleInfo, analyse, element_addresses, element_ports, parse_net, strip_port

IPV4 = AddressSet.of(ipaddress.ip_network("0.0.0.0/0"))
IPV6 = AddressSet.of(ipaddress.ip_network("::/0"))


@dataclass
class Packet:
    """What a walk asks about. `saddr` is a set (a pool); `daddr` None = an arbitrary outside address."""

    saddr: AddressSet
    daddr: AddressSet | None
    l4proto: str = "tcp"
    dport: int = 25
    ct_state: str = "new"
    assume_interfaces_match: bool = False
    # When the source is "whatever the rule says" (no pool known): partial overlaps are exceptions.
    saddr_is_everything: bool = False

    @property
    def family(self) -> str | None:
        """"ip" or "ip6" when the source set is of one family only."""
        if self.saddr.v4 and not self.saddr.v6:
            return "ip"
        if self.saddr.v6 and not self.saddr.v4:
            return "ip6"
        return None


def sees(chain: Chain, packet: Packet) -> bool:
    """Does a packet of this source family pass through `chain` at all?"""
    if chain.family in ("ip", "ip6"):
        return packet.family in (None, chain.family)
    return True


def by_family(packet: Packet) -> list[tuple[str, Packet]]:
    """A packet whose source set spans both families as one packet per family ("", IPv4, IPv6)."""
    if packet.family is not None:
        return [("", packet)]
    out = []
    for name, universe in (("IPv4", IPV4), ("IPv6", IPV6)):
        part = packet.saddr.intersect(universe)
        if not part.is_empty():
            out.append((name, Packet(part, packet.daddr, packet.l4proto, packet.dport, packet.ct_state,
                                     packet.assume_interfaces_match, packet.saddr_is_everything)))
    return out


def address_values(match: Match, rs: Ruleset) -> AddressSet | None:
    key = ("addresses", id(match))
    hit = rs.memo.get(key)
    if hit is not None and hit[0] is match:
        return hit[1]
    found = _address_values(match)
    rs.memo[key] = (match, found)
    return found


def _address_values(match: Match) -> AddressSet | None:
    total = AddressSet()
    for value in match.values:
        if value.startswith("?"):
            return None
        part = element_addresses(value)
        if part is None:
            return None
        total = total.union(part)
    return total


def _apart(a, b) -> bool:
    """Two sorted span lists whose hulls do not meet (the common case of a pool against another pool's rule)."""
    return not a or not b or a[-1][1] < b[0][0] or b[-1][1] < a[0][0]


def _cover(packet_set: AddressSet, match_set: AddressSet) -> bool | None:
    if _apart(packet_set.v4, match_set.v4) and _apart(packet_set.v6, match_set.v6):
        return False
    inside = packet_set.intersect(match_set)
    if inside.is_empty():
        return False
    if packet_set.minus(match_set).is_empty():
        return True
    return None


def evaluate(match: Match, packet: Packet, rs: Ruleset) -> bool | None:
    if match.field in ("saddr", "daddr"):
        if match.family and packet.family and match.family != packet.family:
            return False  # an ip6 header match never matches an IPv4 packet, negated or not
        values = address_values(match, rs)
        if values is None:
            return None
        if match.field == "saddr":
            result = _cover(packet.saddr, values)
            if result is None and packet.saddr_is_everything:
                result = False
        elif packet.daddr is None:
            # An arbitrary outside address is inside a set only if the set is all of a family.
            result = values.size(4) == 2**32 or values.size(6) == 2**128
        else:
            result = _cover(packet.daddr, values)
        return None if result is None else (result != match.negated)
    if match.field in ("dport", "sport"):
        if match.proto in ("tcp", "udp", "sctp") and match.proto != packet.l4proto:
            return False
        if match.field == "sport":
            return None
        hit = False
        for value in match.values:
            span = element_ports(value)
            if span is None:
                return None
            hit = hit or span[0] <= packet.dport <= span[1]
        return hit != match.negated
    if match.field == "l4proto":
        names = {v.lower() for v in match.values}
        hit = packet.l4proto in names or {"tcp": "6"}.get(packet.l4proto) in names
        return hit != match.negated
    if match.field == "ctstate":
        states = {v.lower() for v in match.values}
        return (packet.ct_state in states) != match.negated
    if match.field == "iface":
        return True if packet.assume_interfaces_match else None
    if match.field == "nfproto":
        return None
    return None


def rule_matches(info: RuleInfo, packet: Packet, rs: Ruleset) -> bool | None:
    result: bool | None = True
    for match in info.matches:
        value = evaluate(match, packet, rs)
        if value is False:
            return False
        if value is None:
            result = None
    return result


@dataclass
class Walk:
    """The outcome of a packet's walk through one base chain."""

    verdict: str | None  # accept / drop / reject, None = fell off to the chain policy
    decided_by: RuleInfo | None
    chain: Chain
    maybe_accepted_by: list[RuleInfo] = field(default_factory=list)
    final: str = ""  # the verdict including the chain policy


def walk_filter(chain: Chain, packet: Packet, rs: Ruleset, depth: int = 0) -> Walk:
    """First verdict for `packet` in `chain`.

    What the walk cannot know is settled the way the rule's author meant it: a drop/reject that names
    the port, or an accept/jump that names the packet's source, counts even if it also matches on an
    interface (it is written for that traffic). Any other unknowable accept is "maybe accepted"; an
    unknowable jump is walked with everything in it unknowable too."""
    walk = Walk(None, None, chain)
    _walk_into(chain, packet, rs, walk, depth, False)
    walk.final = walk.verdict or (chain.policy if chain.is_base else "")
    return walk


def _written_for(info: RuleInfo, packet: Packet, rs: Ruleset) -> bool:
    """The rule names the packet's source, and only interfaces are unknowable."""
    names_source = False
    for match in info.matches:
        value = evaluate(match, packet, rs)
        if value is None and match.field != "iface":
            return False
        names_source = names_source or (match.field == "saddr" and value is True)
    return names_source


def _walk_into(chain: Chain, packet: Packet, rs: Ruleset, walk: Walk, depth: int, unsure: bool) -> str | None:
    if depth > 16:
        return None
    table = (chain.family, chain.table)
    for rule in chain.rules:
        info = analyse(rule, rs, table)
        verdict = info.verdict
        if verdict is None:
            continue
        matched = rule_matches(info, packet, rs)
        if matched is False:
            continue
        if matched is None and verdict.kind in ("accept", "jump", "goto") and _written_for(info, packet, rs):
            matched = True
        if unsure and matched:
            matched = None  # reached through a jump the walk could not decide
        if verdict.kind in ("jump", "goto"):
            target = rs.chain(chain.family, chain.table, verdict.target)
            if target is None:
                continue
            result = _walk_into(target, packet, rs, walk, depth + 1, matched is None)
            if result in ("accept", "drop", "reject") or (verdict.kind == "goto" and matched):
                return result
            continue
        if verdict.kind == "return":
            if matched:
                return "return"
            continue
        if matched is None:
            names_port = any(m.field == "dport" and evaluate(m, packet, rs) is True for m in info.matches)
            if verdict.kind == "accept":
                walk.maybe_accepted_by.append(info)
                continue
            if verdict.kind in ("drop", "reject") and names_port:
                walk.verdict, walk.decided_by = verdict.kind, info
                return verdict.kind
            continue
        if verdict.kind in ("accept", "drop", "reject"):
            walk.verdict, walk.decided_by = verdict.kind, info
            return verdict.kind
    return None


def first_nat(chains: list[Chain], packet: Packet, rs: Ruleset,
              kinds: tuple[str, ...]) -> tuple[RuleInfo, Chain] | None:
    """The first NAT statement of `kinds` the packet meets across `chains` (in priority order)."""
    for chain in chains:
        found = _first_nat_in(chain, packet, rs, kinds, 0)
        if found is not None:
            return found
    return None


def _first_nat_in(chain: Chain, packet: Packet, rs: Ruleset, kinds: tuple[str, ...], depth: int):
    if depth > 16:
        return None
    table = (chain.family, chain.table)
    for rule in chain.rules:
        info = analyse(rule, rs, table)
        matched = rule_matches(info, packet, rs)
        if matched is False:
            continue
        nat = info.nat
        if nat is not None and nat.kind in kinds:
            mapped = nat.map_pairs and nat.map_key == "saddr"
            if mapped and not any(overlaps_text(packet.saddr, left) for left, _ in nat.map_pairs):
                continue
            return info, chain
        verdict = info.verdict
        if verdict is not None and verdict.kind in ("jump", "goto"):
            target = rs.chain(chain.family, chain.table, verdict.target)
            if target is not None:
                found = _first_nat_in(target, packet, rs, kinds, depth + 1)
                if found is not None or verdict.kind == "goto":
                    return found
        elif verdict is not None and verdict.kind in ("accept", "drop", "return") and matched:
            return None
    return None


def overlaps_text(addresses: AddressSet, text: str) -> bool:
    other = element_addresses(text)
    return other is not None and not addresses.intersect(other).is_empty()


@dataclass
class NatPair:
    public: str
    private: str
    rule: RuleInfo
    chain: Chain
    prefix: bool = False  # NETMAP: public and private are prefixes mapped address by address


def dnat_pairs(rs: Ruleset) -> tuple[list[NatPair], list[RuleInfo]]:
    """(public, private) pairs of `dnat` rules in prerouting; rules whose public side is unclear."""
    pairs: list[NatPair] = []
    unclear: list[RuleInfo] = []
    for chain in list(rs.base_chains("prerouting")) + _regular_nat_chains(rs, "prerouting"):
        for rule in chain.rules:
            info = analyse(rule, rs, (chain.family, chain.table))
            nat = info.nat
            if nat is None or nat.kind != "dnat":
                continue
            if nat.map_pairs and nat.map_key == "daddr":
                pairs.extend(NatPair(left, right if nat.prefix else strip_port(right), info, chain, nat.prefix)
                             for left, right in nat.map_pairs)
                continue
            daddrs = [m for m in info.matches if m.field == "daddr" and not m.negated]
            publics = [v for m in daddrs for v in m.values]
            if len(publics) == 1 and parse_net(publics[0]) is not None and nat.target:
                net = parse_net(publics[0])
                public = str(net) if nat.prefix else str(net.network_address)
                pairs.append(NatPair(public, nat.target, info, chain, nat.prefix))
            else:
                unclear.append(info)
    return pairs, unclear


def _regular_nat_chains(rs: Ruleset, hook: str) -> list[Chain]:
    """Regular chains jumped to from a base chain of `hook` (one level is what people write)."""
    found: list[Chain] = []
    for base in rs.base_chains(hook):
        for rule in base.rules:
            info = analyse(rule, rs, (base.family, base.table))
            verdict = info.verdict
            if verdict is not None and verdict.kind in ("jump", "goto"):
                target = rs.chain(base.family, base.table, verdict.target)
                if target is not None and target not in found:
                    found.append(target)
    return found
