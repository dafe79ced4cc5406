"""BIND's effective configuration per host: the named.conf a name server really loads.

A host runs BIND when it receives BIND configuration (files of kind "bind") or installs or
starts it (`bind9` package, `named`/`bind9` unit). Its configuration starts at a root:
Debian's `/etc/bind/named.conf` (the delivered one, else Debian's packaged file, which
includes named.conf.options, named.conf.local and named.conf.default-zones), and any other
delivered file named `named.conf` (/etc/named.conf, /etc/namedb/named.conf, ...) that no
other root includes, as its own root. `include` statements are followed where BIND follows
them (at the top level and inside options, view and zone blocks), globs included (BIND 9.18
expands them, sorted; no match is an error), and the included statements are spliced in
place, each keeping the file it came from, so rules judge the joined configuration and name
the files. A Debian file the stack does not deliver has Debian's packaged text.

BIND resolves a relative include against its working directory, which becomes `directory`
as soon as the parser reads that option (named-checkconf shows it), and before that is where
named starts; the pack reads it against `directory` once set, else against the root's
directory (/etc/bind on Debian), and says so in a note.

Not judged (never a guess, never evidence of absence): an include of a file the stack does
not deliver and Debian does not ship, an include cycle, a file that does not parse or that
named refuses (a second options block, an acl defined twice, zones outside views), a file
the pack cannot read, a command on the host the shell reader could not follow that touches
BIND. Waiting for `up` (the verdict at preview must equal the one at up): a file of the
configuration whose text is unknown at preview, a file of the host whose path is unknown, a
command of the host whose text is unknown, files whose host is unknown at preview (they may
belong to any host).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace

from readers import bindconf
from readers.bindconf import Statement

from hostview import hosts as hostsview
from hostview.hosts import Host

DEBIAN_DIR = "/etc/bind"
DEBIAN_ROOT = "/etc/bind/named.conf"
# Debian bookworm's bind9 (9.18) as packaged; comments dropped. rndc.key is made at install
# (rndc-confgen -a) and holds one key statement.
DEBIAN_DEFAULTS: dict[str, str] = {
    DEBIAN_ROOT: 'include "/etc/bind/named.conf.options";\ninclude "/etc/bind/named.conf.local";\n'
                 'include "/etc/bind/named.conf.default-zones";\n',
    "/etc/bind/named.conf.options": 'options {\n\tdirectory "/var/cache/bind";\n\tdnssec-validation auto;\n'
                                    "\tlisten-on-v6 { any; };\n};\n",
    "/etc/bind/named.conf.local": "",
    "/etc/bind/named.conf.default-zones": "".join(
        f'zone "{zone}" {{ type {kind}; file "{path}"; }};\n' for zone, kind, path in (
            (".", "hint", "/usr/share/dns/root.hints"), ("localhost", "master", "/etc/bind/db.local"),
            ("127.in-addr.arpa", "master", "/etc/bind/db.127"), ("0.in-addr.arpa", "master", "/etc/bind/db.0"),
            ("255.in-addr.arpa", "master", "/etc/bind/db.255"))),
    "/etc/bind/zones.rfc1918": "".join(
        f'zone "{zone}.in-addr.arpa" {{ type master; file "/etc/bind/db.empty"; }};\n'
        for zone in ["10", *(f"{n}.172" for n in range(16, 32)), "168.192"]),
    "/etc/bind/rndc.key": 'key "rndc-key" { algorithm hmac-sha256; secret "made-at-install"; };\n',
}
BIND_PACKAGES = frozenset({"bind9"})
BIND_SERVICES = frozenset({"named", "bind9", "named.service", "bind9.service"})
MAX_DEPTH = 16  # BIND itself gives up on a cycle only when it runs out of file descriptors
_GLOB = set("*?[")
_MAP_BLOCKS = frozenset({"options", "view", "zone"})  # where BIND's parser takes include statements


@dataclass(frozen=True)
class Source:
    """One file of the joined configuration."""

    path: str
    urn: str | None  # None: Debian's packaged default, not delivered by the stack
    via: str = ""  # how it arrived ("" for a CopyToRemote), for messages


@dataclass(frozen=True)
class EffectiveNamed:
    """The configuration named loads on one host from one root."""

    host: Host
    root: str  # "" when the host has BIND files but no root the pack knows
    conf: bindconf.NamedConf | None
    sources: tuple[Source, ...] = ()  # in BIND's reading order
    # Each said without the host (the rule names it), naming the file and what would settle it:
    gaps: tuple[str, ...] = ()  # why it cannot be judged
    waiting: tuple[str, ...] = ()  # values unknown during preview: judged at `up`
    notes: tuple[str, ...] = ()  # remarks that do not stop the judgement
    opened: tuple[str, ...] = ()  # every path BIND opens from this root, read or not

    @property
    def judged(self) -> bool:
        return self.conf is not None and not self.gaps and not self.waiting

    def source(self, path: str) -> Source | None:
        return next((s for s in self.sources if s.path == path), None)

    def label(self, path: str) -> str:
        """`named.conf.local` (beside the root), else the full path; `, Debian's default` when not delivered."""
        short = _short(path, self.root)
        found = self.source(path)
        return f"{short}, Debian's default" if found is not None and found.urn is None else short

    def urn(self, *paths: str) -> str | None:
        """The URN of the first of `paths` the stack delivers, else of any delivered file joined."""
        for path in paths:
            found = self.source(path)
            if found is not None and found.urn:
                return found.urn
        return next((s.urn for s in self.sources if s.urn), None)


def _short(path: str, root: str) -> str:
    return posixpath.basename(path) if posixpath.dirname(path) == posixpath.dirname(root) else path


def of(view) -> list[EffectiveNamed]:
    """Every BIND configuration of the stack, per host and root (memoised on the view)."""
    cached = view._parsed.get(("named", 0))
    if cached is None:
        cached = _build(view)
        view._parsed[("named", 0)] = cached
    return cached


def _build(view) -> list[EffectiveNamed]:
    all_hosts = hostsview.of(view)
    # Files whose host is unknown at preview may be any host's: no host is judged before `up`.
    stray = next((h for h in all_hosts if not h.key and _runs_bind(h)), None)
    everywhere = () if stray is None else (
        f"the connection host of {', '.join(f.path for f in stray.of_kind('bind')[:3]) or 'a command installing bind9'}"
        " is unknown during preview, so those files cannot be joined to their host yet",)
    out: list[EffectiveNamed] = []
    for host in all_hosts:
        if _runs_bind(host):
            out.extend(_for_host(view, host, everywhere))
    return out


def _runs_bind(host: Host) -> bool:
    return bool(host.of_kind("bind")) or any(
        set(c.packages) & BIND_PACKAGES or {s.lower() for s in c.services} & BIND_SERVICES for c in host.commands)


def _for_host(view, host: Host, everywhere: tuple[str, ...]) -> list[EffectiveNamed]:
    waiting = list(everywhere) + _host_waiting(view, host)
    # What the shell reader could not follow in a command of this host, where it touches BIND.
    gaps = [note for c in host.commands for note in c.notes
            if any(word in note for word in ("/etc/bind", "named", "bind9")) and "unknown during preview" not in note]
    delivered = [f for f in host.files if f.kind == "bind" and posixpath.basename(f.deployed_path) == "named.conf"]
    roots = [f.deployed_path for f in delivered if f.deployed_path != DEBIAN_ROOT]
    if host.file(DEBIAN_ROOT) is not None or any(f.deployed_path.startswith(DEBIAN_DIR + "/") for f in host.files) \
            or not roots:
        roots.insert(0, DEBIAN_ROOT)
    out: list[EffectiveNamed] = []
    reached: set[str] = set()
    texts: set[str] = set()
    for root in roots:
        if root in reached:
            continue  # included by an earlier root
        root_file = host.file(root)
        if root_file is not None and root_file.text is not None:
            if root_file.text in texts:
                continue  # a staged copy of a root already judged
            texts.add(root_file.text)
        joined = _Joiner(view, host, root).join()
        reached.update(joined.opened)
        out.append(replace(joined, gaps=(*joined.gaps, *gaps), waiting=(*joined.waiting, *waiting)))
    unread = [f.deployed_path for f in host.of_kind("bind")
              if f.deployed_path not in reached and f.basename != "rndc.conf"]
    if unread and out:
        first = out[0]
        one = len(unread) == 1
        note = (f"{', '.join(unread)} {'is' if one else 'are'} delivered but no named.conf includes "
                f"{'it' if one else 'them'}, so BIND does not read {'it' if one else 'them'} (not judged)")
        out[0] = replace(first, notes=(*first.notes, note))
    return out


def _host_waiting(view, host: Host) -> list[str]:
    waiting = []
    if not host.key:
        waiting.append("the connection host is unknown during preview, so the files cannot be joined per host")
    for f in host.files:
        if f.path == "<unknown path>" and "unknown" in (f.problem or ""):
            waiting.append(f"a file of {f.urn.rsplit('::', 1)[-1]} has a path unknown during preview "
                           "(it may be BIND configuration)")
    for command in host.commands:
        if f"the command text of {command.name}" in view.unknowns or any(
                "unknown during preview" in note for note in command.notes):
            waiting.append(f"the text of {command.label} is unknown during preview (it may write BIND configuration)")
    return waiting


class _Joiner:
    """Splices one root's includes, tracking `directory` for relative includes."""

    def __init__(self, view, host: Host, root: str) -> None:
        self.view, self.host, self.root = view, host, root
        self.sources: dict[str, Source] = {}
        self.gaps: list[str] = []
        self.waiting: list[str] = []
        self.notes: list[str] = []
        self.directory: str | None = None
        self.relative = ""  # how the include being read was resolved, when relative
        self.opened: list[str] = []

    def join(self) -> EffectiveNamed:
        statements = self.read(self.root, (), None)
        conf = None
        if statements is not None:
            conf = bindconf.build_conf(statements)
            self.gaps.extend(p if "refuses" in p else f"{p}; named refuses the configuration" for p in conf.problems)
        return EffectiveNamed(self.host, self.root, conf, tuple(self.sources.values()), tuple(self.gaps),
                              tuple(self.waiting), tuple(self.notes), tuple(dict.fromkeys(self.opened)))

    def read(self, path: str, chain: tuple[str, ...], include: Statement | None) -> list[Statement] | None:
        self.opened.append(path)
        found = self._text(path, include)
        if found is None:
            return None
        text, source = found
        self.sources.setdefault(path, source)
        statements, problems = _parse(self.view, path, text, self.host.file(path))
        for problem in problems[:3]:
            self.gaps.append(f"{self.short(path)} does not parse ({problem}); named refuses it")
        return self.expand(statements, (*chain, path), "")

    def _text(self, path: str, include: Statement | None) -> tuple[str, Source] | None:
        f = self.host.file(path)
        if f is not None:
            if f.text is not None:
                return f.text, Source(path, f.urn, f.via)
            if f.problem and "unknown" in f.problem:
                self.waiting.append(f"{self.short(path)}: {f.problem}")
            else:
                self.gaps.append(f"{self.short(path)} cannot be read ({f.problem or 'no text'})")
            return None
        if path in DEBIAN_DEFAULTS:
            return DEBIAN_DEFAULTS[path], Source(path, None, "Debian's packaged default")
        written = include.words[1] if include is not None else path
        self.gaps.append(f"{self.where(include)}include \"{written}\"{self.relative} names {path}, which the stack "
                         "does not deliver and Debian does not ship; deliver it so the pack can judge the whole")
        return None

    def short(self, path: str) -> str:
        return _short(path, self.root)

    def where(self, stmt: Statement | None) -> str:
        return f"{self.short(stmt.file)} line {stmt.line}: " if stmt is not None and stmt.file else ""

    def expand(self, statements: list[Statement], chain: tuple[str, ...], parent: str) -> list[Statement]:
        out: list[Statement] = []
        for stmt in statements:
            keyword = stmt.keyword
            if keyword == "include" and stmt.block is None:
                out.extend(self.include(stmt, chain))
                continue
            if parent == "options" and keyword == "directory" and len(stmt.words) > 1:
                self.directory = stmt.words[1]
            if stmt.block is not None and keyword in _MAP_BLOCKS:
                stmt = replace(stmt, block=self.expand(stmt.block, chain, keyword))
            out.append(stmt)
        return out

    def include(self, stmt: Statement, chain: tuple[str, ...]) -> list[Statement]:
        if len(stmt.words) != 2:
            self.gaps.append(f"{self.where(stmt)}include takes one quoted file name; named refuses it")
            return []
        target = path = stmt.words[1]
        self.relative = ""
        if not posixpath.isabs(target):
            base = self.directory or posixpath.dirname(self.root)
            path = posixpath.normpath(posixpath.join(base, target))
            # BIND reads it from its working directory: `directory` once parsed, before that where named starts.
            why = "the directory option in force" if self.directory else "assumed: the root's directory"
            self.relative = f" (relative: read from {base}, {why})"
        if _GLOB & set(path):
            paths = [f.deployed_path for f in self.host.glob(path)]
            if not paths:
                self.gaps.append(f"{self.where(stmt)}include \"{target}\"{self.relative} matches no file the stack "
                                 "delivers; named refuses a glob without a match (files placed by hand are not seen)")
        else:
            paths = [path]
        out: list[Statement] = []
        for item in paths:
            if item in chain:
                cycle = " -> ".join(self.short(p) for p in (*chain[chain.index(item):], item))
                self.gaps.append(f"include cycle {cycle}; named refuses it")
            elif len(chain) >= MAX_DEPTH:
                self.gaps.append(f"includes nested deeper than {MAX_DEPTH} at {item}")
            else:
                relative = self.relative
                found = self.read(item, chain, stmt)
                if found is not None and relative:
                    self.notes.append(f"{self.where(stmt)}include \"{target}\"{relative}; an absolute path is safer")
                out.extend(found or [])
        return out


_DEFAULT_PARSES: dict[str, tuple[list[Statement], list[str]]] = {}


def _parse(view, path: str, text: str, f) -> tuple[list[Statement], list[str]]:
    """A file's statements, each stamped with its path (memoised per view, Debian's texts once)."""
    if f is None:
        if path not in _DEFAULT_PARSES:
            _DEFAULT_PARSES[path] = bindconf.parse_statements(text, path)
        return _DEFAULT_PARSES[path]
    key = (id(f), "bind-statements")
    if key not in view._parsed:
        view._parsed[key] = (f, bindconf.parse_statements(text, path))  # f held: its id stays its own
    return view._parsed[key][1]
