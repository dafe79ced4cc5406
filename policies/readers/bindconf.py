"""A tolerant reader of BIND's named.conf and the effective recursion ACL it yields.

The grammar is BIND's: `keyword args... [{ nested; }] ;`, comments `//`, `#` and `/* */`,
quoted strings. `include` statements are noted, not followed here: `hostview.named` splices
the included files' statements in (each statement keeps the file it came from) and builds
the configuration with `build_conf`. Parse problems are collected, never raised; so are the
errors for which named refuses a whole configuration (a second options block, an acl
defined twice, zones outside views once views are used).

Address match lists follow BIND 9.18 (lib/isccfg/aclconf.c, lib/dns/acl.c, iptable.c):
first match wins in written order; a named or nested ACL is merged in place; a negated
nested ACL turns its positive elements negative and keeps its negative ones negative (a
double negation never admits); `any` is 0/0 and `none` is a negated 0/0, so `!none`
admits everything. `localhost`/`localnets` are the server's own addresses; `key` elements
only match signed requests, so neither admits an anonymous outside client.

Recursion inheritance (BIND ARM, allow-recursion / allow-query-cache), searched in the
view, then in `options`: allow-recursion, else allow-query-cache, else allow-query, else
the default `localnets; localhost;`; `recursion no;` closes it. Views only see the clients
their `match-clients` admits that no earlier view took.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from values import AddressSet

# ---------------------------------------------------------------------------------------
# Tokens and statements


@dataclass
class Statement:
    """`words... { block } ;` -- `block` is None when the statement has no braces."""

    words: list[str]
    block: list[Statement] | None = None
    line: int = 0
    file: str = ""  # the file it was read from (for messages naming the files joined)

    @property
    def keyword(self) -> str:
        return self.words[0].lower() if self.words else ""

    def text(self) -> str:
        inner = " ".join(self.words)
        if self.block is not None:
            inner += " { " + " ".join(s.text() for s in self.block) + " }"
        return inner.strip() + ";"


def tokenize(text: str) -> tuple[list[tuple[str, int, bool]], list[str]]:
    """Split named.conf text into (token, line, quoted) triples; comments are dropped."""
    tokens: list[tuple[str, int, bool]] = []
    problems: list[str] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                problems.append(f"line {line}: unterminated /* comment")
                break
            line += text.count("\n", i, end)
            i = end + 2
        elif ch == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                problems.append(f"line {line}: unterminated quoted string")
            tokens.append(("".join(buf), line, True))
            i = j + 1
        elif ch in "{};":
            tokens.append((ch, line, False))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '{};"#' and not text.startswith("//", j) \
                    and not text.startswith("/*", j):
                j += 1
            tokens.append((text[i:j], line, False))
            i = j
    return tokens, problems


def parse_statements(text: str, file: str = "") -> tuple[list[Statement], list[str]]:
    """Parse text into a statement tree; unbalanced braces or missing `;` become problems.
    Every statement records `file`."""
    tokens, problems = tokenize(text)
    pos = 0

    def parse_block(depth: int) -> list[Statement]:
        nonlocal pos
        out: list[Statement] = []
        words: list[str] = []
        start_line = 0
        while pos < len(tokens):
            tok, line, quoted = tokens[pos]
            if not quoted and tok == "}":
                if depth == 0:
                    problems.append(f"line {line}: unexpected '}}'")
                    pos += 1
                    continue
                if words:
                    problems.append(f"line {start_line}: missing ';' after '{' '.join(words)}'")
                    out.append(Statement(words, None, start_line, file))
                pos += 1
                return out
            pos += 1
            if not quoted and tok == ";":
                if words:
                    out.append(Statement(words, None, start_line, file))
                words = []
            elif not quoted and tok == "{":
                block = parse_block(depth + 1)
                out.append(Statement(words, block, start_line or line, file))
                words = []
                # A block is closed by '};' -- tolerate a missing ';' after '}'.
                if pos < len(tokens) and tokens[pos][0] == ";" and not tokens[pos][2]:
                    pos += 1
                else:
                    problems.append(f"line {line}: missing ';' after '}}'")
            else:
                if not words:
                    start_line = line
                words.append(tok)
        if depth > 0:
            problems.append("end of file inside a '{' block (unbalanced braces)")
        if words:
            problems.append(f"line {start_line}: missing ';' after '{' '.join(words)}'")
            out.append(Statement(words, None, start_line, file))
        return out

    statements = parse_block(0)
    return statements, problems


# ---------------------------------------------------------------------------------------
# The configuration model


@dataclass
class ZoneDecl:
    name: str
    file: str | None
    zone_type: str | None
    view: str | None


@dataclass
class View:
    name: str
    options: dict[str, Statement]
    match_clients: Statement | None
    file: str = ""
    line: int = 0


@dataclass
class NamedConf:
    acls: dict[str, list[Statement]] = field(default_factory=dict)
    options: dict[str, Statement] = field(default_factory=dict)
    views: list[View] = field(default_factory=list)
    zones: list[ZoneDecl] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    acl_statements: dict[str, Statement] = field(default_factory=dict)  # where each acl is defined
    listen: list[Statement] = field(default_factory=list)  # every listen-on / listen-on-v6 of options


def _options_of(block: list[Statement]) -> dict[str, Statement]:
    found: dict[str, Statement] = {}
    for stmt in block:
        # BIND rejects a repeated option; the first one is what we judge.
        found.setdefault(stmt.keyword, stmt)
    return found


def _zone_decl(stmt: Statement, view: str | None) -> ZoneDecl:
    name = stmt.words[1].rstrip(".").lower() if len(stmt.words) > 1 else ""
    opts = _options_of(stmt.block or [])
    file_stmt = opts.get("file")
    type_stmt = opts.get("type")
    return ZoneDecl(
        name=name,
        file=file_stmt.words[1] if file_stmt and len(file_stmt.words) > 1 else None,
        zone_type=type_stmt.words[1].lower() if type_stmt and len(type_stmt.words) > 1 else None,
        view=view,
    )


def where(stmt: Statement) -> str:
    """`line 3` or `named.conf.local line 3`, for problems."""
    return f"{stmt.file} line {stmt.line}" if stmt.file else f"line {stmt.line}"


def parse_named_conf(text: str, file: str = "") -> NamedConf:
    statements, problems = parse_statements(text, file)
    return build_conf(statements, problems)


def build_conf(statements: list[Statement], problems: list[str] | None = None) -> NamedConf:
    """The configuration of a statement list (one file's, or several files' joined in BIND's order)."""
    conf = NamedConf(problems=list(problems or []))
    top_zones: list[Statement] = []
    for stmt in statements:
        kw = stmt.keyword
        if kw == "acl":
            if len(stmt.words) < 2 or stmt.block is None:
                conf.problems.append(f"{where(stmt)}: acl without a name or element list")
                continue
            name = stmt.words[1].lower()
            if name in conf.acl_statements:
                conf.problems.append(f"{where(stmt)}: acl '{name}' is defined again (first at "
                                     f"{where(conf.acl_statements[name])}); named refuses that")
                continue
            conf.acls[name] = stmt.block
            conf.acl_statements[name] = stmt
        elif kw == "options":
            if conf.options:
                conf.problems.append(f"{where(stmt)}: a second options block (BIND allows one)")
            else:
                conf.options = _options_of(stmt.block or [])
                conf.listen = [s for s in stmt.block or [] if s.keyword in ("listen-on", "listen-on-v6")]
        elif kw == "view":
            name = stmt.words[1] if len(stmt.words) > 1 else f"view@{stmt.line}"
            block = stmt.block or []
            opts = _options_of(block)
            conf.views.append(View(name, opts, opts.get("match-clients"), stmt.file, stmt.line))
            conf.zones.extend(_zone_decl(s, name) for s in block if s.keyword == "zone")
        elif kw == "zone":
            conf.zones.append(_zone_decl(stmt, None))
            top_zones.append(stmt)
        elif kw == "include" and len(stmt.words) > 1:
            conf.includes.append(stmt.words[1])
    if conf.views and top_zones:
        conf.problems.append(f"{where(top_zones[0])}: zone {' '.join(top_zones[0].words[1:2])} is outside every "
                             "view while views are used; named refuses that ('when using view statements, all "
                             "zones must be in views')")
    return conf


# ---------------------------------------------------------------------------------------
# Address match lists


@dataclass(frozen=True)
class AclEntry:
    """One flattened element: the addresses it matches, whether it admits, and where from."""

    addresses: AddressSet
    admits: bool
    origin: str  # the element as written, with the acl names it came through
    via: tuple[str, ...] = ()  # those acl names, outermost first


LOCAL_ELEMENTS = {"localhost", "localnets"}


def parse_prefix(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """BIND prefixes: `10/8` and `192.168/16` are abbreviations; an address alone is a host."""
    text = text.strip()
    addr, sep, length = text.partition("/")
    addr = addr.split("%", 1)[0]
    if ":" not in addr and addr.count(".") < 3 and sep:
        parts = addr.split(".")
        if all(p.isdigit() for p in parts) and len(parts) <= 4:
            addr = ".".join(parts + ["0"] * (4 - len(parts)))
    try:
        return ipaddress.ip_network(f"{addr}/{length}" if sep else addr, strict=False)
    except ValueError:
        return None


class AclResolver:
    """Flattens address match lists of one configuration, following acl names."""

    def __init__(self, acls: dict[str, list[Statement]]):
        self.acls = acls
        self.unresolved: list[str] = []
        self.unparsed: list[str] = []

    def flatten(self, elements: list[Statement], via: tuple[str, ...] = ()) -> list[AclEntry]:
        out: list[AclEntry] = []
        for stmt in elements:
            words = list(stmt.words)
            negated = False
            while words and words[0].startswith("!"):
                negated = not negated
                words[0] = words[0][1:]
                if not words[0]:
                    words.pop(0)
            if stmt.block is not None and not words:
                inner = self.flatten(stmt.block, via)
                out.extend(_negate(inner) if negated else inner)
                continue
            if not words:
                continue
            out.extend(self._element(words, negated, via))
        return out

    def _element(self, words: list[str], negated: bool, via: tuple[str, ...]) -> list[AclEntry]:
        head = words[0].lower()
        written = ("!" if negated else "") + " ".join(words)
        origin = written if not via else f"{written} (via acl {' -> '.join(via)})"
        if head == "any":
            return [AclEntry(AddressSet.everything(), not negated, origin, via)]
        if head == "none":
            return [AclEntry(AddressSet.everything(), negated, origin, via)]
        if head in LOCAL_ELEMENTS or head == "key":
            return []  # the server's own addresses or signed requests: never an anonymous outsider
        if head == "geoip":
            # A country or ASN is an arbitrary set of outside addresses: treat as wide open.
            return [AclEntry(AddressSet.everything(), not negated, origin, via)] if not negated else []
        if head in self.acls:
            if head in via:
                self.unparsed.append(f"acl {head} refers to itself")
                return []
            inner = self.flatten(self.acls[head], (*via, head))
            return _negate(inner) if negated else inner
        network = parse_prefix(words[0])
        if network is not None:
            return [AclEntry(AddressSet.of(network), not negated, origin, via)]
        if head.isidentifier() or head.replace("-", "_").isidentifier():
            self.unresolved.append(words[0])
        else:
            self.unparsed.append(written)
        return []


def _negate(entries: list[AclEntry]) -> list[AclEntry]:
    # BIND turns positives negative and keeps negatives negative (no double negation).
    return [AclEntry(e.addresses, False, e.origin, e.via) for e in entries]


def admitted(entries: list[AclEntry]) -> tuple[AddressSet, list[tuple[AclEntry, AddressSet]]]:
    """First-match evaluation: the set admitted and which element admitted which part."""
    covered = AddressSet()
    allowed = AddressSet()
    contributions: list[tuple[AclEntry, AddressSet]] = []
    for entry in entries:
        fresh = entry.addresses.minus(covered)
        if entry.admits and not fresh.is_empty():
            allowed = allowed.union(fresh)
            contributions.append((entry, fresh))
        covered = covered.union(entry.addresses)
    return allowed, contributions


# ---------------------------------------------------------------------------------------
# Effective recursion


@dataclass
class RecursionScope:
    """How one scope (the global options or a view) answers recursive queries."""

    scope: str  # "options" or "view NAME"
    recursion: bool
    source: str  # e.g. "allow-recursion", "allow-query (inherited)", "default", "recursion no"
    clients: AddressSet  # who reaches this scope (match-clients minus earlier views)
    admitted: AddressSet  # who may recurse: clients ∩ the effective ACL
    contributions: list[tuple[AclEntry, AddressSet]]
    acl_text: str
    # What decided it, for messages naming the statements and their files:
    view: View | None = None
    recursion_stmt: Statement | None = None  # None: BIND's default (yes)
    recursion_in: str = ""  # "view NAME" or "options" (where recursion_stmt is)
    acl_stmt: Statement | None = None  # None: BIND's default (localnets; localhost;)
    acl_option: str = ""  # the option acl_stmt sets: allow-recursion, allow-query-cache or allow-query
    acl_in: str = ""  # "view NAME" or "options"


_CHAIN = {
    "allow-recursion": ("allow-recursion", "allow-query-cache", "allow-query"),
    "allow-query-cache": ("allow-query-cache", "allow-recursion", "allow-query"),
}


def _lookup(name: str, view: View | None, conf: NamedConf) -> tuple[Statement | None, str]:
    if view is not None and name in view.options:
        return view.options[name], f"view {view.name}"
    if name in conf.options:
        return conf.options[name], "options"
    return None, ""


def _yes(stmt: Statement | None, default: bool) -> bool:
    if stmt is None or len(stmt.words) < 2:
        return default
    return stmt.words[1].lower() in ("yes", "true", "1")


def effective_acl(conf: NamedConf, view: View | None, option: str = "allow-recursion") -> tuple[Statement | None, str]:
    """The statement BIND uses for `option` in `view` (or globally), and a label of its origin."""
    stmt, candidate, found_in = _effective(conf, view, option)
    if stmt is None:
        return None, f"{option} (BIND default 'localnets; localhost;')"
    label = candidate if candidate == option else f"{option} (inherited from {candidate})"
    return stmt, f"{label} in {found_in}"


def _effective(conf: NamedConf, view: View | None, option: str) -> tuple[Statement | None, str, str]:
    """(statement, the option it sets, "view NAME"/"options") BIND uses for `option`."""
    for candidate in _CHAIN[option]:
        stmt, found_in = _lookup(candidate, view, conf)
        if stmt is not None:
            return stmt, candidate, found_in
    return None, "", ""


def recursion_scopes(conf: NamedConf, resolver: AclResolver) -> list[RecursionScope]:
    scopes: list[RecursionScope] = []
    if not conf.views:
        targets: list[tuple[View | None, AddressSet]] = [(None, AddressSet.everything())]
    else:
        targets = []
        taken = AddressSet()
        for view in conf.views:
            if view.match_clients is not None and view.match_clients.block is not None:
                matched, _ = admitted(resolver.flatten(view.match_clients.block))
            else:
                matched = AddressSet.everything()  # match-clients defaults to any
            targets.append((view, matched.minus(taken)))
            taken = taken.union(matched)
    for view, clients in targets:
        label = "options" if view is None else f"view {view.name}"
        rec_stmt, rec_in = _lookup("recursion", view, conf)
        decided = {"view": view, "recursion_stmt": rec_stmt, "recursion_in": rec_in}
        if not _yes(rec_stmt, True):
            scopes.append(RecursionScope(label, False, "recursion no", clients, AddressSet(), [], "none", **decided))
            continue
        stmt, source = effective_acl(conf, view, "allow-recursion")
        _, option, acl_in = _effective(conf, view, "allow-recursion")
        decided.update(acl_stmt=stmt, acl_option=option, acl_in=acl_in)
        if stmt is None or stmt.block is None:
            scopes.append(RecursionScope(label, True, source, clients, AddressSet(), [], "localnets; localhost;",
                                         **decided))
            continue
        allowed, contributions = admitted(resolver.flatten(stmt.block))
        reach = clients.intersect(allowed)
        kept = [(e, part.intersect(clients)) for e, part in contributions]
        kept = [(e, part) for e, part in kept if not part.is_empty()]
        acl_text = " ".join(s.text() for s in stmt.block)
        scopes.append(RecursionScope(label, True, source, clients, reach, kept, acl_text, **decided))
    return scopes


def listens_only_on_loopback(conf: NamedConf) -> bool:
    """named takes queries on loopback addresses only: every listen-on and listen-on-v6 lists loopback
    prefixes or `none`. Either family left at BIND's default listens on every interface. (`localhost` here
    is every address of the server, not 127.0.0.1.)"""
    families = {kw: [s for s in conf.listen if s.keyword == kw] for kw in ("listen-on", "listen-on-v6")}
    return all(families.values()) and all(_loopback_list(s) for s in conf.listen)


def _loopback_list(stmt: Statement) -> bool:
    for element in stmt.block or [None]:
        if element is None or element.block is not None or not element.words:
            return False  # no list, or a nested list: not read, so not loopback-only
        text = element.words[0]
        if text.startswith("!") or text.lower() == "none":
            continue  # adds no address to listen on
        network = parse_prefix(text)
        if network is None or not network.is_loopback:
            return False
    return True


# An address set wider than this is "any address" for a resolver: no ISP block is that large.
OPEN_V4_ADDRESSES = 2**24  # a /8
OPEN_V6_ADDRESSES = 2**96  # a /32


# Sources no outside client can use: "this network", loopback, multicast and reserved, private,
# shared (CGNAT), link-local, ULA.
NON_GLOBAL = [
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
              "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10")
]


def outside(allowed: AddressSet, own_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> AddressSet:
    """The admitted addresses that are neither ours nor unroutable on the Internet."""
    ours = AddressSet()
    for net in [*own_networks, *NON_GLOBAL]:
        ours = ours.union(AddressSet.of(net))
    return allowed.minus(ours)


def is_open(allowed: AddressSet, own_networks: list | None = None) -> bool:
    """Open = admits an arbitrary outside address.

    Private and loopback sources never count. With our own blocks known, anything admitted
    outside them is open. Without, the ACL is open when it admits more public addresses than
    a /8 (IPv4) or a /32 (IPv6) holds: `any`, `!10/8; any;`, 0/1...
    """
    public = outside(allowed, own_networks or [])
    if own_networks:
        return not public.is_empty()
    return public.size(4) > OPEN_V4_ADDRESSES or public.size(6) > OPEN_V6_ADDRESSES
