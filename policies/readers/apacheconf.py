"""An Apache httpd 2.4 config read into directives, sections and virtual hosts.

Syntax as httpd reads it (core.c, util.c `ap_getword_conf`): one directive per line, a
line ending in a backslash continues on the next; `#` starts a comment only as the first
character of a line; words are separated by blanks and may be quoted with "..." or '...';
`<Name args>` opens a section and `</Name>` closes it; directive names are case-insensitive.
Nesting is tracked with a stack: a hostile file cannot exhaust the recursion limit.

`expand` does what httpd does while it reads the config, in order: `Define`/`UnDefine`
and `${VAR}` (with Debian's envvars), `ServerRoot`, `Include`/`IncludeOptional` (globs,
relative to ServerRoot), `<IfModule>` (a module the config tests for is taken as loaded, a
negated test as false), `<IfDefine>`, mod_macro's `<Macro>`/`Use`. An include the caller
cannot resolve stays in the tree and makes the sites around it unclear.

`sites` gives each `<VirtualHost>` (and the main server where no vhost takes its port) as
`websites.Site`: ServerName/ServerAlias (wildcards), ports, TLS (`SSLEngine on`, or
mod_gnutls's `GnuTLSEnable on`, inherited from the main server as mod_ssl merges it),
certificate/key/chain paths (relative to ServerRoot; none with mod_md's `MDomain`, whose
certificate Apache obtains itself by ACME), and whether plain HTTP only redirects to https:// (`Redirect`,
`RedirectPermanent`, `RedirectMatch`, mod_rewrite rules with the conditions certbot and
operators write, `<If>` on the scheme).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from readers import websites

SERVER_ROOT = "/etc/apache2"
# Debian's /etc/apache2/envvars, which apache2ctl exports before httpd reads its config.
DEBIAN_ENVVARS = {"APACHE_RUN_USER": "www-data", "APACHE_RUN_GROUP": "www-data", "APACHE_LOG_DIR": "/var/log/apache2",
                  "APACHE_RUN_DIR": "/var/run/apache2", "APACHE_LOCK_DIR": "/var/lock/apache2",
                  "APACHE_PID_FILE": "/var/run/apache2/apache2.pid"}
MAX_INCLUDE_DEPTH = 16
MAX_DEPTH = 64
_ASSUMED_TRUE = {"ifversion", "iffile", "ifdirective", "ifsection"}


@dataclass(frozen=True)
class Directive:
    name: str  # as written; compare `key`
    args: tuple[str, ...]
    line: int
    block: tuple[Directive, ...] | None = None  # the contents of a <Section>
    source: str = ""

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Config:
    directives: tuple[Directive, ...]
    problems: tuple[str, ...] = ()


def words(text: str) -> tuple[str, ...]:
    """httpd's ap_getword_conf: blank-separated words, "..." and '...' quoting with \\-escaped quotes."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in "\"'":
            quote, j, buf = text[i], i + 1, []
            while j < n and text[j] != quote:
                if text[j] == "\\" and j + 1 < n and text[j + 1] == quote:
                    j += 1
                buf.append(text[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return tuple(out)


def _lines(text: str):
    """(first line number, logical line) with backslash continuations joined, comments dropped."""
    buffer: list[str] = []
    start = 1
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
            if raw.lstrip().startswith("#"):
                continue
        if raw.endswith("\\"):
            buffer.append(raw[:-1])
            continue
        buffer.append(raw)
        line = " ".join(buffer).strip()
        buffer = []
        if line:
            yield start, line
    if buffer and " ".join(buffer).strip():
        yield start, " ".join(buffer).strip()


def parse(text: str) -> Config:
    root: list[Directive] = []
    # (section name, args, line, its directives)
    stack: list[tuple[str, tuple[str, ...], int, list[Directive]]] = [("", (), 0, root)]
    problems: list[str] = []
    for number, line in _lines(text or ""):
        if line.startswith("</"):
            name = line[2:].rstrip(">").strip().lower()
            if len(stack) > 1 and stack[-1][0].lower() == name:
                _close(stack)
            elif any(entry[0].lower() == name for entry in stack[1:]):
                while stack[-1][0].lower() != name:
                    problems.append(f"line {number}: <{stack[-1][0]}> (line {stack[-1][2]}) not closed")
                    _close(stack)
                _close(stack)
            else:
                problems.append(f"line {number}: </{name}> closes no section")
        elif line.startswith("<"):
            inner = line[1:-1] if line.endswith(">") else line[1:]
            if not line.endswith(">"):
                problems.append(f"line {number}: section line without '>'")
            parts = words(inner)
            if not parts:
                problems.append(f"line {number}: empty section")
                continue
            stack.append((parts[0], parts[1:], number, []))
        else:
            parts = words(line)
            if parts:
                stack[-1][3].append(Directive(parts[0], parts[1:], number))
    while len(stack) > 1:
        problems.append(f"<{stack[-1][0]}> (line {stack[-1][2]}) not closed at the end of the file")
        _close(stack)
    return Config(tuple(root), tuple(problems))


def _close(stack: list) -> None:
    name, args, line, body = stack.pop()
    stack[-1][3].append(Directive(name, args, line, tuple(body)))


# ---------------------------------------------------------------------------------------
# Reading as httpd does: defines, includes, conditional sections, macros

Loader = Callable[[str], "list[tuple[str, Config]] | None"]
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass
class _State:
    load: Loader
    root: str
    defines: dict[str, str]
    macros: dict[str, Directive]
    problems: list[str]


def expand(config: Config, source: str, load: Loader, server_root: str = SERVER_ROOT) -> Config:
    """`config` read as httpd reads it from `source` (see the module docstring). `load(absolute glob)`
    gives the files an include names ([] for a glob naming nothing; None when the caller does not
    have the file: the include then stays in the tree)."""
    state = _State(load, server_root, dict(DEBIAN_ENVVARS), {}, list(config.problems))
    out = _expand(config.directives, source, state, (source,), 0)
    return Config(tuple(out), tuple(state.problems))


def _substitute(args: tuple[str, ...], defines: dict[str, str]) -> tuple[str, ...]:
    return tuple(_VAR.sub(lambda m: defines.get(m.group(1), m.group(0)), arg) if "${" in arg else arg
                 for arg in args)


def _expand(directives: tuple[Directive, ...], source: str, state: _State, chain: tuple[str, ...],
            depth: int) -> list[Directive]:
    out: list[Directive] = []
    for directive in directives:
        key = directive.key
        args = _substitute(directive.args, state.defines)
        here = replace(directive, args=args, source=source or directive.source)
        if key == "define" and args:
            state.defines[args[0]] = args[1] if len(args) > 1 else ""
        elif key == "undefine" and args:
            state.defines.pop(args[0], None)
        elif key == "serverroot" and args:
            state.root = args[0]
        elif key in ("include", "includeoptional") and args and directive.block is None:
            out.extend(_include(here, source, state, chain, depth))
            continue
        elif key == "macro" and directive.block is not None and args:
            state.macros[args[0].lower()] = here
            continue
        elif key == "use" and args and args[0].lower() in state.macros:
            out.extend(_use(state.macros[args[0].lower()], args[1:], source, state, chain, depth))
            continue
        if directive.block is not None:
            if depth >= MAX_DEPTH:
                state.problems.append(f"{source}, line {directive.line}: sections nested too deep")
                continue
            verdict = _condition(key, args, state.defines)
            if verdict is False:
                continue
            inner = _expand(directive.block, source, state, chain, depth + 1)
            if verdict is True:
                out.extend(inner)  # a condition httpd takes as true: its contents, in place
                continue
            here = replace(here, block=tuple(inner))
        out.append(here)
    return out


def _condition(key: str, args: tuple[str, ...], defines: dict[str, str]) -> bool | None:
    """True/False for the config-time conditional sections; None for any other section."""
    if key == "ifmodule":
        return not (args and args[0].startswith("!"))
    if key == "ifdefine":
        name = args[0] if args else ""
        return (name[1:] not in defines) if name.startswith("!") else (name in defines)
    if key in _ASSUMED_TRUE:
        return True
    return None


def _include(directive: Directive, source: str, state: _State, chain: tuple[str, ...],
             depth: int) -> list[Directive]:
    pattern = directive.args[0]
    path = pattern if pattern.startswith("/") else posixpath.join(state.root, pattern)
    loaded = state.load(posixpath.normpath(path)) if len(chain) <= MAX_INCLUDE_DEPTH else None
    if loaded is None:
        return [directive]
    out: list[Directive] = []
    for name, included in loaded:
        if name in chain:
            state.problems.append(f"{source}, line {directive.line}: {name} includes itself")
            continue
        state.problems.extend(f"{name}: {p}" for p in included.problems)
        out.extend(_expand(included.directives, name, state, (*chain, name), depth))
    return out


def _use(macro: Directive, values: tuple[str, ...], source: str, state: _State, chain: tuple[str, ...],
         depth: int) -> list[Directive]:
    params = macro.args[1:]
    pairs = sorted(zip(params, values, strict=False), key=lambda p: -len(p[0]))

    def fill(items: tuple[Directive, ...]) -> tuple[Directive, ...]:
        out = []
        for item in items:
            args = tuple(_fill(arg, pairs) for arg in item.args)
            out.append(replace(item, args=args, block=fill(item.block) if item.block is not None else None,
                               source=macro.source))
        return tuple(out)

    if len(params) != len(values):
        state.problems.append(f"{source}: Use {macro.args[0]} with {len(values)} values for {len(params)} "
                              "parameters")
    if depth >= MAX_DEPTH:
        return []
    return _expand(fill(macro.block or ()), macro.source, state, chain, depth + 1)


def _fill(arg: str, pairs: list[tuple[str, str]]) -> str:
    for name, value in pairs:
        arg = arg.replace(name, value)
    return arg


# ---------------------------------------------------------------------------------------
# Virtual hosts as sites

_REDIRECT_STATUS = {"permanent", "temp", "seeother", "301", "302", "303", "307", "308"}
# Patterns that match every request path.
_MATCH_ALL = {"^", "^/", "/", "^/?", "(.*)", ".*", "^(.*)", "^(.*)$", "^/(.*)", "^/(.*)$", "^/?(.*)", "^/?(.*)$",
              "/(.*)", "^.*$", "^.*", "(.*)$", "^/.*", "^/.*$"}
# RewriteCond tests that hold for every plain-HTTP request, pick host names, or spare a path (the
# ACME challenge): a rule behind them still redirects the webmail name's plain traffic.
_PLAIN_TESTS = {
    "%{https}": {"off", "!on", "!=on", "=off", "^off$", "!^on$"},
    "%{env:https}": {"off", "!on", "!=on", "=off", "^off$", "!^on$"},
    "%{server_port}": {"80", "=80", "^80$", "!443", "!=443", "!^443$"},
    "%{request_scheme}": {"http", "=http", "^http$", "!https", "!=https", "!^https$"},
}


def _condition_holds(args: tuple[str, ...]) -> bool:
    if len(args) < 2:
        return False
    test, pattern = args[0].lower(), args[1].lower()
    if test in _PLAIN_TESTS:
        return pattern in _PLAIN_TESTS[test]
    if test in ("%{server_name}", "%{http_host}"):
        return True
    return test == "%{request_uri}" and pattern.startswith("!")


_APP_DIRECTIVES = {"documentroot", "alias", "aliasmatch", "scriptalias", "proxypass", "proxypassmatch",
                   "sethandler", "include", "includeoptional", "directory", "directorymatch", "location"}


def _tls(value: str) -> bool | None:
    value = value.lower()
    return True if value == "on" else (False if value == "off" else None)  # `optional`: RFC 2817 upgrade


def _port(address: str) -> int | None | str:
    """The port of a VirtualHost address: an int, "*" for any, None when absent."""
    if address.startswith("["):
        tail = address.split("]", 1)[1] if "]" in address else ""
        port = tail[1:] if tail.startswith(":") else ""
    else:
        port = address.rsplit(":", 1)[1] if ":" in address else ""
    if port == "*":
        return "*"
    return int(port) if port.isdigit() else None


def _name(value: str) -> str:
    """ServerName may carry a scheme and a port: https://webmail.example.net:443."""
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.strip(), flags=re.IGNORECASE)
    return re.sub(r":\d+$", "", value)


def _path(path: str, root: str) -> str:
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(root, path))


def _walk(directives: tuple[Directive, ...]):
    stack = list(directives)
    while stack:
        directive = stack.pop()
        yield directive
        if directive.block:
            stack.extend(directive.block)


def _values(directives: tuple[Directive, ...], *keys: str) -> list[tuple[str, ...]]:
    return [d.args for d in directives if d.key in keys]


# mod_ssl's directives and mod_gnutls's equivalents.
_ENGINE = ("sslengine", "gnutlsenable")
_CERTIFICATE = ("sslcertificatefile", "gnutlscertificatefile")
_KEY = ("sslcertificatekeyfile", "gnutlskeyfile")


def _listens(directives: tuple[Directive, ...]) -> list[int]:
    ports = []
    for args in _values(directives, "listen"):
        port = _port(args[0]) if args else None
        if port is None and args and args[0].isdigit():
            port = int(args[0])
        if isinstance(port, int):
            ports.append(port)
    return list(dict.fromkeys(ports))


def sites(config: Config, source: str = "", server_root: str = SERVER_ROOT, main: bool = True) -> list[websites.Site]:
    """Every <VirtualHost> of an expanded config, and (with `main`, for a daemon's main config) the main
    server on the Listen ports no vhost takes."""
    top = config.directives
    roots = [d.args[0] for d in top if d.key == "serverroot" and d.args]
    root = roots[-1] if roots else server_root
    listens = _listens(top) or [80]
    vhosts = [d for d in top if d.key == "virtualhost" and d.block is not None]
    defaults = _Main(top, root)
    found = [_vhost(d, defaults, listens, source) for d in vhosts]
    taken = {p for d in vhosts for p in (_port(a) for a in d.args)}
    free = [p for p in listens if p not in taken and "*" not in taken and None not in taken]
    if free and main and defaults.names:  # a nameless main server answers for no site name
        found.append(defaults.site(free, source))
    return found


class _Main:
    """The main server's settings, which vhosts inherit where they are silent."""

    def __init__(self, top: tuple[Directive, ...], root: str) -> None:
        self.top = tuple(d for d in top if d.key != "virtualhost")
        self.root = root
        self.names = [_name(a[0]) for a in _values(self.top, "servername") if a]
        engines = [_tls(a[0]) for a in _values(self.top, *_ENGINE) if a]
        self.engine = engines[-1] if engines else False
        self.certificates = [a[0] for a in _values(self.top, *_CERTIFICATE) if a]
        self.keys = [a[0] for a in _values(self.top, *_KEY) if a]
        self.chains = [a[0] for a in _values(self.top, "sslcertificatechainfile") if a]
        self.apps = [arg for d in self.top if d.key in ("alias", "aliasmatch", "scriptalias") for arg in d.args]
        self.unclear = [_unresolved(d) for d in self.top if d.key in ("include", "includeoptional")]
        # mod_md: the domains Apache obtains certificates for itself (ACME), with all their names.
        self.managed = {a.lower() for d in self.top if d.key in ("mdomain", "mdomainset") for a in d.args
                        if a.lower() not in ("auto", "manual")}

    def site(self, ports: list[int], source: str) -> websites.Site:
        body = self.top
        listeners = tuple(websites.Listener(port, self.engine) for port in ports)
        names = tuple(n for n in (websites.host_name(x) for x in self.names) if n)
        return websites.Site(
            "apache", source, 1, "main server", names, listeners,
            tuple(_path(c, self.root) for c in self.certificates), tuple(_path(k, self.root) for k in self.keys),
            tuple(_path(c, self.root) for c in self.chains), "", _redirects(body, bool(self.unclear)),
            _webmail(body), (), (source,), tuple(self.unclear))


def _unresolved(directive: Directive) -> str:
    where = f"{directive.source}, line {directive.line}" if directive.source else f"line {directive.line}"
    return f"{directive.name} {' '.join(directive.args)} ({where}) names no file the stack delivers"


def _vhost(vhost: Directive, main: _Main, listens: list[int], source: str) -> websites.Site:
    body = vhost.block or ()
    unclear = [_unresolved(d) for d in _walk(body) if d.key in ("include", "includeoptional")]
    unclear += main.unclear
    engines = [_tls(a[0]) for a in _values(body, *_ENGINE) if a]
    engine = engines[-1] if engines else main.engine
    if not engines and engine is False and unclear:
        engine = None  # an include we cannot read may say `SSLEngine on` (certbot's options-ssl-apache.conf does)
    ports: list[int] = []
    for address in vhost.args:
        port = _port(address)
        ports += listens if port in (None, "*") else [port]  # type: ignore[list-item]
    listeners = tuple(websites.Listener(port, engine) for port in dict.fromkeys(ports))
    names: list[str] = []
    unclear_names: list[str] = []
    server_names = [_name(a[0]) for a in _values(body, "servername") if a] or main.names[:1]
    for raw in server_names + [a for args in _values(body, "serveralias") for a in args]:
        name = websites.host_name(raw)
        if name:
            names.append(name)
        elif "?" in raw or "[" in raw or "$" in raw:
            unclear_names.append(raw)
    certificates = [a[0] for a in _values(body, *_CERTIFICATE) if a] or main.certificates
    keys = [a[0] for a in _values(body, *_KEY) if a] or main.keys
    managed = "acme" if not certificates and main.managed & set(names) else ""
    chains = [a[0] for a in _values(body, "sslcertificatechainfile") if a] or main.chains
    for path in certificates:
        if "${" in path or path.startswith(("exec:", "pkcs11:")):
            unclear.append(f"SSLCertificateFile {path} cannot be read offline")
    certificates = [c for c in certificates if "${" not in c and not c.startswith(("exec:", "pkcs11:"))]
    files = [vhost.source or source] + [d.source for d in _walk(body) if d.source]
    return websites.Site(
        "apache", vhost.source or source, vhost.line, f"<VirtualHost {' '.join(vhost.args)}>",
        tuple(dict.fromkeys(names)), listeners,
        tuple(_path(c, main.root) for c in certificates), tuple(_path(k, main.root) for k in keys),
        tuple(_path(c, main.root) for c in chains), managed, _redirects(body, bool(unclear)),
        _webmail(body) or websites.serves_webmail(*main.apps), tuple(unclear_names), tuple(dict.fromkeys(files)),
        tuple(dict.fromkeys(unclear)))


def _webmail(body: tuple[Directive, ...]) -> bool:
    return any(d.key in _APP_DIRECTIVES and websites.serves_webmail(*d.args) for d in _walk(body))


def _redirects(body: tuple[Directive, ...], unclear: bool) -> bool | None:
    """Does every plain-HTTP request get a redirect to https://? None when the config cannot tell."""
    for directive in body:
        if _redirect_all(directive):
            return True
        whole = (directive.key == "if" and _plain_http_test(directive.args)) or (
            directive.key == "location" and directive.args[:1] == ("/",))
        if whole and any(_redirect_all(d, in_section=True) for d in directive.block or ()):
            return True
    rewrite = _rewrite_redirects(body)
    if rewrite:
        return True
    return None if unclear or rewrite is None else False


def _redirect_all(directive: Directive, in_section: bool = False) -> bool:
    args = list(directive.args)
    key = directive.key
    if key in ("redirectpermanent", "redirecttemp"):
        return len(args) >= 2 and args[0] in ("/", "") and websites.is_https_target(args[1])
    if key not in ("redirect", "redirectmatch"):
        return False
    if args and args[0].lower() in _REDIRECT_STATUS:
        args = args[1:]
    if in_section and len(args) == 1:  # `Redirect URL` inside <If>/<Location>: the whole request
        return websites.is_https_target(args[0])
    if len(args) < 2:
        return False
    return (args[0] == "/" if key == "redirect" else args[0] in _MATCH_ALL) and websites.is_https_target(args[1])


def _plain_http_test(args: tuple[str, ...]) -> bool:
    """`<If "%{HTTPS} != 'on'">`, `<If "%{REQUEST_SCHEME} == 'http'">`, `<If "!%{HTTPS}">`."""
    text = " ".join(args).replace(" ", "").replace('"', "").replace("'", "").lower()
    return text in ("%{https}!=on", "!%{https}", "%{https}==off", "%{request_scheme}==http",
                    "%{request_scheme}!=https", "%{server_port}==80", "-n%{https}==false")


def _rewrite_redirects(body: tuple[Directive, ...]) -> bool | None:
    """mod_rewrite: True when a rule sends every request to https:// (conditions that hold for all
    plain requests aside); None when a rule to https:// has conditions the reader does not evaluate."""
    engines = [a[0].lower() for a in _values(body, "rewriteengine") if a]
    if not engines or engines[-1] != "on":
        return False
    conditions: list[tuple[str, ...]] = []
    unsure = False
    for directive in body:
        if directive.key == "rewritecond":
            conditions.append(directive.args)
            continue
        if directive.key != "rewriterule":
            continue
        args, held = directive.args, conditions
        conditions = []
        if len(args) < 2 or not websites.is_https_target(args[1]) or args[0] not in _MATCH_ALL:
            continue
        flags = args[2].strip("[]").upper().split(",") if len(args) > 2 else []
        if any(flag.strip() in ("P", "PT") or flag.strip().startswith("P=") for flag in flags):
            continue
        if all(_condition_holds(c) for c in held):
            return True
        unsure = True
    return None if unsure else False
