r"""An nginx config read into server blocks: names, listeners, certificate, redirects.

The tokenizer follows nginx's own rules (ngx_conf_file.c): words are separated by blanks,
`;` ends a directive, `{`/`}` open and close a block, `#` starts a comment at a word's
start, "..." and '...' quote, `${var}` keeps its braces. A backslash makes the next character
part of the word, and is then kept or not as nginx's copy does: `\"`, `\'` and `\\` lose it, `\t`,
`\r`, `\n` become those characters, any other pair stays as written (`location ~ \.php$` keeps
its regex escape). Nesting is
tracked with a stack, so a hostile file cannot exhaust the recursion limit; a missing `}`
closes at the end of the file and is recorded in `problems`.

A `server` block's listeners: `listen` directives (none means port 80, as nginx does);
`ssl` or `quic` makes a listener TLS (and the legacy `ssl on;` makes all of them TLS).
`ssl_certificate` is inherited from the enclosing `http` block, as nginx does.

`expand` replaces each `include` by the directives of the files it names (the caller says
which files a pattern names on the host); an include it cannot resolve stays in the tree,
and every server it may affect says so in `Server.unclear`. `sites` gives the servers as
the common `websites.Site` facts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from readers import websites

NGINX_PREFIX = "/etc/nginx"
_REDIRECT_CODES = {"301", "302", "303", "307", "308"}
_WEBMAIL_APPS = websites.WEBMAIL_APPS
MAX_INCLUDE_DEPTH = 16
MAX_BLOCK_DEPTH = 64
# Blocks that hold no web server: stream/mail proxies' `server`s are not web sites.
_NOT_HTTP_SERVERS = {"stream", "mail", "location", "if", "limit_except", "types", "map", "geo", "upstream",
                     "split_clients", "match", "server"}


@dataclass(frozen=True)
class Directive:
    name: str
    args: list[str]
    line: int
    block: list[Directive] | None = None
    source: str = ""  # the file it was read from (set by `expand`)


@dataclass
class Config:
    directives: list[Directive]
    problems: list[str] = field(default_factory=list)


# ngx_conf_read_token's copy of a word: the pairs it rewrites; every other backslash pair stays as it is.
_NGINX_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def _escaped(text: str, j: int) -> str:
    """What nginx makes of the backslash at `j` and the character after it."""
    following = text[j + 1]
    return _NGINX_ESCAPES.get(following, "\\" + following)


def _tokens(text: str):
    """(token, line, quoted) triples; `;`, `{`, `}` are their own unquoted tokens."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in ";{}":
            yield c, line, False
            i += 1
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    line += text[j + 1] == "\n"
                    buf.append(_escaped(text, j))
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            yield "".join(buf), line, True
            i = j + 1
        else:
            j, buf = i, []
            while j < n and not text[j].isspace() and text[j] not in ";{}\"'":
                if text[j] == "$" and j + 1 < n and text[j + 1] == "{":
                    close = text.find("}", j)
                    close = n - 1 if close < 0 else close
                    buf.append(text[j:close + 1])
                    j = close + 1
                    continue
                if text[j] == "\\" and j + 1 < n:
                    line += text[j + 1] == "\n"
                    buf.append(_escaped(text, j))
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            yield "".join(buf), line, False
            i = j


def parse(text: str) -> Config:
    root: list[Directive] = []
    stack: list[list[Directive]] = [root]
    problems: list[str] = []
    words: list[str] = []
    start_line = 1
    for token, line, quoted in _tokens(text or ""):
        if not quoted and token == ";":
            if words:
                stack[-1].append(Directive(words[0], words[1:], start_line))
            words = []
        elif not quoted and token == "{":
            directive = Directive(words[0] if words else "", words[1:], start_line, [])
            stack[-1].append(directive)
            stack.append(directive.block)  # type: ignore[arg-type]
            words = []
        elif not quoted and token == "}":
            if words:
                problems.append(f"line {start_line}: directive {words[0]!r} has no ';'")
                words = []
            if len(stack) > 1:
                stack.pop()
            else:
                problems.append(f"line {line}: unexpected '}}'")
        else:
            if not words:
                start_line = line
            words.append(token)
    if words:
        problems.append(f"line {start_line}: directive {words[0]!r} has no ';'")
    if len(stack) > 1:
        problems.append(f"{len(stack) - 1} block(s) not closed at the end of the file")
    return Config(root, problems)


@dataclass(frozen=True)
class Listener:
    port: int | None  # None: a unix socket
    tls: bool


@dataclass
class Server:
    names: list[str]
    listeners: list[Listener]
    certificate: str | None
    line: int
    directives: list[Directive]
    source: str = ""
    certificates: list[str] = field(default_factory=list)  # every ssl_certificate (RSA and ECDSA pairs)
    keys: list[str] = field(default_factory=list)
    unclear: list[str] = field(default_factory=list)  # includes not resolved in or around this server

    @property
    def tls(self) -> bool:
        return any(listener.tls for listener in self.listeners)

    @property
    def plain(self) -> list[Listener]:
        return [listener for listener in self.listeners if not listener.tls and listener.port is not None]

    def exact_names(self) -> list[str]:
        """server_name values that name one host (no wildcard, regex or catch-all)."""
        return [n.lower().rstrip(".") for n in self.names
                if n and "." in n and not n.startswith(("~", "*", ".")) and "*" not in n and "$" not in n]

    def serves_webmail_app(self) -> bool:
        for directive in _walk(self.directives):
            if directive.name in ("root", "alias", "fastcgi_pass", "proxy_pass", "include") and any(
                    _WEBMAIL_APPS.search(arg) for arg in directive.args):
                return True
        return False

    def redirects_to_https(self) -> bool:
        """Does every plain-HTTP request get a redirect to https:// (the ACME challenge aside)?"""
        if any(_is_https_redirect(d) for d in self.directives):
            return True
        if any(d.name == "if" and _is_plain_http_test(d.args) and any(_is_https_redirect(x) for x in d.block or [])
               for d in self.directives):
            return True
        locations = [d for d in self.directives if d.name == "location" and d.block is not None]
        root = [loc for loc in locations if loc.args in (["/"], ["^~", "/"])]
        if not root or not any(_is_https_redirect(d) for d in root[0].block or []):
            return False
        for location in locations:
            if location is root[0] or "/.well-known/acme-challenge" in " ".join(location.args):
                continue
            if not any(_is_https_redirect(d) for d in location.block or []):
                return False
        return True


def _is_https_redirect(directive: Directive) -> bool:
    args = directive.args
    if directive.name == "return":
        if len(args) == 2 and args[0] in _REDIRECT_CODES:
            return args[1].lower().startswith("https://")
        return len(args) == 1 and args[0].lower().startswith("https://")  # `return URL` is a 302
    if directive.name == "rewrite" and len(args) >= 2:
        return args[1].lower().startswith("https://") and (len(args) < 3 or args[2] in ("permanent", "redirect"))
    return False


_PLAIN_HTTP_TESTS = [re.compile(p) for p in (r'\$scheme="?http"?\)?$', r'\$scheme!="?https"?\)?$',
                                               r'\$https!="?on"?\)?$', r'^!\$https\)?$', r'\$https=(?:""|\'\')\)?$')]


def _is_plain_http_test(args: list[str]) -> bool:
    """`if ($scheme = http)`, `if ($https != on)` and the like."""
    text = "".join(args).replace(" ", "").lstrip("(")
    return any(test.search(text) for test in _PLAIN_HTTP_TESTS)


def _walk(directives: list[Directive]):
    stack = list(directives)
    while stack:
        directive = stack.pop()
        yield directive
        if directive.block:
            stack.extend(directive.block)


Loader = Callable[[str], "list[tuple[str, Config]] | None"]


def expand(config: Config, source: str, load: Loader) -> Config:
    """`config` (read from `source`) with every `include` replaced, in place, by the directives of the
    files `load(absolute pattern)` returns ([] for a glob naming nothing; None when the pattern names
    a file the caller does not have: the include then stays). Each directive carries its source."""
    problems = list(config.problems)
    directives = _expand(config.directives, source, load, (source,), 0, problems)
    return Config(directives, problems)


def _expand(directives: list[Directive], source: str, load: Loader, chain: tuple[str, ...], depth: int,
            problems: list[str]) -> list[Directive]:
    out: list[Directive] = []
    for directive in directives:
        if directive.name == "include" and directive.args and directive.block is None:
            loaded = load(absolute(directive.args[0])) if len(chain) <= MAX_INCLUDE_DEPTH else None
            if loaded is None:
                out.append(replace(directive, source=source))
                continue
            for path, included in loaded:
                if path in chain:
                    problems.append(f"{source}, line {directive.line}: include {path} includes itself")
                    continue
                problems.extend(f"{path}: {p}" for p in included.problems)
                out.extend(_expand(included.directives, path, load, (*chain, path), depth, problems))
            continue
        block = directive.block
        if block is not None:
            block = _expand(block, source, load, chain, depth + 1, problems) if depth < MAX_BLOCK_DEPTH else block
        out.append(replace(directive, block=block, source=source))
    return out


def _listener(args: list[str], ssl_on: bool) -> Listener:
    address = args[0] if args else "80"
    flags = set(args[1:])
    tls = ssl_on or "ssl" in flags or "quic" in flags
    if address.startswith("unix:"):
        return Listener(None, tls)
    port_text = address.rsplit(":", 1)[1] if ":" in address and not address.endswith("]") else address
    if not (port_text.isascii() and port_text.isdigit()):
        port_text = "80"  # an address alone listens on port 80
    return Listener(int(port_text), tls)


def servers(config: Config) -> list[Server]:
    """Every `server { }` block (inside http, or at the top of an included site file), in document
    order, with the certificates it inherits from enclosing blocks and the includes around it that
    were not resolved."""
    found = []
    # (directives, inherited certificates, inherited keys, inherited `ssl on`, unresolved includes around)
    stack = [(config.directives, (), (), False, ())]
    while stack:
        directives, certs, keys, ssl_on, around = stack.pop()
        certs = tuple(d.args[0] for d in directives if d.name == "ssl_certificate" and d.args) or certs
        keys = tuple(d.args[0] for d in directives if d.name == "ssl_certificate_key" and d.args) or keys
        ssl_on = ssl_on or any(d.name == "ssl" and d.args[:1] == ["on"] for d in directives)
        around = around + tuple(_include_note(d) for d in directives if d.name == "include")
        nested = []
        for directive in directives:
            if directive.block is None:
                continue
            if directive.name == "server" and not directive.args:
                found.append(_server(directive, certs, keys, ssl_on, around))
            elif directive.name not in _NOT_HTTP_SERVERS:
                nested.append((directive.block, certs, keys, ssl_on, around))
        stack.extend(reversed(nested))
    return found


def _include_note(directive: Directive) -> str:
    where = f"{directive.source}, line {directive.line}" if directive.source else f"line {directive.line}"
    return f"include {' '.join(directive.args)} ({where}) names no file the stack delivers"


def _server(directive: Directive, certs: tuple[str, ...], keys: tuple[str, ...], ssl_on: bool,
            around: tuple[str, ...]) -> Server:
    body = directive.block or []
    ssl_on = ssl_on or any(d.name == "ssl" and d.args[:1] == ["on"] for d in body)
    listens = [d.args for d in body if d.name == "listen"]
    listeners = [_listener(args, ssl_on) for args in listens] or [Listener(80, ssl_on)]
    names = [name for d in body if d.name == "server_name" for name in d.args]
    own = [d.args[0] for d in body if d.name == "ssl_certificate" and d.args]
    own_keys = [d.args[0] for d in body if d.name == "ssl_certificate_key" and d.args]
    certificates = own or list(certs)
    inside = [_include_note(d) for d in _walk(body) if d.name == "include"]
    inside += [f"{d.name} (line {d.line}) chooses the certificate at run time" for d in _walk(body)
               if d.name.startswith("ssl_certificate_by")]  # OpenResty's Lua hooks
    return Server(names, listeners, certificates[0] if certificates else None, directive.line, body,
                  directive.source, certificates, own_keys or list(keys), list(around) + inside)


def absolute(path: str, prefix: str = NGINX_PREFIX) -> str:
    """nginx resolves a relative path against its prefix (/etc/nginx for Debian)."""
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(prefix, path))


def sites(config: Config, source: str = "") -> list[websites.Site]:
    """The server blocks as common site facts (`config` already include-expanded)."""
    return [_site(server, source) for server in servers(config)]


def _site(server: Server, source: str) -> websites.Site:
    names: list[str] = []
    unclear_names: list[str] = []
    for raw in server.names:
        if raw.startswith(".") and websites.host_name(raw[1:]):  # `.example.net`: the name and its subdomains
            names += [websites.host_name(raw[1:]), "*" + raw.lower().rstrip(".")]
        elif websites.host_name(raw):
            names.append(websites.host_name(raw))
        elif raw.startswith("~") or "$" in raw:
            unclear_names.append(raw)
    unclear = list(server.unclear)
    certificates = []
    for path in server.certificates:
        if "$" in path or path.startswith("data:"):
            unclear.append(f"ssl_certificate {path} is chosen at run time")
        else:
            certificates.append(absolute(path))
    redirects = server.redirects_to_https() or (None if server.unclear else False)
    return websites.Site(
        "nginx", server.source or source, server.line, "server", tuple(dict.fromkeys(names)),
        tuple(websites.Listener(listener.port, listener.tls) for listener in server.listeners),
        tuple(certificates), tuple(absolute(k) for k in server.keys if "$" not in k), (), "",
        redirects, server.serves_webmail_app(), tuple(unclear_names),
        tuple(dict.fromkeys([server.source or source] + [d.source for d in _walk(server.directives) if d.source])),
        tuple(dict.fromkeys(unclear)))
