"""Postfix main.cf and master.cf, read the way Postfix reads them (postconf(5), master(5)).

main.cf: `name = value`; a line starting with whitespace continues the previous one; a line
whose first non-blank character is `#` is a comment; the last definition wins. `$name`,
`${name}` and `$(name)` expand (with `${name?text}` / `${name:text}`), falling back to the
Postfix defaults this pack needs. master.cf: one service per logical line, `-o name=value`
(or `-o { name = value }`) overrides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Defaults (postconf -d, Postfix 3.7) of the parameters the rules read. myhostname has
# no static default (it is the machine's name): it stays unknown when not set.
DEFAULTS = {
    "smtpd_banner": "$myhostname ESMTP $mail_name",
    "mail_name": "Postfix",
    "smtp_helo_name": "$myhostname",
    "smtpd_sasl_auth_enable": "no",
    "message_size_limit": "10240000",
    "home_mailbox": "",
    "mail_spool_directory": "/var/mail",
    "mailbox_command": "",
    "mailbox_transport": "",
    "virtual_transport": "virtual",
    "local_transport": "local:$myhostname",
    "mydestination": "$myhostname, localhost.$mydomain, localhost",
    "smtpd_client_restrictions": "",
    "smtpd_helo_restrictions": "",
    "smtpd_sender_restrictions": "",
    "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
    "smtpd_recipient_restrictions": "",
    "smtpd_data_restrictions": "",
    "smtpd_end_of_data_restrictions": "",
    "smtpd_tls_wrappermode": "no",
    "smtpd_tls_security_level": "",
    "smtp_bind_address": "",
    "smtp_bind_address6": "",
}

RESTRICTION_LISTS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
)


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


@dataclass
class MainCf:
    params: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def is_set(self, name: str) -> bool:
        return name in self.params

    def raw(self, name: str) -> str | None:
        if name in self.params:
            return self.params[name]
        return DEFAULTS.get(name)

    def get(self, name: str, overrides: dict[str, str] | None = None) -> str | None:
        """The expanded value (None when neither set nor known by default, e.g. myhostname)."""
        value = overrides[name] if overrides and name in overrides else self.raw(name)
        if value is None:
            return None
        return expand(value, lambda n: overrides[n] if overrides and n in overrides else self.raw(n))


def parse_main_cf(text: str) -> MainCf:
    conf = MainCf()
    for number, line in logical_lines(text):
        name, sep, value = line.partition("=")
        if not sep or not name.strip() or " " in name.strip():
            conf.problems.append(f"line {number}: not 'name = value': {line[:60]!r}")
            continue
        conf.params[name.strip()] = value.strip()
        conf.lines[name.strip()] = number
    return conf


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

    result = _VAR.sub(substitute, value)
    return None if unknown else result


def split_list(value: str | None) -> list[str]:
    """Postfix list syntax: items separated by commas and/or whitespace."""
    if not value:
        return []
    return [item for item in re.split(r"[\s,]+", value) if item]


def is_yes(value: str | None) -> bool:
    return (value or "").strip().lower() in ("yes", "true", "1")


# ---------------------------------------------------------------------------------------
# master.cf

SUBMISSION_PORT_NAMES = {"submission": 587, "587": 587, "submissions": 465, "smtps": 465, "465": 465, "2525": 2525,
                         "smtp": 25, "25": 25}


@dataclass
class MasterService:
    name: str  # as written, e.g. "submission" or "0.0.0.0:2525"
    service_type: str  # inet, unix, pass, ...
    command: str  # smtpd, cleanup, ...
    overrides: dict[str, str]
    line: int

    @property
    def port(self) -> int | None:
        """The TCP port of an inet service, via its service name or number."""
        if self.service_type != "inet":
            return None
        service = self.name.rsplit(":", 1)[-1].strip("[]")
        if service in SUBMISSION_PORT_NAMES:
            return SUBMISSION_PORT_NAMES[service]
        return int(service) if service.isdigit() else None


@dataclass
class MasterCf:
    services: list[MasterService] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _overrides(args: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
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
        i += 1
    return found


def parse_master_cf(text: str) -> MasterCf:
    conf = MasterCf()
    for number, line in logical_lines(text):
        words = line.split()
        if len(words) < 8:
            conf.problems.append(f"line {number}: a service needs 8 fields: {line[:60]!r}")
            continue
        conf.services.append(MasterService(words[0], words[1], words[7], _overrides(words[8:]), number))
    return conf
