"""The lab's picture, derived from the stack config: namespaces, veth links, addresses, routes. Pure.

    internet (isp-lab-inet)  192.0.2.0/24, the root servers' addresses, outside.test
        | eth0 <-> wan0
    gw (isp-lab-gw)          every public address of ours on wan0; nftables: 1:1 NAT, port-25 rules
        | srv0 <-> switch (isp-lab-sw, bridge br0) <-> eth0 of ns1, mail, www, webmail, db   (10.99.0.0/24)
        | cust0 <-> eth0 of customer (isp-lab-cust)                             (203.0.113.128/26)

Every veth is created directly inside the namespaces it joins (`ip -n NS link add ... peer
... netns OTHER`), so no lab interface ever exists in the machine's own network namespace,
and no namespace has a route to the machine: the lab is a closed world.

The config's own hosts (gateway, name servers, mail, web) are reached through the local
transport: their namespace and root follow `HostConnection.local`. The `internet`, the
`customer` and the server switch exist only in the lab.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from components.config import Host, StackConfig
from components.delivery import HostConnection
from lab.settings import PROJECT_DIR, LabError, LabStack

IFNAME_MAX = 15
# The root servers' IPv4 addresses as BIND 9.18 has them built in (its root hints), plus
# B's address before 2023: the lab's internet answers on all of them, so our resolver's
# unmodified recursion finds the lab's root.
ROOT_SERVERS = {
    "a.root-servers.net": "198.41.0.4",
    "b.root-servers.net": "170.247.170.2",
    "c.root-servers.net": "192.33.4.12",
    "d.root-servers.net": "199.7.91.13",
    "e.root-servers.net": "192.203.230.10",
    "f.root-servers.net": "192.5.5.241",
    "g.root-servers.net": "192.112.36.4",
    "h.root-servers.net": "198.97.190.53",
    "i.root-servers.net": "192.36.148.17",
    "j.root-servers.net": "192.58.128.30",
    "k.root-servers.net": "193.0.14.129",
    "l.root-servers.net": "199.7.83.42",
    "m.root-servers.net": "202.12.27.33",
}
OLD_B_ROOT = "199.9.14.201"
SWITCH_BRIDGE = "br0"
# Daemons a host runs, by role, in start order (the lab's `systemctl` knows these names).
SERVICES_BY_ROLE = {
    "dns": ("named",),
    "mail": ("policyd-rate-limit", "opendkim", "dovecot", "postfix"),  # the milter before Postfix needs it
    "web": ("nginx",),
    "webmail": ("php8.2-fpm", "nginx"),  # Roundcube's PHP-FPM first: nginx's upstream socket
    "db": (),  # the database servers its config lists: ENGINE_SERVICES
}
# The unit that runs each database engine a db host lists (`databases:`), in the order listed.
ENGINE_SERVICES = {"postgresql": "postgresql", "mariadb": "mariadb"}


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[str, ...] = ()  # CIDR notation
    peer: tuple[str, str] | None = None  # (namespace, interface) at the other end of the veth
    master: str | None = None  # the bridge this interface is a port of
    kind: str = "veth"  # veth, bridge or loopback


@dataclass(frozen=True)
class Route:
    destination: str  # "default" or a prefix
    device: str
    via: str | None = None
    onlink: bool = False

    def argv(self) -> list[str]:
        words = [self.destination]
        if self.via:
            words += ["via", self.via]
        words += ["dev", self.device]
        return words + (["onlink"] if self.onlink else [])


@dataclass(frozen=True)
class LabHost:
    name: str  # inventory name: internet, customer, switch, or the config host's name
    namespace: str
    roles: tuple[str, ...]
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...] = ()
    forwarding: bool = False
    fqdn: str | None = None
    root: str | None = None  # config hosts only: where their files land
    services: tuple[str, ...] = ()

    @property
    def is_server(self) -> bool:
        return self.root is not None

    def connection(self) -> HostConnection:
        if self.root is None or self.fqdn is None:
            raise LabError(f"{self.name} is not one of the stack's hosts; it has no root")
        return HostConnection(host=self.fqdn, user="root", private_key=None, transport="local",
                              namespace=self.namespace, root=self.root)

    def addresses(self) -> list[str]:
        return [a.split("/")[0] for i in self.interfaces for a in i.addresses]


@dataclass(frozen=True)
class Topology:
    stack: LabStack
    hosts: tuple[LabHost, ...]
    links: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = field(default=())

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"the lab has no host {name!r}")

    def with_role(self, role: str) -> list[LabHost]:
        return [h for h in self.hosts if role in h.roles]

    @property
    def namespace_prefix(self) -> str:
        return f"isp-{self.stack.name}-"

    def inventory(self) -> dict[str, Any]:
        """build/lab/inventory.json: per host its namespace, interfaces and addresses, and roles."""
        return {
            "stack": self.stack.name,
            "hosts": {
                host.name: {
                    "namespace": host.namespace,
                    "fqdn": host.fqdn,
                    "roles": list(host.roles),
                    "interfaces": {
                        i.name: {
                            "addresses": list(i.addresses),
                            **({"peer": f"{i.peer[0]}:{i.peer[1]}"} if i.peer else {}),
                            **({"bridge": i.master} if i.master else {}),
                            "kind": i.kind,
                        }
                        for i in host.interfaces
                    },
                    "routes": [" ".join(r.argv()) for r in host.routes],
                    **({"root": host.root} if host.root else {}),
                    **({"services": list(host.services)} if host.services else {}),
                }
                for host in self.hosts
            },
        }


def _ifname(name: str, where: str) -> str:
    if not 0 < len(name) <= IFNAME_MAX:
        raise LabError(f"{where}: interface name {name!r} is longer than {IFNAME_MAX} characters")
    return name


def _services(cfg: StackConfig, host: Host) -> tuple[str, ...]:
    ordered: list[str] = []
    for role in host.roles:
        services = list(SERVICES_BY_ROLE.get(role, ()))
        if role == "db":
            services += [ENGINE_SERVICES[db.engine] for db in cfg.databases_of(host)]
        for service in services:
            if service not in ordered:
                ordered.append(service)
    return tuple(ordered)


def build_topology(stack: LabStack, project_dir: str | None = None) -> Topology:
    """The namespaces, links, addresses and routes for `stack` (pure: nothing is touched)."""
    cfg, lab = stack.cfg, stack.lab
    base = project_dir or str(PROJECT_DIR)
    prefix = f"isp-{stack.name}-"
    servers_v4 = [n for n in cfg.networks.servers if n.version == 4]
    if len(servers_v4) != 1:
        raise LabError(f"the lab wires one IPv4 server segment; networks.servers has {len(servers_v4)}")
    servers = servers_v4[0]
    pools = [p for p in cfg.networks.customer_pools if p.prefix.version == 4]
    gateway = cfg.hosts_with("gateway")[0]
    inet = lab.internet

    def namespace(name: str) -> str:
        if len(prefix + name) > IFNAME_MAX:
            raise LabError(f"namespace {prefix + name!r} is longer than {IFNAME_MAX} characters; shorten the host name")
        return prefix + name

    ns_inet, ns_cust, ns_switch = namespace("inet"), namespace("cust"), namespace("sw")
    # The program's local transport decides where a config host lives; the lab only builds it.
    ns_of = {h.name: namespace(h.name) for h in cfg.hosts}
    assert all(HostConnection.local(cfg.fqdn(h), h.name, stack.name, base).namespace == ns_of[h.name]
               for h in cfg.hosts)

    wan, srv, cust = (_ifname(n, f"isp:gateway.{k}") for k, n in (
        ("wanInterface", cfg.gateway.wan_interface),
        ("serverInterface", cfg.gateway.server_interface),
        ("customerInterface", cfg.gateway.customer_interface)))
    block_of = {}
    for host in cfg.hosts:
        if host.public_address is not None:
            block_of[host.name] = next(b for b in cfg.networks.public_blocks if host.public_address in b)

    # The gateway: our public addresses on the WAN side, the server and customer segments inside.
    gw_public = [f"{gateway.public_address}/{block_of[gateway.name].prefixlen}"]
    gw_public += [f"{h.public_address}/32" for h in cfg.hosts if h.public_address and h is not gateway]
    pool_gateways = [f"{next(p.prefix.hosts())}/{p.prefix.prefixlen}" for p in pools]
    hosts: list[LabHost] = []
    links: list[tuple[tuple[str, str], tuple[str, str]]] = []

    inet_lo = [f"{a}/32" for a in (inet.resolver_client, inet.mail_sink, inet.name_server)]
    inet_lo += [f"{a}/32" for a in (*ROOT_SERVERS.values(), OLD_B_ROOT)]
    inet_routes = [Route(str(b), "eth0") for b in cfg.networks.public_blocks if b.version == 4]
    inet_routes += [Route(str(p.prefix), "eth0", via=str(gateway.public_address), onlink=True) for p in pools]
    hosts.append(LabHost(
        name="internet", namespace=ns_inet,
        roles=("internet", "resolver-client", "smtp-sink", "submission-sink", "dns-stub", "root-servers"),
        interfaces=(Interface("lo", tuple(inet_lo), kind="loopback"),
                    Interface("eth0", (f"{inet.router}/{inet.prefix.prefixlen}",), peer=(ns_of[gateway.name], wan))),
        routes=tuple(inet_routes),
    ))
    links.append(((ns_of[gateway.name], wan), (ns_inet, "eth0")))

    gw_server_address = f"{gateway.private_address}/{servers.prefixlen}"
    gw_interfaces = [Interface(wan, tuple(gw_public), peer=(ns_inet, "eth0")),
                     Interface(srv, (gw_server_address,), peer=(ns_switch, gateway.name))]
    if pools:
        gw_interfaces.append(Interface(cust, tuple(pool_gateways), peer=(ns_cust, "eth0")))
    hosts.append(_config_host(stack, gateway, ns_of[gateway.name], base, tuple(gw_interfaces),
                              (Route("default", wan, via=str(inet.router), onlink=True),), forwarding=True))
    links.append(((ns_of[gateway.name], srv), (ns_switch, gateway.name)))

    switch_ports = [Interface(SWITCH_BRIDGE, kind="bridge")]
    switch_ports.append(Interface(_ifname(gateway.name, "host name"), peer=(ns_of[gateway.name], srv),
                                  master=SWITCH_BRIDGE))
    for host in cfg.hosts:
        if host is gateway:
            continue
        if host.private_address not in servers:
            raise LabError(f"host {host.name}: {host.private_address} is not on the server segment {servers}")
        port = _ifname(host.name, "host name")
        switch_ports.append(Interface(port, peer=(ns_of[host.name], "eth0"), master=SWITCH_BRIDGE))
        interfaces = (Interface("eth0", (f"{host.private_address}/{servers.prefixlen}",), peer=(ns_switch, port)),)
        routes = (Route("default", "eth0", via=str(gateway.private_address)),)
        hosts.append(_config_host(stack, host, ns_of[host.name], base, interfaces, routes))
        links.append(((ns_of[host.name], "eth0"), (ns_switch, port)))
    hosts.append(LabHost(name="switch", namespace=ns_switch, roles=("switch",), interfaces=tuple(switch_ports)))

    customer = lab.customer.address
    pool = next((p for p in pools if customer in p.prefix), None)
    if pool is None:
        raise LabError(f"lab:customer.address {customer} is in none of the IPv4 customer pools")
    pool_gateway = next(pool.prefix.hosts())
    if customer == pool_gateway:
        raise LabError(f"lab:customer.address {customer} is the gateway's own address in pool {pool.prefix}")
    hosts.append(LabHost(
        name="customer", namespace=ns_cust, roles=("customer",),
        interfaces=(Interface("eth0", (f"{customer}/{pool.prefix.prefixlen}",), peer=(ns_of[gateway.name], cust)),),
        routes=(Route("default", "eth0", via=str(pool_gateway)),),
    ))
    links.append(((ns_of[gateway.name], cust), (ns_cust, "eth0")))
    _check_disjoint(stack, hosts)
    return Topology(stack=stack, hosts=tuple(hosts), links=tuple(links))


def _config_host(stack: LabStack, host: Host, ns: str, base: str, interfaces: tuple[Interface, ...],
                 routes: tuple[Route, ...], forwarding: bool = False) -> LabHost:
    connection = HostConnection.local(stack.cfg.fqdn(host), host.name, stack.name, base)
    return LabHost(name=host.name, namespace=ns, roles=tuple(host.roles), interfaces=interfaces, routes=routes,
                   forwarding=forwarding, fqdn=stack.cfg.fqdn(host), root=connection.root,
                   services=_services(stack.cfg, host))


def _check_disjoint(stack: LabStack, hosts: list[LabHost]) -> None:
    """The outside world must not use our addresses: the probes would prove nothing."""
    ours = stack.cfg.networks.own_networks()
    if any(stack.lab.internet.prefix.overlaps(n) for n in ours if n.version == 4):
        raise LabError(f"lab:internet.prefix {stack.lab.internet.prefix} overlaps one of our own blocks")
    internet = next(h for h in hosts if h.name == "internet")
    for address in internet.addresses():
        if any(ipaddress.ip_address(address) in n for n in ours):
            raise LabError(f"the lab's internet address {address} is one of ours")
