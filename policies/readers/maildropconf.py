"""maildrop's filter files (maildrop(1), maildropfilter(7)): where a message is finally stored.

maildrop reads /etc/maildroprc, then $HOME/.mailfilter; what neither disposes of goes to
`DEFAULT`, the system mailbox unless a file sets it. Statements read here: `VAR=value`
assignments (quotes, `$VAR` / `${VAR}` expanded), `to mailbox` (delivers and stops), `cc
mailbox` (delivers a copy and goes on), `include file`, and blocks (`if (...) { ... }`,
`exception { ... }`) whose deliveries are conditional. A mailbox `| cmd` is a pipe, `! addr`
a forward.

A mailbox ending in `/` is a maildir. Without the slash maildrop decides at delivery time (an
existing maildir directory gets maildir delivery, anything else is appended to as an mbox
file), so the file alone does not say: such a mailbox is "undetermined".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from readers.procmailconf import expand, special_destination

SYSTEM_MAILBOX = "/var/mail/$LOGNAME"


@dataclass(frozen=True)
class Statement:
    verb: str  # "set", "to", "cc", "include"
    name: str  # the variable for "set"
    value: str  # as written
    conditional: bool
    line: int


@dataclass(frozen=True)
class Filter:
    statements: tuple[Statement, ...] = ()
    problems: tuple[str, ...] = ()


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_DELIVER = re.compile(r"^(to|cc|include)\s+(.+)$")
_CONTROL = re.compile(r"^(if|else|elsif|while|foreach|exception)\b")


def _strip_comment(line: str) -> str:
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def parse(text: str) -> Filter:
    statements: list[Statement] = []
    problems: list[str] = []
    depth = 0
    guarded = False  # the previous line was an `if (...)` without a block: its one statement is conditional
    joined = text.replace("\\\n", " ")
    for number, raw in enumerate(joined.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        for piece in _split_braces(line):
            if piece == "{":
                depth += 1
                guarded = False
                continue
            if piece == "}":
                depth = max(0, depth - 1)
                continue
            control = _CONTROL.match(piece)
            if control:
                rest = piece[control.end():].strip()
                inline = re.match(r"^\(.*\)\s*(.+)$", rest) if control.group(1) != "else" else None
                body = inline.group(1) if inline else (rest if control.group(1) == "else" else "")
                guarded = not body
                if body:
                    statements.extend(_statement(body, True, number, problems))
                continue
            statements.extend(_statement(piece, depth > 0 or guarded, number, problems))
            guarded = False
    return Filter(tuple(statements), tuple(problems))


def _split_braces(line: str) -> list[str]:
    out: list[str] = []
    current = ""
    quote = ""
    for char in line:
        if quote:
            quote = "" if char == quote else quote
            current += char
        elif char in "\"'`":
            quote = char
            current += char
        elif char in "{}":
            if current.strip():
                out.append(current.strip())
            out.append(char)
            current = ""
        else:
            current += char
    if current.strip():
        out.append(current.strip())
    return out


def _statement(text: str, conditional: bool, number: int, problems: list[str]) -> list[Statement]:
    deliver = _DELIVER.match(text)
    if deliver:
        return [Statement(deliver.group(1), "", deliver.group(2).strip(), conditional, number)]
    assign = _ASSIGN.match(text)
    if assign:
        return [Statement("set", assign.group(1), assign.group(2).strip(), conditional, number)]
    if not re.match(r"^(exit|log|logfile|echo|xfilter|dotlock|flock|import|system|to|cc)\b", text):
        problems.append(f"line {number}: not understood: {text[:60]!r}")
    return []


def mailbox_kind(name: str) -> str:
    """maildir, undetermined (a path without '/': maildrop looks at it when delivering), pipe,
    forward, discard or unknown (a backquoted command)."""
    special = special_destination(name)
    if special is not None:
        return special
    return "maildir" if name.strip().endswith("/") else "undetermined"


@dataclass(frozen=True)
class Delivery:
    mailbox: str
    kind: str
    source: str  # "DEFAULT" or the verb
    conditional: bool
    file: str
    line: int  # 0 when DEFAULT was never set


@dataclass(frozen=True)
class Outcome:
    deliveries: tuple[Delivery, ...]
    default_set: bool
    notes: tuple[str, ...]


def evaluate(files: list[tuple[str, Filter]], read: Callable[[str], Filter | None],
             env: Mapping[str, str] | None = None) -> Outcome:
    """Run the filter files in order, following `include` through `read(path)`."""
    variables = dict(env or {})
    deliveries: list[Delivery] = []
    notes: list[str] = []
    default_at: tuple[str, int] | None = None
    done = False

    def run(path: str, flt: Filter, depth: int) -> None:
        nonlocal default_at, done
        notes.extend(f"{path}: {p}" for p in flt.problems)
        for st in flt.statements:
            if done or depth > 8:
                return
            if st.verb == "set":
                variables[st.name] = expand(st.value, variables)
                if st.name == "DEFAULT":
                    default_at = (path, st.line)
                continue
            target = expand(st.value, variables)
            if st.verb == "include":
                included = read(target)
                if included is None:
                    notes.append(f"{path} line {st.line}: include {target} is not delivered by the stack")
                else:
                    run(target, included, depth + 1)
                continue
            deliveries.append(Delivery(target, mailbox_kind(target), st.verb, st.conditional, path, st.line))
            if st.verb == "to" and not st.conditional:
                done = True

    for path, flt in files:
        run(path, flt, 0)
        if done:
            break
    if not done:
        mailbox = variables.get("DEFAULT", SYSTEM_MAILBOX)
        where = default_at or ("", 0)
        kind = mailbox_kind(mailbox) if default_at else "mbox"  # the system mailbox is an mbox file
        deliveries.append(Delivery(mailbox, kind, "DEFAULT", False, *where))
    return Outcome(tuple(deliveries), default_at is not None, tuple(notes))
