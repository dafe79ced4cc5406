"""The web servers on a machine and the sites they serve, in every dialect (nginx, Apache, Caddy, lighttpd).

Per machine (`hosts.of(view)`), each web server's configuration is read as the daemon reads
it: from its main file (the delivered one, else the one Debian's package installs: nginx's
/etc/nginx/nginx.conf, Apache's apache2.conf (or RHEL's /etc/httpd/conf/httpd.conf when the
stack writes under /etc/httpd), /etc/caddy/Caddyfile, /etc/lighttpd/lighttpd.conf), with
every include resolved across the files the machine receives (nginx `include` relative to
/etc/nginx, Apache `Include`/`IncludeOptional` relative to ServerRoot, Caddy `import`
relative to the importing file, lighttpd `include` relative to /etc/lighttpd), plus the few
package-shipped files operators include without delivering them (certbot's
options-ssl-apache.conf, which sets `SSLEngine on`; nginx's fastcgi_params and snippets).

Enabled or not (Debian's sites-available / sites-enabled layout): a site is served when the
main config reaches it: delivered into sites-enabled/conf.d/conf-enabled, or linked there
by the machine's commands (`ln -s`, `a2ensite`, `a2enconf`, `lighty-enable-mod`). A web
config file the main config does not reach (sites-available with no link seen, a file
outside the include paths) may still be enabled by hand or by a tool the pack does not
read: it is judged as if served, and `HostSite.doubt` says why, for the message.

Which web servers run on a machine (lesson 8): a web config delivered to it, or a command
installing or starting one (`apt-get install -y apache2`, `systemctl enable --now nginx`).
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from readers import apacheconf, caddyconf, lighttpdconf, nginxconf, shellwords, websites

from hostview import hosts as hostmap
from hostview.evidence import CommandText, HostFile
from hostview.stackview import StackView

try:  # the shell reader (tree-sitter-bash): what a command installs, starts and links
    from readers import shellscript
except ImportError:  # pragma: no cover - part of the pack
    shellscript = None  # type: ignore[assignment]

WEB_PACKAGES = {"apache2": "apache", "apache2-bin": "apache", "httpd": "apache", "nginx": "nginx",
                "nginx-full": "nginx", "nginx-light": "nginx", "nginx-extras": "nginx", "nginx-core": "nginx",
                "caddy": "caddy", "lighttpd": "lighttpd"}
WEB_SERVICES = {"apache2": "apache", "httpd": "apache", "nginx": "nginx", "caddy": "caddy", "lighttpd": "lighttpd"}

_DEBIAN_NGINX = """user www-data;
include /etc/nginx/modules-enabled/*.conf;
events { worker_connections 768; }
http {
    include /etc/nginx/mime.types;
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
"""
_DEBIAN_APACHE = """ServerRoot "/etc/apache2"
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
Include ports.conf
IncludeOptional conf-enabled/*.conf
IncludeOptional sites-enabled/*.conf
"""
_RHEL_APACHE = """ServerRoot "/etc/httpd"
Listen 80
Include conf.modules.d/*.conf
IncludeOptional conf.d/*.conf
"""
_DEBIAN_LIGHTTPD = """server.document-root = "/var/www/html"
server.port = 80
include_shell "/usr/share/lighttpd/use-ipv6.pl " + server.port
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
include "/etc/lighttpd/conf-enabled/*.conf"
"""
# Files the packages install that operators include without delivering them; what they amount
# to for the sites. certbot's options-ssl-apache.conf turns TLS on.
KNOWN_FILES = {
    "/etc/apache2/ports.conf": "Listen 80\n<IfModule ssl_module>\nListen 443\n</IfModule>\n",
    "/etc/letsencrypt/options-ssl-apache.conf": "SSLEngine on\nSSLProtocol all -SSLv2 -SSLv3 -TLSv1 -TLSv1.1\n",
    "/etc/letsencrypt/options-ssl-nginx.conf": "ssl_session_cache shared:le_nginx_SSL:10m;\n",
    "/etc/nginx/snippets/snakeoil.conf": "ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;\n"
                                         "ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;\n",
    **{f"/etc/nginx/{name}": "" for name in ("mime.types", "fastcgi_params", "fastcgi.conf", "proxy_params",
                                             "uwsgi_params", "scgi_params", "snippets/fastcgi-php.conf")},
}


@dataclass(frozen=True)
class Dialect:
    name: str
    parse: Callable[[str], Any]
    expand: Callable[..., Any]
    sites: Callable[..., list[websites.Site]]
    roots: tuple[tuple[str, str], ...]  # (main file, Debian's text of it); the first whose tree is used wins
    enabled_dirs: tuple[str, ...]  # directories a file must be in or be linked into to be served


DIALECTS = (
    Dialect("nginx", nginxconf.parse, nginxconf.expand, nginxconf.sites, (("/etc/nginx/nginx.conf", _DEBIAN_NGINX),),
            ("/etc/nginx/sites-enabled", "/etc/nginx/conf.d")),
    Dialect("apache", apacheconf.parse, apacheconf.expand, apacheconf.sites,
            (("/etc/apache2/apache2.conf", _DEBIAN_APACHE), ("/etc/httpd/conf/httpd.conf", _RHEL_APACHE)),
            ("/etc/apache2/sites-enabled", "/etc/apache2/conf-enabled", "/etc/httpd/conf.d")),
    Dialect("caddy", caddyconf.parse, caddyconf.expand, caddyconf.sites, (("/etc/caddy/Caddyfile", ""),), ()),
    Dialect("lighttpd", lighttpdconf.parse, lighttpdconf.expand, lighttpdconf.sites,
            (("/etc/lighttpd/lighttpd.conf", _DEBIAN_LIGHTTPD),), ("/etc/lighttpd/conf-enabled",)),
)


@functools.lru_cache(maxsize=64)
def _packaged(dialect: str, text: str) -> Any:
    """A package's default file parsed once per process (the parse is immutable)."""
    return next(d for d in DIALECTS if d.name == dialect).parse(text)


@dataclass(frozen=True)
class HostSite:
    site: websites.Site
    file: HostFile | None  # the delivered file the site is declared in (None: a package default)
    doubt: str = ""  # why it is judged as if served although the main config does not reach it

    @property
    def label(self) -> str:
        return self.file.label if self.file is not None else self.site.source


@dataclass(frozen=True)
class WebServer:
    dialect: str
    files: tuple[HostFile, ...]  # its config files delivered to the machine
    commands: tuple[str, ...]  # e.g. "installs apache2 (command web-setup)"
    command_urns: tuple[str, ...] = ()

    @property
    def urn(self) -> str | None:
        return self.files[0].urn if self.files else (self.command_urns[0] if self.command_urns else None)


@dataclass(frozen=True)
class WebView:
    servers: tuple[WebServer, ...]
    sites: tuple[HostSite, ...]
    notes: tuple[str, ...]
    _files: dict[str, HostFile] = field(default_factory=dict, repr=False, compare=False)

    def file(self, path: str) -> HostFile | None:
        """The machine's file at `path`: delivered there, or linked/copied there from a delivered file."""
        return self._files.get(path)


def of(view: StackView, host: hostmap.Host) -> WebView:
    """The web servers and sites of one machine (memoised on the view)."""
    key = ("webview", id(host))
    if key not in view._parsed:
        view._parsed[key] = _build(view, host)
    return view._parsed[key]


@dataclass(frozen=True)
class CommandFacts:
    packages: tuple[str, ...]  # installed
    services: tuple[str, ...]  # enabled or (re)started
    links: tuple[tuple[str, str], ...]  # (link, target): ln -s, a2ensite, a2enconf, lighty-enable-mod
    notes: tuple[str, ...]  # what the shell reader could not read


def command_facts(command: CommandText) -> CommandFacts:
    """What a command does to its machine beyond writing files: from `CommandText` where the evidence
    filled it, else read here with the shell reader (memoised by text)."""
    packages, services, notes = tuple(command.packages), tuple(command.services), tuple(command.notes)
    links: list[tuple[str, str]] = []
    for text in command.texts:
        if shellscript is not None:
            script = shellscript.read_script(text)
            if not packages and not services:
                packages += script.packages
                services += script.started
                notes += tuple(f"{command.label}: {note}" for note in script.notes)
            links += [(w.path, w.copied_from) for w in script.writes if w.how == "ln -s" and w.copied_from]
        links += _enabling_calls(text)
    return CommandFacts(tuple(dict.fromkeys(packages)), tuple(dict.fromkeys(services)),
                        tuple(dict.fromkeys(links)), tuple(dict.fromkeys(notes)))


def _enabling_calls(text: str) -> list[tuple[str, str]]:
    """Debian's enabling helpers: a2ensite/a2enconf link sites-/conf-available into *-enabled."""
    links = []
    for call in shellwords.find_calls(text, {"a2ensite", "a2enconf", "lighty-enable-mod", "lighttpd-enable-mod"}):
        for name in (a for a in call.args if not a.startswith("-")):
            if call.tool in ("a2ensite", "a2enconf"):
                kind = "sites" if call.tool == "a2ensite" else "conf"
                base = name if name.endswith(".conf") else f"{name}.conf"
                links.append((f"/etc/apache2/{kind}-enabled/{base}", f"/etc/apache2/{kind}-available/{base}"))
            else:
                links.append((f"/etc/lighttpd/conf-enabled/*-{name}.conf",
                              f"/etc/lighttpd/conf-available/*-{name}.conf"))
    return links


class _Files:
    """A machine's files as its web servers see them: delivered, linked by its commands, package-shipped."""

    def __init__(self, view: StackView, host: hostmap.Host, links: list[tuple[str, str]]) -> None:
        self.view = view
        self.by_path: dict[str, HostFile] = {f.deployed_path: f for f in host.files}
        self.linked: dict[str, str] = {}  # link path -> the delivered path it points to
        for link, target in links:
            for source in ([target] if "*" not in target else self.matching(target)):
                if source in self.by_path:
                    path = link if "*" not in link else posixpath.join(posixpath.dirname(link),
                                                                        posixpath.basename(source))
                    self.linked.setdefault(path, source)
        for f in host.files:  # a copy made on the host (`cp`, `ln -s` read by the shell reader) is a link too
            if f.copied_from and f.copied_from in self.by_path:
                self.linked.setdefault(f.deployed_path, f.copied_from)
        self.loaded: set[str] = set()

    def matching(self, pattern: str) -> list[str]:
        depth = pattern.count("/")
        paths = set(self.by_path) | set(self.linked)
        return sorted(p for p in paths if p.count("/") == depth and fnmatch.fnmatchcase(p, pattern))

    def file(self, path: str) -> HostFile | None:
        return self.by_path.get(self.linked.get(path, path))

    def parsed(self, f: HostFile, dialect: Dialect) -> Any:
        if f.kind == dialect.name:
            return self.view.parsed(f)
        key = (id(f), f"web:{dialect.name}")
        if key not in self.view._parsed:
            try:
                self.view._parsed[key] = dialect.parse(f.text) if f.text is not None else None
            except Exception:  # noqa: BLE001 - a hostile file must not take the view down
                self.view._parsed[key] = None
        return self.view._parsed[key]

    def loader(self, dialect: Dialect, record: set[str]) -> Callable[[str], Any]:
        def load(pattern: str):
            if any(c in pattern for c in "*?["):
                paths = self.matching(pattern)
            elif self.file(pattern) is not None:
                paths = [pattern]
            elif pattern in KNOWN_FILES:
                return [(pattern, _packaged(dialect.name, KNOWN_FILES[pattern]))]
            else:
                return None
            out = []
            for path in paths:
                f = self.file(path)
                parsed = self.parsed(f, dialect) if f is not None else None
                if parsed is None:
                    return None  # a file whose text the pack does not know: the include stays unresolved
                record.add(path)
                record.add(self.linked.get(path, path))
                out.append((path, parsed))
            return out
        return load


def _build(view: StackView, host: hostmap.Host) -> WebView:
    packages: dict[str, dict[str, str]] = {}  # dialect -> what a command does -> its urn
    links: list[tuple[str, str]] = []
    for command in host.commands:
        facts = command_facts(command)
        links += facts.links
        for package in facts.packages:
            if package in WEB_PACKAGES:
                packages.setdefault(WEB_PACKAGES[package], {})[f"installs {package} ({command.label})"] = command.urn
        for unit in facts.services:
            unit = unit.removesuffix(".service")
            if unit in WEB_SERVICES:
                packages.setdefault(WEB_SERVICES[unit], {})[f"starts {unit} ({command.label})"] = command.urn
    files = _Files(view, host, links)
    servers, sites, notes = [], [], []
    for dialect in DIALECTS:
        delivered = [f for f in host.files if f.kind == dialect.name]
        if delivered or dialect.name in packages:
            done = packages.get(dialect.name, {})
            servers.append(WebServer(dialect.name, tuple(delivered), tuple(done), tuple(done.values())))
        if not delivered:
            continue
        found, dialect_notes = _dialect_sites(files, dialect, delivered)
        sites += found
        notes += dialect_notes
    notes += [n for n in host.notes if any(k in n for k in ("nginx", "apache", "httpd", "caddy", "lighttpd"))]
    resolved = {**files.by_path, **{link: files.by_path[t] for link, t in files.linked.items() if t in files.by_path}}
    return WebView(tuple(servers), tuple(sites), tuple(dict.fromkeys(notes)), resolved)


def _dialect_sites(files: _Files, dialect: Dialect, delivered: list[HostFile]) -> tuple[list[HostSite], list[str]]:
    reached: set[str] = set()
    out: list[HostSite] = []
    notes: list[str] = []
    root_path, default = next(((p, t) for p, t in dialect.roots if files.file(p) is not None), dialect.roots[0])
    if dialect.name == "apache" and files.file(root_path) is None and any(
            f.deployed_path.startswith("/etc/httpd/") for f in delivered):
        root_path, default = dialect.roots[1]
    root_file = files.file(root_path)
    if root_file is not None or default:
        parsed = files.parsed(root_file, dialect) if root_file is not None else _packaged(dialect.name, default)
        if parsed is None:
            notes.append(f"{root_file.label if root_file else root_path}: not read ({_problem(root_file)}): "
                         f"the {dialect.name} sites it includes are not judged")
        else:
            reached.add(root_path)
            expanded = dialect.expand(parsed, root_path, files.loader(dialect, reached),
                                      **_root_kwargs(dialect, root_path))
            out += _sites(files, dialect, expanded, root_path, root_file, "")
    # Web config the main config does not reach: judged as if served, with the doubt said. A file
    # that only another such file includes is judged through it.
    standalone: dict[str, tuple[HostFile, Any, set[str]]] = {}
    for f in delivered:
        path = f.deployed_path
        if path in reached:
            continue
        parsed = files.parsed(f, dialect)
        if parsed is None:
            if f.text is not None:
                notes.append(f"{f.label}: not read as {dialect.name} ({_problem(f)})")
            continue
        included: set[str] = set()
        expanded = dialect.expand(parsed, path, files.loader(dialect, included), **_root_kwargs(dialect, path))
        standalone[path] = (f, expanded, included)
    inside = {p for _, _, included in standalone.values() for p in included}
    for path, (f, expanded, _included) in standalone.items():
        if path not in inside:
            out += _sites(files, dialect, expanded, path, f, _doubt(dialect, path), main=False)
    return out, notes


def _root_kwargs(dialect: Dialect, path: str) -> dict[str, str]:
    if dialect.name == "apache":
        return {"server_root": "/etc/httpd" if path.startswith("/etc/httpd/") else apacheconf.SERVER_ROOT}
    return {}


def _sites(files: _Files, dialect: Dialect, expanded: Any, path: str, f: HostFile | None, doubt: str,
           main: bool = True) -> list[HostSite]:
    kwargs = {} if dialect.name != "apache" else {"main": main, **_root_kwargs(dialect, path)}
    out = []
    for site in dialect.sites(expanded, path, **kwargs):
        declared = files.file(site.source) or (f if site.source == path else None)
        out.append(HostSite(site, declared, doubt))
    return out


def _doubt(dialect: Dialect, path: str) -> str:
    directory = posixpath.dirname(path)
    if directory.endswith("-available"):
        return (f"delivered to {directory} with no {'a2ensite' if dialect.name == 'apache' else 'ln -s'} seen: "
                "judged as if enabled")
    return f"not included by the {dialect.name} main config the stack gives: judged as if served"


def _problem(f: HostFile | None) -> str:
    return (f.problem if f is not None and f.problem else "its text is not known") if f is not None else "missing"
