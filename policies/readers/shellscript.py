"""Shell text read as the shell reads it: the files a script writes, what it installs and starts.

Text in (a Command's `create`, a script), immutable facts out: every file the script writes
(here-documents, `tee`, `printf`/`echo` redirections, `install /dev/stdin`, and the copies
`cp`/`mv`/`install`/`ln -s` make of a file the host already has), the Debian packages it
installs, the services it enables or (re)starts, and notes for whatever it cannot read.

The structure comes from tree-sitter-bash, the grammar editors and GitHub use (bashlex 0.18
refuses quoted here-document delimiters, `case`, `$((...))`, arrays and `[[ ]]`): an error
tolerant C parser, linear in the text. Where the parser and bash could disagree (an ERROR
node, a here-document delimiter the grammar accepts but bash would not) nothing from that line
on is judged, and a note says so. Variables the script assigns from literal text are followed
(`F=/etc/bind/named.conf; cat > "$F" <<EOF`), as are `cd`, functions, `for` over literal
words and the strings given to `sh -c`, `bash -c`, `su -c`, `eval` and `ssh HOST`. A text
known only when the command runs (`$(hostname)`, `$1`, a variable set elsewhere) is never
guessed: the file still counts as written, with text None and the reason.

Nothing raises: a hostile text (huge, deeply nested, unbalanced quotes) gives a note.

The reading is in four modules: `shellwalk` (parse, statements, control flow), `shellcommands`
(what cat, tee, cp, install, sh -c, ssh ... do), `shellsystem` (packages, services) and
`shellexpand` (words, here-documents, echo and printf).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from readers import shellwalk
from readers.shellexpand import Content, Env
from readers.shellwalk import MAX_TEXT

__all__ = ["MAX_TEXT", "FileWrite", "Script", "ServiceAction", "read_script"]


@dataclass(frozen=True)
class FileWrite:
    """One file a script writes. `text` None: not known before the run (`problem` says why), or a
    copy (`copied_from`: its text is that of the host's file there, unless the script wrote it)."""

    path: str
    text: str | None
    line: int
    how: str  # "heredoc", "here-string", "echo", "printf", "tee", "install", "cp", "mv", "ln -s", ...
    append: bool = False
    copied_from: str | None = None
    conditional: bool = False  # inside if/case/while, or after `||`: written only on some runs
    problem: str | None = None
    host: str | None = None  # another host reached through `ssh HOST` / `scp`; None: the command's own

    def describe(self) -> str:
        return f"{self.how} (line {self.line}{', conditional' if self.conditional else ''})"


@dataclass(frozen=True)
class ServiceAction:
    unit: str
    action: str  # "enable", "start", "restart", "reload", "stop", "disable"
    line: int


@dataclass(frozen=True)
class Script:
    writes: tuple[FileWrite, ...] = ()
    packages: tuple[str, ...] = ()  # installed (apt-get/apt/aptitude install, dnf/yum install, apk add)
    removed_packages: tuple[str, ...] = ()
    services: tuple[ServiceAction, ...] = ()
    removed: tuple[str, ...] = ()  # paths `rm`ed
    notes: tuple[str, ...] = ()

    @property
    def started(self) -> tuple[str, ...]:
        """Units the script enables or (re)starts, in order, once each."""
        stopped = {"stop", "disable", "mask"}
        return tuple(dict.fromkeys(s.unit for s in self.services if s.action not in stopped))


def _read(text: str, shell: str, environment: tuple[tuple[str, str], ...], stdin: str | None) -> Script:
    out = _Out()
    if not shellwalk.available():
        out.note(0, "the shell parser (tree-sitter-bash) is not installed; the command is not judged")
        return out.script()
    data = text.encode("utf-8", "replace")
    if len(data) > MAX_TEXT:
        out.note(0, f"the text is longer than {MAX_TEXT} bytes; nothing past that is judged")
        data = data[:data.rfind(b"\n", 0, MAX_TEXT) + 1 or MAX_TEXT]  # whole lines only
    ctx = shellwalk.Ctx(Env(dict(environment)), set(dict(environment)), shell=shell,
                        stdin=Content(stdin, "stdin") if stdin is not None else None)
    try:
        shellwalk.Reader(out, data, 0, 0).run(ctx)
    except Exception as exc:  # noqa: BLE001 - a hostile text must not take the pack down
        out.note(0, f"could not be read ({type(exc).__name__}); the rest is not judged")
    return out.script()


def read_script(text: str, *, shell: str = "bash", environment: Mapping[str, str] | None = None,
                stdin: str | None = None) -> Script:
    """The facts of one shell text. `shell`: "bash" (a remote login shell) or "sh" (dash: echo differs);
    `environment`: variables the command is given; `stdin`: the text the command reads on stdin."""
    env = tuple(sorted((str(k), str(v)) for k, v in (environment or {}).items() if isinstance(v, str)))
    shell = shell if shell in ("bash", "sh") else "sh"
    if len(text) + len(stdin or "") > CACHED_TEXT:
        return _read(text, shell, env, stdin)  # not kept: the cache must not hold a hostile stack's texts
    return _read_cached(text, shell, env, stdin)


# The evidence reads each Command once per view, and the rules may ask again: memoised by text.
CACHED_TEXT = 64 * 1024
_read_cached = functools.lru_cache(maxsize=2048)(_read)


class _Out:
    """What the walk collects (readers.shellwalk and readers.shellcommands append to it)."""

    def __init__(self) -> None:
        self.writes: list[dict] = []  # FileWrite fields, in order
        self.packages: list[str] = []
        self.removed_packages: list[str] = []
        self.services: list[tuple[str, str, int]] = []
        self.removed: list[str] = []
        self.notes: list[str] = []
        self.written: dict[tuple[str | None, str], str | None] = {}
        # A file the script made as a copy of another one (cp a tmp; mv tmp real): where its bytes came from,
        # so a copy of that copy names the first source (the staged file the stack delivers).
        self.origins: dict[tuple[str | None, str], str] = {}
        self.dirs: set[str] = set()
        self.steps = 0

    def note(self, line: int, text: str) -> None:
        self.notes.append(f"line {line}: {text}" if line else text)

    def script(self) -> Script:
        return Script(tuple(FileWrite(**w) for w in self.writes), tuple(dict.fromkeys(self.packages)),
                      tuple(dict.fromkeys(self.removed_packages)), tuple(ServiceAction(*s) for s in self.services),
                      tuple(dict.fromkeys(self.removed)), tuple(dict.fromkeys(self.notes)))
