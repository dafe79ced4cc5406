"""MailHost: Postfix, Dovecot and the per-account daily limit (lessons 2, 4, 5, 7, 11, 12).

`myhostname` and the banner are the FQDN that the PTR of the public address names; mail
leaves from the private address that the gateway maps 1:1 to that public address.

`render_mail_host` is pure: the program renders every file of the stack before it registers
anything (`components/stack.py`), and the component delivers what was rendered there.
"""

from __future__ import annotations

import functools

import pulumi
from pydantic import BaseModel, ConfigDict

from components.config import MailSettings
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.gateway import NatMapping
from components.render.certificate import certificate_paths
from components.render.dovecot import render_dovecot_conf
from components.render.postfix import render_postfix_main_cf, render_postfix_master_cf
from components.render.ratelimit import policy_service_for_postfix, render_ratelimit_config

POSTFIX_DIR = "/etc/postfix"
DOVECOT_CONF = "/etc/dovecot/dovecot.conf"
RATELIMIT_CONF = "/etc/policyd-rate-limit.yaml"
# Below Postfix's queue directory: smtpd runs chrooted there and must reach the socket.
RATELIMIT_SOCKET = "/var/spool/postfix/ratelimit/policy"
MIB = 1024 * 1024


class RenderedMailHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    ratelimit: ServiceConfigArgs
    dovecot: ServiceConfigArgs
    postfix: ServiceConfigArgs


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
    return RenderedMailHost(ratelimit=ratelimit, dovecot=dovecot, postfix=postfix)


class MailHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: MailHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        super().__init__("isp:mail:MailHost", name, None, opts)
        self.fqdn = args.fqdn
        self.nat = args.nat
        child = pulumi.ResourceOptions(parent=self)
        ratelimit = ServiceConfig(f"{name}-ratelimit", rendered.ratelimit, opts=child)
        dovecot = ServiceConfig(f"{name}-dovecot", rendered.dovecot, opts=child)
        # Postfix last: it points at the SASL socket and the policy service set up above.
        ServiceConfig(
            f"{name}-postfix",
            rendered.postfix,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ratelimit, dovecot]),
        )
        self.register_outputs({"fqdn": args.fqdn, "nat": self.nat.model_dump()})
