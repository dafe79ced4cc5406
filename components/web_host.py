"""WebHost: nginx sites for www and webmail, on hosts that are not DNS hosts (lessons 8, 10)."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict

from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs
from components.render.nginx import render_nginx_site

# conf.d/*.conf is what Debian's nginx.conf includes; the staging directory beside it is not.
SITE_DIR = "/etc/nginx/conf.d"
ROUNDCUBE_ROOT = "/var/lib/roundcube/public_html"
PHP_FPM = "unix:/run/php/php8.2-fpm.sock"


class WebHostArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    www_names: list[str] = []  # one site answering for all of them (www first)
    webmail_name: str | None = None  # its own site and its own certificate


def _cert(name: str) -> tuple[str, str]:
    return f"/etc/ssl/isp/{name}/fullchain.pem", f"/etc/ssl/isp/{name}/privkey.pem"


class WebHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("isp:web:WebHost", name, None, opts)
        files = []
        if args.www_names:
            first = args.www_names[0]
            cert, key = _cert(first)
            site = render_nginx_site(
                server_name=args.www_names, role="www", root=f"/var/www/{first}", tls_cert_path=cert, tls_key_path=key
            )
            files.append(ManagedFile(f"{SITE_DIR}/{first}.conf", site, role=f"{first}.conf"))
        if args.webmail_name:
            cert, key = _cert(args.webmail_name)
            site = render_nginx_site(
                server_name=args.webmail_name,
                role="webmail",
                root=ROUNDCUBE_ROOT,
                tls_cert_path=cert,
                tls_key_path=key,
                upstream=PHP_FPM,
            )
            files.append(ManagedFile(f"{SITE_DIR}/{args.webmail_name}.conf", site, role=f"{args.webmail_name}.conf"))
        ServiceConfig(
            f"{name}-nginx",
            ServiceConfigArgs(
                connection=args.connection,
                files=files,
                # nginx cannot check one site alone: the whole installed config is tested,
                # and a failing test rolls the sites back before the reload.
                reload=[["nginx", "-t"], ["systemctl", "reload", "nginx"]],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"sites": [*args.www_names, *([args.webmail_name] if args.webmail_name else [])]})
