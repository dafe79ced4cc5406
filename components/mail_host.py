"""MailHost: Postfix, Dovecot, the per-account daily limit and DKIM signing (lessons 2, 4, 5, 6, 7, 11, 12).

`myhostname` and the banner are the FQDN that the PTR of the public address names; mail
leaves from the private address that the gateway maps 1:1 to that public address.

`render_mail_host` is pure: the program renders every file of the stack before it registers
anything (`components/stack.py`), and the component delivers what was rendered there. A DKIM private
key is never rendered: it stays a secret Output, attached by the component (`secret_contents`).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from components.config import MailSettings
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.gateway import NatMapping
from components.render.certificate import certificate_paths
from components.render.dovecot import render_dovecot_conf
from components.render.opendkim import (
    KEY_TABLE,
    MILTER_PORT,
    OPENDKIM_CONF,
    RUN_AS,
    SIGNING_TABLE,
    TRUSTED_HOSTS,
    SigningKey,
    private_key_path,
    render_key_table,
    render_opendkim_conf,
    render_signing_table,
    render_trusted_hosts,
)
from components.render.postfix import render_postfix_main_cf, render_postfix_master_cf
from components.render.ratelimit import policy_service_for_postfix, render_ratelimit_config

POSTFIX_DIR = "/etc/postfix"
DOVECOT_CONF = "/etc/dovecot/dovecot.conf"
RATELIMIT_CONF = "/etc/policyd-rate-limit.yaml"
# Below Postfix's queue directory: smtpd runs chrooted there and must reach the socket.
RATELIMIT_SOCKET = "/var/spool/postfix/ratelimit/policy"
MIB = 1024 * 1024


class DkimSigningKey(BaseModel):
    """A key the mail host signs with. The private key (PEM) is a secret Output, never shown in a repr."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    selector: str
    algorithm: Literal["rsa", "ed25519"] = "rsa"
    public_key: str  # base64, as published in p=: rsa the DER SubjectPublicKeyInfo, ed25519 the raw 32 bytes
    private_key: Any = Field(repr=False, exclude=True)  # pulumi.Input[str]: a secret Output in the program


class MailHostDkim(BaseModel):
    """Lesson 6: OpenDKIM signs the mail of these domains (hosted_mail_domains) with these keys (signWith)."""

    model_config = ConfigDict(frozen=True)

    domains: list[str]
    signing_keys: list[DkimSigningKey]


class RenderedMailHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    ratelimit: ServiceConfigArgs
    dovecot: ServiceConfigArgs
    postfix: ServiceConfigArgs
    opendkim: ServiceConfigArgs | None = None  # the private keys are attached by the component


class MailHostArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    fqdn: str
    domain: str
    private_address: str
    public_address: str
    public_address6: str | None = None
    server_networks: list[str]  # may relay without a login (our own servers)
    customer_pools: list[str]  # must authenticate like anyone else
    dialup_pools: list[str] = []
    mail: MailSettings
    dkim: MailHostDkim | None = None  # absent: nothing is signed

    @property
    def nat(self) -> NatMapping:
        """Lesson 7: the gateway maps the private address 1:1 to the public one."""
        return NatMapping(private_address=self.private_address, public_address=self.public_address)

    @functools.cached_property
    def rendered(self) -> RenderedMailHost:
        """Every file, rendered once (a refused value raises here, before anything is registered)."""
        return render_mail_host(self)


def render_mail_host(args: MailHostArgs) -> RenderedMailHost:
    cert, key = certificate_paths(args.fqdn)
    size_limit = args.mail.message_size_limit_mb * MIB
    main_cf = render_postfix_main_cf(
        hostname_fqdn=args.fqdn,
        domain=args.domain,
        private_address=args.private_address,
        ipv6_address=args.public_address6,
        own_networks=args.server_networks,
        customer_pools=args.customer_pools,
        message_size_limit_bytes=size_limit,
        policy_service=policy_service_for_postfix(RATELIMIT_SOCKET),
        tls_cert_path=cert,
        tls_key_path=key,
        dkim_milter_port=MILTER_PORT if args.dkim else None,
    )
    master_cf = render_postfix_master_cf(
        submission_ports=args.mail.submission_ports,
        message_size_limit_bytes=size_limit,
        dialup_message_size_limit_bytes=args.mail.dialup_message_size_limit_mb * MIB if args.dialup_pools else None,
    )
    staged_dir = staging_path(f"{POSTFIX_DIR}/main.cf").rsplit("/", 1)[0]
    ratelimit = ServiceConfigArgs(
        connection=args.connection,
        files=[
            ManagedFile(
                RATELIMIT_CONF,
                render_ratelimit_config(daily_limit_per_account=args.mail.daily_limit_per_account,
                                        listen=RATELIMIT_SOCKET),
                mode="0640",
                role="policyd-rate-limit.yaml",
            )
        ],
        checks=[["python3", "-c", "import sys, yaml; yaml.safe_load(open(sys.argv[1]))", staging_path(RATELIMIT_CONF)]],
        reload=[["systemctl", "restart", "policyd-rate-limit"]],
    )
    dovecot = ServiceConfigArgs(
        connection=args.connection,
        files=[
            ManagedFile(
                DOVECOT_CONF,
                render_dovecot_conf(hostname_fqdn=args.fqdn, tls_cert_path=cert, tls_key_path=key),
                role="dovecot.conf",
            )
        ],
        checks=[["doveconf", "-n", "-c", staging_path(DOVECOT_CONF)]],
        reload=[["doveadm", "reload"]],
    )
    postfix = ServiceConfigArgs(
        connection=args.connection,
        files=[
            ManagedFile(f"{POSTFIX_DIR}/main.cf", main_cf, role="main.cf"),
            ManagedFile(f"{POSTFIX_DIR}/master.cf", master_cf, role="master.cf"),
        ],
        checks=[["postfix", "-c", staged_dir, "check"]],
        # A restart, not a reload: inet_protocols and new listeners only take effect on a
        # restart, and a reload that changes them lets the master die a second after it
        # reported success (found by the lab). `postfix status` after a pause catches a
        # master that did not stay up, so the rollback puts the previous files back.
        reload=[["systemctl", "restart", "postfix"], ["sh", "-c", "sleep 2; postfix status"]],
    )
    opendkim = render_opendkim(args) if args.dkim else None
    return RenderedMailHost(ratelimit=ratelimit, dovecot=dovecot, postfix=postfix, opendkim=opendkim)


# Checks on the staged copies, run by the deploying user (root). No key material reaches their output:
# openssl writes the public half into the pipe only, and a mismatch names the selector and the public key.
_CONF_CHECK = 'printf "%s" "$1" | opendkim -n -x /dev/stdin'
# $1 the staged private key, $2 the publicKey configured for it, $3 its selector. An ed25519 p= is the raw
# key (RFC 8463 §4.2): the last 32 bytes of the DER SubjectPublicKeyInfo.
_KEY_CHECK = {
    "rsa": 'test "$(openssl pkey -in "$1" -pubout -outform DER | base64 -w0)" = "$2"',
    "ed25519": 'test "$(openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0)" = "$2"',
}
_KEY_MISMATCH = ' || { echo "the private key of selector $3 does not match its publicKey $2" >&2; exit 1; }'


def render_opendkim(args: MailHostArgs) -> ServiceConfigArgs:
    """OpenDKIM's files and their checks; each private key a 0600 file of the opendkim user (RequireSafeKeys),
    its content left empty here: the component attaches the secret."""
    dkim = args.dkim
    assert dkim is not None
    keys = [SigningKey(k.selector, k.algorithm) for k in dkim.signing_keys]
    tables = {
        KEY_TABLE: render_key_table(domains=dkim.domains, signing_keys=keys),
        SIGNING_TABLE: render_signing_table(domains=dkim.domains, signing_keys=keys),
        TRUSTED_HOSTS: render_trusted_hosts(networks=args.server_networks),
    }
    conf = render_opendkim_conf(hostname_fqdn=args.fqdn, signing_keys=keys)
    # The same conf pointed at the staged tables: `opendkim -n` opens them, and must not judge the live ones.
    check_conf = render_opendkim_conf(hostname_fqdn=args.fqdn, signing_keys=keys, key_table=staging_path(KEY_TABLE),
                                      signing_table=staging_path(SIGNING_TABLE),
                                      trusted_hosts=staging_path(TRUSTED_HOSTS))
    owner = f"{RUN_AS}:{RUN_AS}"
    files = [ManagedFile(OPENDKIM_CONF, conf, role="opendkim.conf"),
             *(ManagedFile(path, text, role=f"opendkim-{path.rsplit('/', 1)[1]}") for path, text in tables.items()),
             *(ManagedFile(private_key_path(k.selector), "", mode="0600", owner=owner, role=f"dkim-{k.selector}")
               for k in dkim.signing_keys)]
    checks = [["sh", "-c", _CONF_CHECK, "opendkim-check", check_conf]]
    checks += [["sh", "-c", _KEY_CHECK[k.algorithm] + _KEY_MISMATCH, "dkim-key-check",
                staging_path(private_key_path(k.selector)), k.public_key, k.selector] for k in dkim.signing_keys]
    return ServiceConfigArgs(connection=args.connection, files=files, checks=checks,
                             reload=[["systemctl", "restart", "opendkim"]])


def dkim_secret_contents(dkim: MailHostDkim) -> dict[str, Any]:
    """Each private key file's content: the secret Output of its PEM (never in a plan, trigger or log)."""
    return {private_key_path(k.selector): pulumi.Output.secret(k.private_key) for k in dkim.signing_keys}


class MailHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: MailHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        super().__init__("isp:mail:MailHost", name, None, opts)
        self.fqdn = args.fqdn
        self.nat = args.nat
        child = pulumi.ResourceOptions(parent=self)
        ratelimit = ServiceConfig(f"{name}-ratelimit", rendered.ratelimit, opts=child)
        dovecot = ServiceConfig(f"{name}-dovecot", rendered.dovecot, opts=child)
        before_postfix = [ratelimit, dovecot]
        if rendered.opendkim is not None and args.dkim is not None:
            opendkim = rendered.opendkim.model_copy(update={"secret_contents": dkim_secret_contents(args.dkim)})
            before_postfix.append(ServiceConfig(f"{name}-opendkim", opendkim, opts=child))
        # Postfix last: it points at the SASL socket, the policy service and the milter set up above.
        ServiceConfig(
            f"{name}-postfix",
            rendered.postfix,
            opts=pulumi.ResourceOptions(parent=self, depends_on=before_postfix),
        )
        self.register_outputs({"fqdn": args.fqdn, "nat": self.nat.model_dump()})
