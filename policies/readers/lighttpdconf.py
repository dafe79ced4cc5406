"""A lighttpd 1.4 config read into assignments, conditionals and includes.

Syntax as lighttpd's configparser reads it: `key = value` (also `+=`, `:=`), values are
"strings" (backslash escapes), integers, `( "a" => "b", "c" )` arrays and `+`
concatenations of them and of variables (`var.x`, any key set before, `env.X`); `#`
comments to the end of the line; conditionals `$HTTP["host"] == "x" { ... }` with `==`,
`!=`, `=~`, `!~`, `=^`, `=$`, chained with `else`; `include "glob"` (relative to the main
config's directory, /etc/lighttpd) and `include_shell "command"`. Nesting is bounded; a
syntax error is recorded and the reader resumes at the next line.

`expand` pastes includes (and the Debian helpers' `include_shell` whose output is known:
include-conf-enabled.pl, create-mime.conf.pl, use-ipv6.pl); any other `include_shell` stays
and makes every site unclear: its output is only known on the host.

`sites` gives each `$HTTP["host"]` condition as `websites.Site`: its names (`==`, an
anchored literal `=~`, a `=$ ".example.net"` suffix as a wildcard), the listeners it is
reachable on (`server.port`, and each `$SERVER["socket"]` with its `ssl.engine`), the
certificate (`ssl.pemfile`, which may hold the key too, and `ssl.privkey`, `ssl.ca-file`:
the host block's own for SNI, else the socket's, else the global one), and whether plain
HTTP is redirected to https:// (`url.redirect` matching every path, in the host block, or in
a `$HTTP["scheme"] == "http"` block or a plain socket that applies to it).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from readers import websites

BASEDIR = "/etc/lighttpd"
MAX_DEPTH = 32
MAX_INCLUDE_DEPTH = 16
# Debian's include_shell helpers, and what their output amounts to for the sites.
KNOWN_SHELL = {"/usr/share/lighttpd/include-conf-enabled.pl": "conf-enabled/*.conf",
               "/usr/share/lighttpd/create-mime.conf.pl": "", "/usr/share/lighttpd/create-mime.assign.pl": "",
               "/usr/share/lighttpd/use-ipv6.pl": ""}
_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:\\.|[^"\\])*"|=>|\+=|:=|==|!=|=~|!~|=\^|=\$|[=(){}\[\],+]|'
                    r'\$[A-Z_]+|[A-Za-z0-9_.\-:/]+|.', re.DOTALL)
_MATCH_ALL = {"", "^/(.*)", "^/(.*)$", "^(.*)$", "^(.*)", ".*", "(.*)", "^/?(.*)", "^/?(.*)$", "^", "/(.*)", "^.*$"}


@dataclass(frozen=True)
class Assign:
    key: str
    op: str
    value: tuple  # the expression's tokens
    line: int
    source: str = ""


@dataclass(frozen=True)
class Include:
    shell: bool
    value: tuple
    line: int
    source: str = ""


@dataclass(frozen=True)
class Cond:
    field: str  # 'HTTP["host"]', 'SERVER["socket"]', ... ("" for an `else { }` block)
    op: str
    value: str
    line: int
    block: tuple
    source: str = ""


@dataclass(frozen=True)
class Config:
    statements: tuple
    problems: tuple[str, ...] = ()


def _tokens(text: str) -> list[tuple[str, int]]:
    out, line = [], 1
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if not token.isspace() and not token.startswith("#"):
            out.append((token, line))
        line += token.count("\n")
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text or "")
        self.i = 0
        self.problems: list[str] = []

    def peek(self, offset: int = 0) -> str:
        index = self.i + offset
        return self.tokens[index][0] if index < len(self.tokens) else ""

    def line(self) -> int:
        return self.tokens[min(self.i, len(self.tokens) - 1)][1] if self.tokens else 0

    def take(self) -> str:
        token = self.peek()
        self.i += 1
        return token

    def skip_line(self, message: str) -> None:
        line = self.line()
        self.problems.append(f"line {line}: {message}")
        while self.i < len(self.tokens) and self.tokens[self.i][1] == line:
            self.i += 1

    def block(self, depth: int) -> tuple:
        out: list = []
        while self.i < len(self.tokens) and self.peek() != "}":
            start = self.i
            try:
                out.extend(self.statement(depth))
            except (IndexError, ValueError) as exc:
                self.i = start
                self.skip_line(str(exc) or "cannot read")
            if self.i == start:
                self.skip_line(f"unexpected {self.peek()!r}")
        return tuple(out)

    def statement(self, depth: int) -> list:
        token, line = self.peek(), self.line()
        if token in ("include", "include_shell"):
            self.take()
            return [Include(token == "include_shell", self.expression(), line)]
        if token == "global" and self.peek(1) == "{":
            self.i += 2
            inner = self.block(depth + 1)
            self.expect("}")
            return list(inner)
        if token.startswith("$"):
            return self.conditions(depth)
        if self.peek(1) in ("=", "+=", ":=") and re.fullmatch(r"[A-Za-z][\w.-]*", token):
            key, op = self.take(), self.take()
            return [Assign(key, op, self.expression(), line)]
        raise ValueError(f"unexpected {token!r}")

    def conditions(self, depth: int) -> list:
        out = [self.condition(depth)]
        while self.peek() == "else":
            self.take()
            if self.peek() == "{":
                line = self.line()
                self.take()
                inner = self.block(depth + 1)
                self.expect("}")
                out.append(Cond("", "", "", line, inner))
            else:
                out.append(self.condition(depth))
        return out

    def condition(self, depth: int) -> Cond:
        line = self.line()
        name = self.take()[1:]
        self.expect("[")
        key = self.take()
        self.expect("]")
        op = self.take()
        if op not in ("==", "!=", "=~", "!~", "=^", "=$"):
            raise ValueError(f"unknown operator {op!r}")
        value = _string(self.take())
        self.expect("{")
        if depth >= MAX_DEPTH:
            raise ValueError("conditions nested too deep")
        inner = self.block(depth + 1)
        self.expect("}")
        return Cond(f"{name}[{key}]", op, value, line, inner)

    def expect(self, token: str) -> None:
        if self.take() != token:
            raise ValueError(f"expected {token!r}")

    def expression(self) -> tuple:
        """The tokens of one value: terms joined by `+`; arrays kept balanced."""
        out: list[str] = []
        while True:
            token = self.take()
            if token == "(":
                depth, out = 1, [*out, token]
                while depth and self.i < len(self.tokens):
                    inner = self.take()
                    depth += {"(": 1, ")": -1}.get(inner, 0)
                    out.append(inner)
                if depth:
                    raise ValueError("an array is not closed")
            elif token in ("", "{", "}"):
                raise ValueError("a value is missing")
            else:
                out.append(token)
            if self.peek() != "+":
                return tuple(out)
            out.append(self.take())


def _string(token: str) -> str:
    # lighttpd unescapes only \" in strings: a regex keeps its \. as written.
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1].replace('\\"', '"')
    return token


def parse(text: str) -> Config:
    parser = _Parser(text)
    statements = parser.block(0)
    while parser.i < len(parser.tokens):  # a stray `}` at the top: skip it and go on
        parser.skip_line("unexpected '}'")
        statements += parser.block(0)
    return Config(statements, tuple(parser.problems))


# ---------------------------------------------------------------------------------------
# Values and includes

Loader = Callable[[str], "list[tuple[str, Config]] | None"]


def value(tokens: tuple, variables: dict[str, object] | None = None) -> object:
    """An expression's value: str, int, a list of (key, value) pairs for arrays, or None when unknown."""
    variables = variables or {}
    result: object = None
    pending = False
    for token in _split_plus(tokens):
        term = _term(token, variables)
        if term is None:
            return None
        if not pending:
            result = term
        elif isinstance(result, str) or isinstance(term, str):
            result = f"{result}{term}"
        elif isinstance(result, list) and isinstance(term, list):
            result = result + term
        else:
            result = (result or 0) + term  # type: ignore[operator]
        pending = True
    return result


def _split_plus(tokens: tuple) -> list[tuple]:
    parts, current, depth = [], [], 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "+" and depth == 0:
            parts.append(tuple(current))
            current = []
        else:
            current.append(token)
    return [*parts, tuple(current)]


def _term(tokens: tuple, variables: dict[str, object]) -> object:
    if not tokens:
        return None
    if tokens[0] == "(":
        pairs, item = [], []
        for token in (*tokens[1:-1], ","):
            if token == "," and item:
                if "=>" in item:
                    at = item.index("=>")
                    pairs.append((value(tuple(item[:at]), variables), value(tuple(item[at + 1:]), variables)))
                else:
                    pairs.append((None, value(tuple(item), variables)))
                item = []
            elif token != ",":
                item.append(token)
        return pairs
    token = tokens[0]
    if token.startswith('"'):
        return _string(token)
    if token.isdigit():
        return int(token)
    return variables.get(token)


def expand(config: Config, source: str, load: Loader, basedir: str = BASEDIR) -> Config:
    """`config` (read from `source`) with includes pasted in (relative to `basedir`). `load(absolute glob)`
    gives the files ([] for a glob naming nothing; None when the caller does not have them: the
    include stays). Variables (`var.*` and keys set before) are followed to evaluate include paths."""
    problems = list(config.problems)
    out = _expand(config.statements, source, load, basedir, {}, (source,), problems)
    return Config(tuple(out), tuple(problems))


def _expand(statements: tuple, source: str, load: Loader, basedir: str, variables: dict[str, object],
            chain: tuple[str, ...], problems: list[str]) -> list:
    out: list = []
    for statement in statements:
        if isinstance(statement, Assign):
            computed = value(statement.value, variables)
            if statement.op == "+=" and statement.key in variables:
                computed = value((*_quote(variables[statement.key]), "+", *statement.value), variables)
            variables[statement.key] = computed
            out.append(_sourced(statement, source))
        elif isinstance(statement, Include):
            target = value(statement.value, variables)
            if statement.shell:
                command = target.split()[0] if isinstance(target, str) and target.split() else ""
                if command not in KNOWN_SHELL:
                    out.append(_sourced(statement, source))
                    continue
                target = KNOWN_SHELL[command]
                if not target:
                    continue
            if not isinstance(target, str) or len(chain) > MAX_INCLUDE_DEPTH:
                out.append(_sourced(statement, source))
                continue
            loaded = load(posixpath.normpath(posixpath.join(basedir, target)))
            if loaded is None:
                out.append(_sourced(statement, source))
                continue
            for path, included in loaded:
                if path in chain:
                    problems.append(f"{source}, line {statement.line}: {path} includes itself")
                    continue
                problems.extend(f"{path}: {p}" for p in included.problems)
                out += _expand(included.statements, path, load, basedir, variables, (*chain, path), problems)
        elif isinstance(statement, Cond):
            inner = _expand(statement.block, source, load, basedir, variables, chain, problems)
            out.append(Cond(statement.field, statement.op, statement.value, statement.line, tuple(inner),
                            statement.source or source))
    return out


def _quote(known: object) -> tuple:
    """A value turned back into expression tokens (for `+=`)."""
    if isinstance(known, str):
        return ('"' + known.replace("\\", "\\\\").replace('"', '\\"') + '"',)
    if isinstance(known, int):
        return (str(known),)
    if isinstance(known, list):
        tokens: list[str] = ["("]
        for key, item in known:
            if key is not None:
                tokens += [*_quote(key), "=>"]
            tokens += [*_quote(item), ","]
        return (*tokens, ")")
    return ("<unknown>",)


def _sourced(statement, source: str):
    return statement if statement.source else type(statement)(**{**statement.__dict__, "source": source})


# ---------------------------------------------------------------------------------------
# Sites


@dataclass
class _Scope:
    """Settings in force in one nesting of conditions."""

    settings: dict[str, object] = field(default_factory=dict)
    socket: str | None = None  # the $SERVER["socket"] this scope is inside
    plain_only: bool = False  # inside $HTTP["scheme"] == "http"
    hosts: tuple[str, ...] | None = None  # names of the enclosing host condition (None: any)


def _settings(statements: tuple, base: dict[str, object]) -> dict[str, object]:
    settings = dict(base)
    for statement in statements:
        if isinstance(statement, Assign):
            computed = value(statement.value, settings)
            if statement.op == "+=" and isinstance(settings.get(statement.key), list) and isinstance(computed, list):
                computed = settings[statement.key] + computed  # type: ignore[operator]
            settings[statement.key] = computed
    return settings


def _port(socket: str) -> int | None:
    tail = socket.rsplit(":", 1)[1] if ":" in socket else ""
    return int(tail) if tail.isdigit() else None


def _names(cond: Cond) -> tuple[tuple[str, ...], bool]:
    """(names, understood) of a $HTTP["host"] condition."""
    if cond.op == "==":
        name = websites.host_name(cond.value)
        return ((name,) if name else ()), bool(name)
    if cond.op == "=$" and cond.value.startswith("."):
        name = websites.host_name("*" + cond.value)
        return ((name,) if name else ()), bool(name)
    if cond.op == "=~":
        literal = re.fullmatch(r"\^((?:[A-Za-z0-9-]|\\\.)+)(?:\(:\[0-9\]\+\)\?|\(:\\d\+\)\?)?\$", cond.value)
        if literal:
            name = websites.host_name(literal.group(1).replace("\\.", "."))
            return ((name,) if name else ()), bool(name)
    return (), False


def _redirect_all(settings: dict[str, object]) -> bool:
    rules = settings.get("url.redirect")
    return isinstance(rules, list) and any(
        key in _MATCH_ALL and isinstance(target, str) and websites.is_https_target(target) for key, target in rules)


def sites(config: Config, source: str = "") -> list[websites.Site]:
    top = config.statements
    global_settings = _settings(top, {"server.port": 80})
    unclear = [_unclear(s) for s in _walk(top) if isinstance(s, Include)]
    sockets: dict[str, dict[str, object]] = {}
    for statement in top:
        if isinstance(statement, Cond) and statement.field == 'SERVER["socket"]' and statement.op == "==":
            sockets[statement.value] = _settings(statement.block, global_settings)
    main_port = global_settings.get("server.port")
    listeners: dict[str | None, websites.Listener] = {
        None: websites.Listener(main_port if isinstance(main_port, int) else 80,
                                global_settings.get("ssl.engine") == "enable")}
    for socket, settings in sockets.items():
        listeners[socket] = websites.Listener(_port(socket), settings.get("ssl.engine") == "enable")
    # Redirects that apply to plain requests whatever the host (or for some hosts): global or socket
    # scheme blocks, plain sockets' own url.redirect, catch-all host conditions in them.
    found: list[websites.Site] = []
    # (host names a redirect is limited to (None: any; ("?",): a host regex not understood)
    redirect_scopes: list[tuple[str, ...] | None] = [None] if _redirect_all(global_settings) else []
    hosts: list[tuple[Cond, _Scope]] = []
    stack = [(top, _Scope(global_settings))]
    while stack:
        statements, scope = stack.pop()
        for statement in statements:
            if not isinstance(statement, Cond):
                continue
            inner = _Scope(_settings(statement.block, scope.settings), scope.socket, scope.plain_only, scope.hosts)
            if statement.field == 'SERVER["socket"]' and statement.op == "==":
                inner.socket = statement.value
            elif statement.field == 'HTTP["scheme"]' and (statement.op, statement.value) in (("==", "http"),
                                                                                              ("!=", "https")):
                inner.plain_only = True
            elif statement.field == 'HTTP["host"]':
                names, understood = _names(statement)
                catch_all = statement.op == "=~" and statement.value in ("(.*)", ".*", "^(.*)$", "^.*$")
                inner.hosts = None if catch_all else (names if understood else ("?",))
                if not catch_all:
                    hosts.append((statement, inner))
            # A redirect set here reaches plain requests unless it sits in a TLS socket's block.
            if _redirect_all(inner.settings) and not _redirect_all(scope.settings) and (
                    inner.socket is None or not listeners.get(inner.socket, listeners[None]).tls):
                redirect_scopes.append(inner.hosts)
            stack.append((statement.block, inner))
    for cond, scope in hosts:
        found.append(_site(cond, scope, listeners, sockets, global_settings, redirect_scopes, unclear, source))
    return found


def _site(cond: Cond, scope: _Scope, listeners: dict[str | None, websites.Listener],
          sockets: dict[str, dict[str, object]], global_settings: dict[str, object],
          redirects: list[tuple[str, ...] | None], unclear: list[str], source: str) -> websites.Site:
    names, understood = _names(cond)
    reach = [scope.socket] if scope.socket in listeners and scope.socket is not None else list(listeners)
    if scope.plain_only:
        reach = [socket for socket in reach if not listeners[socket].tls]
    on = [listeners[socket] for socket in reach]
    settings = scope.settings
    notes = list(unclear)
    certificates: list[str] = []
    keys: list[str] = []
    chains: list[str] = []
    for socket in reach:
        if not listeners[socket].tls:
            continue
        # SNI: the host block's own setting, else the socket's, else the global one.
        chosen = settings
        if scope.socket is None and socket is not None and all(
                settings.get(k) == global_settings.get(k) for k in ("ssl.pemfile", "ssl.privkey", "ssl.ca-file")):
            chosen = sockets.get(socket, settings)
        for key, into in (("ssl.pemfile", certificates), ("ssl.privkey", keys), ("ssl.ca-file", chains)):
            found = chosen.get(key)
            if isinstance(found, str):
                into.append(_absolute(found))
            elif key in chosen:
                notes.append(f"{key} is built from a value the pack cannot evaluate")
    redirected: bool | None = any(hosts is None or set(hosts) & set(names) for hosts in redirects)
    if not redirected and (notes or ("?",) in redirects):
        redirected = None  # a host regex the reader does not evaluate may cover these names
    webmail = websites.serves_webmail(*[str(v) for k, v in settings.items() if k in (
        "server.document-root", "alias.url", "fastcgi.server", "proxy.server")])
    return websites.Site(
        "lighttpd", cond.source or source, cond.line, f'$HTTP["host"] {cond.op} "{cond.value}"', names,
        tuple(on), tuple(dict.fromkeys(certificates)), tuple(dict.fromkeys(keys)), tuple(dict.fromkeys(chains)), "",
        redirected, webmail, () if understood else (cond.value,),
        (cond.source or source,), tuple(dict.fromkeys(notes)))


def _absolute(path: str) -> str:
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(BASEDIR, path))


def _unclear(include: Include) -> str:
    kind = "include_shell" if include.shell else "include"
    what = " ".join(str(t) for t in include.value)
    return (f"{kind} {what} ({include.source}, line {include.line}) "
            + ("runs a command whose output only the host knows" if include.shell
               else "names no file the stack delivers"))


def _walk(statements: tuple):
    stack = list(statements)
    while stack:
        statement = stack.pop()
        yield statement
        if isinstance(statement, Cond):
            stack.extend(statement.block)
