"""procmail's rcfiles (procmailrc(5), procmail(1)): where a message is finally stored.

An rcfile holds variable assignments (`DEFAULT=$HOME/Maildir/`, quoted or not, `$VAR` and
`${VAR:-x}` expanded, a backquoted command unknown) and recipes: `:0 [flags] [:lock]`, then
`*` condition lines, then one action line: a mailbox, `| program`, `! address` or a `{`
block. `INCLUDERC=` reads another rcfile at that point, `SWITCHRC=` continues in it.

A mailbox name ending in `/` is a maildir, ending in `/.` an MH folder; any other name is an
mbox file (or, if it is an existing directory, numbered msg.* files: never a maildir). A
relative name is below `MAILDIR`. When no recipe delivers, mail goes to `DEFAULT`, which
procmail initialises to `$ORGMAIL`, on Debian the mbox `/var/mail/$LOGNAME`. Setting only
`MAILDIR` does not change `DEFAULT` (it is procmail's working directory).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ORGMAIL = "/var/mail/$LOGNAME"  # Debian's compiled-in system mailbox
INITIAL = {"ORGMAIL": ORGMAIL, "DEFAULT": ORGMAIL, "MAILDIR": "$HOME"}


@dataclass(frozen=True)
class Assignment:
    name: str
    value: str  # as written, quotes kept
    line: int


@dataclass(frozen=True)
class Recipe:
    line: int
    flags: str
    conditions: int  # number of `*` lines
    action: str  # the action line ("{" for a block)
    depth: int  # nesting level of `{}` blocks it sits in


@dataclass(frozen=True)
class Rcfile:
    items: tuple[Assignment | Recipe, ...] = ()
    problems: tuple[str, ...] = ()


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        if raw.endswith("\\"):
            buffer += raw[:-1]
            continue
        out.append((start, buffer + raw))
        buffer = ""
    if buffer:
        out.append((start, buffer))
    return out


def _strip_comment(line: str) -> str:
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def parse(text: str) -> Rcfile:
    items: list[Assignment | Recipe] = []
    problems: list[str] = []
    depth = 0
    pending: tuple[int, str, int] | None = None  # (line, flags, conditions) of a recipe awaiting its action
    for number, raw in _logical_lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if pending is not None:
            if line.startswith("*"):
                pending = (pending[0], pending[1], pending[2] + 1)
                continue
            start, flags, conditions = pending
            pending = None
            action = _strip_comment(line).strip()
            items.append(Recipe(start, flags, conditions, "{" if action.startswith("{") else action, depth))
            if action.startswith("{"):
                depth += 1 - action.count("}")
            continue
        if line.startswith(":0"):
            pending = (number, line[2:].split(":", 1)[0].strip(), 0)
            continue
        if line.startswith("}"):
            depth = max(0, depth - 1)
            continue
        assign = _ASSIGN.match(_strip_comment(line).strip())
        if assign:
            items.append(Assignment(assign.group(1), assign.group(2).strip(), number))
        else:
            problems.append(f"line {number}: not understood: {line[:60]!r}")
    if pending is not None:
        problems.append(f"line {pending[0]}: recipe without an action")
    return Rcfile(tuple(items), tuple(problems))


def expand(value: str, env: Mapping[str, str]) -> str:
    """A procmail/maildrop value: quotes removed, `$VAR`/`${VAR}`/`${VAR:-word}` expanded (single
    quotes literal); an unset variable is kept as `$VAR` so messages show what it stands for."""
    out: list[str] = []
    index = 0
    quote = ""
    while index < len(value):
        char = value[index]
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                out.append(char)
            index += 1
            continue
        if char in "\"'" and (not quote or char == quote):
            quote = "" if quote else char
            index += 1
            continue
        if char == "$":
            match = re.match(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+=])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))",
                             value[index:])
            if match:
                name = match.group(1) or match.group(4)
                op, word = match.group(2), match.group(3) or ""
                current = env.get(name)
                if op in (":-", "-", ":=", "="):
                    empty = current is None or (op.startswith(":") and current == "")
                    out.append(expand(word, env) if empty else current)
                elif op in (":+", "+"):
                    out.append(expand(word, env) if current else "")
                else:
                    out.append(current if current is not None else f"${name}")
                index += match.end()
                continue
        out.append(char)
        index += 1
    return "".join(out).strip()


def special_destination(name: str) -> str | None:
    """pipe, forward, discard or unknown (a backquoted command) where procmail and maildrop read a
    destination alike; None for a path naming a mailbox."""
    name = name.strip()
    if name.startswith("|"):
        return "pipe"
    if name.startswith("!"):
        return "forward"
    if "`" in name:
        return "unknown"
    if name == "/dev/null":
        return "discard"
    return None


def folder_kind(name: str) -> str:
    """maildir, mh, mbox, discard, pipe, forward or unknown (a backquoted command)."""
    special = special_destination(name)
    if special is not None:
        return special
    name = name.strip()
    if name.endswith("/."):
        return "mh"
    if name.endswith("/"):
        return "maildir"
    return "mbox"


@dataclass(frozen=True)
class Delivery:
    """A place procmail stores mail: a recipe's folder, or DEFAULT when no recipe took the message."""

    mailbox: str  # expanded (unset variables kept as $NAME)
    kind: str  # see folder_kind
    source: str  # "DEFAULT" or "recipe"
    conditional: bool
    file: str
    line: int  # 0 for procmail's built-in DEFAULT


@dataclass(frozen=True)
class Outcome:
    deliveries: tuple[Delivery, ...]
    default_reached: bool  # False when an unconditional recipe always takes the message first
    notes: tuple[str, ...]


def evaluate(files: list[tuple[str, Rcfile]], read: Callable[[str], Rcfile | None],
             assignments: Mapping[str, str] | None = None) -> Outcome:
    """Run the rcfiles in order (as procmail does: /etc/procmailrc, then the user's), following
    INCLUDERC/SWITCHRC through `read(path)`; command-line `assignments` come first."""
    env = dict(INITIAL)
    default_line: tuple[str, int] = ("", 0)
    for name, value in (assignments or {}).items():
        env[name] = expand(value, env)
        if name == "DEFAULT":
            default_line = ("the command line", 0)
    deliveries: list[Delivery] = []
    notes: list[str] = []
    state = {"done": False}

    def run(path: str, rc: Rcfile, depth: int) -> None:
        nonlocal default_line
        if depth > 8:
            notes.append(f"{path}: includes nested too deep")
            return
        notes.extend(f"{path}: {p}" for p in rc.problems)
        for item in rc.items:
            if state["done"]:
                return
            if isinstance(item, Assignment):
                env[item.name] = expand(item.value, env)
                if item.name == "DEFAULT":
                    default_line = (path, item.line)
                if item.name in ("INCLUDERC", "SWITCHRC"):
                    target = _absolute(env[item.name], env)
                    included = read(target)
                    if included is None:
                        notes.append(f"{path} line {item.line}: {item.name}={target} is not delivered by the stack")
                    else:
                        run(target, included, depth + 1)
                    if item.name == "SWITCHRC":
                        return
                continue
            if item.action == "{" or "f" in item.flags:
                continue  # a block or a filter: the message goes on
            conditional = bool(item.conditions) or item.depth > 0 or bool(set(item.flags) & set("AaEe"))
            mailbox = _absolute(expand(item.action, env), env)
            deliveries.append(Delivery(mailbox, folder_kind(mailbox), "recipe", conditional, path, item.line))
            if not conditional and "c" not in item.flags:
                state["done"] = True

    for path, rc in files:
        run(path, rc, 0)
        if state["done"]:
            break
    if not state["done"]:
        mailbox = _absolute(env.get("DEFAULT", ORGMAIL), env)
        deliveries.append(Delivery(mailbox, folder_kind(mailbox), "DEFAULT", False, *default_line))
    return Outcome(tuple(deliveries), not state["done"], tuple(notes))


def _absolute(name: str, env: Mapping[str, str]) -> str:
    """A relative mailbox or rcfile is below MAILDIR (procmail's working directory)."""
    if not name or name.startswith(("/", "|", "!", "$", "`")):
        return name
    return f"{env.get('MAILDIR', '$HOME').rstrip('/')}/{name}"


@dataclass(frozen=True)
class Invocation:
    """A procmail command line (mailbox_command, a pipe transport's argv)."""

    rcfiles: tuple[str, ...]  # explicit rcfiles: /etc/procmailrc and ~/.procmailrc are then not read
    assignments: Mapping[str, str]


def invocation(args: list[str]) -> Invocation:
    """procmail(1): `-a arg`, `-d recipient`, `-f from`, `-m`, `-p`... ; `VAR=value` assignments;
    other words are rcfiles."""
    rcfiles: list[str] = []
    assignments: dict[str, str] = {}
    skip = False
    for word in args:
        if skip:
            skip = False
            continue
        if word in ("-a", "-d", "-f", "-r"):
            skip = True
            continue
        if word.startswith("-"):
            continue
        if _ASSIGN.match(word):
            name, _, value = word.partition("=")
            assignments[name] = value
        elif not (rcfiles and "-m" in args):  # with -m, words after the rcfile are its arguments ($1...)
            rcfiles.append(word)
    return Invocation(tuple(rcfiles), assignments)
