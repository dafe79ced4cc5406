"""A tolerant reader of nftables rulesets and a small packet walker over them.

It understands what the gateway lessons need: tables, chains with `type/hook/priority/
policy`, rules in order, `define` variables, named sets with simple elements, anonymous
sets `{ a, b }` and maps `{ a : b }`, matches on `ip/ip6 saddr/daddr`, `tcp/udp/th dport`,
`meta l4proto`, `ip protocol`, `ct state`, interfaces, and the verdicts and NAT
statements (`accept`, `drop`, `reject`, `jump`, `goto`, `return`, `dnat`, `snat`,
`masquerade`). The flat `add rule|chain|set|element ...` form is read too.

Matching is three-valued: True, False, or None when the pack cannot know (interface names,
marks, rate limits...). Callers decide what an unknown means for their lesson.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from values import AddressSet

# ---------------------------------------------------------------------------------------
# Tokens


@dataclass
class Tok:
    kind: str  # word, string, set, nl, semi, lbrace, rbrace, comma
    value: str = ""
    line: int = 0
    elements: list[str] = field(default_factory=list)  # for kind == "set"


def _lex(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            line += 1
        elif ch == "\n":
            toks.append(Tok("nl", "\n", line))
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch == '"':
            j = text.find('"', i + 1)
            j = n if j < 0 else j
            toks.append(Tok("string", text[i + 1 : j], line))
            i = j + 1
        elif ch in "{};,":
            toks.append(Tok({"{": "lbrace", "}": "rbrace", ";": "semi", ",": "comma"}[ch], ch, line))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '{};,#"':
                j += 1
            toks.append(Tok("word", text[i:j], line))
            i = j
    return toks


# ---------------------------------------------------------------------------------------
# Structure


@dataclass
class Rule:
    chain: str
    words: list[Tok]
    line: int

    @property
    def text(self) -> str:
        out = []
        for tok in self.words:
            if tok.kind == "set":
                out.append("{ " + ", ".join(tok.elements) + " }")
            elif tok.kind == "string":
                out.append(f'"{tok.value}"')
            else:
                out.append(tok.value)
        return " ".join(out)


@dataclass
class Chain:
    family: str
    table: str
    name: str
    chain_type: str | None = None
    hook: str | None = None
    priority: int = 0
    policy: str = "accept"
    rules: list[Rule] = field(default_factory=list)

    @property
    def is_base(self) -> bool:
        return self.hook is not None

    @property
    def label(self) -> str:
        return f"{self.family} {self.table} {self.name}"


@dataclass
class Ruleset:
    chains: dict[tuple[str, str, str], Chain] = field(default_factory=dict)
    sets: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    defines: dict[str, list[Tok]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def base_chains(self, hook: str, chain_type: str | None = None) -> list[Chain]:
        found = [c for c in self.chains.values()
                 if c.hook == hook and (chain_type is None or c.chain_type == chain_type)]
        return sorted(found, key=lambda c: c.priority)

    def chain(self, family: str, table: str, name: str) -> Chain | None:
        return self.chains.get((family, table, name))


_PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100,
                   "out": 100, "bridge": 0}
_FAMILIES = {"ip", "ip6", "inet", "arp", "bridge", "netdev"}
_BLOCK_HEADERS = {"table", "chain", "set", "map", "flowtable", "counter", "quota", "ct", "limit", "secmark",
                  "synproxy"}


def _priority(words: list[str]) -> int:
    text = " ".join(words).replace(" ", "")
    for name, value in _PRIORITY_NAMES.items():
        if text.startswith(name):
            rest = text[len(name):]
            try:
                return value + (int(rest) if rest else 0)
            except ValueError:
                return value
    try:
        return int(text)
    except ValueError:
        return 0


class _Parser:
    def __init__(self, text: str):
        self.toks = _lex(text)
        self.pos = 0
        self.rs = Ruleset()

    def parse(self) -> Ruleset:
        self._block("top", None, None)
        return self.rs

    def _collect_set(self) -> Tok:
        """Called after '{' inside an expression: read elements up to the matching '}'."""
        start = self.toks[self.pos - 1].line
        elements: list[str] = []
        current: list[str] = []
        depth = 1
        while self.pos < len(self.toks):
            tok = self.toks[self.pos]
            self.pos += 1
            if tok.kind == "lbrace":
                depth += 1
                current.append("{")
            elif tok.kind == "rbrace":
                depth -= 1
                if depth == 0:
                    break
                current.append("}")
            elif tok.kind == "comma" and depth == 1:
                if current:
                    elements.append(" ".join(current))
                current = []
            elif tok.kind in ("nl", "semi"):
                continue
            elif tok.kind == "string":
                current.append(f'"{tok.value}"')
            else:
                current.append(tok.value)
        else:
            self.rs.problems.append(f"line {start}: unterminated '{{' set")
        if current:
            elements.append(" ".join(current))
        return Tok("set", "", start, elements)

    def _statement(self, nested_allowed: bool) -> tuple[list[Tok], bool]:
        """Read one statement; returns (words, opens_block)."""
        words: list[Tok] = []
        while self.pos < len(self.toks):
            tok = self.toks[self.pos]
            if tok.kind in ("nl", "semi"):
                self.pos += 1
                if words:
                    return words, False
                continue
            if tok.kind == "rbrace":
                return words, False
            self.pos += 1
            if tok.kind == "lbrace":
                head = [w.value.lower() for w in words if w.kind == "word"]
                is_block = nested_allowed and head and (
                    head[0] in _BLOCK_HEADERS or (head[0] in ("add", "create") and len(head) > 1
                                                  and head[1] in ("table", "chain", "set", "map")))
                if is_block:
                    return words, True
                words.append(self._collect_set())
                continue
            if tok.kind == "word" and tok.value.startswith("$") and tok.value[1:] in self.rs.defines:
                words.extend(self.rs.defines[tok.value[1:]])
                continue
            words.append(tok)
        return words, False

    def _block(self, context: str, table: tuple[str, str] | None, chain: Chain | None,
               set_key: tuple[str, str, str] | None = None) -> None:
        while self.pos < len(self.toks):
            if self.toks[self.pos].kind == "rbrace":
                self.pos += 1
                if context == "top":
                    self.rs.problems.append(f"line {self.toks[self.pos - 1].line}: unexpected '}}'")
                    continue
                return
            words, opens = self._statement(context in ("top", "table"))
            if not words and not opens:
                continue
            values = [w.value for w in words]
            lowered = [v.lower() for v in values]
            if opens:
                self._open(context, table, lowered, values, words)
                continue
            if context == "chain" and chain is not None:
                self._chain_line(chain, words, lowered)
            elif context == "set" and set_key is not None:
                if lowered and lowered[0] == "elements":
                    for tok in words:
                        if tok.kind == "set":
                            self.rs.sets[set_key].extend(tok.elements)
            elif context == "top":
                self._top_line(words, lowered, values)
        if context != "top":
            self.rs.problems.append("end of file inside a '{' block (unbalanced braces)")

    def _open(self, context: str, table: tuple[str, str] | None, lowered: list[str], values: list[str],
              words: list[Tok]) -> None:
        if lowered[0] in ("add", "create"):
            lowered, values = lowered[1:], values[1:]
        kind = lowered[0]
        if kind == "table":
            family, name = (values[1], values[2]) if len(values) > 2 else ("ip", values[1] if len(values) > 1 else "")
            self._block("table", (family.lower(), name), None)
            return
        if context == "top" and kind in ("chain", "set", "map") and len(values) >= 4:
            table, values = (values[1].lower(), values[2]), [kind, values[3]]
        elif context == "top" and kind in ("chain", "set", "map") and len(values) == 3:
            table, values = ("ip", values[1]), [kind, values[2]]
        if kind == "chain" and table is not None and len(values) > 1:
            key = (table[0], table[1], values[1])
            chain = self.rs.chains.setdefault(key, Chain(table[0], table[1], values[1]))
            self._block("chain", table, chain)
            return
        if kind in ("set", "map") and table is not None and len(values) > 1:
            key = (table[0], table[1], values[1])
            self.rs.sets.setdefault(key, [])
            self._block("set", table, None, key)
            return
        self._block("other", table, None)

    def _chain_line(self, chain: Chain, words: list[Tok], lowered: list[str]) -> None:
        if lowered[0] == "type" and "hook" in lowered:
            chain.chain_type = lowered[1] if len(lowered) > 1 else None
            hook_at = lowered.index("hook")
            chain.hook = lowered[hook_at + 1] if hook_at + 1 < len(lowered) else None
            if "priority" in lowered:
                at = lowered.index("priority")
                chain.priority = _priority(lowered[at + 1 :])
            return
        if lowered[0] == "policy" and len(lowered) > 1:
            chain.policy = lowered[1]
            return
        if lowered[0] in ("comment", "devices", "device"):
            return
        chain.rules.append(Rule(chain.name, words, words[0].line))

    def _top_line(self, words: list[Tok], lowered: list[str], values: list[str]) -> None:
        if lowered[0] == "define" and len(words) >= 4 and values[2] == "=":
            self.rs.defines[values[1]] = words[3:]
            return
        if lowered[0] in ("add", "insert") and len(lowered) > 1 and lowered[1] == "rule":
            rest = words[2:]
            family, idx = ("ip", 0)
            if rest and rest[0].value.lower() in _FAMILIES:
                family, idx = rest[0].value.lower(), 1
            if len(rest) < idx + 3:
                self.rs.problems.append(f"line {words[0].line}: incomplete 'add rule'")
                return
            key = (family, rest[idx].value, rest[idx + 1].value)
            chain = self.rs.chains.setdefault(key, Chain(*key))
            rule = Rule(key[2], rest[idx + 2 :], words[0].line)
            if lowered[0] == "insert":
                chain.rules.insert(0, rule)
            else:
                chain.rules.append(rule)
            return
        if lowered[0] in ("add", "create") and len(lowered) > 1 and lowered[1] == "element":
            rest = values[2:]
            family, idx = ("ip", 0)
            if rest and rest[0].lower() in _FAMILIES:
                family, idx = rest[0].lower(), 1
            if len(rest) >= idx + 2:
                key = (family, rest[idx], rest[idx + 1])
                for tok in words:
                    if tok.kind == "set":
                        self.rs.sets.setdefault(key, []).extend(tok.elements)
            return
        if lowered[0] in ("add", "create") and len(lowered) > 2 and lowered[1] == "chain":
            rest = values[2:]
            family, idx = ("ip", 0)
            if rest and rest[0].lower() in _FAMILIES:
                family, idx = rest[0].lower(), 1
            if len(rest) >= idx + 3:
                key = (family, rest[idx], rest[idx + 2])
                self.rs.chains.setdefault(key, Chain(*key))


def parse_ruleset(text: str) -> Ruleset:
    return _Parser(text).parse()


# ---------------------------------------------------------------------------------------
# Rule analysis

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
    while i < len(words) and words[i].kind == "word" and words[i].value.lower() in ("ip", "ip6", "to"):
        i += 1
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
        return Action(kind, "", pairs, key), i + 4
    target = words[i].value if i < len(words) else ""
    return Action(kind, _strip_port(target)), i + 1


def _strip_port(text: str) -> str:
    text = text.strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


# ---------------------------------------------------------------------------------------
# Packets


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


def address_values(match: Match, rs: Ruleset) -> AddressSet | None:
    total = AddressSet()
    for value in match.values:
        if value.startswith("?"):
            return None
        part = element_addresses(value)
        if part is None:
            return None
        total = total.union(part)
    return total


def _cover(packet_set: AddressSet, match_set: AddressSet) -> bool | None:
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
    """First verdict for `packet` in `chain`. Unknown-matching drops that name the port count as drops."""
    walk = Walk(None, None, chain)
    _walk_into(chain, packet, rs, walk, depth)
    walk.final = walk.verdict or (chain.policy if chain.is_base else "")
    return walk


def _walk_into(chain: Chain, packet: Packet, rs: Ruleset, walk: Walk, depth: int) -> str | None:
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
        if verdict.kind in ("jump", "goto"):
            target = rs.chain(chain.family, chain.table, verdict.target)
            if target is None or matched is None:
                continue
            result = _walk_into(target, packet, rs, walk, depth + 1)
            if result in ("accept", "drop", "reject") or verdict.kind == "goto":
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
                pairs.extend(NatPair(left, _strip_port(right), info, chain) for left, right in nat.map_pairs)
                continue
            daddrs = [m for m in info.matches if m.field == "daddr" and not m.negated]
            publics = [v for m in daddrs for v in m.values]
            if len(publics) == 1 and parse_net(publics[0]) is not None and nat.target:
                pairs.append(NatPair(str(parse_net(publics[0]).network_address), nat.target, info, chain))
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
