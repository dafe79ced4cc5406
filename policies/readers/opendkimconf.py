"""OpenDKIM's configuration (opendkim.conf(5)), text in, signing facts out.

opendkim.conf: one `Name value` per line, `#` starts a comment, parameter names are not
case-sensitive (opendkim's config parser compares them with strcasecmp); for a parameter given
twice the last one counts. Signing is configured in one of two forms (opendkim.conf(5) `Mode`):
- a KeyTable and a SigningTable: the SigningTable maps the From: address to a key name, the
  KeyTable maps a key name to `domain:selector:key` (the d=, the s= and a key file or the key
  itself); `%` as the domain (and in the key) stands for the sender's domain;
- the single-key form: `Domain` (the signed domains), `Selector` and `KeyFile` (ignored when a
  KeyTable is set).
`Mode` (default `sv`) must contain `s` for any signing. Datasets (opendkim(8)): `file:PATH` or an
absolute path (a flat file), `refile:PATH` (wildcard patterns, checked in file order), `csl:a,b`
or a bare list; databases (`db:`, `dsn:`, `ldap:`, `lua:`, ...) cannot be read offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_MODE = "sv"  # opendkim.conf(5) Mode
DEFAULT_INTERNAL_HOSTS = ("127.0.0.1",)  # opendkim.conf(5) InternalHosts
PROBE_LOCAL_PART = "user"  # the local part used to ask "is mail from anyone at D signed?"


@dataclass(frozen=True)
class OpenDkimConf:
    settings: dict[str, tuple[str, int]] = field(default_factory=dict)  # lowercased name -> (value, line)
    problems: tuple[str, ...] = ()

    def get(self, name: str) -> str | None:
        found = self.settings.get(name.lower())
        return found[0] if found else None

    def line(self, name: str) -> int | None:
        found = self.settings.get(name.lower())
        return found[1] if found else None

    @property
    def signs(self) -> bool:
        """Mode contains `s` (the default `sv` does)."""
        return "s" in (self.get("Mode") or DEFAULT_MODE).lower()

    @property
    def single_key(self) -> bool:
        """The KeyFile/Selector/Domain form: used only without a KeyTable."""
        return self.get("KeyTable") is None and self.get("KeyFile") is not None

    @property
    def internal_hosts(self) -> Dataset:
        value = self.get("InternalHosts")
        return dataset(value) if value is not None else Dataset("csl", items=DEFAULT_INTERNAL_HOSTS)


def parse(text: str) -> OpenDkimConf:
    settings: dict[str, tuple[str, int]] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            problems.append(f"line {number}: '{parts[0]}' has no value")
            continue
        settings[parts[0].lower()] = (parts[1].strip(), number)
    return OpenDkimConf(settings, tuple(problems))


@dataclass(frozen=True)
class Dataset:
    """A dataset value (opendkim(8)): `file` or `refile` with a path, `csl` with items, or `unreadable`."""

    kind: str
    path: str = ""
    items: tuple[str, ...] = ()
    text: str = ""


_READABLE_PREFIXES = ("file:", "refile:", "csl:")


def dataset(value: str) -> Dataset:
    value = value.strip()
    if value.startswith("refile:"):
        return Dataset("refile", value[len("refile:"):], text=value)
    if value.startswith("file:"):
        return Dataset("file", value[len("file:"):], text=value)
    if value.startswith("/"):
        return Dataset("file", value, text=value)
    if value.startswith("csl:"):
        value = value[len("csl:"):]
    elif re.match(r"^[a-z]+:", value) and not value.startswith(_READABLE_PREFIXES):
        return Dataset("unreadable", text=value)  # db:, dsn:, ldap:, lua:, mdb:, memcache:, ...
    return Dataset("csl", items=tuple(i.strip() for i in value.split(",") if i.strip()), text=value)


@dataclass(frozen=True)
class Key:
    """A KeyTable entry: `name domain:selector:key` (key: a file when it starts with /, ./ or ../)."""

    name: str
    domain: str
    selector: str
    key: str
    line: int

    @property
    def key_is_file(self) -> bool:
        return self.key.startswith(("/", "./", "../"))

    def for_sender(self, domain: str) -> Key:
        """With `%` replaced by the sender's domain (opendkim.conf(5) KeyTable)."""
        return Key(self.name, domain if self.domain == "%" else self.domain, self.selector,
                   self.key.replace("%", domain), self.line)


def parse_key_table(text: str) -> tuple[dict[str, Key], list[str]]:
    keys: dict[str, Key] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        fields = parts[1].strip().split(":", 2) if len(parts) == 2 else []
        if len(fields) != 3 or not all(f.strip() for f in fields):
            problems.append(f"line {number}: not 'keyname domain:selector:keyfile'")
            continue
        keys.setdefault(parts[0], Key(parts[0], fields[0].strip().lower(), fields[1].strip(), fields[2].strip(),
                                      number))
    return keys, problems


@dataclass(frozen=True)
class SigningEntry:
    pattern: str
    key_name: str
    line: int


def parse_signing_table(text: str) -> list[SigningEntry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        parts = line.split()
        if len(parts) >= 2:
            entries.append(SigningEntry(parts[0], parts[1], number))
    return entries


def _wildcard(pattern: str) -> re.Pattern:
    """A refile pattern: `*` matches anything, everything else literally, the whole address."""
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern), re.IGNORECASE)


def _plain_candidates(address: str) -> list[str]:
    """The keys a plain (non-refile) SigningTable is searched for, in order (opendkim.conf(5) SigningTable)."""
    user, _, domain = address.partition("@")
    out = [address, domain]
    labels = domain.split(".")
    parents = [".".join(labels[i:]) for i in range(1, len(labels))]
    out += [f"{user}@.{p}" for p in parents] + [f".{p}" for p in parents] + [f"{user}@*", "*"]
    return out


def matching(entries: list[SigningEntry], refile: bool, address: str, multiple: bool = False) -> list[SigningEntry]:
    """The SigningTable entries applied to mail From: `address`: the first only, unless MultipleSignatures."""
    if refile:
        found = [e for e in entries if _wildcard(e.pattern).fullmatch(address)]
    else:
        by_key: dict[str, list[SigningEntry]] = {}
        for e in entries:
            by_key.setdefault(e.pattern.lower(), []).append(e)
        found = [e for candidate in _plain_candidates(address.lower()) for e in by_key.get(candidate, [])]
    return found if multiple else found[:1]


def is_true(value: str | None) -> bool:
    """opendkim.conf(5): only the first byte of a Boolean counts; T, t, Y, y, 1 are true."""
    return bool(value) and value[0] in "TtYy1"


@dataclass(frozen=True)
class Socket:
    """Where OpenDKIM listens: `inet` (port, host; "" = every interface) or `local` (a path)."""

    kind: str
    port: int | None = None
    host: str = ""
    path: str = ""


def parse_socket(value: str) -> Socket | None:
    """`inet:8891@localhost`, `inet6:8891@[::1]`, `inet:8891`, `local:/run/opendkim/opendkim.sock`,
    `unix:/path` or a bare path (opendkim.conf(5) Socket); None when unreadable."""
    value = value.strip()
    kind, sep, rest = value.partition(":")
    if not sep:
        return Socket("local", path=value) if value.startswith("/") else None
    if kind in ("local", "unix"):
        return Socket("local", path=rest) if rest else None
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        return Socket("inet", int(port), host.strip("[]").lower()) if port.isdigit() else None
    return None
