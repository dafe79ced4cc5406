"""Which lines of a shell script run, in order, with their variables substituted.

Firewall scripts are written as programs, not lists: `IPT=/sbin/iptables` then `$IPT -A ...`,
`for net in $CUSTOMERS; do ... done`, functions called from `case "$1" in start) ...`, and an
init script's `stop)` branch that flushes everything. Reading such a script line by line
would apply its `stop` branch too. This module flattens the common shapes:

- functions (`name() {` / `function name {` up to the closing `}`) are expanded where called;
- `case "$1" in` (the script's first argument: how init scripts and `firewall.sh start` are
  run) keeps the branches whose patterns name `start`, else the `*` branch; a `case` on
  anything else keeps every branch;
- `for V in WORDS; do ... done` repeats its body per word;
- `NAME=value` assignments (also `export`/`readonly`/`local`) are substituted into later lines
  as `$NAME`, `${NAME}` and `${NAME:-default}`; a value from a command substitution is unknown
  and left as written, so a reader sees `$NAME` and treats it as unknown;
- heredoc bodies are file contents, not commands (`cat > f <<EOF`), except for a shell
  reading its script from one (`bash <<EOF`), and are attached to their line for readers that
  take them as input (`iptables-restore <<EOF`).

`if`/`while` bodies are kept as written (both branches), which is what an operator means in
the idempotent `iptables -C ... || iptables -A ...` shape. Nothing here raises on odd text.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from readers.shellwords import logical_lines, simple_commands

MAX_DEPTH = 4
MAX_LINES = 20_000

_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][\w.-]*)\2")
_NAME = r"[A-Za-z_][\w:.-]*"
_FUNCTION = re.compile(rf"^\s*(?:function\s+({_NAME})\s*(?:\(\s*\))?|({_NAME})\s*\(\s*\))\s*(\{{.*)?$")
_CASE = re.compile(r"^\s*case\s+(.+?)\s+in\s*$")
_PATTERN = re.compile(r"^\s*\(?\s*([^()]*?)\s*\)\s*(.*)$")
_FOR = re.compile(r"^\s*for\s+([A-Za-z_]\w*)\s+in\s+(.*?)\s*(?:;\s*do|\s+do)?\s*(?:;)?\s*$")
_ASSIGN = re.compile(r"^\s*(?:(?:export|readonly|local|declare|typeset)(?:\s+-\w+)*\s+)?([A-Za-z_]\w*)=(.*)$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)")
_SHELLS = {"sh", "bash", "dash", "ash", "ksh", "zsh"}


@dataclass(frozen=True)
class Line:
    """One logical line that runs: its first line number, its text (variables substituted) and the body of
    a heredoc it reads, as (line number, text) pairs."""

    number: int
    text: str
    heredoc: tuple[tuple[int, str], ...] | None = None
    expands: bool = False  # an unquoted heredoc delimiter: the shell substitutes variables in the body


def flatten(text: str) -> list[Line]:
    """The lines of `text` that run, in order."""
    if not isinstance(text, str):
        return []
    items = _with_heredocs(list(logical_lines(text))[:MAX_LINES])
    functions, body = _functions(items)
    flat = _expand(body, functions, 0)
    out: list[Line] = []
    _substitute(flat, {}, out, 0)
    return out


def _with_heredocs(lines: list[tuple[int, str]]) -> list[Line]:
    out: list[Line] = []
    i = 0
    while i < len(lines):
        number, text = lines[i]
        match = _HEREDOC.search(text) if "<<" in text and "<<<" not in text else None
        if match is None:
            out.append(Line(number, text))
            i += 1
            continue
        strip_tabs, delimiter = match.group(1) == "-", match.group(3)
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines):
            raw = lines[i][1].lstrip("\t") if strip_tabs else lines[i][1]
            if raw.strip() == delimiter:
                i += 1
                break
            body.append((lines[i][0], raw))
            i += 1
        words = next(iter(simple_commands(text[: match.start()])), [])
        if words and words[0].rsplit("/", 1)[-1] in _SHELLS and "-c" not in words:
            # `bash <<EOF`: the body is the script it runs.
            out.append(Line(number, text[: match.start()]))
            out.extend(_with_heredocs(body))
        else:
            out.append(Line(number, text, tuple(body), not match.group(2)))
    return out


def _functions(items: list[Line]) -> tuple[dict[str, list[Line]], list[Line]]:
    functions: dict[str, list[Line]] = {}
    rest: list[Line] = []
    i = 0
    while i < len(items):
        line = items[i]
        match = _FUNCTION.match(line.text)
        if match is None:
            rest.append(line)
            i += 1
            continue
        name = match.group(1) or match.group(2)
        opened = (match.group(3) or "").strip()
        if opened.endswith("}") and len(opened) > 1:  # one line: name() { a; b; }
            functions[name] = [Line(line.number, opened[1:-1].strip().rstrip(";"))]
            i += 1
            continue
        indent = len(line.text) - len(line.text.lstrip())
        body: list[Line] = []
        i += 1
        if not opened and i < len(items) and items[i].text.strip() == "{":
            i += 1
        while i < len(items):
            stripped = items[i].text.strip()
            if stripped in ("}", "};") and len(items[i].text) - len(items[i].text.lstrip()) <= indent:
                i += 1
                break
            body.append(items[i])
            i += 1
        functions[name] = body
    return functions, rest


def _expand(items: list[Line], functions: dict[str, list[Line]], depth: int) -> list[Line]:
    out: list[Line] = []
    i = 0
    while i < len(items):
        line = items[i]
        match = _CASE.match(line.text)
        if match is not None:
            end, branches = _case_block(items, i)
            for body in _chosen(match.group(1), branches):
                out.extend(_expand(body, functions, depth))
            i = end + 1
            continue
        out.append(line)
        if depth < MAX_DEPTH and functions:
            for words in simple_commands(line.text):
                called = next((w for w in words if w not in ("if", "then", "else", "do", "!", "{", "time")), "")
                if called in functions:
                    out.extend(_expand(functions[called], functions, depth + 1))
        i += 1
    return out


def _case_block(items: list[Line], start: int) -> tuple[int, list[tuple[list[str], list[Line]]]]:
    branches: list[tuple[list[str], list[Line]]] = []
    nested, open_branch = 0, False
    for j in range(start + 1, len(items)):
        line = items[j]
        stripped = line.text.strip()
        if nested == 0 and re.match(r"^esac\b", stripped):
            return j, branches
        if _CASE.match(line.text):
            nested += 1
        elif nested and re.match(r"^esac\b", stripped):
            nested -= 1
        if nested == 0 and not open_branch:
            match = _PATTERN.match(line.text)
            if match is None:
                continue
            patterns = [p.strip().strip("'\"") for p in match.group(1).split("|")]
            rest = match.group(2).strip()
            ends = rest.endswith(";;")
            rest = rest[:-2].strip() if ends else rest
            branches.append((patterns, [Line(line.number, rest, line.heredoc, line.expands)] if rest else []))
            open_branch = not ends
            continue
        ends = nested == 0 and stripped.endswith(";;")
        body_text = line.text.rstrip()[:-2] if ends else line.text
        if branches and body_text.strip():
            branches[-1][1].append(Line(line.number, body_text, line.heredoc, line.expands))
        open_branch = not ends
    return len(items) - 1, branches


def _chosen(subject: str, branches: list[tuple[list[str], list[Line]]]) -> list[list[Line]]:
    if not re.search(r"\$\{?1\b", subject):
        return [body for _, body in branches]
    starting = [body for patterns, body in branches if any("start" in p for p in patterns)]
    return starting or [body for patterns, body in branches if "*" in patterns]


def _substitute(items: list[Line], variables: dict[str, str], out: list[Line], depth: int) -> None:
    i = 0
    while i < len(items):
        line = items[i]
        loop = _FOR.match(line.text)
        if loop is not None and depth < MAX_DEPTH:
            end = _loop_end(items, i)
            body = items[i + 1: end]
            if body and body[0].text.strip() == "do":
                body = body[1:]
            listed = _replace(loop.group(2), variables)
            words = None if "$" in listed or "`" in listed else _split(listed)  # `$(seq 3)`: not known
            for word in words if words is not None else [None]:
                inner = dict(variables)
                if word is None:
                    inner.pop(loop.group(1), None)
                else:
                    inner[loop.group(1)] = word
                _substitute(body, inner, out, depth + 1)
            i = end + 1
            continue
        text = _replace(line.text, variables)
        assigned = _ASSIGN.match(text)
        if assigned is not None:
            value = assigned.group(2).strip()
            words = None if "$(" in value or "`" in value else _split(value)
            if words is None or any(w.startswith("$") for w in words):
                variables.pop(assigned.group(1), None)  # a command's output, or unknown: left as written
            elif len(words) <= 1:
                variables[assigned.group(1)] = words[0] if words else ""
            # else `A=1 cmd ...`: A is set for that one command only
        heredoc = line.heredoc
        if heredoc and line.expands:
            heredoc = tuple((n, _replace(t, variables)) for n, t in heredoc)
        out.append(Line(line.number, text, heredoc, line.expands))
        i += 1


def _loop_end(items: list[Line], start: int) -> int:
    depth = 0
    for j in range(start + 1, len(items)):
        words = _split(items[j].text) or []
        if words and words[0] in ("for", "while", "until", "select"):
            depth += 1
        if words and words[0] == "done" or items[j].text.strip().endswith("; done"):
            if depth == 0:
                return j
            depth -= 1
    return len(items)


def _replace(text: str, variables: dict[str, str]) -> str:
    if "$" not in text or not variables:
        return text

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None and match.group(1):
            return match.group(2)
        return match.group(0)

    return _VARIABLE.sub(value, text)


def _split(text: str) -> list[str] | None:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return None
