"""The webmail certificate (lesson 10): from ACME for exactly its host name, or provided.

ACME: one POSIX sh script per certificate, with three modes.
- `bootstrap`: only when no certificate is installed yet, a self-signed one for the name,
  valid two days, so that nginx (whose HTTPS server needs a certificate to start) can serve
  the HTTP-01 challenge before the first issuance.
- `request`: `certbot certonly` for exactly `-d <name>`, by HTTP-01 (`--webroot`, the
  directory nginx serves under `/.well-known/acme-challenge/`) or DNS-01 (`--dns-cloudflare`
  with an owner-only credentials file holding a token allowed to edit DNS only).
- `deploy`: certbot's deploy hook (also after a renewal): link the live certificate where
  nginx reads it and reload nginx after `nginx -t`.

Provided: the certificate is delivered as is and its key as a secret; before either is
swapped in, `openssl` checks on the host that the certificate is in date, names the host in
a SAN (not only the CN), and belongs to the key (`provided_certificate_checks`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from components.render import quoting

Challenge = Literal["http-01", "dns-01"]
ACME_WEBROOT = "/var/lib/isp-acme"
LETSENCRYPT_DIR = "/etc/letsencrypt"
CLOUDFLARE_CREDENTIALS = "/etc/letsencrypt/isp-cloudflare.ini"
# Cloudflare API tokens: 40 characters of letters, digits, - and _ (accept any length 20-200).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,200}")


def certificate_paths(name: str, base: str = "/etc/ssl/isp") -> tuple[str, str]:
    """(fullchain, private key) where nginx reads the certificate of `name`."""
    name = quoting.fqdn(name, "name")
    base = quoting.absolute_path(base, "base")
    return f"{base}/{name}/fullchain.pem", f"{base}/{name}/privkey.pem"


def acme_script_path(name: str) -> str:
    return f"/usr/local/sbin/isp-acme-{quoting.fqdn(name, 'name')}"


def render_acme_script(
    *,
    name: str,
    email: str,
    challenge: Challenge,
    cert_dir: str,
    script_path: str,
    webroot: str | None = ACME_WEBROOT,
    credentials_path: str | None = CLOUDFLARE_CREDENTIALS,
    letsencrypt_dir: str = LETSENCRYPT_DIR,
) -> str:
    """The sh script that bootstraps, requests and deploys the certificate of exactly `name`."""
    name = quoting.fqdn(name, "name")
    email = quoting.mail_address(email, "email")
    cert_dir = quoting.absolute_path(cert_dir, "cert_dir")
    script_path = quoting.absolute_path(script_path, "script_path")
    letsencrypt_dir = quoting.absolute_path(letsencrypt_dir, "letsencrypt_dir")
    if challenge == "http-01":
        webroot = quoting.absolute_path(webroot, "webroot")
        prepare = f"    mkdir -p '{webroot}'\n"
        method = f"--webroot --webroot-path '{webroot}'"
    elif challenge == "dns-01":
        credentials = quoting.absolute_path(credentials_path, "credentials_path")
        prepare = ""
        method = (f"--dns-cloudflare --dns-cloudflare-credentials '{credentials}' "
                  "--dns-cloudflare-propagation-seconds 30")
    else:
        raise quoting.RenderValueError("challenge", challenge, "must be 'http-01' or 'dns-01'")
    live = f"{letsencrypt_dir}/live/{name}"
    return f"""\
#!/bin/sh
# The certificate of {name}, from ACME ({challenge}), for exactly this name (lesson 10).
# Rendered by the ISP program; edits are overwritten.
#   bootstrap  a two-day self-signed certificate, only while none is installed, so that
#              nginx can start and answer the challenge before the first issuance
#   request    certbot asks the CA for exactly {name}
#   deploy     certbot's deploy hook: link the live certificate for nginx, reload nginx
set -eu
cert_dir='{cert_dir}'
live='{live}'

case "${{1:-}}" in
bootstrap)
    [ -e "$cert_dir/fullchain.pem" ] && exit 0
    mkdir -p "$cert_dir"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \\
        -subj '/CN={name}' -addext 'subjectAltName=DNS:{name}' \\
        -keyout "$cert_dir/privkey.pem" -out "$cert_dir/fullchain.pem" 2>/dev/null)
    chmod 0644 "$cert_dir/fullchain.pem"
    ;;
request)
{prepare}    certbot certonly --non-interactive --agree-tos --email '{email}' --keep-until-expiring \\
        --cert-name '{name}' {method} \\
        -d '{name}' --deploy-hook '{script_path} deploy'
    # A certificate kept from an earlier run gets no deploy hook: make sure nginx uses it.
    "{script_path}" deploy
    ;;
deploy)
    [ -e "$live/fullchain.pem" ] || {{ echo "no certificate in $live" >&2; exit 1; }}
    mkdir -p "$cert_dir"
    ln -sfn "$live/fullchain.pem" "$cert_dir/fullchain.pem"
    ln -sfn "$live/privkey.pem" "$cert_dir/privkey.pem"
    nginx -t && systemctl reload nginx
    ;;
*)
    echo "usage: $0 bootstrap|request|deploy" >&2
    exit 2
    ;;
esac
"""


def render_cloudflare_credentials(token: Any) -> str:
    """certbot-dns-cloudflare's credentials file. The token is secret: an error never shows it."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise quoting.RenderValueError("token", "[secret]", "must be a Cloudflare API token (letters, digits, - _)")
    return f"# A Cloudflare token allowed DNS:Edit only, for ACME DNS-01.\ndns_cloudflare_api_token = {token}\n"


def provided_certificate_checks(name: str, cert_path: str, key_path: str) -> list[list[str]]:
    """The host-side checks of a provided certificate and key, as argv lists (run before the swap).

    `openssl x509 -checkhost` prints its verdict but exits 0 either way, and falls back to the
    CN when there is no SAN; browsers do not, so a SAN with DNS names is required first.
    """
    name = quoting.fqdn(name, "name")
    cert = quoting.absolute_path(cert_path, "cert_path")
    key = quoting.absolute_path(key_path, "key_path")
    return [
        ["openssl", "x509", "-noout", "-checkend", "0", "-in", cert],
        [
            "sh",
            "-c",
            'openssl x509 -noout -ext subjectAltName -in "$2" | grep -Fq "DNS:" '
            '&& openssl x509 -noout -checkhost "$1" -in "$2" | grep -Fqx "Hostname $1 does match certificate"',
            "certificate-names",
            name,
            cert,
        ],
        [
            "sh",
            "-c",
            '[ "$(openssl x509 -noout -pubkey -in "$1")" = "$(openssl pkey -pubout -in "$2")" ]',
            "certificate-key",
            cert,
            key,
        ],
    ]
