"""WebHost: nginx sites for www, webmail and MTA-STS, on hosts that are not DNS hosts (lessons 6, 8, 10).

The webmail site is Roundcube (Debian's roundcube-core) behind nginx and PHP-FPM, HTTPS only:
plain HTTP only redirects (and, for ACME HTTP-01, serves the challenge directory). Its
certificate is for exactly the webmail name, from ACME or provided (`WebCertificate`); Roundcube
talks to our mail host over IMAPS and authenticated submission, by `isp:webmail.imapHost` (default
the mail host's FQDN), and keeps its sessions and preferences in our own SQLite store
(`isp:webmail.store`), made on the host from Roundcube's schema the first time only.

MTA-STS (RFC 8461 §3.3): for each hosted mail domain D, a site for exactly `mta-sts.D`, HTTPS
only, serving the policy file delivered under /var/www/mta-sts/D/ as text/plain; its own
certificate (ACME or one provided certificate naming every mta-sts.D), like the webmail's.

Order on the host: the certificates (or ACME's bootstrap certificates), then the nginx sites
(`nginx -t` needs the certificate files), then Roundcube's config, then the ACME request,
which needs the site answering on port 80 (HTTP-01). `render_web_host` is pure: the program
renders every file of the stack before it registers anything (`components/stack.py`).
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict

from components.config import WebmailCertificate, WebmailStore
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.render import quoting
from components.render.certificate import ACME_WEBROOT, certificate_paths
from components.render.nginx import MTA_STS_LABEL, MTA_STS_POLICY_PATH, render_nginx_site
from components.render.roundcube import CONFIG_PATH as ROUNDCUBE_CONFIG
from components.render.roundcube import DES_KEY_FILE, STORE_MODE, STORE_SCHEMA, render_roundcube_config
from components.web_certificate import WebCertificate, WebCertificateArgs

# conf.d/*.conf is what Debian's nginx.conf includes; the staging directory beside it is not.
SITE_DIR = "/etc/nginx/conf.d"
ROUNDCUBE_ROOT = "/var/lib/roundcube/public_html"
PHP_FPM = "unix:/run/php/php8.2-fpm.sock"
# One document root per mail domain: /var/www/mta-sts/<domain>/.well-known/mta-sts.txt.
MTA_STS_ROOT = "/var/www/mta-sts"
# Made once on the host, readable by PHP-FPM (www-data) and nobody else; it never leaves the host.
MAKE_DES_KEY = (
    'f=$1; [ -s "$f" ] || { (umask 027 && head -c 24 /dev/urandom | base64 > "$f.new") '
    '&& chgrp www-data "$f.new" && mv "$f.new" "$f"; }'
)
# Roundcube's SQLite store, made from Roundcube's own schema only when the file is missing: an
# existing store (users' sessions, preferences, contacts) is never touched. Built beside itself
# and renamed, so PHP never opens a half-made file; its directory belongs to www-data (PHP-FPM),
# which SQLite needs for its journal.
MAKE_ROUNDCUBE_STORE = (
    'set -eu; db=$1; schema=$2; [ ! -e "$db" ] || exit 0; '
    '[ -r "$schema" ] || { echo "Roundcube\'s schema $schema is missing (roundcube-core)" >&2; exit 1; }; '
    'install -d -o www-data -g www-data -m 0750 "$(dirname "$db")"; new="$db.new.$$"; '
    'trap \'rm -f "$new"\' EXIT; '
    'php -r \'$db = new PDO("sqlite:" . $argv[1]); $db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION); '
    '$db->exec(file_get_contents($argv[2]));\' "$new" "$schema"; '
    f'chown www-data:www-data "$new"; chmod {STORE_MODE} "$new"; mv "$new" "$db"'
)


class WebmailSite(BaseModel):
    """Roundcube for `name`, its certificate, and the mail host behind it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str  # webmail.<domain>: new users' addresses are <login>@<domain>
    mail_host: str  # the name Roundcube connects to (IMAP and submission); the mail host's certificate covers it
    product_name: str
    certificate: WebmailCertificate
    store: WebmailStore = WebmailStore()
    acme_email: str
    private_key: Any = None  # provided: a secret Output (isp:webmailTlsKey)
    cloudflare_token: Any = None  # ACME DNS-01: a secret Output (isp:acmeCloudflareToken)


class MtaStsSite(BaseModel):
    """The MTA-STS policy host `name` (mta-sts.<domain>), its policy text and its certificate."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    policy: str  # the policy file's text (components/render/mtasts.py)
    certificate: WebmailCertificate
    acme_email: str
    private_key: Any = None  # provided: a secret Output (isp:mtaStsTlsKey)
    cloudflare_token: Any = None  # ACME DNS-01: a secret Output (isp:acmeCloudflareToken)


class RenderedWebHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    nginx: ServiceConfigArgs  # the www, webmail and MTA-STS sites, and the MTA-STS policy files
    certificate: WebCertificateArgs | None = None  # webmail: its certificate, rendered too
    roundcube: ServiceConfigArgs | None = None  # webmail: Roundcube's config
    mta_sts_certificates: list[WebCertificateArgs] = []  # one per MTA-STS name, in the sites' order


class WebHostArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    www_names: list[str] = []  # one site answering for all of them (www first)
    webmail: WebmailSite | None = None  # its own site, certificate and Roundcube
    mta_sts: list[MtaStsSite] = []  # one site, policy file and certificate per hosted mail domain

    @functools.cached_property
    def rendered(self) -> RenderedWebHost:
        """Every public file, rendered once (a refused value raises here, before anything is registered)."""
        return render_web_host(self)


def render_web_host(args: WebHostArgs) -> RenderedWebHost:
    files = []
    if args.www_names:
        first = args.www_names[0]
        cert, key = certificate_paths(first)
        site = render_nginx_site(
            server_name=args.www_names, role="www", root=f"/var/www/{first}", tls_cert_path=cert, tls_key_path=key
        )
        files.append(ManagedFile(f"{SITE_DIR}/{first}.conf", site, role=f"{first}.conf"))
    certificate = roundcube = None
    webmail = args.webmail
    if webmail:
        tls = webmail.certificate
        certificate = WebCertificateArgs(
            connection=args.connection,
            name=webmail.name,
            source=tls.source,
            challenge=tls.challenge,
            acme_email=webmail.acme_email,
            certificate_pem=tls.certificate_pem,
            private_key=webmail.private_key,
            cloudflare_token=webmail.cloudflare_token,
        )
        http01 = tls.source == "acme" and tls.challenge == "http-01"
        site = render_nginx_site(
            server_name=webmail.name,
            role="webmail",
            root=ROUNDCUBE_ROOT,
            tls_cert_path=certificate.rendered.cert_path,
            tls_key_path=certificate.rendered.key_path,
            upstream=PHP_FPM,
            acme_webroot=ACME_WEBROOT if http01 else None,
        )
        files.append(ManagedFile(f"{SITE_DIR}/{webmail.name}.conf", site, role=f"{webmail.name}.conf"))
        config = render_roundcube_config(
            webmail_name=webmail.name,
            imap_host=webmail.mail_host,
            smtp_host=webmail.mail_host,
            product_name=webmail.product_name,
            store_path=webmail.store.path,
            mail_domain=webmail.name.split(".", 1)[1],
        )
        roundcube = ServiceConfigArgs(
            connection=args.connection,
            files=[ManagedFile(ROUNDCUBE_CONFIG, config, role="roundcube-config")],
            checks=[["php", "-l", staging_path(ROUNDCUBE_CONFIG)]],
            # PHP rereads the file on the next request; only the key and the store must exist first.
            reload=[["sh", "-c", MAKE_DES_KEY, "make-des-key", DES_KEY_FILE],
                    *([["sh", "-c", MAKE_ROUNDCUBE_STORE, "make-roundcube-store", webmail.store.path, STORE_SCHEMA]]
                      if webmail.store.path else [])],
        )
    mta_sts_certificates = []
    for mta_sts in args.mta_sts:
        site_files, mta_sts_certificate = _mta_sts_site(args.connection, mta_sts)
        files += site_files
        mta_sts_certificates.append(mta_sts_certificate)
    nginx = ServiceConfigArgs(
        connection=args.connection,
        files=files,
        # nginx cannot check one site alone: the whole installed config is tested,
        # and a failing test rolls the sites back before the reload.
        reload=[["nginx", "-t"], ["systemctl", "reload", "nginx"]],
    )
    return RenderedWebHost(
        nginx=nginx, certificate=certificate, roundcube=roundcube, mta_sts_certificates=mta_sts_certificates
    )


def mta_sts_policy_file(name: str) -> str:
    """Where the policy of `mta-sts.<domain>` is delivered: its site's root + the well-known path."""
    domain = quoting.fqdn(name, "mta_sts.name").removeprefix(MTA_STS_LABEL + ".")
    return f"{MTA_STS_ROOT}/{domain}{MTA_STS_POLICY_PATH}"


def _mta_sts_site(connection: HostConnection, site: MtaStsSite) -> tuple[list[ManagedFile], WebCertificateArgs]:
    """The nginx site and policy file of one MTA-STS name, and its certificate."""
    tls = site.certificate
    certificate = WebCertificateArgs(
        connection=connection,
        name=site.name,
        source=tls.source,
        challenge=tls.challenge,
        acme_email=site.acme_email,
        certificate_pem=tls.certificate_pem,
        private_key=site.private_key,
        cloudflare_token=site.cloudflare_token,
    )
    policy_file = mta_sts_policy_file(site.name)
    http01 = tls.source == "acme" and tls.challenge == "http-01"
    config = render_nginx_site(
        server_name=site.name,
        role="mta-sts",
        root=policy_file.removesuffix(MTA_STS_POLICY_PATH),
        tls_cert_path=certificate.rendered.cert_path,
        tls_key_path=certificate.rendered.key_path,
        acme_webroot=ACME_WEBROOT if http01 else None,
    )
    files = [
        ManagedFile(f"{SITE_DIR}/{site.name}.conf", config, role=f"{site.name}.conf"),
        # Public by design (RFC 8461 §3.3): world-readable, so nginx's workers can serve it.
        ManagedFile(policy_file, site.policy, mode="0644", role=f"{site.name}-policy"),
    ]
    return files, certificate


class WebHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        super().__init__("isp:web:WebHost", name, None, opts)
        certificate = None
        if rendered.certificate is not None:
            certificate = WebCertificate(
                f"{name}-webmail-certificate", rendered.certificate, opts=pulumi.ResourceOptions(parent=self)
            )
        mta_sts_certificates = {
            site.name: WebCertificate(f"{name}-{site.name}-certificate", site, opts=pulumi.ResourceOptions(parent=self))
            for site in rendered.mta_sts_certificates
        }
        nginx = ServiceConfig(
            f"{name}-nginx",
            rendered.nginx,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*([certificate] if certificate else []), *mta_sts_certificates.values()]
            ),
        )
        if rendered.roundcube is not None and certificate is not None:
            ServiceConfig(f"{name}-roundcube", rendered.roundcube, opts=pulumi.ResourceOptions(parent=self))
            certificate.request_command(f"{name}-acme-request", after=[nginx], parent=self)
        for site_name, site_certificate in mta_sts_certificates.items():  # ACME HTTP-01 needs the site up
            site_certificate.request_command(f"{name}-{site_name}-acme-request", after=[nginx], parent=self)
        webmail = args.webmail
        self.register_outputs({"sites": [
            *args.www_names, *([webmail.name] if webmail else []), *(site.name for site in args.mta_sts)]})
