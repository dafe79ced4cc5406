"""Postfix main.cf and master.cf, read the way Postfix reads them (postconf(5), master(5)).

main.cf: `name = value`; a line starting with whitespace continues the previous one; a line
whose first non-blank character is `#` is a comment; the last definition wins. `$name`,
`${name}` and `$(name)` expand (with `${name?text}` / `${name:text}`), falling back to the
defaults of Debian's postfix package (`DEFAULTS`). master.cf: one service per logical line,
`-o name=value` (or `-o { name = value }`) overrides, and the command's own arguments
(`argv=` of pipe and spawn). When a stack delivers no master.cf, Debian's packaged one
(`DEBIAN_MASTER_CF`) is the one Postfix reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# The compiled-in defaults of Debian's postfix 3.7 (`postconf -d` on bookworm) of every
# parameter the pack reads: where a delivered main.cf is silent, these are in force (the
# packaged main.cf is replaced by a delivered one, so its settings are not). `myhostname`
# has no static default (the machine's FQDN, which the stack does not show) and stays
# unknown; `mydomain` derives from it. Two defaults depend on `compatibility_level`
# (`_COMPAT`). A test checks the table against `postconf -d`.
DEFAULTS = {
    "smtpd_banner": "$myhostname ESMTP $mail_name",
    "mail_name": "Postfix",
    "smtp_helo_name": "$myhostname",
    "myorigin": "$myhostname",
    "compatibility_level": "0",
    "config_directory": "/etc/postfix",
    "queue_directory": "/var/spool/postfix",
    "inet_interfaces": "all",
    "smtpd_sasl_auth_enable": "no",
    "smtpd_sasl_type": "cyrus",
    "smtpd_sasl_path": "smtpd",
    "smtpd_tls_auth_only": "no",
    "smtpd_tls_wrappermode": "no",
    "smtpd_tls_security_level": "",
    "smtpd_delay_reject": "yes",
    "smtpd_sender_login_maps": "",
    "smtpd_restriction_classes": "",
    "smtpd_client_restrictions": "",
    "smtpd_helo_restrictions": "",
    "smtpd_sender_restrictions": "",
    "smtpd_recipient_restrictions": "",
    "smtpd_data_restrictions": "",
    "smtpd_end_of_data_restrictions": "",
    "message_size_limit": "10240000",
    "mailbox_size_limit": "51200000",
    "virtual_mailbox_limit": "51200000",
    "mydestination": "$myhostname, localhost.$mydomain, localhost",
    "alias_maps": "hash:/etc/aliases, nis:mail.aliases",
    "local_transport": "local:$myhostname",
    "virtual_transport": "virtual",
    "default_transport": "smtp",
    "home_mailbox": "",
    "mail_spool_directory": "/var/mail",
    "mailbox_command": "",
    "mailbox_command_maps": "",
    "mailbox_transport": "",
    "mailbox_transport_maps": "",
    "fallback_transport": "",
    "virtual_mailbox_base": "",
    "virtual_mailbox_maps": "",
    "virtual_mailbox_domains": "$virtual_mailbox_maps",
    "smtp_bind_address": "",
    "smtp_bind_address6": "",
}
# Defaults that change with compatibility_level: (level from which, value below, value from).
_COMPAT = {
    "smtpd_relay_restrictions": ("1", "", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"),
    "relay_domains": ("2", "$mydestination", ""),
}
# postconf(5): "Unlike other Postfix configuration parameters, the mailbox_command parameter is
# not subjected to $name substitutions" (so shell syntax like "$EXTENSION" survives).
RAW_PARAMETERS = frozenset({"mailbox_command"})

RESTRICTION_LISTS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
)
# Lists evaluated after RCPT TO (a policy service there sees protocol_state DATA / END-OF-MESSAGE).
LATE_RESTRICTION_LISTS = ("smtpd_data_restrictions", "smtpd_end_of_data_restrictions")


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines; drop comments and blank lines. Returns (first line, text)."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[:1].isspace() and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + stripped)
        else:
            out.append((number, stripped))
    return out


@dataclass(frozen=True)
class MainCf:
    params: Mapping[str, str] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def is_set(self, name: str) -> bool:
        return name in self.params

    def raw(self, name: str, overrides: Mapping[str, str] | None = None) -> str | None:
        """The unexpanded value: a master.cf override, main.cf, else the Debian default (None: unknown)."""
        if overrides and name in overrides:
            return overrides[name]
        if name in self.params:
            return self.params[name]
        if name in _COMPAT:
            since, below, above = _COMPAT[name]
            level = self.get("compatibility_level", overrides) or "0"
            return above if _version(level) >= _version(since) else below
        if name == "mydomain":  # postconf(5): $myhostname without its first component
            host = self.get("myhostname", overrides)
            return host.split(".", 1)[1] if host and "." in host else None
        return DEFAULTS.get(name)

    def get(self, name: str, overrides: Mapping[str, str] | None = None) -> str | None:
        """The expanded value (None when neither set nor known by default, e.g. myhostname)."""
        value = self.raw(name, overrides)
        if value is None or name in RAW_PARAMETERS:
            return value
        return expand(value, lambda n: self.raw(n, overrides))

    def where(self, name: str, overrides: Mapping[str, str] | None = None) -> str:
        """Where a value comes from, for messages: `main.cf line 12`, `-o override`, `Postfix default`."""
        if overrides and name in overrides:
            return "a master.cf -o override"
        if name in self.lines:
            return f"main.cf line {self.lines[name]}"
        return "the Debian postfix default"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3]) or (0,)


def parse_main_cf(text: str) -> MainCf:
    params: dict[str, str] = {}
    lines: dict[str, int] = {}
    problems: list[str] = []
    for number, line in logical_lines(text):
        name, sep, value = line.partition("=")
        if not sep or not name.strip() or " " in name.strip():
            problems.append(f"line {number}: not 'name = value': {line[:60]!r}")
            continue
        params[name.strip()] = value.strip()
        lines[name.strip()] = number
    return MainCf(params, lines, tuple(problems))


_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)(?:([?:])([^}]*))?\}|\(([A-Za-z0-9_]+)(?:([?:])([^)]*))?\)|([A-Za-z0-9_]+))")


def expand(value: str, lookup, depth: int = 0) -> str | None:
    """Expand $name references; a reference to an unknown parameter makes the whole value unknown."""
    if depth > 20:
        return value
    unknown = False

    def substitute(match: re.Match) -> str:
        nonlocal unknown
        name = match.group(1) or match.group(4) or match.group(7)
        op = match.group(2) or match.group(5)
        text = match.group(3) if match.group(1) else match.group(6)
        raw = lookup(name)
        if op == "?":
            return (expand(text or "", lookup, depth + 1) or "") if raw else ""
        if op == ":":
            return "" if raw else (expand(text or "", lookup, depth + 1) or "")
        if raw is None:
            unknown = True
            return ""
        inner = expand(raw, lookup, depth + 1)
        if inner is None:
            unknown = True
            return ""
        return inner

    result = _VAR.sub(substitute, value.replace("$$", "\0"))
    return None if unknown else result.replace("\0", "$")


def split_list(value: str | None) -> list[str]:
    """Postfix list syntax: items separated by commas and/or whitespace."""
    if not value:
        return []
    return [item for item in re.split(r"[\s,]+", value) if item]


def is_yes(value: str | None) -> bool:
    return (value or "").strip().lower() in ("yes", "true", "1")


# ---------------------------------------------------------------------------------------
# Restriction lists and lookup tables

@dataclass(frozen=True)
class Restriction:
    """One item of an smtpd_*_restrictions list: `check_policy_service inet:127.0.0.1:10040` is
    name `check_policy_service`, arg `inet:127.0.0.1:10040`; Postfix 3.0's
    `check_policy_service { inet:..., timeout=10s }` gives the same arg and its attributes."""

    name: str
    arg: str = ""
    attributes: tuple[str, ...] = ()


# Restrictions that take the next item as their argument (postconf(5)).
_RBL_STYLE = {"reject_rbl_client", "reject_rhsbl_client", "reject_rhsbl_helo", "reject_rhsbl_reverse_client",
              "reject_rhsbl_sender", "reject_rhsbl_recipient", "permit_dnswl_client", "permit_rhswl_client",
              "check_policy_service"}


def _takes_argument(name: str) -> bool:
    return name in _RBL_STYLE or (name.startswith("check_") and name.endswith("_access"))


def _tokens(value: str) -> list[str]:
    """List items split on commas/blanks, a `{ ... }` group kept whole (braces included)."""
    out: list[str] = []
    current, depth = [], 0
    for char in value:
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        if depth == 0 and (char.isspace() or char == ","):
            if current:
                out.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        out.append("".join(current))
    return out


def restrictions(value: str | None) -> list[Restriction]:
    """An smtpd_*_restrictions value as Postfix reads it (names lowercased)."""
    items = _tokens(value or "")
    out: list[Restriction] = []
    index = 0
    while index < len(items):
        name = items[index].lower()
        if _takes_argument(name) and index + 1 < len(items):
            arg = items[index + 1]
            attributes: tuple[str, ...] = ()
            if arg.startswith("{"):
                parts = [p for p in re.split(r"[\s,]+", arg.strip("{} \t")) if p]
                arg, attributes = (parts[0], tuple(parts[1:])) if parts else ("", ())
            out.append(Restriction(name, arg, attributes))
            index += 2
            continue
        out.append(Restriction(name))
        index += 1
    return out


@dataclass(frozen=True)
class Table:
    """A lookup table `type:name` (`hash:/etc/postfix/vmailbox`, `inline:{ a=b }`, `mysql:/etc/...`)."""

    kind: str
    name: str

    # Types whose source is a text file of `key value` lines (postmap(1) builds the indexed form).
    INDEXED = frozenset({"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash"})
    PATTERNS = frozenset({"regexp", "pcre"})

    @property
    def readable(self) -> bool:
        return self.kind in self.INDEXED | self.PATTERNS | {"inline", "static"}

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def tables(value: str | None) -> list[Table]:
    """The tables of a maps parameter (`proxy:` stripped: it only relays the lookup)."""
    out = []
    for item in _tokens(value or ""):
        kind, sep, name = item.partition(":")
        if not sep:
            continue
        if kind == "proxy":
            kind, _, name = name.partition(":")
        out.append(Table(kind, name))
    return out


def table_entries(table: Table, text: str | None) -> list[tuple[str, str, int]]:
    """(key, result, line) of a readable table; `text` is the source file (None for inline/static)."""
    if table.kind == "inline":
        pairs = [p.partition("=") for p in re.split(r"[\s,]+", table.name.strip("{} \t")) if p]
        return [(k.strip(), v.strip(), 0) for k, _, v in pairs]
    if table.kind == "static":
        return [("*", table.name.strip("{} \t"), 0)]
    out = []
    for number, line in logical_lines(text or ""):
        if table.kind in Table.PATTERNS:
            match = re.match(r"^(!?/(?:\\.|[^/])*/[a-zA-Z]*)\s+(.*)$", line)
            if match:
                out.append((match.group(1), match.group(2).strip(), number))
            continue
        key, _, result = line.partition(" ") if " " in line else line.partition("\t")
        out.append((key.strip(), result.strip(), number))
    return out


# ---------------------------------------------------------------------------------------
# master.cf

SUBMISSION_PORT_NAMES = {"submission": 587, "587": 587, "submissions": 465, "smtps": 465, "465": 465, "2525": 2525,
                         "smtp": 25, "25": 25}


@dataclass(frozen=True)
class MasterService:
    name: str  # as written, e.g. "submission" or "0.0.0.0:2525"
    service_type: str  # inet, unix, pass, ...
    command: str  # smtpd, cleanup, pipe, spawn, ...
    overrides: Mapping[str, str]
    line: int
    args: tuple[str, ...] = ()  # the command's arguments, -o overrides excluded
    chroot: str = "-"
    private: str = "-"  # a unix service's socket is in private/ ("y", "-") or public/ ("n")

    @property
    def port(self) -> int | None:
        """The TCP port of an inet service, via its service name or number."""
        if self.service_type != "inet":
            return None
        service = self.name.rsplit(":", 1)[-1].strip("[]")
        if service in SUBMISSION_PORT_NAMES:
            return SUBMISSION_PORT_NAMES[service]
        return int(service) if service.isdigit() else None

    @property
    def argv(self) -> tuple[str, ...]:
        """The program a pipe(8)/spawn(8) service runs: the words from `argv=` on."""
        for index, arg in enumerate(self.args):
            if arg.startswith("argv="):
                return tuple(w for w in (arg[5:], *self.args[index + 1:]) if w)
        return ()


@dataclass(frozen=True)
class MasterCf:
    services: tuple[MasterService, ...] = ()
    problems: tuple[str, ...] = ()

    def service(self, name: str, service_type: str = "unix") -> MasterService | None:
        """The last service of that name and type (Postfix uses the last definition)."""
        found = [s for s in self.services if s.name == name and s.service_type == service_type]
        return found[-1] if found else None


def _overrides(args: list[str]) -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-o" and i + 1 < len(args):
            nxt = args[i + 1]
            if nxt == "{":
                # -o { name = value with spaces }
                j = i + 2
                buf = []
                while j < len(args) and args[j] != "}":
                    buf.append(args[j])
                    j += 1
                name, _, value = " ".join(buf).partition("=")
                found[name.strip()] = value.strip()
                i = j + 1
                continue
            name, _, value = nxt.partition("=")
            found[name.strip()] = value.strip()
            i += 2
            continue
        if arg.startswith("-o") and len(arg) > 2:
            name, _, value = arg[2:].partition("=")
            found[name.strip()] = value.strip()
        else:
            rest.append(arg)
        i += 1
    return found, rest


def parse_master_cf(text: str) -> MasterCf:
    services: list[MasterService] = []
    problems: list[str] = []
    for number, line in logical_lines(text):
        words = line.split()
        if len(words) < 8:
            problems.append(f"line {number}: a service needs 8 fields: {line[:60]!r}")
            continue
        overrides, rest = _overrides(words[8:])
        services.append(MasterService(words[0], words[1], words[7], overrides, number, tuple(rest), words[4],
                                      words[2]))
    return MasterCf(tuple(services), tuple(problems))


# Debian's packaged /etc/postfix/master.cf (postfix 3.7, /usr/share/postfix/master.cf.dist without
# its comments): what Postfix reads when a stack delivers no master.cf. A test compares it.
DEBIAN_MASTER_CF = """\
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
uucp      unix  -       n       n       -       -       pipe
  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)
ifmail    unix  -       n       n       -       -       pipe
  flags=F user=ftn argv=/usr/lib/ifmail/ifmail -r $nexthop ($recipient)
bsmtp     unix  -       n       n       -       -       pipe
  flags=Fq. user=bsmtp argv=/usr/lib/bsmtp/bsmtp -t$nexthop -f$sender $recipient
scalemail-backend unix -       n       n       -       2       pipe
  flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop} ${user} ${extension}
mailman   unix  -       n       n       -       -       pipe
  flags=FRX user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py ${nexthop} ${user}
"""


@dataclass(frozen=True)
class Endpoint:
    """Where a Postfix client connects (check_policy_service, lmtp nexthop): `inet` host and port,
    or a `unix` socket path made absolute (relative paths are below the queue directory)."""

    kind: str  # "inet" or "unix"
    host: str = ""
    port: int | None = None
    path: str = ""
    text: str = ""

    def __str__(self) -> str:
        return self.text or (f"inet:{self.host}:{self.port}" if self.kind == "inet" else f"unix:{self.path}")


def endpoint(text: str, queue_directory: str = "/var/spool/postfix", default_port: int | None = None,
             ) -> Endpoint | None:
    """`inet:127.0.0.1:10040`, `inet:[::1]:24`, `unix:private/policy`, `private/dovecot-lmtp`; None if unreadable."""
    text = text.strip()
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("inet", "unix", "local"):
        kind, rest = "unix", text
    if kind == "inet":
        match = re.fullmatch(r"\[?([^\]]*?)\]?(?::(\d+))?", rest)
        if not match or not match.group(1):
            return None
        port = int(match.group(2)) if match.group(2) else default_port
        return Endpoint("inet", match.group(1), port, text=text)
    if not rest:
        return None
    path = rest if rest.startswith("/") else f"{queue_directory.rstrip('/')}/{rest}"
    return Endpoint("unix", path=path, text=text)
