"""Gateway: the border router's nftables ruleset (lessons 1 and 7).

Customer pools may send TCP/25 only to our own mail hosts; submission ports pass. Each
mail host gets a 1:1 NAT (dnat and snat on the same public address) that comes before any
general source NAT, so its mail leaves from the address its MX, PTR and SPF name.
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict

from components.config import GatewaySettings
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.render.nftables import render_gateway_ruleset

NFTABLES_CONF = "/etc/nftables.conf"


class NatMapping(BaseModel):
    model_config = ConfigDict(frozen=True)

    private_address: str
    public_address: str


class PublishedService(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str  # the public address the world uses
    protocol: str  # tcp or udp
    port: int


class GatewayArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    gateway: GatewaySettings
    public_address: str
    server_networks: list[str]
    customer_pools: list[str]
    dialup_pools: list[str] = []
    mail_nat: list[NatMapping]  # lesson 7: one pair per mail host
    mail_addresses6: list[str] = []
    host_nat: list[NatMapping] = []  # our other public hosts, mapped 1:1 without mail's privileges
    published: list[PublishedService] = []
    submission_ports: list[int]


def ruleset_for(args: GatewayArgs) -> str:
    management = args.gateway.management_networks
    return render_gateway_ruleset(
        wan_interface=args.gateway.wan_interface,
        lan_interfaces=[args.gateway.server_interface, args.gateway.customer_interface],
        customer_pools=args.customer_pools,
        server_networks=args.server_networks,
        mail_hosts=[(m.private_address, m.public_address) for m in args.mail_nat],
        mail_hosts_ipv6=args.mail_addresses6,
        static_nat=[(m.private_address, m.public_address) for m in args.host_nat],
        published_services=[(s.address, s.protocol, s.port) for s in args.published],
        dialup_pools=args.dialup_pools,
        public_address=args.public_address,
        own_mail_submission_ports=tuple(args.submission_ports),
        ssh_management_networks=[str(n) for n in management] if management else args.server_networks,
    )


class Gateway(pulumi.ComponentResource):
    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The pools are evidence for the policy pack: it then knows whose port 25 to check.
        super().__init__("isp:network:Gateway", name, {"customerPools": args.customer_pools}, opts)
        self.config = ServiceConfig(
            f"{name}-nftables",
            ServiceConfigArgs(
                connection=args.connection,
                files=[ManagedFile(NFTABLES_CONF, ruleset_for(args), mode="0755", role="nftables.conf")],
                checks=[["nft", "-c", "-f", staging_path(NFTABLES_CONF)]],
                reload=[["nft", "-f", NFTABLES_CONF]],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"mailNat": [m.model_dump() for m in args.mail_nat]})
