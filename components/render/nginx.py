"""nginx sites for the web host (`www`, `mta-sts`) and the webmail host (`webmail`).

Lessons carried: 10 (the webmail certificate matches its hostname: the HTTPS server answers for
exactly the names the certificate is issued for, and plain HTTP only redirects to the first of
them), 8 (a web host serves web only; nothing here configures DNS) and 6 (the MTA-STS policy
host of a mail domain, RFC 8461 §3.3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, get_args

from components.render import quoting

Role = Literal["www", "webmail", "mta-sts"]
ROLES = get_args(Role)
# RFC 8461 §3.3: senders fetch exactly https://mta-sts.<domain>/.well-known/mta-sts.txt.
MTA_STS_LABEL = "mta-sts"
MTA_STS_POLICY_PATH = "/.well-known/mta-sts.txt"
# sockaddr_un.sun_path is 108 bytes with the final NUL: nginx -t refuses a longer path.
_SUN_PATH_MAX = 107
_UPSTREAM_INET_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})$")


def render_nginx_site(
    *,
    server_name: str | Sequence[str],
    role: Role,
    root: str,
    tls_cert_path: str,
    tls_key_path: str,
    upstream: str | None = None,
    acme_webroot: str | None = None,
) -> str:
    """A site file for `/etc/nginx/sites-enabled/`: an HTTP server that only answers 301 to
    `https://<first name><uri>`, and an HTTPS server with `server_name` exactly the given FQDN(s).
    With `acme_webroot`, plain HTTP also serves `/.well-known/acme-challenge/` from that
    directory (ACME HTTP-01: certbot --webroot writes the token there); nothing else.

    Lesson 10: the certificate must cover these names (the policy pack checks the certificate);
    redirecting to the first configured name rather than to the client's `Host` keeps browsers
    on a name the certificate covers. `role="www"` serves static files from `root`;
    `role="webmail"` serves Roundcube from `root` through PHP-FPM at `upstream`
    (`unix:/run/php/php8.2-fpm.sock` or `127.0.0.1:9000`); `role="mta-sts"` is the policy host
    of one mail domain (its one name `mta-sts.<domain>`): it serves `root` + MTA_STS_POLICY_PATH
    as `text/plain` and answers 404 to every other path (RFC 8461 §3.3).
    """
    names = [server_name] if isinstance(server_name, str) else quoting.listing(server_name, "server_name")
    names = [quoting.fqdn(name, "server_name") for name in names]
    if not names:
        raise quoting.RenderValueError("server_name", server_name, "must name at least one host")
    quoting.unique(names, "server_name")
    if role not in ROLES:
        raise quoting.RenderValueError("role", role, "must be one of " + ", ".join(ROLES))
    root = quoting.absolute_path(root, "root")
    cert = quoting.absolute_path(tls_cert_path, "tls_cert_path")
    key = quoting.absolute_path(tls_key_path, "tls_key_path")
    if role == "webmail":
        if upstream is None:
            raise quoting.RenderValueError("upstream", upstream, "webmail needs the PHP-FPM address")
        content = _webmail_locations(_fastcgi_address(upstream))
    elif role == "mta-sts":
        if upstream is not None:
            raise quoting.RenderValueError("upstream", upstream, "an MTA-STS site serves one static file; no upstream")
        if len(names) != 1 or names[0].split(".", 1)[0] != MTA_STS_LABEL:
            raise quoting.RenderValueError(
                "server_name", server_name, f"an MTA-STS site answers for exactly one name {MTA_STS_LABEL}.<domain>"
            )
        content = _mta_sts_locations()
    else:
        if upstream is not None:
            raise quoting.RenderValueError("upstream", upstream, "a www site serves static files; no upstream")
        content = _static_locations()
    names_text = " ".join(names)
    challenge = ""
    if acme_webroot is not None:
        webroot = quoting.absolute_path(acme_webroot, "acme_webroot")
        challenge = f"""\
    location ^~ /.well-known/acme-challenge/ {{
        root {webroot};
        default_type text/plain;
        try_files $uri =404;
    }}
"""

    return f"""\
# {role} site for {names_text}. Rendered by the ISP program; edits are overwritten.
# Plain HTTP: redirect only, to a name the certificate covers (lesson 10).
server {{
    listen 80;
    listen [::]:80;
    server_name {names_text};
    server_tokens off;
{challenge}    location / {{
        return 301 https://{names[0]}$request_uri;
    }}
}}

server {{
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {names_text};

    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL_{role.replace("-", "_")}:10m;
    add_header Strict-Transport-Security "max-age=31536000" always;
    server_tokens off;

    root {root};
{content}}}
"""


def _static_locations() -> str:
    return """\
    index index.html;
    location / {
        try_files $uri $uri/ =404;
    }
"""


def _mta_sts_locations() -> str:
    # An exact-match location: nothing else under root is ever served (the delivery's staging
    # directory sits beside the policy file). `types {}` empties the extension map, so the type
    # is text/plain whatever mime.types says (RFC 8461 §3.3); a sender follows no redirect.
    return f"""\
    location = {MTA_STS_POLICY_PATH} {{
        types {{ }}
        default_type text/plain;
        try_files $uri =404;
    }}
    location / {{
        return 404;
    }}
"""


def _webmail_locations(fastcgi_address: str) -> str:
    # Roundcube keeps secrets and state in these directories; they must never be served.
    return f"""\
    index index.php;
    client_max_body_size 25m;
    location ~ ^/(config|temp|logs|bin|SQL|installer)(/|$) {{
        deny all;
    }}
    location ~ /\\. {{
        deny all;
    }}
    location / {{
        try_files $uri $uri/ /index.php$is_args$args;
    }}
    location ~ \\.php$ {{
        try_files $uri =404;
        include /etc/nginx/fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param HTTPS on;
        fastcgi_pass {fastcgi_address};
    }}
"""


def _fastcgi_address(upstream: object) -> str:
    if type(upstream) is str and upstream.startswith("unix:"):
        path = quoting.absolute_path(upstream.removeprefix("unix:"), "upstream")
        if len(path.encode()) > _SUN_PATH_MAX:
            raise quoting.RenderValueError(
                "upstream", upstream, f"a unix socket path holds at most {_SUN_PATH_MAX} bytes (sun_path)"
            )
        return "unix:" + path
    inet = _UPSTREAM_INET_RE.fullmatch(upstream) if isinstance(upstream, str) else None
    if not inet:
        raise quoting.RenderValueError("upstream", upstream, "must be unix:/path/to/php-fpm.sock or IP:PORT")
    host = quoting.ip_address(inet["v6"] or inet["v4"], "upstream")
    port = quoting.port(int(inet["port"]), "upstream")
    return f"[{host}]:{port}" if host.version == 6 else f"{host}:{port}"
