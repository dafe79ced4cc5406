"""WebHost: nginx sites for www and webmail, on hosts that are not DNS hosts (lessons 8, 10).

The webmail site is Roundcube behind nginx, HTTPS only: plain HTTP only redirects (and, for
ACME HTTP-01, serves the challenge directory). Its certificate is for exactly the webmail
name, from ACME or provided (`WebCertificate`); Roundcube talks to our mail host over IMAPS
and authenticated submission.

Order on the host: the certificate (or ACME's bootstrap certificate), then the nginx sites
(`nginx -t` needs the certificate files), then Roundcube's config, then the ACME request,
which needs the site answering on port 80 (HTTP-01). `render_web_host` is pure: the program
renders every file of the stack before it registers anything (`components/stack.py`).
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict

from components.config import WebmailCertificate
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.render.certificate import ACME_WEBROOT, certificate_paths
from components.render.nginx import render_nginx_site
from components.render.roundcube import CONFIG_PATH as ROUNDCUBE_CONFIG
from components.render.roundcube import DES_KEY_FILE, render_roundcube_config
from components.web_certificate import WebCertificate, WebCertificateArgs

# conf.d/*.conf is what Debian's nginx.conf includes; the staging directory beside it is not.
SITE_DIR = "/etc/nginx/conf.d"
ROUNDCUBE_ROOT = "/var/lib/roundcube/public_html"
PHP_FPM = "unix:/run/php/php8.2-fpm.sock"
# Made once on the host, readable by PHP-FPM (www-data) and nobody else; it never leaves the host.
MAKE_DES_KEY = (
    'f=$1; [ -s "$f" ] || { (umask 027 && head -c 24 /dev/urandom | base64 > "$f.new") '
    '&& chgrp www-data "$f.new" && mv "$f.new" "$f"; }'
)


class WebmailSite(BaseModel):
    """Roundcube for `name`, its certificate, and the mail host behind it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    mail_host: str
    product_name: str
    certificate: WebmailCertificate
    acme_email: str
    private_key: Any = None  # provided: a secret Output (isp:webmailTlsKey)
    cloudflare_token: Any = None  # ACME DNS-01: a secret Output (isp:acmeCloudflareToken)


class RenderedWebHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    nginx: ServiceConfigArgs  # the www and webmail sites
    certificate: WebCertificateArgs | None = None  # webmail: its certificate, rendered too
    roundcube: ServiceConfigArgs | None = None  # webmail: Roundcube's config


class WebHostArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    www_names: list[str] = []  # one site answering for all of them (www first)
    webmail: WebmailSite | None = None  # its own site, certificate and Roundcube

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
        )
        roundcube = ServiceConfigArgs(
            connection=args.connection,
            files=[ManagedFile(ROUNDCUBE_CONFIG, config, role="roundcube-config")],
            checks=[["php", "-l", staging_path(ROUNDCUBE_CONFIG)]],
            # PHP rereads the file on the next request; only the key must exist first.
            reload=[["sh", "-c", MAKE_DES_KEY, "make-des-key", DES_KEY_FILE]],
        )
    nginx = ServiceConfigArgs(
        connection=args.connection,
        files=files,
        # nginx cannot check one site alone: the whole installed config is tested,
        # and a failing test rolls the sites back before the reload.
        reload=[["nginx", "-t"], ["systemctl", "reload", "nginx"]],
    )
    return RenderedWebHost(nginx=nginx, certificate=certificate, roundcube=roundcube)


class WebHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        super().__init__("isp:web:WebHost", name, None, opts)
        certificate = None
        if rendered.certificate is not None:
            certificate = WebCertificate(
                f"{name}-webmail-certificate", rendered.certificate, opts=pulumi.ResourceOptions(parent=self)
            )
        nginx = ServiceConfig(
            f"{name}-nginx",
            rendered.nginx,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[certificate] if certificate else []),
        )
        if rendered.roundcube is not None and certificate is not None:
            ServiceConfig(f"{name}-roundcube", rendered.roundcube, opts=pulumi.ResourceOptions(parent=self))
            certificate.request_command(f"{name}-acme-request", after=[nginx], parent=self)
        webmail = args.webmail
        self.register_outputs({"sites": [*args.www_names, *([webmail.name] if webmail else [])]})
