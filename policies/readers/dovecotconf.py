"""Dovecot's configuration files (doveconf(1), "Configuration file syntax" of the Dovecot docs).

A file is `key = value` lines inside nested `name [arg] {` ... `}` sections, `#` comments,
and `!include` / `!include_try` lines (a path or a glob, relative to the including file's
directory). `parse` returns every assignment and include in file order, each with the section
it sits in, so the host view can follow the includes across the files a host receives and
let later settings win, as Dovecot does. `mail_location` (2.3) and `mail_driver` /
`mail_path` (2.4) say how mail is stored.

`DEBIAN_FILES` are the settings of Debian's dovecot-core package (2.3, bookworm) that decide
where mail goes: its dovecot.conf includes conf.d/*.conf, and its conf.d/10-mail.conf stores
mail as mbox (`mbox:~/mail:INBOX=/var/mail/%u`). A file the stack does not replace keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    section: str  # "" at top level, else e.g. "namespace inbox" or "service lmtp / unix_listener lmtp"
    line: int


@dataclass(frozen=True)
class Include:
    pattern: str  # as written (may be relative, may be a glob)
    optional: bool  # !include_try
    section: str
    line: int


@dataclass(frozen=True)
class Section:
    """A `name [arg] {` block opened (listeners are known by their sections even when empty)."""

    name: str  # e.g. "unix_listener /var/spool/postfix/private/dovecot-lmtp"
    parent: str
    line: int


@dataclass(frozen=True)
class DovecotFile:
    entries: tuple[Setting | Include | Section, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def settings(self) -> tuple[Setting, ...]:
        return tuple(e for e in self.entries if isinstance(e, Setting))

    @property
    def includes(self) -> tuple[Include, ...]:
        return tuple(e for e in self.entries if isinstance(e, Include))


_ASSIGN = re.compile(r"^([A-Za-z0-9_/.-]+)\s*=\s*(.*)$")
_SECTION = re.compile(r"^([A-Za-z0-9_!-]+)(?:\s+(\"[^\"]*\"|[^\s{]+))?\s*\{$")


def _strip_comment(line: str) -> str:
    """A `#` starts a comment at the line's start or after a blank, outside quotes."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_OPENER = re.compile(r"^([A-Za-z0-9_!-]+(?:\s+(?:\"[^\"]*\"|[^\s{}=\"]+))?)\s*\{\s*")


def _pieces(line: str) -> list[str]:
    """A line split into section openers (`name arg {`), assignments and `}`: Dovecot accepts
    one-line blocks such as `service lmtp { unix_listener x { mode = 0600 } }`."""
    out: list[str] = []
    rest = line.strip()
    while rest:
        if rest.startswith("}"):
            out.append("}")
            rest = rest[1:].strip()
            continue
        opener = _OPENER.match(rest)
        if opener:
            out.append(opener.group(1) + " {")
            rest = rest[opener.end():]
            continue
        cut = _closing_brace(rest)
        out.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [p for p in out if p]


def _closing_brace(text: str) -> int:
    """Index of the first `}` outside quotes (len(text) when none)."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "}":
            return index
    return len(text)


def parse(text: str) -> DovecotFile:
    entries: list[Setting | Include | Section] = []
    problems: list[str] = []
    stack: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = _strip_comment(raw).strip()
        if not stripped:
            continue
        if stripped.startswith("!include"):
            word, _, pattern = stripped.partition(" ")
            if word not in ("!include", "!include_try") or not pattern.strip():
                problems.append(f"line {number}: not understood: {stripped[:60]!r}")
                continue
            entries.append(Include(_unquote(pattern), word == "!include_try", " / ".join(stack), number))
            continue
        for piece in _pieces(stripped):
            if piece == "}":
                if stack:
                    stack.pop()
                else:
                    problems.append(f"line {number}: '}}' without an open section")
                continue
            section = _SECTION.match(piece)
            if section:
                name = section.group(1) + (f" {_unquote(section.group(2))}" if section.group(2) else "")
                entries.append(Section(name, " / ".join(stack), number))
                stack.append(name)
                continue
            assign = _ASSIGN.match(piece)
            if assign:
                entries.append(Setting(assign.group(1), _unquote(assign.group(2)), " / ".join(stack), number))
            else:
                problems.append(f"line {number}: not understood: {piece[:60]!r}")
    if stack:
        problems.append(f"section '{stack[-1]}' is not closed")
    return DovecotFile(tuple(entries), tuple(problems))


# ---------------------------------------------------------------------------------------
# Storage formats


@dataclass(frozen=True)
class Storage:
    """How a mail_location (or mail_driver + mail_path) stores mail."""

    driver: str  # maildir, mbox, sdbox, mdbox, imapc, ... ; "" when Dovecot autodetects
    path: str

    @property
    def is_mbox(self) -> bool:
        return self.driver == "mbox"


def storage_of_location(value: str) -> Storage:
    """`maildir:~/Maildir`, `mbox:~/mail:INBOX=/var/mail/%u`; an empty location autodetects."""
    value = value.strip()
    if not value:
        return Storage("", "")
    driver, sep, rest = value.partition(":")
    if not sep:  # a bare path: Dovecot autodetects the format from what it finds there
        return Storage("", value)
    return Storage(driver.lower(), rest)


def mbox_settings(text: str) -> list[Setting]:
    """Assignments in one file that select mbox storage (any section)."""
    hits = []
    for found in parse(text).settings:
        value = found.value.strip().lower()
        if (found.key in ("mail_location", "location") and value.startswith("mbox:")) or (
                found.key == "mail_driver" and value == "mbox"):
            hits.append(found)
    return hits


# Debian's dovecot-core 2.3 (bookworm), the lines of its packaged files that decide where mail is
# stored and where LMTP listens (comments dropped; a test compares them with the installed package).
DEBIAN_BASE_DIR = "/run/dovecot"
DEBIAN_FILES = {
    "/etc/dovecot/dovecot.conf": """\
!include_try /usr/share/dovecot/protocols.d/*.protocol
dict {
}
!include conf.d/*.conf
!include_try local.conf
""",
    "/etc/dovecot/conf.d/10-mail.conf": """\
mail_location = mbox:~/mail:INBOX=/var/mail/%u
namespace inbox {
  inbox = yes
}
mail_privileged_group = mail
protocol !indexer-worker {
}
""",
    "/etc/dovecot/conf.d/10-master.conf": """\
service lmtp {
  unix_listener lmtp {
  }
}
service auth {
  unix_listener auth-userdb {
  }
}
""",
}
