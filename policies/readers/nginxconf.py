"""An nginx config read into server blocks: names, listeners, certificate, redirects.

The tokenizer follows nginx's own rules (ngx_conf_file.c): words are separated by blanks,
`;` ends a directive, `{`/`}` open and close a block, `#` starts a comment at a word's
start, "..." and '...' quote (backslash escapes), `${var}` keeps its braces. Nesting is
tracked with a stack, so a hostile file cannot exhaust the recursion limit; a missing `}`
closes at the end of the file and is recorded in `problems`.

A `server` block's listeners: `listen` directives (none means port 80, as nginx does);
`ssl` or `quic` makes a listener TLS (and the legacy `ssl on;` makes all of them TLS).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

NGINX_PREFIX = "/etc/nginx"
_REDIRECT_CODES = {"301", "302", "303", "307", "308"}
_WEBMAIL_APPS = re.compile(r"roundcube|rainloop|snappymail|squirrelmail|sogo|horde|afterlogic", re.IGNORECASE)


@dataclass
class Directive:
    name: str
    args: list[str]
    line: int
    block: list[Directive] | None = None


@dataclass
class Config:
    directives: list[Directive]
    problems: list[str] = field(default_factory=list)


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
                    j += 1
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
                    j += 1
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
    """Every `server { }` block (inside http, or at the top of an included site file)."""
    found = []
    for directive in _walk(config.directives):
        if directive.name != "server" or directive.block is None:
            continue
        body = directive.block
        ssl_on = any(d.name == "ssl" and d.args[:1] == ["on"] for d in body)
        listens = [d.args for d in body if d.name == "listen"]
        listeners = [_listener(args, ssl_on) for args in listens] or [Listener(80, ssl_on)]
        names = [name for d in body if d.name == "server_name" for name in d.args]
        certificates = [d.args[0] for d in body if d.name == "ssl_certificate" and d.args]
        found.append(Server(names, listeners, certificates[0] if certificates else None, directive.line, body))
    found.sort(key=lambda s: s.line)
    return found


def absolute(path: str, prefix: str = NGINX_PREFIX) -> str:
    """nginx resolves a relative path against its prefix (/etc/nginx for Debian)."""
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(prefix, path))
