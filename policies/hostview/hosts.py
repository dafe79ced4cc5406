"""One view per machine: every file and command that reaches a host, whichever way it is spelled.

A deployment reaches one machine under several spellings: its private address on the
connection of one resource, its name on another, its public address on a third. Spellings
are joined when the stack's own data says they are one machine: a name whose A/AAAA (through
CNAMEs) is that address, two names on the same address, a public address the gateway
forwards (DNAT) to exactly one private address. A public address forwarded to several
private hosts (port forwarding) joins nothing: those are different machines behind one
address.

A host's files are its *effective* files: for each deployed path the last delivery wins (in
registration order), appended text (`>>`, `tee -a`) is joined to what was there, and a file
the host copies into place (`cp`/`mv`/`install SRC DST`) gets the text of its source.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field, replace

from hostview.evidence import CommandText, HostFile

UNKNOWN_HOST = "<unknown host>"


@dataclass(frozen=True)
class Host:
    """One machine: how it is spelled, where it is, and what it receives."""

    key: str  # its best spelling: a name if it has one, else an address ("" when unknown)
    spellings: tuple[str, ...]
    addresses: tuple[str, ...]
    files: tuple[HostFile, ...]  # effective: one per deployed path
    commands: tuple[CommandText, ...]
    notes: tuple[str, ...] = ()
    _by_path: dict[str, HostFile] = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        """`ns1.example.net (198.51.100.53)` for messages."""
        if not self.key:
            return UNKNOWN_HOST
        others = [a for a in self.addresses if a != self.key]
        return f"{self.key} ({', '.join(others[:2])})" if others else self.key

    def file(self, path: str) -> HostFile | None:
        """The effective file at a deployed path."""
        return self._by_path.get(path)

    def glob(self, pattern: str) -> list[HostFile]:
        """The effective files whose deployed path matches a shell glob (nginx/Apache includes), sorted
        as the daemons expand globs."""
        return sorted((f for p, f in self._by_path.items() if fnmatch.fnmatchcase(p, pattern)),
                      key=lambda f: f.deployed_path)

    def of_kind(self, *kinds: str) -> list[HostFile]:
        return [f for f in self.files if f.kind in kinds]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _canonical(text: str) -> str:
    return str(ipaddress.ip_address(text)) if _is_address(text) else text.strip().rstrip(".").lower()


class _Joiner:
    """Union-find over spellings and addresses."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group(files: list[HostFile], commands: list[CommandText], addresses_of,
          forwarded: dict[str, set[str]], names_of=lambda address: []) -> list[Host]:
    """Hosts from the stack's files and commands. `addresses_of(name)` gives a name's addresses from
    the stack's DNS data; `forwarded` maps a public address to the private addresses it is DNATed to;
    `names_of(address)` the names whose A/AAAA is an address (to name a host reached by address only)."""
    spellings = list(dict.fromkeys([f.host for f in files] + [c.host for c in commands]))
    joiner = _Joiner()
    for canonical in {_canonical(s) for s in spellings if s}:
        joiner.find(canonical)
        if _is_address(canonical):
            continue
        for address in addresses_of(canonical):
            joiner.join(canonical, _canonical(address))
    for public, privates in forwarded.items():
        if len(privates) == 1:
            joiner.join(_canonical(public), _canonical(next(iter(privates))))
    members: dict[str, list[str]] = defaultdict(list)
    for item in list(joiner.parent):
        members[joiner.find(item)].append(item)
    files_by_root: dict[str, list[HostFile]] = defaultdict(list)
    for f in files:
        files_by_root[joiner.find(_canonical(f.host)) if f.host else ""].append(f)
    commands_by_root: dict[str, list[CommandText]] = defaultdict(list)
    for c in commands:
        commands_by_root[joiner.find(_canonical(c.host)) if c.host else ""].append(c)
    spelled_by_root: dict[str, list[str]] = defaultdict(list)
    for spelling in spellings:
        if spelling:
            spelled_by_root[joiner.find(_canonical(spelling))].append(spelling)
    hosts = []
    for root in dict.fromkeys(list(files_by_root) + list(commands_by_root)):
        names = members.get(root, [root]) if root else []
        spelled = tuple(spelled_by_root.get(root, ()))
        addresses = tuple(sorted((n for n in names if _is_address(n)), key=_address_order))
        named = [s for s in spelled if not _is_address(_canonical(s))]
        if not named:
            named = [name for address in sorted(addresses, key=_address_order) for name in names_of(address)][:1]
        key = _canonical(named[0]) if named else (_public_first(addresses) if addresses else root)
        hosts.append(_host(key, spelled, addresses, files_by_root.get(root, []), commands_by_root.get(root, [])))
    return hosts


def _address_order(address: str) -> tuple[int, int, str]:
    parsed = ipaddress.ip_address(address)
    return (0 if parsed.is_global else 1, parsed.version, address)


def _public_first(addresses: tuple[str, ...]) -> str:
    return sorted(addresses, key=_address_order)[0]


def _host(key: str, spellings: tuple[str, ...], addresses: tuple[str, ...], files: list[HostFile],
          commands: list[CommandText]) -> Host:
    by_path: dict[str, HostFile] = {}
    notes: list[str] = []
    for f in files:
        path = f.deployed_path
        if f.copied_from is not None:
            source = by_path.get(f.copied_from) or next(
                (g for g in files if g.path == f.copied_from and g.copied_from is None), None)
            if source is None:
                f = replace(f, problem=f.problem or f"copied from {f.copied_from}, which the stack does not deliver "
                                                     "to this host (its content is not known)")
            else:
                f = replace(f, text=source.text, kind=f.kind if f.kind != "other" else source.kind,
                            problem=f.problem or source.problem)
        if f.append and path in by_path:
            before = by_path[path]
            text = None if before.text is None or f.text is None else before.text + f.text
            f = replace(f, text=text, via=", ".join(v for v in (before.via or "delivered", f.via) if v),
                        problem=f.problem or before.problem, append=False)
        by_path[path] = f
        if f.text is None and f.problem and f.kind != "other":
            notes.append(f"{f.label}: {f.problem}")
    for command in commands:
        notes.extend(command.notes)
    return Host(key, spellings, addresses, tuple(by_path.values()), tuple(commands), tuple(dict.fromkeys(notes)),
                by_path)


_BUILDING = object()


def of(view) -> list[Host]:
    """The hosts of a `StackView` (memoised on the view).

    The gateway's DNAT joins spellings, and the gateway's ruleset is itself read per host: while
    the DNAT map is being read, hosts are grouped by the DNS data alone (no recursion)."""
    cached = view._parsed.get(("hosts", 0))
    if cached is _BUILDING:
        return group(view.files, view.commands, view.addresses, {})
    if cached is None:
        from hostview import gatewayview  # the gateway view reads the rulesets the hosts receive

        view._parsed[("hosts", 0)] = _BUILDING
        try:
            cached = group(view.files, view.commands, view.addresses, gatewayview.dnat_map(view),
                           _names_by_address(view))
        finally:
            view._parsed.pop(("hosts", 0), None)
        view._parsed[("hosts", 0)] = cached
    return cached


def _names_by_address(view):
    """address -> names whose A/AAAA record it is (built on first use)."""
    table: dict[str, list[str]] = {}

    def names_of(address: str) -> list[str]:
        if not table:
            for rtype in ("A", "AAAA"):
                for fact in view.of_type(rtype):
                    table.setdefault(fact.rec.value, []).append(fact.rec.name)
            table.setdefault("", [])
        return table.get(address, [])
    return names_of


def host_of(view, spelling: str) -> Host | None:
    """The host a connection spelling (name or address) reaches."""
    wanted = _canonical(spelling) if spelling else ""
    for host in of(view):
        spelled = {_canonical(s) for s in host.spellings}
        if wanted in spelled or wanted in host.addresses or (not wanted and not host.key):
            return host
    return None
