"""What a stack's web servers answer for `https://<name><path>`: the body, and where it comes from.

For MTA-STS (RFC 8461 §3.3: the policy is fetched over HTTPS from mta-sts.<domain>, HTTP 3xx
redirects MUST NOT be followed) a site answers when it is served with TLS and one of its
names covers <name> (`*.` one left-most label). Per dialect, from the site's own file with its
includes resolved across the machine's files (`webview` finds the sites):

- nginx: a server-level `return` runs in the rewrite phase before any location; else the
  location nginx picks (exact `=`, then the longest prefix, `^~` stopping the search, else
  the first matching regex, else that longest prefix), where `return CODE "text"` answers
  the text (nginx decodes `\\n`, `\\r`, `\\t` inside words, ngx_conf_file.c), `alias` maps
  the rest of the path under its directory, `root` (the location's, else the server's)
  prepends itself, and `*_pass` hands the request to an application.
- Apache: `Redirect`/`Alias` whose URL-path covers the path (mod_alias), else DocumentRoot
  (the vhost's, else the main server's, else Debian's /var/www/html).
- Caddy: `respond` (no matcher, `*`, or the path) answers its text; `root` with
  `file_server` serves the file under the root.

A file is the machine's delivered file at that path (CopyToRemote, a Command's heredoc, a
copy the host makes). What is not read (lighttpd, rewrites, proxies, an include not
delivered, a root inherited from the http block) is an `Answer` without text whose
`problem` says why; `waiting` marks a text unknown until `up`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from readers import apacheconf, caddyconf, nginxconf

from hostview import hosts as hostmap
from hostview import webview
from hostview.stackview import StackView

REDIRECT_CODES = {"301", "302", "303", "307", "308"}
APACHE_DEFAULT_ROOT = "/var/www/html"  # Debian's 000-default.conf and apache2.conf
_PASSES = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass")


@dataclass(frozen=True)
class Answer:
    machine: str  # the host's label
    site: str  # "<file label> (server at line 3)" for messages
    text: str | None  # the body served, when known
    origin: str  # "file /var/www/... on web1 (heredoc in command ...)", "return 200 (line 7)"
    urn: str | None
    problem: str | None = None  # why the body is not known (None when `text` is set)
    waiting: bool = False  # the body is a value unknown during preview
    refused: bool = False  # certainly no policy: a redirect, another status, no body


def covers(names: tuple[str, ...], name: str) -> bool:
    for candidate in names:
        if candidate == name or (candidate.startswith("*.") and name.count(".") == candidate.count(".")
                                 and name.split(".", 1)[1] == candidate[2:]):
            return True
    return False


def answers(view: StackView, name: str, path: str) -> list[Answer]:
    """Every TLS site of the stack that answers for `name`; when the stack's DNS gives `name` addresses,
    the machines at those addresses first (others only when none of them serves it)."""
    found: list[tuple[hostmap.Host, Answer]] = []
    for machine in hostmap.of(view):
        web = webview.of(view, machine)
        for served in web.sites:
            site = served.site
            if not covers(site.names, name) or not any(listener.tls is not False for listener in site.listeners):
                continue
            where = f"{served.label} ({site.what} at line {site.line})"
            try:
                answer = _RESOLVERS.get(site.dialect, _unread)(machine, web, served, path, where)
            except Exception as exc:  # noqa: BLE001 - a hostile file must not take the rule down
                answer = Answer(machine.label, where, None, "", None, f"not read ({type(exc).__name__})")
            found.append((machine, answer))
    addresses = set(view.addresses(name))
    at_address = [a for m, a in found if addresses & set(m.addresses)]
    return at_address or [a for _, a in found]


def _unread(machine, web, served, path, where) -> Answer:
    return Answer(machine.label, where, None, "", served.file.urn if served.file else None,
                  f"the pack does not read which file a {served.site.dialect} site serves")


def _file_answer(machine: hostmap.Host, web: webview.WebView, where: str, fs_path: str, how: str) -> Answer:
    delivered = web.file(fs_path) or machine.file(fs_path)
    if delivered is None:
        return Answer(machine.label, where, None, how, None,
                      f"{how} serves {fs_path}, which the stack does not deliver to {machine.label}")
    origin = f"{how}: {delivered.label}"
    if delivered.text is None:
        problem = delivered.problem or "its text is not known"
        return Answer(machine.label, where, None, origin, delivered.urn, problem, "unknown" in problem)
    return Answer(machine.label, where, delivered.text, origin, delivered.urn)


def _loader(machine: hostmap.Host, web: webview.WebView, parse):
    def load(pattern: str):
        if any(c in pattern for c in "*?["):
            return [(f.deployed_path, parse(f.text)) for f in machine.glob(pattern) if f.text is not None]
        f = web.file(pattern)
        return None if f is None or f.text is None else [(pattern, parse(f.text))]
    return load


# -- nginx ----------------------------------------------------------------------------------


def _nginx(machine, web, served, path, where) -> Answer:
    site = served.site
    source = web.file(site.source) or served.file
    urn = source.urn if source else None
    if source is None or source.text is None:
        return Answer(machine.label, where, None, "", urn, "the site's file text is not known",
                      bool(source and "unknown" in (source.problem or "")))
    config = nginxconf.expand(nginxconf.parse(source.text), site.source, _loader(machine, web, nginxconf.parse))
    server = next((s for s in nginxconf.servers(config) if s.line == site.line and s.source == site.source), None)
    if server is None:
        return Answer(machine.label, where, None, "", urn, "the server block was not found again")
    if server.unclear:
        return Answer(machine.label, where, None, "", urn, "; ".join(server.unclear))
    body = server.directives
    returned = next((d for d in body if d.name == "return"), None)
    if returned is not None:
        return _nginx_return(machine, web, where, returned, urn)
    location = _nginx_location(body, path)
    scope = location.block or [] if location is not None else []
    if any(d.name == "location" for d in scope) or any(d.name in ("rewrite", "if") for d in [*body, *scope]):
        return Answer(machine.label, where, None, "", urn, "nested locations, rewrite or if are not evaluated")
    returned = next((d for d in scope if d.name == "return"), None)
    if returned is not None:
        return _nginx_return(machine, web, where, returned, urn)
    passed = next((d for d in scope if d.name in _PASSES), None)
    if passed is not None:
        return Answer(machine.label, where, None, "", urn,
                      f"{passed.name} (line {passed.line}) hands {path} to an application")
    tried = next((d for d in scope if d.name == "try_files"), None) or next(
        (d for d in body if d.name == "try_files"), None)
    if tried is not None and tried.args[:1] != ["$uri"]:
        return Answer(machine.label, where, None, "", urn, f"try_files (line {tried.line}) is not evaluated")
    alias = next((d for d in scope if d.name == "alias" and d.args), None)
    if alias is not None and location is not None:
        prefix = location.args[-1]
        if location.args[0] in ("~", "~*"):
            return Answer(machine.label, where, None, "", urn, f"alias in a regex location (line {alias.line})")
        target = alias.args[0] + path[len(prefix):] if path.startswith(prefix) else alias.args[0]
        return _file_answer(machine, web, where, posixpath.normpath(target), f"alias (line {alias.line})")
    root = next((d for d in scope if d.name == "root" and d.args), None) or next(
        (d for d in body if d.name == "root" and d.args), None)
    if root is None:
        return Answer(machine.label, where, None, "", urn,
                      "no root in the server or its location (one inherited from the http block is not read)")
    if "$" in root.args[0]:
        return Answer(machine.label, where, None, "", urn, f"root {root.args[0]} is chosen at run time")
    fs_path = posixpath.normpath(nginxconf.absolute(root.args[0], "/usr/share/nginx") + path)
    return _file_answer(machine, web, where, fs_path, f"root {root.args[0]} (line {root.line})")


def _nginx_location(body: list[Any], path: str) -> Any:
    """The location nginx picks for `path` (ngx_http_core_find_location), among the server's own."""
    locations = [d for d in body if d.name == "location" and d.block is not None and d.args]
    for loc in locations:
        if loc.args[0] == "=" and len(loc.args) == 2 and loc.args[1] == path:
            return loc
    prefixes = [loc for loc in locations if (len(loc.args) == 1 or loc.args[0] == "^~") and
                path.startswith(loc.args[-1])]
    longest = max(prefixes, key=lambda loc: len(loc.args[-1]), default=None)
    if longest is not None and longest.args[0] == "^~":
        return longest
    for loc in locations:
        if loc.args[0] in ("~", "~*") and len(loc.args) == 2:
            flags = re.IGNORECASE if loc.args[0] == "~*" else 0
            try:
                if re.search(loc.args[1], path, flags):
                    return loc
            except re.error:
                continue
    return longest


def _nginx_return(machine, web, where: str, directive: Any, urn: str | None) -> Answer:
    origin = f"return (line {directive.line})"
    source = web.file(directive.source) if directive.source else None
    args = _raw_words(source.text, directive.line, "return") if source is not None and source.text else None
    args = args if args and args[0] == "return" else ["return", *directive.args]
    code, text = (args[1:] + [None, None])[:2]
    if code in REDIRECT_CODES or (code and code.lower().startswith(("http://", "https://"))):
        return Answer(machine.label, where, None, origin, urn,
                      "it answers with a redirect, which senders MUST NOT follow (RFC 8461 §3.3)", refused=True)
    if code != "200":
        return Answer(machine.label, where, None, origin, urn, f"it answers with status {code}", refused=True)
    if text is not None and "$" in text:
        return Answer(machine.label, where, None, origin, urn, "the returned text holds nginx variables")
    return Answer(machine.label, where, text or "", f"{origin} in {source.label if source else where}", urn)


def _raw_words(text: str, line: int, name: str) -> list[str] | None:
    """The words of the directive `name` starting on `line`, decoded as ngx_conf_read_token does (backslash
    before `"`, `'`, `\\` keeps that character; `\\t`, `\\r`, `\\n` become tab, CR, LF)."""
    lines = text.split("\n")
    if line < 1 or line > len(lines):
        return None
    start = re.search(rf"(?:^|[\s;{{}}]){name}\s", lines[line - 1])
    if start is None:
        return None
    rest = "\n".join(lines[line - 1:])[start.start():].lstrip(" \t;{}")
    words: list[str] = []
    i, n = 0, len(rest)
    escapes = {"t": "\t", "r": "\r", "n": "\n"}
    while i < n:
        c = rest[i]
        if c.isspace():
            i += 1
            continue
        if c in ";{}":
            return words
        quote = c if c in "\"'" else None
        i += 1 if quote else 0
        buf = []
        while i < n and (rest[i] != quote if quote else not rest[i].isspace() and rest[i] not in ";{}"):
            if rest[i] == "\\" and i + 1 < n:
                following = rest[i + 1]
                if following in "\"'\\":
                    buf.append(following)
                    i += 2
                    continue
                if following in escapes:
                    buf.append(escapes[following])
                    i += 2
                    continue
            buf.append(rest[i])
            i += 1
        i += 1 if quote else 0
        words.append("".join(buf))
    return words


# -- Apache ---------------------------------------------------------------------------------


def _apache(machine, web, served, path, where) -> Answer:
    site = served.site
    source = web.file(site.source) or served.file
    urn = source.urn if source else None
    if source is None or source.text is None:
        return Answer(machine.label, where, None, "", urn, "the site's file text is not known")
    config = apacheconf.expand(apacheconf.parse(source.text), site.source, _loader(machine, web, apacheconf.parse))
    vhost = next((d for d in config.directives if d.key == "virtualhost" and d.line == site.line
                  and (d.source or site.source) == site.source), None)
    scopes = [list(vhost.block or ())] if vhost is not None else []
    scopes.append([d for d in config.directives if d.key != "virtualhost"])
    for scope in scopes:
        for d in scope:
            if d.key in ("rewriterule", "proxypass", "proxypassmatch", "aliasmatch", "redirectmatch", "include",
                         "includeoptional"):
                return Answer(machine.label, where, None, "", urn, f"{d.name} (line {d.line}) is not evaluated")
            url = d.args[-2] if d.key == "redirect" and len(d.args) >= 2 else d.args[0] if d.args else ""
            if d.key in ("redirect", "alias") and _under(path, url):
                if d.key == "redirect":
                    return Answer(machine.label, where, None, f"Redirect (line {d.line})", urn,
                                  "it answers with a redirect, which senders MUST NOT follow (RFC 8461 §3.3)",
                                  refused=True)
                if len(d.args) >= 2:
                    target = posixpath.normpath(d.args[1] + path[len(url):])
                    return _file_answer(machine, web, where, target, f"Alias (line {d.line})")
    for scope in scopes:
        root = [d for d in scope if d.key == "documentroot" and d.args]
        if root:
            return _file_answer(machine, web, where, posixpath.normpath(root[-1].args[0] + path),
                                f"DocumentRoot {root[-1].args[0]} (line {root[-1].line})")
    return _file_answer(machine, web, where, APACHE_DEFAULT_ROOT + path, f"DocumentRoot {APACHE_DEFAULT_ROOT}")


def _under(path: str, url: str) -> bool:
    """mod_alias: the URL-path matches whole path segments."""
    return bool(url) and (path == url or path.startswith(url if url.endswith("/") else url + "/"))


# -- Caddy ----------------------------------------------------------------------------------


def _caddy(machine, web, served, path, where) -> Answer:
    site = served.site
    source = web.file(site.source) or served.file
    urn = source.urn if source else None
    if source is None or source.text is None:
        return Answer(machine.label, where, None, "", urn, "the site's file text is not known")
    config = caddyconf.expand(caddyconf.parse(source.text), site.source, _loader(machine, web, caddyconf.parse))
    block = next((b for b in caddyconf.site_blocks(config) if b.line == site.line), None)
    if block is None:
        return Answer(machine.label, where, None, "", urn, "the site block was not found again")
    body = list(block.block or ())
    for node in body:
        routed = node.name in ("handle", "handle_path", "route", "rewrite", "reverse_proxy", "redir", "php_fastcgi")
        if routed and (not node.args or node.args[0] in ("*", "/*") or path.startswith(node.args[0].rstrip("*"))):
            return Answer(machine.label, where, None, "", urn, f"{node.name} (line {node.line}) is not evaluated")
    for node in body:
        if node.name != "respond":
            continue
        args = list(node.args)
        if args and (args[0] in ("*", "/*") or args[0] == path):
            args = args[1:]
        elif args and args[0].startswith(("/", "@")):
            continue
        if not args or args[0].isdigit():
            return Answer(machine.label, where, None, f"respond (line {node.line})", urn,
                          "it answers with no body", refused=True)
        return Answer(machine.label, where, args[0], f"respond (line {node.line}) in {source.label}", urn)
    root = next((n for n in body if n.name == "root" and n.args), None)
    if root is not None and any(n.name == "file_server" for n in body):
        directory = root.args[-1]
        return _file_answer(machine, web, where, posixpath.normpath(directory + path), f"root {directory}")
    return Answer(machine.label, where, None, "", urn, "no respond nor root with file_server")


_RESOLVERS = {"nginx": _nginx, "apache": _apache, "caddy": _caddy}
