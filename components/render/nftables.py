"""The border gateway's nftables ruleset.

Lessons carried: 1 (customers' TCP/25 only to our own mail hosts, everything else on 25 rejected
with a TCP reset and counted), 4 (submission ports 587/465/2525 always open to customers), 7 (each
mail host's 1:1 NAT: `ip daddr PUB dnat to PRIV` and `ip saddr PRIV snat to PUB`, the snat placed
before any general snat so the host sends from the address it receives on), 11 (dial-up pools'
mail redirected to the mail host's smaller-size-limit listeners). A server that reaches another by
its public address (webmail's Roundcube to mail.<domain>) is masqueraded behind the gateway
(hairpin NAT), so the answer returns the way the question came.

And no lockout: the deploy reaches every host over SSH, each on its own port (`hosts[].sshPort`).
The input chain admits the gateway's own SSH port from the management networks; the forward
chain admits, from the same networks, each other host's SSH port at its private address (what
a 1:1 NATed public address becomes before filtering) and its public IPv6 address, ahead of
every reject, for a deploy that sits outside the server networks and so crosses the gateway.
Whether a ruleset admits the deploy at all is judged by `components.gateway` (which knows the
hosts and the config keys), and again on the gateway before the ruleset is applied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from components.render import quoting
from components.render.postfix import DIALUP_SUBMISSION_PORT, DIALUP_SUBMISSIONS_PORT

SMTP_PORT = 25
DEFAULT_SSH_PORT = 22  # only the default: the gateway passes each host's own sshPort
DEFAULT_SUBMISSION_PORTS = (587, 465, 2525)
_IMPLICIT_TLS_SUBMISSION_PORT = 465
_ICMP_TYPES = "destination-unreachable, time-exceeded, parameter-problem, echo-request"
_ICMPV6_TYPES = "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request"
_ICMPV6_NEIGHBOUR_TYPES = "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert"


def render_gateway_ruleset(
    *,
    wan_interface: str,
    lan_interfaces: Sequence[str],
    customer_pools: Sequence[str],
    server_networks: Sequence[str],
    mail_hosts: Sequence[tuple[str, str]],
    public_address: str | ipaddress.IPv4Address,
    own_mail_submission_ports: Sequence[int] = DEFAULT_SUBMISSION_PORTS,
    ssh_management_networks: Sequence[str] = (),
    ipv6_customer_pools: Sequence[str] = (),
    mail_hosts_ipv6: Sequence[str] = (),
    published_services: Sequence[tuple[str, str, int]] = (),
    dialup_pools: Sequence[str] = (),
    dialup_submission_port: int = DIALUP_SUBMISSION_PORT,
    dialup_tls_wrapper_port: int = DIALUP_SUBMISSIONS_PORT,
    static_nat: Sequence[tuple[str, str]] = (),
    ssh_port: int = DEFAULT_SSH_PORT,
    ssh_hosts: Sequence[tuple[str, int]] = (),
) -> str:
    """The whole ruleset for `nft -f`: `flush ruleset`, `table inet filter`, `table ip nat`.

    - `mail_hosts`: (private IPv4, public IPv4) per mail host, mapped 1:1 (lesson 7).
    - `customer_pools` (IPv4 or IPv6; `ipv6_customer_pools` adds more): TCP/25 from them is
      accepted only towards the mail hosts (`mail_hosts` and `mail_hosts_ipv6`), otherwise
      rejected with a TCP reset and counted (lesson 1); `own_mail_submission_ports` are open
      to anywhere (lesson 4); all else towards the WAN is accepted. Unroutable IPv4 pools
      (RFC 1918, CGNAT) are translated to `public_address`.
    - `server_networks` go out freely and are translated to `public_address` if unroutable;
      mail hosts first get their own address.
    - Inbound to our servers: the mail hosts' SMTP and submission ports, plus
      `published_services` as (address, "tcp"|"udp", port); a mail host's public address there
      stands for its private one (filtering happens after dnat). Nothing else.
    - The gateway itself (input) accepts SSH only from `ssh_management_networks`, on `ssh_port`
      (the port the deploy connects to: the gateway host's sshPort).
    - `ssh_hosts`: (address, port) of each other host the deploy reaches over SSH; from the
      management networks, its port at that address is forwarded (a NATed host's public IPv4
      address stands for its private one), before any reject.
    - `static_nat`: (private, public) for our other hosts with a public address (name servers,
      web): the same 1:1 mapping, without the mail hosts' port-25 privileges; what reaches
      them is only what `published_services` opens.
    - `dialup_pools` (IPv4, inside a customer pool): their mail to a mail host on 25/587/2525
      goes to `dialup_submission_port`, on 465 to `dialup_tls_wrapper_port` (the listeners with
      the smaller size limit in master.cf), because a customer cannot be relied on to pick a port.
    """
    wan = quoting.interface_name(wan_interface, "wan_interface")
    lans = [
        quoting.interface_name(name, f"lan_interfaces[{i}]")
        for i, name in enumerate(quoting.listing(lan_interfaces, "lan_interfaces"))
    ]
    if not lans:
        raise quoting.RenderValueError("lan_interfaces", lan_interfaces, "must name at least one interface")
    quoting.unique(lans, "lan_interfaces")
    if wan in lans:
        raise quoting.RenderValueError("lan_interfaces", wan, "is also the wan_interface")
    gateway_public = quoting.ip_address(public_address, "public_address", version=4)

    pools = quoting.ip_networks(customer_pools, "customer_pools") + quoting.ip_networks(
        ipv6_customer_pools, "ipv6_customer_pools", version=6
    )
    servers = quoting.ip_networks(server_networks, "server_networks")
    management = quoting.ip_networks(ssh_management_networks, "ssh_management_networks")
    if overlap := quoting.first_overlap(pools, servers):
        pool, server = overlap
        raise quoting.RenderValueError("customer_pools", str(pool), f"overlaps server network {server}")

    mail_pairs = _nat_pairs(mail_hosts, gateway_public)
    static_pairs = _nat_pairs(static_nat, gateway_public, parameter="static_nat")
    quoting.unique([address for pair in mail_pairs + static_pairs for address in pair], "static_nat")
    mail_v6 = [
        quoting.ip_address(a, f"mail_hosts_ipv6[{i}]", version=6)
        for i, a in enumerate(quoting.listing(mail_hosts_ipv6, "mail_hosts_ipv6"))
    ]
    for private, _ in mail_pairs:
        if not any(private in server for server in servers):
            raise quoting.RenderValueError("mail_hosts", str(private), "must lie inside one of server_networks")

    submission_ports = [
        quoting.port(p, f"own_mail_submission_ports[{i}]")
        for i, p in enumerate(quoting.listing(own_mail_submission_ports, "own_mail_submission_ports"))
    ]
    quoting.unique(submission_ports, "own_mail_submission_ports")
    if SMTP_PORT in submission_ports:
        raise quoting.RenderValueError(
            "own_mail_submission_ports", SMTP_PORT, "port 25 is not a submission port (lesson 1)"
        )
    if not submission_ports:
        raise quoting.RenderValueError("own_mail_submission_ports", own_mail_submission_ports, "must not be empty")

    # Services are matched after dnat, so a NATed host's public address means its private one.
    private_of = {public: private for private, public in mail_pairs + static_pairs}
    services = [
        (private_of.get(address, address), protocol, number)
        for address, protocol, number in _published_services(published_services)
    ]
    dialup = quoting.ip_networks(dialup_pools, "dialup_pools", version=4)
    for network, inside in zip(dialup, quoting.networks_within(dialup, pools), strict=True):
        if not inside:
            raise quoting.RenderValueError("dialup_pools", str(network), "must lie inside one of customer_pools")
    dialup_ports = (
        quoting.port(dialup_submission_port, "dialup_submission_port"),
        quoting.port(dialup_tls_wrapper_port, "dialup_tls_wrapper_port"),
    )
    if dialup and (set(dialup_ports) & {SMTP_PORT, *submission_ports} or dialup_ports[0] == dialup_ports[1]):
        raise quoting.RenderValueError(
            "dialup_submission_port", dialup_ports, "must be two distinct ports apart from 25 and submission"
        )

    gateway_ssh = quoting.port(ssh_port, "ssh_port")
    deploy_ssh = [(private_of.get(address, address), number) for address, number in _ssh_hosts(ssh_hosts)]
    quoting.unique(deploy_ssh, "ssh_hosts")

    mail_v4_addresses = [address for pair in mail_pairs for address in pair]
    lan_set = _set_literal(f'"{name}"' for name in lans)
    mail_ports = _set_literal(str(p) for p in sorted({SMTP_PORT, *submission_ports}))
    submission_set = _set_literal(str(p) for p in sorted(submission_ports))

    forward = [
        "ct state established,related accept",
        "ct state invalid drop",
        f"icmp type {{ {_ICMP_TYPES} }} accept",
        f"icmpv6 type {{ {_ICMPV6_TYPES} }} accept",
        *(["# The deploy's SSH to each host, from the management networks only; ahead of every reject."]
          if deploy_ssh else []),
        *(
            f"{'ip' if address.version == 4 else 'ip6'} saddr @management_v{address.version} "
            f"{'ip' if address.version == 4 else 'ip6'} daddr {address} tcp dport {number} accept"
            for address, number in deploy_ssh
        ),
        "# Lesson 1: customers reach port 25 of our own mail hosts only; any other TCP/25 is reset and counted.",
        f"ip saddr @customer_pools_v4 ip daddr @mail_hosts_v4 tcp dport {SMTP_PORT} accept",
        f"ip6 saddr @customer_pools_v6 ip6 daddr @mail_hosts_v6 tcp dport {SMTP_PORT} accept",
        f"ip saddr @customer_pools_v4 tcp dport {SMTP_PORT} counter reject with tcp reset",
        f"ip6 saddr @customer_pools_v6 tcp dport {SMTP_PORT} counter reject with tcp reset",
        "# Lesson 4: submission ports stay open for customers, to us and to any provider.",
        f"ip saddr @customer_pools_v4 tcp dport {submission_set} accept",
        f"ip6 saddr @customer_pools_v6 tcp dport {submission_set} accept",
    ]
    if dialup and mail_pairs:
        dialup_listeners = _set_literal(str(p) for p in sorted(dialup_ports))
        forward.append(f"ip saddr @dialup_pools_v4 ip daddr @mail_hosts_v4 tcp dport {dialup_listeners} accept")
    forward += [
        "# Inbound to our servers: the published services only.",
        f"ip daddr @mail_hosts_v4 tcp dport {mail_ports} accept",
        f"ip6 daddr @mail_hosts_v6 tcp dport {mail_ports} accept",
        *(
            f"{'ip' if address.version == 4 else 'ip6'} daddr {address} {protocol} dport {service_port} accept"
            for address, protocol, service_port in services
        ),
        "# Out to the Internet: customers (port 25 handled above) and our servers.",
        f'iifname {lan_set} oifname "{wan}" ip saddr @customer_pools_v4 accept',
        f'iifname {lan_set} oifname "{wan}" ip6 saddr @customer_pools_v6 accept',
        f'iifname {lan_set} oifname "{wan}" ip saddr @server_networks_v4 accept',
        f'iifname {lan_set} oifname "{wan}" ip6 saddr @server_networks_v6 accept',
    ]

    input_rules = [
        "ct state established,related accept",
        "ct state invalid drop",
        'iif "lo" accept',
        f"icmp type {{ {_ICMP_TYPES} }} accept",
        f"icmpv6 type {{ {_ICMPV6_TYPES}, {_ICMPV6_NEIGHBOUR_TYPES} }} accept",
        "# SSH to the gateway (the port the deploy connects to) from the management networks only.",
        f"ip saddr @management_v4 tcp dport {gateway_ssh} accept",
        f"ip6 saddr @management_v6 tcp dport {gateway_ssh} accept",
    ]

    sets = [
        _named_set("customer_pools_v4", 4, [p for p in pools if p.version == 4], interval=True),
        _named_set("customer_pools_v6", 6, [p for p in pools if p.version == 6], interval=True),
        _named_set("dialup_pools_v4", 4, dialup, interval=True),
        _named_set("server_networks_v4", 4, [n for n in servers if n.version == 4], interval=True),
        _named_set("server_networks_v6", 6, [n for n in servers if n.version == 6], interval=True),
        _named_set("management_v4", 4, [n for n in management if n.version == 4], interval=True),
        _named_set("management_v6", 6, [n for n in management if n.version == 6], interval=True),
        _named_set("mail_hosts_v4", 4, mail_v4_addresses, interval=False),
        _named_set("mail_hosts_v6", 6, sorted(set(mail_v6)), interval=False),
    ]

    prerouting = []
    starttls_ports = _set_literal(
        str(p) for p in sorted({SMTP_PORT, *submission_ports} - {_IMPLICIT_TLS_SUBMISSION_PORT})
    )
    for private, public in mail_pairs:
        if dialup:
            # Lesson 11: before the plain 1:1 dnat, which would otherwise match first.
            dialup_mail = (
                f"ip saddr {_set_literal(str(n) for n in dialup)} ip daddr {{ {public}, {private} }} tcp dport"
            )
            prerouting.append(f"{dialup_mail} {starttls_ports} dnat to {private}:{dialup_ports[0]}")
            if _IMPLICIT_TLS_SUBMISSION_PORT in submission_ports:
                prerouting.append(f"{dialup_mail} {_IMPLICIT_TLS_SUBMISSION_PORT} dnat to {private}:{dialup_ports[1]}")
        prerouting.append(f"ip daddr {public} dnat to {private}")
    prerouting += [f"ip daddr {public} dnat to {private}" for private, public in static_pairs]

    # Lesson 7: each mail host's own snat first; the general translation below would match too.
    postrouting = [
        f'oifname "{wan}" ip saddr {private} snat to {public}' for private, public in mail_pairs + static_pairs
    ]
    translated = [n for n in servers if n.version == 4 and _unroutable(n)] + [
        p for p in pools if p.version == 4 and _unroutable(p)
    ]
    if translated:
        postrouting.append(
            f'oifname "{wan}" ip saddr {_set_literal(str(n) for n in translated)} snat to {gateway_public}'
        )
    servers_v4 = [n for n in servers if n.version == 4]
    if (mail_pairs or static_pairs) and servers_v4:
        # Hairpin: a server reaching a neighbour by its public name (Roundcube on webmail to mail.<domain>)
        # is dnat'ed here; without this the neighbour would answer straight across the segment from its
        # private address and the handshake would never complete. Never on the WAN: lesson 7 is untouched.
        server_set = _set_literal(str(n) for n in servers_v4)
        postrouting.append(f'oifname != "{wan}" ip saddr {server_set} ip daddr {server_set} ct status dnat masquerade')

    set_declarations = "\n".join(sets)
    return f"""\
#!/usr/sbin/nft -f
# Border gateway ruleset. Rendered by the ISP program; edits are overwritten.
flush ruleset

table inet filter {{
{set_declarations}
\tchain input {{
\t\ttype filter hook input priority filter; policy drop;
{_rules(input_rules)}\t}}

\tchain forward {{
\t\ttype filter hook forward priority filter; policy drop;
{_rules(forward)}\t}}

\tchain output {{
\t\ttype filter hook output priority filter; policy accept;
\t}}
}}

table ip nat {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
{_rules(prerouting)}\t}}

\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
{_rules(postrouting)}\t}}
}}
"""


# Address space that cannot appear on the Internet and so must be translated: RFC 1918 and
# CGNAT (RFC 6598). Documentation ranges (RFC 5737) stand in for public blocks in examples.
_UNROUTABLE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


def _unroutable(network: ipaddress.IPv4Network) -> bool:
    return any(network.subnet_of(block) for block in _UNROUTABLE)


def _nat_pairs(
    mail_hosts: object, gateway_public: ipaddress.IPv4Address, parameter: str = "mail_hosts"
) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
    pairs = []
    for i, pair in enumerate(quoting.listing(mail_hosts, parameter)):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise quoting.RenderValueError(
                f"{parameter}[{i}]", pair, "must be a (private address, public address) pair"
            )
        private = quoting.ip_address(pair[0], f"{parameter}[{i}]", version=4)
        public = quoting.ip_address(pair[1], f"{parameter}[{i}]", version=4)
        if public == gateway_public:
            raise quoting.RenderValueError(
                f"{parameter}[{i}]", str(public), "is the gateway's own public_address; 1:1 NAT needs its own"
            )
        if private == public:
            raise quoting.RenderValueError(f"{parameter}[{i}]", pair, "private and public address are the same")
        pairs.append((private, public))
    quoting.unique([address for pair in pairs for address in pair], parameter)
    return pairs


def _published_services(services: object) -> list[tuple[quoting.IPAddress, str, int]]:
    parsed = []
    for i, service in enumerate(quoting.listing(services, "published_services")):
        if isinstance(service, str) or not isinstance(service, Sequence) or len(service) != 3:
            raise quoting.RenderValueError(f"published_services[{i}]", service, 'must be (address, "tcp"|"udp", port)')
        address = quoting.ip_address(service[0], f"published_services[{i}]")
        if service[1] not in ("tcp", "udp"):
            raise quoting.RenderValueError(f"published_services[{i}]", service[1], 'protocol must be "tcp" or "udp"')
        parsed.append((address, service[1], quoting.port(service[2], f"published_services[{i}]")))
    quoting.unique(parsed, "published_services")
    return parsed


def _ssh_hosts(hosts: object) -> list[tuple[quoting.IPAddress, int]]:
    parsed = []
    for i, entry in enumerate(quoting.listing(hosts, "ssh_hosts")):
        if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) != 2:
            raise quoting.RenderValueError(f"ssh_hosts[{i}]", entry, "must be an (address, port) pair")
        parsed.append((quoting.ip_address(entry[0], f"ssh_hosts[{i}]"), quoting.port(entry[1], f"ssh_hosts[{i}]")))
    return parsed


def _named_set(name: str, version: int, elements: Sequence[object], *, interval: bool) -> str:
    flags = "\t\tflags interval\n\t\tauto-merge\n" if interval else ""
    content = f"\t\telements = {_set_literal(str(e) for e in elements)}\n" if elements else ""
    return f"\tset {name} {{\n\t\ttype ipv{version}_addr\n{flags}{content}\t}}\n"


def _set_literal(items: object) -> str:
    return "{ " + ", ".join(items) + " }"


def _rules(rules: Sequence[str]) -> str:
    return "".join(f"\t\t{rule}\n" for rule in rules)
