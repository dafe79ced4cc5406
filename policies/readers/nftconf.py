"""A tolerant reader of nftables rulesets: text in, tables, chains, sets and rules out.

It reads tables, chains with `type/hook/priority/policy`, rules in order, `define`
variables, named sets with simple elements, anonymous sets `{ a, b }` and maps `{ a : b }`,
and the flat `add rule|chain|set|element ...` form. What a rule means is read in
`readers.nftrules` (matches, verdicts, NAT); packets are walked in `readers.nftwalk`.

The model is shared with the iptables reader (`readers.iptablesconf`), which builds the
same tables and chains from `iptables-save` files and `iptables` commands: a rule keeps
where it was written (`where`, `line`, `urn`) and, for iptables, the operator's own text
(`source`), so messages quote what was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# ---------------------------------------------------------------------------------------
# Tokens


@dataclass
class Tok:
    kind: str  # word, string, set, nl, semi, lbrace, rbrace, comma
    value: str = ""
    line: int = 0
    elements: list[str] = field(default_factory=list)  # for kind == "set"


def lex(text: str) -> list[Tok]:
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
    where: str = ""  # the file or command it was written in ("" = the ruleset's own file)
    urn: str = ""  # the resource that delivered it
    source: str = ""  # the operator's text when it was written in another dialect (iptables)

    @property
    def quote(self) -> str:
        """The rule as the operator wrote it."""
        return self.source or self.text

    @property
    def located(self) -> str:
        return f"{self.where}, line {self.line}" if self.where else f"line {self.line}"

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
    title: str = ""  # how the operator names it when written in another dialect ("iptables FORWARD")

    @property
    def is_base(self) -> bool:
        return self.hook is not None

    @property
    def label(self) -> str:
        return self.title or f"{self.family} {self.table} {self.name}"


@dataclass
class Ruleset:
    chains: dict[tuple[str, str, str], Chain] = field(default_factory=dict)
    sets: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    defines: dict[str, list[Tok]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # What readers.nftrules / nftwalk computed from its rules, kept so a walk per customer pool reads
    # each rule once (a rule does not change once parsed).
    memo: dict = field(default_factory=dict, repr=False, compare=False)

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
        self.toks = lex(text)
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


def merge(into: Ruleset, other: Ruleset, where: str = "", urn: str = "") -> None:
    """Add `other`'s chains and sets to `into`: a host loads several files (and iptables tables), and the
    rules of one chain are appended in order. Rules without a `where` are marked as coming from `where`;
    `other` itself is left untouched (parses are shared)."""
    for key, chain in other.chains.items():
        rules = [r if r.where else replace(r, where=where, urn=urn or r.urn) for r in chain.rules]
        mine = into.chains.get(key)
        if mine is None:
            into.chains[key] = replace(chain, rules=rules)
            continue
        if mine.hook is None and chain.hook is not None:
            mine.chain_type, mine.hook, mine.priority, mine.policy = (chain.chain_type, chain.hook, chain.priority,
                                                                      chain.policy)
        mine.rules.extend(rules)
    for key, elements in other.sets.items():
        into.sets.setdefault(key, []).extend(elements)
    into.problems.extend(f"{where}: {p}" if where else p for p in other.problems)
