"""The whole stack, planned before anything is registered: every component's name and Args, every file rendered.

Under `pulumi up`, the resources registered before an exception are still sent to the engine, so a
value that the config model accepts but a renderer refuses must fail before the first registration,
or a stack half-applies. `plan_stack` is pure (it registers nothing): it derives every component's
Args from the config and renders each one's files in memory (the Args' `rendered`, computed once
and reused by the component when it registers). `register` then only registers, in the order the
program has always used.

A refusal becomes a config error naming the key the value came from (`components/refusals.py`):
each part is planned within the part of the config it derives from. Secrets (SSH keys, the webmail
TLS key, the ACME token) stay Pulumi Outputs: the components place them, nothing here reads them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pydantic import BaseModel

from components.config import ACME_CLOUDFLARE_TOKEN, CONFIG_NAMESPACE, WEBMAIL_TLS_KEY, ConfigError, StackConfig
from components.config.keys import MTA_STS_TLS_KEY
from components.config.mail_auth import hosted_mail_domains
from components.config.zones_from import ZoneListError, listed_zones
from components.database_backup import DatabaseBackup, DatabaseBackupArgs
from components.delivery import HostConnection
from components.dns_data import (
    ZoneFile,
    forward_zone_file,
    mta_sts_policies,
    pool_zone_file,
    reverse_zones,
    zone_records,
)
from components.dns_zone import DnsZone, DnsZoneArgs
from components.gateway import Gateway, GatewayArgs, NatMapping, PublishedService, deploy_path
from components.mail_host import DkimSigningKey, MailHost, MailHostArgs, MailHostDkim
from components.name_server import NameServer, NameServerArgs
from components.refusals import explain
from components.render.dovecot import IMAPS_PORT
from components.render.nginx import MTA_STS_LABEL
from components.reverse_zone import HostPtr, ReverseZone, ReverseZoneArgs
from components.web_host import MtaStsSite, WebHost, WebHostArgs, WebmailSite

# How the plan reads a secret config key: `pulumi.Config("isp").require_secret` in the program (an
# Output; nothing is decrypted here), a stand-in in tests.
SecretReader = Callable[[str], Any]


@dataclass(frozen=True)
class Planned:
    """One component to register: its class, resource name and Args (files already rendered)."""

    component: type[pulumi.ComponentResource]
    name: str
    args: BaseModel


@dataclass(frozen=True)
class StackPlan:
    components: tuple[Planned, ...]
    exports: dict[str, Any] = field(default_factory=dict)


def plan_stack(cfg: StackConfig, secret: SecretReader, *, stack: str,
               stack_file: str = "stack config", project_dir: str = ".") -> StackPlan:
    """Every component of the stack with its files rendered; a refused value raises ConfigError naming its key.

    `project_dir` is where `zonesFrom` files are read from, to name a zone of theirs in an error."""
    return _Planner(cfg, secret, stack=stack, stack_file=stack_file, project_dir=project_dir).plan()


def plan_program(cfg: StackConfig) -> StackPlan:
    """`plan_stack` inside a Pulumi program: a refusal stops it as a config error does (no traceback)."""
    stack = pulumi.get_stack()
    secrets = pulumi.Config(CONFIG_NAMESPACE)
    try:
        return plan_stack(cfg, secrets.require_secret, stack=stack, stack_file=f"Pulumi.{stack}.yaml",
                          project_dir=pulumi.runtime.get_root_directory() or ".")
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None


def register(plan: StackPlan) -> list[pulumi.ComponentResource]:
    """Register every planned component, in order, and the stack's outputs."""
    parts = [planned.component(planned.name, planned.args) for planned in plan.components]
    for name, value in plan.exports.items():
        pulumi.export(name, value)
    return parts


class _Planner:
    def __init__(self, cfg: StackConfig, secret: SecretReader, *, stack: str, stack_file: str,
                 project_dir: str) -> None:
        self.cfg, self.secret = cfg, secret
        self.stack, self.stack_file, self.project_dir = stack, stack_file, project_dir
        self.planned: list[Planned] = []
        self.connections: dict[str, HostConnection] = {}  # by host name: one per host, shared by its components

    @contextlib.contextmanager
    def within(self, scope: Sequence[str], what: str) -> Iterator[None]:
        """Plan a part of the stack derived from `scope` (config paths, the closest first)."""
        try:
            yield
        except ConfigError as error:  # a check that names its key itself (the gateway's lockout)
            raise ConfigError(self._invalid(str(error))) from None
        except ValueError as error:  # RenderValueError, a renderer's own ValueError, an Args model's
            raise ConfigError(self._invalid(
                explain(error, scope=scope, what=what, cfg=self.cfg, display=self._display))) from None

    def _invalid(self, line: str) -> str:
        """As config errors are phrased (components/config/loading.py)."""
        return f"{self.stack_file}: invalid stack config:\n  - {line}"

    def _display(self, path: str) -> str:
        """A config path as the user wrote the key: a zone from a zonesFrom file is named by file and index."""
        if path.startswith("zones["):
            index, _, rest = path[len("zones["):].partition("]")
            source = self._zone_sources()[int(index)] if index.isdigit() else None
            if source is not None:
                return f"{source[0]}: [{source[1]}]{rest}"
        return f"{CONFIG_NAMESPACE}:{path}"

    def _zone_sources(self) -> list[tuple[str, int] | None]:
        """(file, index) of each zone read from a zonesFrom file, None for an inline one.

        The model keeps no provenance: on this error path only, the files are listed again to count
        their zones (the inline zones come first)."""
        zones = len(self.cfg.zones)
        try:
            _, sources = listed_zones(self.cfg.zones_from, self.project_dir) if self.cfg.zones_from else ([], [])
        except ZoneListError:
            sources = []
        if len(sources) > zones:
            return [None] * zones
        return [None] * (zones - len(sources)) + list(sources)

    def _add(self, component: type[pulumi.ComponentResource], name: str, args: BaseModel) -> None:
        if hasattr(type(args), "rendered"):  # zones on Cloudflare have no files
            _ = args.rendered  # rendered now, once (a cached property): the component reuses it
        self.planned.append(Planned(component, name, args))

    def plan(self) -> StackPlan:
        cfg = self.cfg
        for i, host in enumerate(cfg.hosts):
            with self.within([f"hosts[{i}]"], f"the connection to host {host.name}"):
                self.connections[host.name] = self._connection(host)
        bind_zone_files = self._forward_zones()
        bind_zone_files += self._reverse_zones()
        with self.within(["networks.customerPools", "organization", "hosts"], "the customer pools' zone"):
            if pool_zone := pool_zone_file(cfg):
                bind_zone_files.append(pool_zone)
        self._name_servers(bind_zone_files)
        mail = self._mail_hosts()
        self._web_hosts(mail)
        for i, host in enumerate(cfg.hosts):
            if "db" in host.roles:
                with self.within([f"hosts[{i}]"], f"the backup job of db host {host.name}"):
                    self._add(DatabaseBackup, host.name, DatabaseBackupArgs(
                        connection=self.connections[host.name], fqdn=cfg.fqdn(host),
                        databases=tuple(cfg.databases_of(host))))
        self._gateway(mail)
        return StackPlan(tuple(self.planned), {
            "nameServers": [cfg.fqdn(h) for h in cfg.hosts_with("dns")],
            "mailHosts": [args.fqdn for args in mail],
            "zones": [z.name for z in cfg.zones],
        })

    def _connection(self, host) -> HostConnection:
        if self.cfg.delivery == "local":  # the lab: the host is a network namespace on this machine
            return HostConnection.local(self.cfg.fqdn(host), host.name, self.stack)
        return HostConnection(host=self.cfg.fqdn(host), user=host.ssh_user, port=host.ssh_port,
                              private_key=self.secret(host.ssh_key_config))

    def _forward_zones(self) -> list[ZoneFile]:
        """Cloudflare zones; in the lab (no Cloudflare) our BIND serves them: their zone files."""
        cfg, files = self.cfg, []
        for k, zone in enumerate(cfg.zones):
            with self.within([f"zones[{k}]", "organization", "hosts"], f"zone {zone.name}"):
                if cfg.delivery == "local":
                    files.append(forward_zone_file(cfg, zone))
                    continue
                self._add(DnsZone, zone.name, DnsZoneArgs(
                    zone=zone.name, account_id=cfg.organization.cloudflare_account_id,
                    records=zone_records(cfg, zone), protect=cfg.protect))
        return files

    def _reverse_zones(self) -> list[ZoneFile]:
        cfg, files = self.cfg, []
        with self.within(["networks", "hosts", "organization"], "the reverse zones"):
            data_list = reverse_zones(cfg)
        for data in data_list:
            on_cloudflare = cfg.dns.reverse_zones_on == "cloudflare" and not data.has_pools and cfg.delivery != "local"
            with self.within(["networks", "hosts", "organization"], f"reverse zone {data.zone}"):
                self._add(ReverseZone, data.zone, ReverseZoneArgs(
                    zone=data.zone,
                    served_by="cloudflare" if on_cloudflare else "bind",
                    zone_file=None if on_cloudflare else data.file,
                    ptrs=[HostPtr(owner=o, target=t) for o, t in data.absolute_ptrs()] if on_cloudflare else [],
                    account_id=cfg.organization.cloudflare_account_id,
                    protect=cfg.protect,
                ))
            if not on_cloudflare:
                files.append(data.file)
        return files

    def _name_servers(self, zone_files: list[ZoneFile]) -> None:
        cfg = self.cfg
        own_networks = [str(n) for n in cfg.networks.own_networks()]
        primary, *secondaries = cfg.hosts_with("dns")
        for i, host in enumerate(cfg.hosts):
            if "dns" not in host.roles:
                continue
            with self.within([f"hosts[{i}]", "dns", "networks", "hosts", "zones"], f"name server {host.name}"):
                self._add(NameServer, host.name, NameServerArgs(
                    connection=self.connections[host.name],
                    own_networks=own_networks,
                    recursion_clients=cfg.recursion_clients,
                    zone_files=zone_files,
                    primary_address=None if host is primary else str(primary.private_address),
                    transfer_peers=[str(h.private_address) for h in secondaries] if host is primary else [],
                    rate_limit_per_second=cfg.dns.rate_limit_per_second,
                    protect=cfg.protect,
                ))

    def _mail_hosts(self) -> list[MailHostArgs]:
        cfg, out = self.cfg, []
        dkim = None
        if cfg.mail.dkim is not None:  # lesson 6: every mail host signs every hosted mail domain
            with self.within(["mail.dkim", "zones", "organization"], "DKIM signing"):
                dkim = MailHostDkim(domains=hosted_mail_domains(cfg), signing_keys=[
                    DkimSigningKey(selector=key.selector, algorithm=key.algorithm, public_key=key.public_key,
                                   private_key=self.secret(key.private_key_config))
                    for key in cfg.mail.dkim.signing_keys])
        for i, host in enumerate(cfg.hosts):
            if "mail" not in host.roles:
                continue
            with self.within([f"hosts[{i}]", "organization", "networks", "mail"], f"mail host {host.name}"):
                args = MailHostArgs(
                    connection=self.connections[host.name],
                    fqdn=cfg.fqdn(host),
                    domain=cfg.organization.domain,
                    private_address=str(host.private_address),
                    public_address=str(host.public_address),
                    public_address6=str(host.public_address6) if host.public_address6 else None,
                    server_networks=[str(n) for n in cfg.networks.servers],
                    customer_pools=self._pools(),
                    dialup_pools=self._pools("dialup"),
                    mail=cfg.mail,
                    dkim=dkim,
                )
                self._add(MailHost, host.name, args)
                out.append(args)
        return out

    def _pools(self, kind: str | None = None) -> list[str]:
        return [str(p.prefix) for p in self.cfg.networks.customer_pools if kind is None or p.kind == kind]

    def _web_hosts(self, mail: list[MailHostArgs]) -> None:
        cfg = self.cfg
        domain = cfg.organization.domain
        # MTA-STS (RFC 8461 §3.3): the first web host serves the policy of every hosted mail domain,
        # as mta-sts.<domain> (the name the zones point at it).
        mta_sts_host = next((h.name for h in cfg.hosts if "web" in h.roles), None) if cfg.mail.mta_sts else None
        for i, host in enumerate(cfg.hosts):
            if not {"web", "webmail"} & set(host.roles):
                continue
            scope = [f"hosts[{i}]", "webmail", "organization", "hosts"]
            if host.name == mta_sts_host:
                scope += ["mail.mtaSts", "zones"]
            with self.within(scope, f"web host {host.name}"):
                webmail = None
                if "webmail" in host.roles:
                    tls = cfg.webmail.certificate
                    webmail = WebmailSite(
                        name=cfg.webmail_fqdn,
                        mail_host=cfg.webmail.imap_host or mail[0].fqdn,
                        store=cfg.webmail.store,
                        product_name=cfg.webmail.product_name or f"{cfg.organization.name} Webmail",
                        certificate=tls,
                        acme_email=cfg.acme_email,
                        private_key=self.secret(WEBMAIL_TLS_KEY) if tls.source == "provided" else None,
                        cloudflare_token=self.secret(ACME_CLOUDFLARE_TOKEN) if tls.challenge_via_cloudflare else None,
                    )
                mta_sts = []
                if host.name == mta_sts_host:
                    tls = cfg.mail.mta_sts.certificate
                    private_key = self.secret(MTA_STS_TLS_KEY) if tls.source == "provided" else None
                    token = self.secret(ACME_CLOUDFLARE_TOKEN) if tls.challenge_via_cloudflare else None
                    mta_sts = [
                        MtaStsSite(
                            name=f"{MTA_STS_LABEL}.{mail_domain}",
                            policy=policy,
                            certificate=tls,
                            acme_email=tls.email or cfg.organization.contact_email,
                            private_key=private_key,
                            cloudflare_token=token,
                        )
                        for mail_domain, policy in mta_sts_policies(cfg).items()
                    ]
                self._add(WebHost, host.name, WebHostArgs(
                    connection=self.connections[host.name],
                    www_names=[f"www.{domain}", domain] if "web" in host.roles else [],
                    webmail=webmail,
                    mta_sts=mta_sts,
                ))

    def _gateway(self, mail: list[MailHostArgs]) -> None:
        cfg = self.cfg
        index, host = next((i, h) for i, h in enumerate(cfg.hosts) if "gateway" in h.roles)
        other_public_hosts = [h for h in cfg.hosts if h.public_address and not {"mail", "gateway"} & set(h.roles)]
        published = [
            PublishedService(address=str(address), protocol=protocol, port=port)
            for h in cfg.hosts
            for address in (h.public_address, h.public_address6)
            if address is not None
            for protocol, port in (
                ([("udp", 53), ("tcp", 53)] if "dns" in h.roles else [])
                + ([("tcp", 80), ("tcp", 443)] if {"web", "webmail"} & set(h.roles) else [])
                # IMAPS (RFC 8314): users read their mail from anywhere, as Dovecot's imaps listener offers it.
                + ([("tcp", IMAPS_PORT)] if "mail" in h.roles else [])
            )
        ]
        with self.within([f"hosts[{index}]", "gateway", "networks", "hosts", "mail"], f"gateway {host.name}"):
            args = GatewayArgs(
                connection=self.connections[host.name],
                gateway=cfg.gateway,
                deploy=deploy_path(cfg),
                public_address=str(host.public_address),
                server_networks=[str(n) for n in cfg.networks.servers],
                customer_pools=self._pools(),
                dialup_pools=self._pools("dialup"),
                mail_nat=[m.nat for m in mail],
                mail_addresses6=[str(h.public_address6) for h in cfg.hosts_with("mail") if h.public_address6],
                host_nat=[
                    NatMapping(private_address=str(h.private_address), public_address=str(h.public_address))
                    for h in other_public_hosts
                ],
                published=published,
                submission_ports=cfg.mail.submission_ports,
            )
            self._add(Gateway, host.name, args)
