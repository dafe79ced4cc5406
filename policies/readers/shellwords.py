"""Finding the commands a delivered script, cron table, systemd unit or Command would run.

A tool is found wherever it is the command word of a simple command: at the start of a
line or after `;`, `|`, `&&`, `||`, `(`, `{`, `!`, a shell keyword, environment
assignments, a cron schedule (`30 2 * * * postgres ...`) or a systemd `ExecStart=` (with
its `-@:+!` prefixes), and inside the `-c` argument of `sh`, `bash`, `su` or `runuser`.
Lines continued with a backslash are joined; `#` comments are skipped. Words given to
`echo`, `printf`, `log` or `logger` are text, not commands. Unbalanced quotes fall back
to splitting on blanks: a hostile file is read as well as it can be, never raises.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_DEPTH = 4
MAX_TEXT = 1_000_000
_OPERATORS = {";", "|", "||", "&", "&&", "(", ")", ";;", "|&", "\n"}
_REDIRECTS = {">", ">>", "<", "<<", ">&", "<&", ">|", "&>", "&>>", "<<<", "<>"}
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "exec", "command"}
# Commands that run another command given in their arguments (after their own options).
_WRAPPERS = {"sudo", "doas", "runuser", "su", "nice", "ionice", "env", "timeout", "flock", "chronic", "nohup",
             "setsid", "stdbuf", "xargs", "setpriv", "chpst", "s6-setuidgid", "systemd-run", "systemd-cat"}
_TEXT_COMMANDS = {"echo", "printf", "log", "logger", ":", "true", "false", "warn", "die", "info", "error", "msg"}
_SHELLS = {"sh", "bash", "dash", "ash", "ksh", "zsh", "su", "runuser"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_EXEC_KEY = re.compile(r"^\s*(?:Exec(?:Start|StartPre|StartPost|Stop|StopPost|Reload|Condition))\s*=\s*[-@:+!|]*",
                       re.IGNORECASE)
# Minute and hour are numbers, ranges, steps or *: a line of words is not mistaken for a cron entry.
_CRON_SCHEDULE = re.compile(r"^\s*(?:@[a-z]+|[\d*/,-]+\s+[\d*/,-]+\s+[\d*/,?LW-]+\s+[\w*/,-]+\s+[\w*/,#?L-]+)\s+")


@dataclass(frozen=True)
class Call:
    """One invocation of a tool: its words after the tool's name, where it was, how it read."""

    tool: str
    args: tuple[str, ...]
    line: int
    text: str


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with backslash-newline continuations joined."""
    number, buffer, start = 0, [], 1
    for number, raw in enumerate(text[:MAX_TEXT].splitlines(), start=1):
        if not buffer:
            start = number
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            buffer.append(raw[:-1] + " ")
            continue
        buffer.append(raw)
        yield start, "".join(buffer)
        buffer = []
    if buffer:
        yield start, "".join(buffer)


def _words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";|&()<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: read it as blank-separated words
        return line.split("#", 1)[0].split()


def simple_commands(line: str) -> Iterator[list[str]]:
    """The simple commands of one logical line, redirections removed."""
    current: list[str] = []
    words = _words(line)
    skip_next = False
    for index, word in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        if word in _OPERATORS:
            if current:
                yield current
            current = []
        elif word in _REDIRECTS:
            if current and current[-1].isdigit() and index and words[index - 1] == current[-1]:
                current.pop()  # the `2` of `2>`
            skip_next = True
        else:
            current.append(word)
    if current:
        yield current


def _command_start(words: list[str]) -> int:
    """Index of the command word, past shell keywords and environment assignments."""
    index = 0
    while index < len(words) and (words[index] in _KEYWORDS or _ASSIGNMENT.match(words[index])):
        index += 1
    return index


def find_calls(text: str, tools: Iterable[str], _depth: int = 0) -> list[Call]:
    """Every call of one of `tools` (by basename) in shell-like `text`."""
    wanted = set(tools)
    found: list[Call] = []
    if not isinstance(text, str) or _depth > MAX_DEPTH:
        return found
    for number, line in logical_lines(text):
        if not any(tool in line for tool in wanted):
            continue
        line = _EXEC_KEY.sub("", line, count=1)
        for words in simple_commands(line):
            found.extend(_calls_in(words, wanted, number, line, _depth))
    return found


def _calls_in(words: list[str], wanted: set[str], number: int, line: str, depth: int) -> list[Call]:
    start = _command_start(words)
    if start >= len(words):
        return []
    # After a cron schedule (and its user) or a wrapper (sudo -u postgres ...), the command
    # is further on: the first word that is a tool we look for, a shell -c, or plain text.
    scan = bool(_CRON_SCHEDULE.match(line)) or posixpath.basename(words[start]) in _WRAPPERS
    for index in range(start, len(words)):
        name = posixpath.basename(words[index])
        if name in wanted:
            return [Call(name, tuple(words[index + 1:]), number, " ".join(words[index:])[:200])]
        if name in _SHELLS or name == "eval":
            inner = " ".join(words[index + 1:]) if name == "eval" else _dash_c_argument(words[index + 1:])
            if inner is not None:
                return [Call(c.tool, c.args, number, c.text) for c in find_calls(inner, wanted, depth + 1)]
        if name in _TEXT_COMMANDS or not scan:
            return []
    return []


def _dash_c_argument(words: list[str]) -> str | None:
    for index, word in enumerate(words):
        if word == "-c" or (word.startswith("-") and not word.startswith("--") and word.endswith("c")):
            return words[index + 1] if index + 1 < len(words) else None
        if word.startswith("--command="):
            return word.split("=", 1)[1]
        if word == "--command":
            return words[index + 1] if index + 1 < len(words) else None
    return None


def crontab_entries(text: str) -> list[str]:
    """Cron entries a command hands to `crontab` as words (`echo '0 2 * * * job' | crontab -`)."""
    if not isinstance(text, str) or "crontab" not in text:
        return []
    return [word for _, line in logical_lines(text) for word in _words(line) if _CRON_SCHEDULE.match(word)]
