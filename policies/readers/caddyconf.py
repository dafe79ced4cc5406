"""A Caddyfile (Caddy v2) read into global options, snippets and site blocks.

Syntax as Caddy's lexer and parser read it (caddyconfig/caddyfile): tokens are separated by
blanks, a newline ends a directive, "..." quotes (\\" escapes) and `...` quotes raw text,
`#` starts a comment at the start of a token, a `{` ending a line opens a block and a `}`
closes it, `{$VAR}`/`{$VAR:default}` are environment placeholders replaced before parsing
(an unset one is unknown to the pack, and noted). An optional global options block comes
first; `(name) { }` defines a snippet; every other top-level entry is a site block, whose
braces are optional when it is the only one. Nesting is tracked with a stack.

`expand` pastes `import` (a snippet, else files by glob relative to the importing file's
directory, with `{args[N]}`/`{args.N}`/`{args[:]}`), as Caddy does before adapting.

`sites` gives each site block as `websites.Site`, with Caddy's automatic HTTPS
(https://caddyserver.com/docs/automatic-https): a site address with a host name that is
not `http://` and not on the HTTP port is served over TLS with a certificate Caddy obtains
for exactly that name (ACME for public names, its internal CA for localhost, IPs and
internal names, or with `local_certs`), and plain HTTP to it is redirected to HTTPS, unless
`auto_https off|disable_redirects|disable_certs` or an explicit `http://` site for the name.
`tls cert key` presents files, `tls internal` the internal CA, `tls email` ACME.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from readers import websites

MAX_INCLUDE_DEPTH = 16
MAX_DEPTH = 64
_ENV = re.compile(r"\{\$([A-Za-z0-9_]+)(?::([^}]*))?\}")
_ARGS = re.compile(r"\{args(?:\[(\d*)(:?)(\d*)\]|\.(\d+))\}")
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan", ".test", ".example", ".invalid")


@dataclass(frozen=True)
class Node:
    """One line of tokens (a directive, an address line) and the block it opens."""

    words: tuple[str, ...]
    line: int
    block: tuple[Node, ...] | None = None
    source: str = ""

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]


@dataclass(frozen=True)
class Config:
    nodes: tuple[Node, ...]
    problems: tuple[str, ...] = ()
    unknown_env: tuple[str, ...] = ()  # {$VAR} placeholders with no default


def _tokens(text: str):
    """(token, line, quoted) triples, with "\\n" tokens ending lines."""
    i, line, n = 0, 1, len(text)
    at_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            yield "\n", line, False
            line += 1
            i += 1
            at_start = True
        elif c.isspace():
            i += 1
            at_start = True
        elif c == "#" and at_start:
            while i < n and text[i] != "\n":
                i += 1
        elif c == "\\" and i + 1 < n and text[i + 1] == "\n":  # an escaped newline continues the line
            line += 1
            i += 2
        elif c in "\"`":
            j, buf, start = i + 1, [], line
            while j < n and text[j] != c:
                if c == '"' and text[j] == "\\" and j + 1 < n and text[j + 1] in '"\\':
                    j += 1
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            yield "".join(buf), start, True
            i = j + 1
            at_start = False
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            yield text[i:j], line, False
            i = j
            at_start = False


def parse(text: str) -> Config:
    unknown: list[str] = []

    def env(match: re.Match) -> str:
        if match.group(2) is not None:
            return match.group(2)
        unknown.append(match.group(1))
        return match.group(0)

    text = _ENV.sub(env, text or "")
    root: list[Node] = []
    stack: list[tuple[Node, list[Node]]] = []
    problems: list[str] = []
    current: list[str] = []
    start = 1

    def flush(opens: bool) -> None:
        nonlocal current
        body: list[Node] = []
        node = Node(tuple(current), start, () if opens else None)
        (stack[-1][1] if stack else root).append(node)
        if opens:
            stack.append((node, body))
        current = []

    for token, line, quoted in _tokens(text):
        if token == "\n" and not quoted:
            if current and not (not stack and current[-1].endswith(",")):  # addresses go on after a comma
                flush(False)
            continue
        if not current:
            start = line
        if not quoted and token == "{" and len(stack) < MAX_DEPTH:
            flush(True)
        elif not quoted and token == "}":
            if current:
                flush(False)
            if stack:
                node, body = stack.pop()
                siblings = stack[-1][1] if stack else root
                siblings[-1] = replace(node, block=tuple(body))
            else:
                problems.append(f"line {line}: unexpected '}}'")
        else:
            current.append(token)
    if current:
        flush(False)
    while stack:
        node, body = stack.pop()
        problems.append(f"line {node.line}: block not closed at the end of the file")
        siblings = stack[-1][1] if stack else root
        siblings[-1] = replace(node, block=tuple(body))
    return Config(tuple(root), tuple(problems), tuple(dict.fromkeys(unknown)))


# ---------------------------------------------------------------------------------------
# import

Loader = Callable[[str], "list[tuple[str, Config]] | None"]


def _snippet_name(node: Node) -> str | None:
    if len(node.words) == 1 and node.block is not None and node.name.startswith("(") and node.name.endswith(")"):
        return node.name[1:-1]
    return None


def expand(config: Config, source: str, load: Loader) -> Config:
    """`config` (read from `source`) with every `import` pasted in. `load(absolute glob)` gives the files
    it names ([] for a glob naming nothing; None when the caller does not have the file: the import
    then stays)."""
    snippets: dict[str, Node] = {}
    problems = list(config.problems)
    unknown = list(config.unknown_env)
    nodes = _expand(config.nodes, source, load, snippets, (source,), 0, problems, unknown)
    return Config(tuple(nodes), tuple(problems), tuple(dict.fromkeys(unknown)))


def _expand(nodes: tuple[Node, ...], source: str, load: Loader, snippets: dict[str, Node], chain: tuple[str, ...],
            depth: int, problems: list[str], unknown: list[str]) -> list[Node]:
    for node in nodes:  # Caddy collects a file's snippets before pasting any import
        name = _snippet_name(node)
        if name is not None:
            snippets[name] = replace(node, source=node.source or source)
    out: list[Node] = []
    for node in nodes:
        if _snippet_name(node) is not None:
            continue
        if node.name == "import" and node.args and node.block is None and depth < MAX_DEPTH:
            target, values = node.args[0], node.args[1:]
            if target in snippets:
                body = _with_args(snippets[target].block or (), values)
                out += _expand(body, snippets[target].source, load, snippets, chain, depth + 1, problems, unknown)
                continue
            path = target if target.startswith("/") else posixpath.join(posixpath.dirname(source) or "/", target)
            loaded = load(posixpath.normpath(path)) if len(chain) <= MAX_INCLUDE_DEPTH else None
            if loaded is None:
                out.append(replace(node, source=source))
                continue
            for name, included in loaded:
                if name in chain:
                    problems.append(f"{source}, line {node.line}: {name} imports itself")
                    continue
                problems.extend(f"{name}: {p}" for p in included.problems)
                unknown.extend(included.unknown_env)
                body = _with_args(included.nodes, values)
                out += _expand(body, name, load, snippets, (*chain, name), depth + 1, problems, unknown)
            continue
        block = node.block
        if block is not None and depth < MAX_DEPTH:
            block = tuple(_expand(block, source, load, snippets, chain, depth + 1, problems, unknown))
        out.append(replace(node, block=block, source=node.source or source))
    return out


def _with_args(nodes: tuple[Node, ...], values: tuple[str, ...]) -> tuple[Node, ...]:
    if not values and not any("{args" in w for n in _walk(nodes) for w in n.words):
        return nodes

    def fill(word: str) -> list[str]:
        whole = _ARGS.fullmatch(word)
        if whole and whole.group(2):  # {args[:]} / {args[1:]} expand to several words
            low = int(whole.group(1) or 0)
            high = int(whole.group(3)) if whole.group(3) else len(values)
            return list(values[low:high])

        def one(match: re.Match) -> str:
            index = int(match.group(1) or match.group(4) or 0)
            return values[index] if index < len(values) else ""
        return [_ARGS.sub(one, word)]

    return tuple(replace(n, words=tuple(w for word in n.words for w in fill(word)),
                         block=_with_args(n.block, values) if n.block is not None else None) for n in nodes)


def _walk(nodes: tuple[Node, ...]):
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if node.block:
            stack.extend(node.block)


# ---------------------------------------------------------------------------------------
# Sites


@dataclass(frozen=True)
class Address:
    scheme: str  # "http", "https" or ""
    host: str  # "" for none (":443")
    port: int | None


def address(text: str) -> Address:
    text = text.strip().rstrip(",")
    scheme = ""
    if "://" in text:
        scheme, text = text.split("://", 1)
        scheme = scheme.lower()
    text = text.split("/", 1)[0]
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    else:
        host = text
    return Address(scheme, host.lower().rstrip("."), port)


@dataclass(frozen=True)
class Options:
    auto_https: str = ""  # "", "off", "disable_redirects", "disable_certs", "ignore_loaded_certs"
    http_port: int = 80
    https_port: int = 443
    local_certs: bool = False


def options(config: Config) -> Options:
    first = config.nodes[0] if config.nodes else None
    if first is None or first.words or first.block is None:
        return Options()
    values = {n.name: n.args for n in first.block}
    auto = values.get("auto_https", ("",))[0] if values.get("auto_https") else ""

    def port(key: str, default: int) -> int:
        given = values.get(key, ())
        return int(given[0]) if given and given[0].isdigit() else default

    return Options(auto, port("http_port", 80), port("https_port", 443),
                   "local_certs" in values or values.get("cert_issuer", ("",))[:1] == ("internal",))


def _internal(host: str) -> bool:
    bare = host.strip("[]")
    return (host == "localhost" or host.endswith(_INTERNAL_SUFFIXES) or "." not in host
            or bare.replace(".", "").isdigit() or ":" in bare)


def site_blocks(config: Config) -> list[Node]:
    """The site blocks of an expanded config (a lone site without braces made into one block)."""
    nodes = list(config.nodes)
    if nodes and not nodes[0].words and nodes[0].block is not None:
        nodes = nodes[1:]  # the global options
    blocks: list[Node] = []
    for index, node in enumerate(nodes):
        if node.block is not None and node.words and not node.name.startswith("&("):
            blocks.append(node)
        elif node.block is None and node.words and not blocks and node.name != "import":
            # `webmail.example.net` then directives, no braces: the whole rest is that one site.
            return [replace(node, block=tuple(nodes[index + 1:]))]
    return blocks


def sites(config: Config, source: str = "") -> list[websites.Site]:
    opts = options(config)
    blocks = site_blocks(config)
    explicit_http = {address(w).host for b in blocks for w in _addresses(b)
                     if address(w).scheme == "http" or address(w).port == opts.http_port}
    found: list[websites.Site] = []
    unresolved = [f"import {' '.join(n.args)} ({n.source}, line {n.line}) names no file the stack delivers"
                  for n in config.nodes if n.name == "import"]
    for block in blocks:
        found += _block_sites(block, opts, explicit_http, unresolved, config.unknown_env, source)
    return found


def _addresses(block: Node) -> list[str]:
    return [w for word in block.words for w in word.split(",") if w]


def _block_sites(block: Node, opts: Options, explicit_http: set[str], around: list[str], unknown_env: tuple[str, ...],
                 source: str) -> list[websites.Site]:
    body = block.block or ()
    unclear = list(around) + [f"import {' '.join(n.args)} ({n.source}, line {n.line}) names no file the stack "
                              "delivers" for n in _walk(body) if n.name == "import"]
    unclear_names = [w for w in _addresses(block) if "{" in w]
    if unclear_names and unknown_env:
        unclear.append(f"environment placeholders {', '.join('{$' + v + '}' for v in unknown_env)} are set "
                       "only where Caddy runs")
    plain: dict[int, list[str]] = {}
    secure: dict[int, list[str]] = {}
    for word in _addresses(block):
        if "{" in word:
            continue
        parsed = address(word)
        port = parsed.port
        if parsed.scheme == "http" or port == opts.http_port or (not parsed.host and parsed.scheme != "https"
                                                                 and port not in (None, opts.https_port)):
            plain.setdefault(port or opts.http_port, []).append(parsed.host)
        else:
            secure.setdefault(port or opts.https_port, []).append(parsed.host)
    files = tuple(dict.fromkeys([block.source or source] + [n.source for n in _walk(body) if n.source]))
    webmail = any(n.name in ("root", "reverse_proxy", "php_fastcgi", "file_server", "rewrite", "handle_path")
                  and websites.serves_webmail(*n.args) for n in _walk(body))
    what = f"site block {' '.join(block.words)}"
    out = []
    if plain:
        names = tuple(dict.fromkeys(n for hosts in plain.values() for n in (websites.host_name(h) for h in hosts) if n))
        redirects = _redirects(body)
        out.append(websites.Site(
            "caddy", block.source or source, block.line, what, names,
            tuple(websites.Listener(port, False) for port in plain), (), (), (), "",
            True if redirects else (None if unclear else False), webmail, tuple(unclear_names), files,
            tuple(dict.fromkeys(unclear))))
    if secure:
        hosts = [h for hs in secure.values() for h in hs]
        names = tuple(dict.fromkeys(n for n in (websites.host_name(h) for h in hosts) if n))
        certificates, keys, managed, tls_unclear = _tls(body, opts, hosts)
        listeners = [websites.Listener(port, True) for port in secure]
        # Automatic HTTPS answers plain HTTP for these names with a redirect, unless turned off or an
        # explicit http:// site takes the name.
        redirect = opts.auto_https not in ("off", "disable_redirects") and any(
            h and h not in explicit_http for h in hosts)
        if redirect:
            listeners.append(websites.Listener(opts.http_port, False))
        out.append(websites.Site(
            "caddy", block.source or source, block.line, what, names, tuple(listeners), certificates, keys, (),
            managed, True, webmail, tuple(unclear_names), files, tuple(dict.fromkeys(unclear + tls_unclear))))
    if not out and unclear_names:  # every address is a placeholder known only where Caddy runs
        out.append(websites.Site("caddy", block.source or source, block.line, what, (), (), webmail_app=webmail,
                                 unclear_names=tuple(unclear_names), files=files, unclear=tuple(unclear)))
    return out


def _tls(body: tuple[Node, ...], opts: Options, hosts: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], str,
                                                                            list[str]]:
    """(certificates, keys, managed, unclear) of a site served over TLS."""
    directives = [n for n in body if n.name == "tls"]
    automatic = "" if opts.auto_https in ("off", "disable_certs") else (
        "internal" if opts.local_certs or all(_internal(h) for h in hosts if h) else "acme")
    if not directives:
        if not automatic:
            return (), (), "", [f"auto_https {opts.auto_https} and no tls directive: the certificate is managed "
                                "outside this Caddyfile"]
        return (), (), automatic, []
    tls = directives[-1]
    args = tls.args
    certificates: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    managed = automatic or "acme"
    unclear: list[str] = []
    if len(args) >= 2:
        certificates, keys, managed = (_absolute(args[0]),), (_absolute(args[1]),), ""
    elif args == ("internal",):
        managed = "internal"
    elif len(args) == 1 and "@" not in args[0]:
        unclear.append(f"tls {args[0]} (line {tls.line}) is not a form the pack reads")
    for sub in tls.block or ():
        if sub.name == "issuer" and sub.args:
            managed = "internal" if sub.args[0] == "internal" else "acme"
        elif sub.name in ("load", "get_certificate"):
            unclear.append(f"tls {sub.name} (line {sub.line}): certificates chosen outside this Caddyfile")
    return certificates, keys, managed, unclear


def _absolute(path: str) -> str:
    # Caddy reads a relative path from its working directory: / for Debian's systemd unit.
    return posixpath.normpath(path if path.startswith("/") else "/" + path)


def _redirects(body: tuple[Node, ...]) -> bool:
    """Does a plain-HTTP site only redirect to https:// (the ACME challenge aside)?"""
    if any(_redirect_all(n) for n in body):
        return True
    handles = [n for n in body if n.name in ("handle", "route") and n.block is not None]
    catch_all = [h for h in handles if not h.args or h.args[0] in ("*", "/*")]
    return bool(catch_all) and any(_redirect_all(n) for n in catch_all[-1].block or ())


def _redirect_all(node: Node) -> bool:
    if node.name != "redir" or not node.args:
        return False
    args = list(node.args)
    if args[0] in ("*", "/*"):
        args = args[1:]
    elif len(args) >= 2 and (args[0].startswith(("/", "@")) and not args[0].startswith("//")):
        return False  # a matcher: only some requests
    return bool(args) and websites.is_https_target(args[0])
