"""The ISP's public-facing network as code: read the stack's config, compose the components.

Everything here is composition; what each piece does lives in `components/`.
"""

from datetime import UTC, datetime

import pulumi

from components.config import ACME_CLOUDFLARE_TOKEN, WEBMAIL_TLS_KEY, load_stack_config
from components.database_backup import DatabaseBackup, DatabaseBackupArgs
from components.delivery import HostConnection
from components.dns_data import forward_zone_file, pool_zone_file, reverse_zones, zone_records
from components.dns_zone import DnsZone, DnsZoneArgs
from components.gateway import Gateway, GatewayArgs, NatMapping, PublishedService
from components.mail_host import MailHost, MailHostArgs
from components.name_server import NameServer, NameServerArgs
from components.registrations import all_registered
from components.reverse_zone import HostPtr, ReverseZone, ReverseZoneArgs
from components.web_host import WebHost, WebHostArgs, WebmailSite

cfg = load_stack_config()  # validated before anything is registered
secrets = pulumi.Config("isp")
today = datetime.now(UTC).date()


def connection(host) -> HostConnection:
    if cfg.delivery == "local":  # the lab: the host is a network namespace on this machine
        return HostConnection.local(cfg.fqdn(host), host.name, pulumi.get_stack())
    return HostConnection(
        host=cfg.fqdn(host),
        user=host.ssh_user,
        port=host.ssh_port,
        private_key=secrets.require_secret(host.ssh_key_config),
    )


own_networks = [str(n) for n in cfg.networks.own_networks()]
customer_pools = [str(p.prefix) for p in cfg.networks.customer_pools]
dialup_pools = [str(p.prefix) for p in cfg.networks.customer_pools if p.kind == "dialup"]

parts: list[pulumi.ComponentResource] = []  # every component of the stack, for all_registered
bind_zone_files = []
for zone in cfg.zones:
    if cfg.delivery == "local":  # no Cloudflare in the lab: our BIND serves the forward zones
        bind_zone_files.append(forward_zone_file(cfg, zone, today))
        continue
    parts.append(DnsZone(
        zone.name,
        DnsZoneArgs(
            zone=zone.name,
            account_id=cfg.organization.cloudflare_account_id,
            records=zone_records(cfg, zone),
            protect=cfg.protect,
        ),
    ))

for data in reverse_zones(cfg, today):
    on_cloudflare = cfg.dns.reverse_zones_on == "cloudflare" and not data.has_pools and cfg.delivery != "local"
    parts.append(ReverseZone(
        data.zone,
        ReverseZoneArgs(
            zone=data.zone,
            served_by="cloudflare" if on_cloudflare else "bind",
            zone_file=None if on_cloudflare else data.file,
            ptrs=[HostPtr(owner=o, target=t) for o, t in data.absolute_ptrs()] if on_cloudflare else [],
            account_id=cfg.organization.cloudflare_account_id,
            protect=cfg.protect,
        ),
    ))
    if not on_cloudflare:
        bind_zone_files.append(data.file)
if pool_zone := pool_zone_file(cfg, today):
    bind_zone_files.append(pool_zone)

primary, *secondaries = cfg.hosts_with("dns")
for host in cfg.hosts_with("dns"):
    parts.append(NameServer(
        host.name,
        NameServerArgs(
            connection=connection(host),
            own_networks=own_networks,
            recursion_clients=cfg.recursion_clients,
            zone_files=bind_zone_files,
            primary_address=None if host is primary else str(primary.private_address),
            transfer_peers=[str(h.private_address) for h in secondaries] if host is primary else [],
            rate_limit_per_second=cfg.dns.rate_limit_per_second,
            protect=cfg.protect,
        ),
    ))

mail_hosts = [
    MailHost(
        host.name,
        MailHostArgs(
            connection=connection(host),
            fqdn=cfg.fqdn(host),
            domain=cfg.organization.domain,
            private_address=str(host.private_address),
            public_address=str(host.public_address),
            public_address6=str(host.public_address6) if host.public_address6 else None,
            server_networks=[str(n) for n in cfg.networks.servers],
            customer_pools=customer_pools,
            dialup_pools=dialup_pools,
            mail=cfg.mail,
        ),
    )
    for host in cfg.hosts_with("mail")
]
parts += mail_hosts



def webmail_site() -> WebmailSite:
    tls = cfg.webmail.certificate
    return WebmailSite(
        name=cfg.webmail_fqdn,
        mail_host=mail_hosts[0].fqdn,
        product_name=cfg.webmail.product_name or f"{cfg.organization.name} Webmail",
        certificate=tls,
        acme_email=cfg.acme_email,
        private_key=secrets.require_secret(WEBMAIL_TLS_KEY) if tls.source == "provided" else None,
        cloudflare_token=secrets.require_secret(ACME_CLOUDFLARE_TOKEN) if tls.challenge_via_cloudflare else None,
    )


domain = cfg.organization.domain
for host in cfg.hosts:
    if {"web", "webmail"} & set(host.roles):
        parts.append(WebHost(
            host.name,
            WebHostArgs(
                connection=connection(host),
                www_names=[f"www.{domain}", domain] if "web" in host.roles else [],
                webmail=webmail_site() if "webmail" in host.roles else None,
            ),
        ))

for host in cfg.hosts_with("db"):
    parts.append(DatabaseBackup(
        host.name,
        DatabaseBackupArgs(connection=connection(host), fqdn=cfg.fqdn(host), database=cfg.database_of(host)),
    ))

gateway_host = cfg.hosts_with("gateway")[0]
other_public_hosts = [h for h in cfg.hosts if h.public_address and not {"mail", "gateway"} & set(h.roles)]
published = [
    PublishedService(address=str(address), protocol=protocol, port=port)
    for host in cfg.hosts
    for address in (host.public_address, host.public_address6)
    if address is not None
    for protocol, port in (
        ([("udp", 53), ("tcp", 53)] if "dns" in host.roles else [])
        + ([("tcp", 80), ("tcp", 443)] if {"web", "webmail"} & set(host.roles) else [])
    )
]
parts.append(Gateway(
    gateway_host.name,
    GatewayArgs(
        connection=connection(gateway_host),
        gateway=cfg.gateway,
        public_address=str(gateway_host.public_address),
        server_networks=[str(n) for n in cfg.networks.servers],
        customer_pools=customer_pools,
        dialup_pools=dialup_pools,
        mail_nat=[m.nat for m in mail_hosts],
        mail_addresses6=[str(h.public_address6) for h in cfg.hosts_with("mail") if h.public_address6],
        host_nat=[
            NatMapping(private_address=str(h.private_address), public_address=str(h.public_address))
            for h in other_public_hosts
        ],
        published=published,
        submission_ports=cfg.mail.submission_ports,
    ),
))

pulumi.export("nameServers", [cfg.fqdn(h) for h in cfg.hosts_with("dns")])
pulumi.export("mailHosts", [m.fqdn for m in mail_hosts])
pulumi.export("zones", [z.name for z in cfg.zones])

# One wait for every registration before the SDK's own, which rescans every output per completion.
pulumi.run(lambda: all_registered(parts))
