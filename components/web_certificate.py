"""WebCertificate: the certificate of one HTTPS name, from ACME or provided (lesson 10).

ACME: the certbot script (`components/render/certificate.py`) is delivered like any other
file and its `bootstrap` mode runs at once, so that nginx has a certificate to start with;
the owner of the nginx site runs `request` once the site answers (`request_command`). For
DNS-01 the Cloudflare token reaches the host as an owner-only credentials file.

Provided: the certificate (public) and its key (a Pulumi secret, never in any output or
preview file) are staged beside their real paths, checked on the host with openssl (in date,
a SAN naming the host, the key belongs to the certificate), and only then swapped in, the
previous pair kept as dated copies; nginx is tested and reloaded, or the old pair returns.

`render_web_certificate` is pure: the program renders every public file of the stack before it
registers anything (`components/stack.py`); the secrets stay Outputs.

Secret files go through `ServiceConfig` too, their content a secret Output (`secret_contents`).
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import shlex
from typing import Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, model_validator

from components.delivery import (
    HostConnection,
    ManagedFile,
    ServiceConfig,
    ServiceConfigArgs,
    Transport,
    staging_path,
)
from components.render.certificate import (
    CLOUDFLARE_CREDENTIALS,
    acme_script_path,
    certificate_paths,
    provided_certificate_checks,
    render_acme_script,
    render_cloudflare_credentials,
)

NGINX_RELOAD = [["nginx", "-t"], ["systemctl", "reload", "nginx"]]


class WebCertificateArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    connection: HostConnection
    name: str  # the one host name the certificate is for
    source: Literal["acme", "provided"]
    challenge: Literal["http-01", "dns-01"] = "http-01"
    acme_email: str | None = None
    certificate_pem: str | None = None  # provided: the public chain, leaf first
    private_key: Any = None  # provided: a secret Output of the key's PEM
    cloudflare_token: Any = None  # dns-01: a secret Output of a DNS:Edit-only token

    @model_validator(mode="after")
    def _complete(self) -> WebCertificateArgs:
        if self.source == "provided" and (self.certificate_pem is None or self.private_key is None):
            raise ValueError("a provided certificate needs certificate_pem and private_key")
        if self.source == "acme" and self.acme_email is None:
            raise ValueError("an ACME certificate needs acme_email")
        if self.source == "acme" and self.challenge == "dns-01" and self.cloudflare_token is None:
            raise ValueError("ACME DNS-01 through Cloudflare needs cloudflare_token")
        return self

    @functools.cached_property
    def rendered(self) -> RenderedWebCertificate:
        """Every public file and check, rendered once (a refused value raises here, before anything is
        registered); the secrets stay Outputs until the component places them."""
        return render_web_certificate(self)


class RenderedWebCertificate(BaseModel):
    model_config = ConfigDict(frozen=True)

    cert_path: str
    key_path: str
    checks: list[list[str]] = []  # provided: openssl on the staged pair
    script_path: str | None = None  # ACME: the certbot script
    acme: ServiceConfigArgs | None = None  # ACME: the script's delivery, bootstrapping a certificate


def render_web_certificate(args: WebCertificateArgs) -> RenderedWebCertificate:
    cert_path, key_path = certificate_paths(args.name)
    if args.source == "provided":
        checks = provided_certificate_checks(args.name, staging_path(cert_path), staging_path(key_path))
        return RenderedWebCertificate(cert_path=cert_path, key_path=key_path, checks=checks)
    script_path = acme_script_path(args.name)
    script = render_acme_script(
        name=args.name, email=args.acme_email, challenge=args.challenge,
        cert_dir=posixpath.dirname(cert_path), script_path=script_path,
    )
    acme = ServiceConfigArgs(
        connection=args.connection,
        files=[ManagedFile(script_path, script, mode="0755", role="acme-script")],
        checks=[["sh", "-n", staging_path(script_path)]],
        # Until the first issuance, a short-lived self-signed certificate lets nginx start.
        reload=[[script_path, "bootstrap"]],
    )
    return RenderedWebCertificate(cert_path=cert_path, key_path=key_path, script_path=script_path, acme=acme)


class WebCertificate(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        evidence = {"certificateName": args.name, "source": args.source}
        super().__init__("isp:web:WebCertificate", name, evidence, opts)
        self.cert_path, self.key_path = rendered.cert_path, rendered.key_path
        self.script_path: str | None = rendered.script_path
        self.script_digest: str | None = None
        self._connection = args.connection
        if args.source == "provided":
            self._provided(name, args, rendered)
        else:
            self._acme(name, args, rendered)
        self.register_outputs({**evidence, "certificatePath": self.cert_path})

    def request_command(self, name: str, after: list[pulumi.Resource],
                        parent: pulumi.Resource) -> pulumi.Resource | None:
        """ACME: run `request` once `after` (the nginx site answering the challenge) is in place."""
        if self.script_path is None:
            return None
        return Transport(self._connection).command(
            name, create=f"{shlex.quote(self.script_path)} request", triggers=[self.script_digest],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=after))

    def _provided(self, name: str, args: WebCertificateArgs, rendered: RenderedWebCertificate) -> None:
        self.install = ServiceConfig(f"{name}-tls", ServiceConfigArgs(
            connection=args.connection,
            files=[ManagedFile(self.cert_path, args.certificate_pem, mode="0644"),
                   ManagedFile(self.key_path, "", mode="0600")],
            secret_contents={self.key_path: pulumi.Output.secret(args.private_key)},
            checks=rendered.checks, reload=NGINX_RELOAD,
        ), opts=pulumi.ResourceOptions(parent=self))

    def _acme(self, name: str, args: WebCertificateArgs, rendered: RenderedWebCertificate) -> None:
        self.script_digest = _digest(rendered.acme.files[0].content)
        depends: list[pulumi.Resource] = []
        if args.challenge == "dns-01":
            # The token is a secret: rendered inside the Output, never in the program's plan.
            credentials = pulumi.Output.secret(args.cloudflare_token).apply(render_cloudflare_credentials)
            depends.append(ServiceConfig(f"{name}-cloudflare", ServiceConfigArgs(
                connection=args.connection,
                files=[ManagedFile(CLOUDFLARE_CREDENTIALS, "", "0600")],
                secret_contents={CLOUDFLARE_CREDENTIALS: credentials},
                checks=[["grep", "-q", "^dns_cloudflare_api_token = ", staging_path(CLOUDFLARE_CREDENTIALS)]],
            ), opts=pulumi.ResourceOptions(parent=self)))
        ServiceConfig(f"{name}-acme", rendered.acme, opts=pulumi.ResourceOptions(parent=self, depends_on=depends))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
