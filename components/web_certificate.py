"""WebCertificate: the certificate of one HTTPS name, from ACME or provided (lesson 10).

ACME: the certbot script (`components/render/certificate.py`) is delivered like any other
file and its `bootstrap` mode runs at once, so that nginx has a certificate to start with;
the owner of the nginx site runs `request` once the site answers (`request_command`). For
DNS-01 the Cloudflare token reaches the host as an owner-only credentials file.

Provided: the certificate (public) and its key (a Pulumi secret, never in any output or
preview file) are staged beside their real paths, checked on the host with openssl (in date,
a SAN naming the host, the key belongs to the certificate), and only then swapped in, the
previous pair kept as dated copies; nginx is tested and reloaded, or the old pair returns.

Secret files cannot go through `ServiceConfig` (its content is plain text, digested into
triggers), so they are staged and installed here with the same install script.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from typing import Any, Literal

import pulumi
import pulumi_command as command
from pydantic import BaseModel, ConfigDict, model_validator

from components.delivery import (
    WRITE_STAGED,
    HostConnection,
    ManagedFile,
    ServiceConfig,
    ServiceConfigArgs,
    install_script,
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


class WebCertificate(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        evidence = {"certificateName": args.name, "source": args.source}
        super().__init__("isp:web:WebCertificate", name, evidence, opts)
        self.cert_path, self.key_path = certificate_paths(args.name)
        self.script_path: str | None = None
        self.script_digest: str | None = None
        self._connection = args.connection
        if args.source == "provided":
            self._provided(name, args)
        else:
            self._acme(name, args)
        self.register_outputs({**evidence, "certificatePath": self.cert_path})

    def request_command(self, name: str, after: list[pulumi.Resource],
                        parent: pulumi.Resource) -> pulumi.Resource | None:
        """ACME: run `request` once `after` (the nginx site answering the challenge) is in place."""
        if self.script_path is None:
            return None
        return _command(name, self._connection, f"{shlex.quote(self.script_path)} request",
                        triggers=[self.script_digest],
                        opts=pulumi.ResourceOptions(parent=parent, depends_on=after))

    def _provided(self, name: str, args: WebCertificateArgs) -> None:
        cert = ManagedFile(self.cert_path, args.certificate_pem, mode="0644")
        key = ManagedFile(self.key_path, "", mode="0600")
        checks = provided_certificate_checks(args.name, staging_path(self.cert_path), staging_path(self.key_path))
        key_digest = pulumi.Output.secret(args.private_key).apply(_digest)
        self.install = _deliver(
            name, args.connection, self, [(cert, args.certificate_pem), (key, pulumi.Output.secret(args.private_key))],
            checks=checks, reload=NGINX_RELOAD, triggers=[_digest(args.certificate_pem), key_digest],
        )

    def _acme(self, name: str, args: WebCertificateArgs) -> None:
        self.script_path = acme_script_path(args.name)
        script = render_acme_script(
            name=args.name, email=args.acme_email, challenge=args.challenge,
            cert_dir=posixpath.dirname(self.cert_path), script_path=self.script_path,
        )
        self.script_digest = _digest(script)
        depends: list[pulumi.Resource] = []
        if args.challenge == "dns-01":
            credentials = pulumi.Output.secret(args.cloudflare_token).apply(render_cloudflare_credentials)
            staged = staging_path(CLOUDFLARE_CREDENTIALS)
            depends.append(_deliver(
                f"{name}-cloudflare", args.connection, self,
                [(ManagedFile(CLOUDFLARE_CREDENTIALS, "", "0600"), credentials)],
                checks=[["grep", "-q", "^dns_cloudflare_api_token = ", staged]], reload=[],
                triggers=[credentials.apply(_digest)],
            ))
        ServiceConfig(
            f"{name}-acme",
            ServiceConfigArgs(
                connection=args.connection,
                files=[ManagedFile(self.script_path, script, mode="0755", role="acme-script")],
                checks=[["sh", "-n", staging_path(self.script_path)]],
                # Until the first issuance, a short-lived self-signed certificate lets nginx start.
                reload=[[self.script_path, "bootstrap"]],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )


def _deliver(name: str, connection: HostConnection, parent: pulumi.Resource,
             files: list[tuple[ManagedFile, Any]], *, checks: list[list[str]], reload: list[list[str]],
             triggers: list[Any]) -> pulumi.Resource:
    """Stage `files` (content may be a secret Output), run `checks`, swap them in, reload: as ServiceConfig does."""
    staging_dirs = sorted({posixpath.dirname(staging_path(f.path)) for f, _ in files})
    prepare = _command(f"{name}-staging", connection, " ".join(shlex.quote(w) for w in ["mkdir", "-p", "-m", "0700",
                                                                                       *staging_dirs]),
                       triggers=staging_dirs, opts=pulumi.ResourceOptions(parent=parent))
    copies = []
    for managed, content in files:
        role = posixpath.basename(managed.path)
        opts = pulumi.ResourceOptions(parent=parent, depends_on=[prepare])
        if connection.transport == "local":
            copies.append(command.local.Command(
                f"{name}-{role}", create=WRITE_STAGED, stdin=content,
                environment={"ISP_HOST": connection.host, "ISP_STAGED_PATH": staging_path(managed.path)},
                interpreter=connection.interpreter(), triggers=[_content_digest(content)], opts=opts))
        else:
            source = content.apply(pulumi.StringAsset) if isinstance(content, pulumi.Output) else pulumi.StringAsset(
                content)
            copies.append(command.remote.CopyToRemote(
                f"{name}-{role}", connection=connection.args(), source=source,
                remote_path=staging_path(managed.path), triggers=[_content_digest(content)], opts=opts))
    script = install_script([managed for managed, _ in files], checks, reload)
    return _command(f"{name}-install", connection, script, triggers=triggers, update=script,
                    opts=pulumi.ResourceOptions(parent=parent, depends_on=copies))


def _command(name: str, connection: HostConnection, create: str, *, triggers: list[Any],
             opts: pulumi.ResourceOptions, update: str | None = None) -> pulumi.Resource:
    if connection.transport == "local":
        # ISP_HOST names the host the command runs on, so the policy pack places what it installs there.
        return command.local.Command(name, create=create, update=update, interpreter=connection.interpreter(),
                                     environment={"ISP_HOST": connection.host}, triggers=triggers, opts=opts)
    return command.remote.Command(name, connection=connection.args(), create=create, update=update,
                                  triggers=triggers, opts=opts)


def _content_digest(content: Any) -> Any:
    return content.apply(_digest) if isinstance(content, pulumi.Output) else _digest(content)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
