"""Mail hosts as the rules see them: each machine's effective Postfix and Dovecot configuration.

Postfix: per machine (`hosts.of`) and per configuration directory (/etc/postfix, or a
postmulti instance's /etc/postfix-out), the delivered main.cf joined with the delivered
master.cf (its `-o` overrides per service); where main.cf is silent the defaults of Debian's
postfix package apply (`postfixconf.DEFAULTS`), and without a delivered master.cf Debian's
packaged one does. Dovecot: the effective settings across dovecot.conf and everything it
`!include`s (globs, relative to the including file), later settings winning; a file the
stack does not deliver is Debian's packaged one (`dovecotconf.DEBIAN_FILES`) when Dovecot is
on the machine (a delivered Dovecot file, or a command installing dovecot-*).

A host's files are tied to its public address through the stack's own data: the 1:1 NAT
of its `smtp_bind_address` (or of the host's own address) in a delivered nftables
ruleset, else the A/AAAA records of its `myhostname`.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field

from readers import dovecotconf, postfixconf

from hostview import hosts as hostmap
from hostview.evidence import HostFile
from hostview.gatewayview import address_of, snat_public
from hostview.stackview import StackView

_DEBIAN_MASTER = postfixconf.parse_master_cf(postfixconf.DEBIAN_MASTER_CF)


@dataclass
class PostfixHost:
    host: str  # the connection spelling the main.cf was delivered to
    main_file: HostFile | None
    master_file: HostFile | None
    main: postfixconf.MainCf
    master: postfixconf.MasterCf | None  # the delivered master.cf (None: Debian's packaged one runs)
    machine: hostmap.Host | None = None
    config_dir: str = "/etc/postfix"

    @property
    def label(self) -> str:
        if self.machine is not None:
            return self.machine.label
        f = self.main_file or self.master_file
        return f.label if f else self.host

    @property
    def urn(self) -> str | None:
        f = self.main_file or self.master_file
        return f.urn if f else None

    @property
    def files(self) -> str:
        """The files joined, for messages: `/etc/postfix/main.cf + /etc/postfix/master.cf`."""
        shown = [f"{f.deployed_path}{f' ({f.via})' if f.via else ''}" for f in (self.main_file, self.master_file) if f]
        return " + ".join(shown) if shown else "(none)"

    @property
    def effective_master(self) -> postfixconf.MasterCf:
        return self.master if self.master is not None else _DEBIAN_MASTER

    def services(self, command: str = "smtpd") -> list[postfixconf.MasterService]:
        """The delivered master.cf's inet services running `command` ([] without a delivered master.cf)."""
        if self.master is None:
            return []
        return [s for s in self.master.services if s.service_type == "inet" and s.command == command]

    def value(self, name: str, service: postfixconf.MasterService | None = None) -> str | None:
        return self.main.get(name, service.overrides if service else None)

    def where(self, name: str, service: postfixconf.MasterService | None = None) -> str:
        return self.main.where(name, service.overrides if service else None)

    def unreadable(self) -> str | None:
        """Why this instance's delivered files cannot be judged (text unknown at preview, unreadable)."""
        for f in (self.main_file, self.master_file):
            if f is not None and f.text is None:
                return f"{f.deployed_path}: {f.problem or 'its content is not known'}"
        return None


def postfix_hosts(view: StackView) -> list[PostfixHost]:
    """One entry per Postfix configuration directory per machine (memoised on the view)."""
    key = ("postfix-hosts", 0)
    if key not in view._parsed:
        view._parsed[key] = _postfix_hosts(view)
    return view._parsed[key]


def _postfix_hosts(view: StackView) -> list[PostfixHost]:
    out: list[PostfixHost] = []
    for machine in hostmap.of(view):
        files = machine.of_kind("postfix-main", "postfix-master")
        if not files:
            continue
        dirs = list(dict.fromkeys(posixpath.dirname(f.deployed_path) for f in files))
        # A copy staged elsewhere (/root/main.cf) is not what Postfix reads when /etc/postfix* has one.
        real = [d for d in dirs if d.startswith("/etc/postfix")]
        for directory in real or dirs:
            here = [f for f in files if posixpath.dirname(f.deployed_path) == directory]
            main_file = next((f for f in here if f.kind == "postfix-main"), None)
            master_file = next((f for f in here if f.kind == "postfix-master"), None)
            main = (view.parsed(main_file) if main_file else None) or postfixconf.MainCf()
            master = view.parsed(master_file) if master_file else None
            if master_file is not None and master is None:
                master = postfixconf.MasterCf()
            spelling = (main_file or master_file).host
            out.append(PostfixHost(spelling, main_file, master_file, main, master, machine, directory))
    return out


def public_addresses(view: StackView, ph: PostfixHost) -> list[tuple[str, str]]:
    """The addresses the world sees this Postfix send from, each with how we know."""
    found: list[tuple[str, str]] = []
    sources = [ph.value("smtp_bind_address"), ph.value("smtp_bind_address6")]
    host_address = address_of(ph.host) if ph.host else None
    if host_address is not None:
        sources.append(str(host_address))
    for private in sources:
        if private and address_of(private) is not None:
            address = address_of(private)
            if address.is_global:
                found.append((str(address), "the host's own address"))
            found.extend(snat_public(view, private))
    if not found:
        myhostname = ph.value("myhostname")
        if myhostname:
            found.extend((a, f"A/AAAA of myhostname {myhostname}") for a in view.addresses(myhostname))
    return list(dict.fromkeys(found))


def mail_host_addresses(view: StackView) -> dict[str, str]:
    """address -> how it is a mail host: MX target addresses and Postfix hosts' public addresses."""
    found: dict[str, str] = {}
    for fact in view.of_type("MX"):
        for address in view.addresses(fact.rec.value):
            found.setdefault(address, f"MX target {fact.rec.value}")
    for ph in postfix_hosts(view):
        for address, how in public_addresses(view, ph):
            found.setdefault(address, f"Postfix on {ph.host} ({how})")
    return found


# ---------------------------------------------------------------------------------------
# Dovecot

DOVECOT_ROOT = "/etc/dovecot/dovecot.conf"
DOVECOT_PACKAGES = ("dovecot-core", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd")


@dataclass(frozen=True)
class DovecotValue:
    key: str
    value: str
    section: str
    file: str  # deployed path
    line: int
    packaged: bool  # from Debian's packaged file, not delivered by the stack

    @property
    def origin(self) -> str:
        where = f"{self.file} line {self.line}"
        return f"Debian's packaged {where}" if self.packaged else where


@dataclass(frozen=True)
class DovecotConfig:
    """A machine's effective Dovecot settings, in the order Dovecot reads them."""

    machine: hostmap.Host
    values: tuple[DovecotValue, ...]
    sections: tuple[DovecotValue, ...]  # opened sections: key = section name, section = its parent
    files: tuple[str, ...]  # files read, in order
    notes: tuple[str, ...] = ()
    delivered: tuple[str, ...] = field(default=())  # dovecot files the stack delivers

    @property
    def chain(self) -> str:
        """The files read, in order, Debian's packaged ones marked: for messages."""
        return " -> ".join(p if p in self.delivered else f"{p} (packaged)" for p in self.files)

    @property
    def version(self) -> str:
        found = self.get("dovecot_config_version")
        return "2.4" if found is not None and found.value.strip() >= "2.4" else "2.3"

    def get(self, key: str, section: str = "") -> DovecotValue | None:
        """The last assignment of `key` in exactly `section`."""
        found = [v for v in self.values if v.key == key and v.section == section]
        return found[-1] if found else None

    def storage(self, protocol: str = "") -> tuple[dovecotconf.Storage | None, list[DovecotValue]]:
        """Where INBOX mail is stored (None: Dovecot autodetects or the setting is absent), and the
        settings that say so: the inbox namespace's location, else `protocol X` override, else global."""
        scopes = [f"protocol {protocol}", ""] if protocol else [""]
        if self.version == "2.4":
            for scope in scopes:
                driver = self.get("mail_driver", scope)
                if driver is not None:
                    path = self.get("mail_path", scope)
                    used = [driver] + ([path] if path else [])
                    return dovecotconf.Storage(driver.value.lower(), path.value if path else ""), used
            return None, []
        inbox = self._inbox_namespace()
        if inbox:
            location = self.get("location", inbox)
            if location is not None and location.value.strip():
                return dovecotconf.storage_of_location(location.value), [location]
        for scope in scopes:
            location = self.get("mail_location", scope)
            if location is not None:
                storage = dovecotconf.storage_of_location(location.value)
                return (storage if storage.driver else None), [location]
        return None, []

    def _inbox_namespace(self) -> str:
        for value in reversed(self.values):
            if value.key == "inbox" and value.value.lower() == "yes" and value.section.startswith("namespace"):
                return value.section
        return ""

    def listeners(self, service: str) -> list[tuple[str, str, DovecotValue]]:
        """(kind, where, section) of `service NAME { unix_listener PATH {} / inet_listener {port} }`:
        kind `unix` with an absolute path (relative ones are below base_dir), or `inet` with a port."""
        out = []
        base = (self.get("base_dir") or None)
        base_dir = base.value if base else dovecotconf.DEBIAN_BASE_DIR
        for opened in self.sections:
            if opened.section != f"service {service}":
                continue
            kind, _, name = opened.key.partition(" ")
            if kind == "unix_listener" and name:
                path = name if name.startswith("/") else f"{base_dir.rstrip('/')}/{name}"
                out.append(("unix", path, opened))
            elif kind == "inet_listener":
                port = self.get("port", f"{opened.section} / {opened.key}")
                out.append(("inet", port.value if port else "", opened))
        return out


def dovecot_present(machine: hostmap.Host) -> bool:
    installed = {p for c in machine.commands for p in getattr(c, "packages", ())}
    return bool(machine.of_kind("dovecot")) or bool(installed & set(DOVECOT_PACKAGES))


def dovecot_config(view: StackView, machine: hostmap.Host) -> DovecotConfig | None:
    """The machine's effective Dovecot config, or None when Dovecot is not on it (memoised)."""
    key = ("dovecot", id(machine))
    if key not in view._parsed:
        view._parsed[key] = _dovecot_config(view, machine) if dovecot_present(machine) else None
    return view._parsed[key]


def _dovecot_config(view: StackView, machine: hostmap.Host) -> DovecotConfig:
    delivered = {f.deployed_path: f for f in machine.of_kind("dovecot")}
    root = DOVECOT_ROOT
    if root not in delivered:
        others = [p for p in delivered if posixpath.basename(p) == "dovecot.conf"]
        root = others[0] if len(others) == 1 else root
    values: list[DovecotValue] = []
    sections: list[DovecotValue] = []
    files: list[str] = []
    notes: list[str] = []
    candidates = set(delivered) | set(dovecotconf.DEBIAN_FILES)

    def read(path: str, optional: bool, where: str, depth: int) -> None:
        if depth > 10 or path in files:
            notes.append(f"{where}: include of {path} loops or nests too deep (not followed)")
            return
        f = delivered.get(path)
        if f is not None:
            if f.text is None:
                notes.append(f"{machine.label}: {path}: {f.problem or 'its content is not known'}")
                return
            parsed, packaged = view.parsed(f) or dovecotconf.DovecotFile(), False
        elif path in dovecotconf.DEBIAN_FILES:
            parsed, packaged = dovecotconf.parse(dovecotconf.DEBIAN_FILES[path]), True
        else:
            if not optional:
                notes.append(f"{where}: !include {path}, which the stack does not deliver (Dovecot refuses to start "
                             "without it)")
            return
        files.append(path)
        notes.extend(f"{machine.label}: {path}: {p}" for p in parsed.problems)
        for entry in parsed.entries:
            if isinstance(entry, dovecotconf.Include):
                pattern = entry.pattern if entry.pattern.startswith("/") else posixpath.join(
                    posixpath.dirname(path), entry.pattern)
                here = f"{path} line {entry.line}"
                if any(c in pattern for c in "*?["):
                    for match in sorted(p for p in candidates if fnmatch.fnmatchcase(p, pattern)):
                        read(match, True, here, depth + 1)
                else:
                    read(pattern, entry.optional, here, depth + 1)
            elif isinstance(entry, dovecotconf.Section):
                sections.append(DovecotValue(entry.name, "", entry.parent, path, entry.line, packaged))
            else:
                values.append(DovecotValue(entry.key, entry.value, entry.section, path, entry.line, packaged))

    read(root, False, machine.label, 0)
    return DovecotConfig(machine, tuple(values), tuple(sections), tuple(files), tuple(notes), tuple(delivered))
