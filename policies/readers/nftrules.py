"""What an nftables rule means: its matches, verdict and NAT statement (`readers.nftconf` rules).

Matches are read on `ip/ip6 saddr/daddr`, `tcp/udp/th dport`, `meta l4proto`, `ip protocol`,
`ct state` and interfaces; verdicts `accept`, `drop`, `reject`, `jump`, `goto`, `return`;
NAT `dnat`, `snat` (also to a map, and the prefix form `snat ip prefix to ip saddr map
{ 10.0.2.0/24 : 203.0.113.0/24 }` that iptables' NETMAP becomes), `masquerade`, `redirect`.
Anything else is a match the pack cannot evaluate ("other").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from values import AddressSet

from readers.nftconf import Rule, Ruleset, Tok

PORT_NAMES = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "http": 80, "https": 443,
              "domain": 53, "ssh": 22, "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}


def parse_net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def element_addresses(element: str) -> AddressSet | None:
    """An address, prefix or range `a-b` as an AddressSet (None when not an address)."""
    element = element.strip()
    net = parse_net(element)
    if net is not None:
        return AddressSet.of(net)
    if "-" in element:
        lo_text, _, hi_text = element.partition("-")
        try:
            lo, hi = ipaddress.ip_address(lo_text.strip()), ipaddress.ip_address(hi_text.strip())
        except ValueError:
            return None
        if lo.version != hi.version or int(hi) < int(lo):
            return None
        span = [(int(lo), int(hi))]
        return AddressSet(span, None) if lo.version == 4 else AddressSet(None, span)
    return None


def element_ports(element: str) -> tuple[int, int] | None:
    element = element.strip()
    if element in PORT_NAMES:
        return PORT_NAMES[element], PORT_NAMES[element]
    lo, sep, hi = element.partition("-")
    if lo.isdigit() and (not sep or hi.isdigit()):
        return int(lo), int(hi) if sep else int(lo)
    return None


@dataclass
class Match:
    """One condition of a rule: `field` with an operator over values."""

    field: str  # saddr, daddr, dport, sport, l4proto, ctstate, iface, other
    negated: bool
    values: list[str]
    family: str = ""  # ip / ip6 for address matches
    proto: str = ""  # tcp / udp / th for port matches
    text: str = ""


@dataclass
class Action:
    kind: str  # accept, drop, reject, jump, goto, return, continue, dnat, snat, masquerade, redirect, queue
    target: str = ""  # chain name for jump/goto, address text for dnat/snat
    map_pairs: list[tuple[str, str]] = field(default_factory=list)
    map_key: str = ""  # saddr / daddr for `... to ip daddr map { a : b }`
    # `snat ip prefix to ...` (NETMAP): the target is a prefix; an address keeps its host bits.
    prefix: bool = False


@dataclass
class RuleInfo:
    rule: Rule
    matches: list[Match]
    actions: list[Action]

    @property
    def verdict(self) -> Action | None:
        for action in self.actions:
            if action.kind in ("accept", "drop", "reject", "jump", "goto", "return", "queue"):
                return action
        return None

    @property
    def nat(self) -> Action | None:
        for action in self.actions:
            if action.kind in ("dnat", "snat", "masquerade", "redirect"):
                return action
        return None


_L4_HEADERS = {"icmp", "icmpv6", "igmp", "udp", "udplite", "sctp", "dccp", "esp", "ah", "comp", "tcp"}
_NON_TERMINAL = {"counter", "log", "comment", "notrack", "limit", "quota", "meta", "mark", "ct"}
_OPS = {"==", "!=", "eq", "ne", "<", ">", "<=", ">=", "lt", "gt", "le", "ge"}


def _values_at(words: list[Tok], i: int, rs: Ruleset, table: tuple[str, str]) -> tuple[bool, list[str], int, str]:
    """Read `[op] value` at i: (negated, values, next index, op)."""
    op = "=="
    if i < len(words) and words[i].kind == "word" and words[i].value in _OPS:
        op = words[i].value
        i += 1
    if i >= len(words):
        return False, [], i, op
    tok = words[i]
    negated = op in ("!=", "ne")
    if tok.kind == "set":
        return negated, list(tok.elements), i + 1, op
    value = tok.value
    if value.startswith("!="):
        negated, value = True, value[2:]
    if value.startswith("@"):
        named = rs.sets.get((table[0], table[1], value[1:]))
        if named is None:
            return negated, ["?" + value], i + 1, op
        return negated, list(named), i + 1, op
    return negated, [v for v in value.split(",") if v], i + 1, op


def analyse(rule: Rule, rs: Ruleset, table: tuple[str, str]) -> RuleInfo:
    """What `rule` matches and does (memoised in the ruleset)."""
    key = ("analyse", id(rule), table)
    hit = rs.memo.get(key)
    if hit is not None and hit[0] is rule:
        return hit[1]
    info = _analyse(rule, rs, table)
    rs.memo[key] = (rule, info)  # the rule held: its id cannot be reused while memoised
    return info


def _analyse(rule: Rule, rs: Ruleset, table: tuple[str, str]) -> RuleInfo:
    words = rule.words
    matches: list[Match] = []
    actions: list[Action] = []
    i = 0
    while i < len(words):
        tok = words[i]
        word = tok.value.lower() if tok.kind == "word" else ""
        nxt = words[i + 1].value.lower() if i + 1 < len(words) and words[i + 1].kind == "word" else ""
        if word in ("ip", "ip6") and nxt in ("saddr", "daddr"):
            negated, values, j, _ = _values_at(words, i + 2, rs, table)
            matches.append(Match(nxt, negated, values, family=word, text=_span(words, i, j)))
            i = j
        elif word in ("ip", "ip6") and nxt in ("protocol", "nexthdr"):
            negated, values, j, _ = _values_at(words, i + 2, rs, table)
            matches.append(Match("l4proto", negated, values, text=_span(words, i, j)))
            i = j
        elif word in ("tcp", "udp", "th", "sctp") and nxt in ("dport", "sport"):
            negated, values, j, _ = _values_at(words, i + 2, rs, table)
            matches.append(Match(nxt, negated, values, proto=word, text=_span(words, i, j)))
            i = j
        elif word in _L4_HEADERS and nxt:
            # `icmp type ...`, `udp length ...`, `tcp flags ...`: a header of one protocol. For another
            # protocol it cannot match; for the packet's own protocol the field is not modelled.
            negated, values, j, _ = _values_at(words, i + 2, rs, table)
            matches.append(Match("l4proto", False, [word]) if word != "tcp" else Match("other", False, [], text=word))
            matches[-1].text = _span(words, i, j)
            i = j
        elif word == "meta" and nxt in ("l4proto", "nfproto", "iifname", "oifname", "iif", "oif", "mark", "skuid"):
            negated, values, j, _ = _values_at(words, i + 2, rs, table)
            fieldname = {"l4proto": "l4proto", "nfproto": "nfproto"}.get(nxt, "iface" if "if" in nxt else "other")
            matches.append(Match(fieldname, negated, values, text=_span(words, i, j)))
            i = j
        elif word in ("iifname", "oifname", "iif", "oif", "iiftype", "oiftype"):
            negated, values, j, _ = _values_at(words, i + 1, rs, table)
            matches.append(Match("iface", negated, values, text=_span(words, i, j)))
            i = j
        elif word == "l4proto":
            negated, values, j, _ = _values_at(words, i + 1, rs, table)
            matches.append(Match("l4proto", negated, values, text=_span(words, i, j)))
            i = j
        elif word == "ct" and nxt in ("state", "status", "mark", "direction"):
            negated, values, j, _ = _values_at(words, i + 2, rs, table)
            matches.append(Match("ctstate" if nxt == "state" else "other", negated, values, text=_span(words, i, j)))
            i = j
        elif word in ("accept", "drop", "return", "continue", "queue"):
            actions.append(Action(word))
            i += 1
        elif word == "reject":
            actions.append(Action("reject"))
            i += 1
            while i < len(words) and words[i].kind == "word" and words[i].value.lower() in (
                    "with", "tcp", "reset", "icmp", "icmpv6", "icmpx", "type", "admin-prohibited",
                    "port-unreachable", "host-unreachable", "net-unreachable", "prot-unreachable", "no-route"):
                i += 1
        elif word in ("jump", "goto") and i + 1 < len(words):
            actions.append(Action(word, words[i + 1].value))
            i += 2
        elif word in ("dnat", "snat"):
            action, i = _nat_action(word, words, i + 1)
            actions.append(action)
        elif word in ("masquerade", "redirect"):
            actions.append(Action(word))
            i += 1
            while i < len(words) and words[i].kind == "word" and words[i].value.lower() in (
                    "to", "random", "persistent", "fully-random") or (
                    i < len(words) and words[i].value.startswith(":")):
                i += 1
        elif word in ("counter", "notrack"):
            i += 1
            while i < len(words) and words[i].kind == "word" and words[i].value.lower() in ("packets", "bytes") \
                    or (i < len(words) and words[i].value.isdigit()):
                i += 1
        elif word in ("log", "comment"):
            i += 1
            while i < len(words) and (words[i].kind == "string" or words[i].value.lower() in (
                    "prefix", "level", "flags", "group", "snaplen", "queue-threshold", "all", "tcp", "ip",
                    "options", "sequence", "skuid", "ether") or words[i].value.isdigit()):
                i += 1
        elif word == "limit":
            # A rate limit matches only under the rate: unknowable here.
            j = i + 1
            while j < len(words) and words[j].kind == "word" and words[j].value.lower() not in (
                    "accept", "drop", "reject", "counter", "log", "jump", "goto", "return"):
                j += 1
            matches.append(Match("other", False, [], text=_span(words, i, j)))
            i = j
        else:
            # Anything else is a condition the pack cannot evaluate (fib, mark, @set lookups...).
            matches.append(Match("other", False, [], text=tok.value))
            i += 1
    return RuleInfo(rule, matches, actions)


def _span(words: list[Tok], i: int, j: int) -> str:
    return Rule("", words[i:j], 0).text


def _nat_action(kind: str, words: list[Tok], i: int) -> tuple[Action, int]:
    # dnat [ip|ip6] to ADDR[:port] | dnat [ip] to ip daddr map { a : b }
    prefix = False
    while i < len(words) and words[i].kind == "word" and words[i].value.lower() in ("ip", "ip6", "to", "prefix"):
        i += 1
        prefix = prefix or words[i - 1].value.lower() == "prefix"
        if words[i - 1].value.lower() == "to":
            break
    if i < len(words) and words[i].kind == "word" and words[i].value.lower() in ("ip", "ip6") and i + 2 < len(words) \
            and words[i + 1].value.lower() in ("saddr", "daddr") and words[i + 2].value.lower() == "map":
        key = words[i + 1].value.lower()
        pairs = []
        if i + 3 < len(words) and words[i + 3].kind == "set":
            for element in words[i + 3].elements:
                left, sep, right = element.partition(" : ")
                if sep:
                    pairs.append((left.strip(), right.strip()))
        return Action(kind, "", pairs, key, prefix), i + 4
    target = words[i].value if i < len(words) else ""
    return Action(kind, target if prefix else strip_port(target), prefix=prefix), i + 1


def strip_port(text: str) -> str:
    text = text.strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text




def nat_address(action: Action, address: str) -> str | None:
    """Where `action` translates `address` (the source of a snat, the destination of a dnat): an address
    text, a range or prefix text when not one address, None when the action does not apply to it."""
    target = action.target
    if action.map_pairs:
        target = next((right for left, right in action.map_pairs if _contains(left, address)), None)
        if target is None:
            return None
        target = target if action.prefix else strip_port(target)
    if not action.prefix:
        return target
    net = parse_net(target)
    try:
        original = ipaddress.ip_address(address)
    except ValueError:
        return None
    if net is None or net.version != original.version:
        return target
    # NETMAP: the prefix's bits from the target, the host bits from the original address.
    return str(ipaddress.ip_address(int(net.network_address) | (int(original) & int(net.hostmask))))


def _contains(element: str, address: str) -> bool:
    found = element_addresses(element)
    return found is not None and found.contains(address)
