"""One fact type for a web site, whichever server serves it (nginx, Apache, Caddy, lighttpd).

Each web reader turns its dialect's (include-expanded) config into `Site`s: the names a
site answers for, where it listens and whether with TLS, the certificate files it presents
or the certificate the server obtains itself (Caddy's automatic HTTPS), whether plain HTTP
only redirects to https://, whether it serves a webmail application, and what the reader
could not fully understand about it. The rules judge `Site`s, never a dialect.

Three-valued facts: `Listener.tls` and `Site.redirects_to_https` are None when the config
cannot tell (an include the stack does not deliver, a condition the reader does not
evaluate); a rule must not raise a mandatory violation on None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Webmail applications, as their packages and operators name docroots, aliases and upstreams.
WEBMAIL_APPS = re.compile(r"roundcube|rainloop|snappymail|squirrelmail|sogo|horde|afterlogic", re.IGNORECASE)


@dataclass(frozen=True)
class Listener:
    port: int | None  # None: a unix socket
    tls: bool | None  # None: cannot tell


@dataclass(frozen=True)
class Site:
    """One virtual host / server block / site block / host condition."""

    dialect: str  # "nginx", "apache", "caddy", "lighttpd"
    source: str  # deployed path of the file the site is declared in
    line: int
    what: str  # how the dialect calls it, for messages: "server", "<VirtualHost *:443>", ...
    names: tuple[str, ...]  # lowercase, no final dot; wildcards (`*.example.net`) kept; catch-alls dropped
    listeners: tuple[Listener, ...]
    certificates: tuple[str, ...] = ()  # absolute paths of the certificate (chain) files presented
    keys: tuple[str, ...] = ()
    chains: tuple[str, ...] = ()
    # The server obtains its own certificate for exactly `names`: "acme" (Caddy's automatic HTTPS,
    # `tls email`), "internal" (Caddy's local CA); "" when the certificate comes from files.
    managed: str = ""
    redirects_to_https: bool | None = False  # every plain-HTTP request is redirected to https://
    webmail_app: bool = False
    unclear_names: tuple[str, ...] = ()  # regexes, placeholders: names the reader cannot list
    files: tuple[str, ...] = ()  # every file joined to make this site (its own first)
    unclear: tuple[str, ...] = ()  # what the reader did not fully understand about this site

    @property
    def exact_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if "*" not in n)

    @property
    def wildcard_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if "*" in n)

    @property
    def tls(self) -> bool:
        return any(listener.tls for listener in self.listeners)

    @property
    def plain(self) -> tuple[Listener, ...]:
        """Listeners certainly without TLS (unix sockets aside)."""
        return tuple(listener for listener in self.listeners if listener.tls is False and listener.port is not None)


def host_name(text: str) -> str | None:
    """A server name as sites compare it (lowercase, no final dot), or None when it names no host
    (empty, a catch-all like `_`, a regex, a placeholder)."""
    name = text.strip().strip("\"'").rstrip(".").lower()
    if not name or "." not in name or any(c in name for c in "~^$()[]{}\\/?+|%"):
        return None
    if "*" in name and not (name.startswith("*.") and "*" not in name[2:]):
        return None  # only a whole left-most label can be a wildcard the rules understand
    return name


def is_https_target(url: str) -> bool:
    return url.strip().strip("\"'").lower().startswith("https://")


def serves_webmail(*paths: str) -> bool:
    return any(WEBMAIL_APPS.search(path or "") for path in paths)
