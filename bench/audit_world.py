"""A stack's public network on loopback, for `bench/audit.py`: the stack's hosts moved to 127.0.0.x by
`--set` overrides, and fake servers there that answer as a stack holding every lesson would.

`relocation(stack)` gives the `--set` pairs: every host's public address `a.b.c.N` becomes `127.0.0.N`
(the last octet kept, so the evidence still reads like the stack), `networks.publicBlocks` becomes
127.0.0.0/24, and IPv6 addresses are dropped (loopback has one IPv6 address, ::1; a v4-mapped address
reads differently in Python's and dnspython's text, so the checks would compare unlike strings).

`LoopbackWorld(cfg, expect, silent=..., vantage=...)` serves, from the relocated config's own records
(components/dns_data.py, the functions the program publishes with): the name servers (authoritative
for the zones our BIND serves, recursion refused from outside, offered to customers), a resolver for
`--resolver` (the Cloudflare zones), the mail host (SMTP on 25 and the submission ports, IMAPS on 993)
and the web host (HTTPS with the webmail and MTA-STS names, plain HTTP redirecting). A host named in
`silent` gets a `SilentHost` instead: a filtered host. Every fake of one well-known port shares one
ephemeral port, so one `Net(ports=...)` mapping reaches every address; nothing listens off loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
from collections.abc import Iterable
from pathlib import Path

import yaml

from audit.expect import Expectation
from audit.net import Net
from audit.resolver import StackResolver
from components.dns_data import mta_sts_policies, pool_zone_file, reverse_zones, zone_records
from tests.audit.fakes import FakeDns, FakeHttp, FakeHttps, FakeSmtp, FakeTls, fake_ca, make_certificate

LOOPBACK_BLOCK = "127.0.0.0/24"
RESOLVER = "127.0.0.253"  # --resolver: outside the relocated hosts' block, as a resolver would be
OUTSIDE_SMTP = "127.0.0.254"  # --outside-smtp (customer vantage): nothing listens, so port 25 is "blocked"
OUTSIDE_NAME = "www.outside.test"  # in no zone of any stack
DNS, SMTP, HTTP, HTTPS, IMAPS = 53, 25, 80, 443, 993
MAIL_PORTS_STARTTLS = (25, 587, 2525)
MAIL_PORTS_IMPLICIT = (465,)
SOA = "{ns}. {contact}. 1 7200 900 1209600 300"


def relocated(address: str) -> str:
    return f"127.0.0.{ipaddress.IPv4Address(address).packed[-1]}"


def relocation(stack: str, project_dir: Path) -> list[str]:
    """`--set KEY=JSON` pairs that move the stack's public hosts onto loopback, nothing else changed."""
    document = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text())
    hosts = []
    for host in document["config"]["isp:hosts"]:
        host = {key: value for key, value in host.items() if key != "publicAddress6"}
        if "publicAddress" in host:
            host["publicAddress"] = relocated(host["publicAddress"])
        hosts.append(host)
    return [f"isp:hosts={json.dumps(hosts)}", f'isp:networks={json.dumps({"publicBlocks": [LOOPBACK_BLOCK]})}']


def published_zones(cfg) -> dict[tuple[str, str], list[str]]:
    """Every record the stack publishes, as FakeDns zones: forward zones (Cloudflare's, or BIND's in the
    lab), reverse zones with the hosts' PTRs, the pool zone's SOA."""
    zones: dict[tuple[str, str], list[str]] = {}
    soa = SOA.format(ns=cfg.fqdn(cfg.hosts_with("dns")[0]), contact=cfg.organization.contact_email.replace("@", "."))
    for zone in cfg.zones:
        zones[(zone.name, "SOA")] = [soa]
        for record in zone_records(cfg, zone):
            content = record.content
            if record.type in ("CNAME", "MX", "NS", "PTR") and not content.endswith("."):
                content += "."
            if record.type == "MX":
                content = f"{record.priority} {content}"
            zones.setdefault((record.name, record.type), []).append(content)
    for reverse in reverse_zones(cfg):
        zones[(reverse.zone, "SOA")] = [soa]
        for owner, target in reverse.absolute_ptrs():
            zones.setdefault((owner, "PTR"), []).append(f"{target}.")
    if (pool := pool_zone_file(cfg)) is not None:
        zones[(pool.zone, "SOA")] = [soa]
    return zones


class SilentHost:
    """A filtered host on one loopback address: a TCP SYN to any of `tcp_ports` is dropped, a UDP datagram
    to any of `udp_ports` is read by nobody, so a client waits out its timeout (no RST, no ICMP).

    Each TCP port is a listener with a backlog of 0 whose one accept-queue place is taken by a connection
    of our own that is never accepted: Linux then drops further SYNs (the queue is full and
    net.ipv4.tcp_abort_on_overflow is 0), as a firewall would. Nothing is ever read or sent."""

    def __init__(self, address: str, tcp_ports: dict[int, int], udp_ports: dict[int, int]):
        """`{well-known port: port}`; port 0 takes an ephemeral one, then `.tcp_ports`/`.udp_ports` say which."""
        self.address, self.tcp_ports, self.udp_ports = address, dict(tcp_ports), dict(udp_ports)
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> SilentHost:
        try:
            for well_known, port in self.udp_ports.items():
                self.udp_ports[well_known] = self._bind(socket.SOCK_DGRAM, port).getsockname()[1]
            for well_known, port in self.tcp_ports.items():
                # DNS over TCP on its UDP port, as a client retrying over TCP expects
                listener = self._bind(socket.SOCK_STREAM, port or self.udp_ports.get(well_known, 0))
                listener.listen(0)
                self.tcp_ports[well_known] = port = listener.getsockname()[1]
                self._sockets.append(socket.create_connection((self.address, port), timeout=5))  # fills the queue
        except BaseException:
            self.__exit__()
            raise
        return self

    def _bind(self, kind: int, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sockets.append(sock)
        sock.bind((self.address, port))
        return sock

    def __exit__(self, *exc_info) -> None:
        for sock in self._sockets:
            sock.close()


class LoopbackWorld:
    """The stack's public hosts answering on loopback; `.network` is a `network=` for audit.cli.main."""

    def __init__(self, cfg, expect: Expectation, *, silent: Iterable[str] = (), vantage: str = "outside"):
        """`silent`: host FQDNs, or RESOLVER, that never answer."""
        self.cfg, self.expect, self.vantage = cfg, expect, vantage
        self.silent = set(silent)
        self.ports: dict[int, int] = {}
        self._dns: list[FakeDns] = []
        self._stack = contextlib.ExitStack()

    def _serve(self, well_known: int, server):
        """Start `server` (built for port self.ports.get(well_known, 0)) and remember its port."""
        started = self._stack.enter_context(server)
        self.ports.setdefault(well_known, started.port)
        if isinstance(started, FakeDns):
            self._dns.append(started)
        return started

    def fake_failures(self) -> list[str]:
        """Queries a fake name server could not answer: the world's bug, which would pass for silence."""
        return [f"{server.address}: {failure}" for server in self._dns for failure in server.failures]

    def __enter__(self) -> LoopbackWorld:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def _start(self) -> None:
        zones = published_zones(self.cfg)
        if RESOLVER not in self.silent:  # an open resolver: the Cloudflare zones' records, no AA
            self._serve(DNS, FakeDns(zones, origins=[], refuse_recursion=False, host=RESOLVER))
        ca = fake_ca()
        for endpoint in self.expect.name_servers:
            if endpoint.name not in self.silent:
                for address in endpoint.addresses:
                    self._serve(DNS, FakeDns(zones, origins=self.expect.bind_zones, host=address,
                                             port=self.ports.get(DNS, 0), refuse_recursion=self.vantage == "outside"))
        for endpoint in self.expect.mail_hosts:
            if endpoint.name in self.silent:
                continue
            certificate = make_certificate([endpoint.name], ca=ca)
            common = dict(banner=f"220 {endpoint.name} ESMTP", ehlo_name=endpoint.name, certificate=certificate,
                          ehlo_lines=("PIPELINING", "8BITMIME"), tls_ehlo_lines=("PIPELINING", "AUTH PLAIN LOGIN"))
            for address in endpoint.addresses:
                for port in (*MAIL_PORTS_STARTTLS, *MAIL_PORTS_IMPLICIT):
                    self._serve(port, FakeSmtp(**common, implicit_tls=port in MAIL_PORTS_IMPLICIT, host=address,
                                               port=self.ports.get(port, 0)))
                self._serve(IMAPS, FakeTls(certificate, greeting=b"* OK IMAP4rev1 ready\r\n", host=address,
                                           port=self.ports.get(IMAPS, 0)))
        self._start_web(ca)
        for endpoint in (*self.expect.name_servers, *self.expect.mail_hosts):
            if endpoint.name in self.silent:
                for address in endpoint.addresses:
                    self._silent_host(address)
        if RESOLVER in self.silent:
            self._silent_host(RESOLVER)

    def _start_web(self, ca) -> None:
        by_host: dict[str, list[str]] = {}
        for web in self.expect.web_names:
            for address in web.host.addresses:
                by_host.setdefault(address, []).append(web.name)
        policies = mta_sts_policies(self.cfg)
        https_routes = {(f"mta-sts.{domain}", "/.well-known/mta-sts.txt"): (200, {"Content-Type": "text/plain"}, text)
                        for domain, policy_text in policies.items() for text in (policy_text,)}
        for address, names in by_host.items():
            http_routes = {(name, "/"): (301, {"Location": f"https://{name}/"}, b"") for name in names}
            certificate = make_certificate(sorted(set(names)), ca=ca)
            self._serve(HTTPS, FakeHttps(https_routes, certificate, host=address, port=self.ports.get(HTTPS, 0)))
            self._serve(HTTP, FakeHttp(http_routes, host=address, port=self.ports.get(HTTP, 0)))

    def _silent_host(self, address: str) -> SilentHost:
        """Every port the audit might ask a host on; a port no fake has yet takes an ephemeral one."""
        tcp = (SMTP, *MAIL_PORTS_STARTTLS, *MAIL_PORTS_IMPLICIT, IMAPS, DNS, HTTP, HTTPS)
        host = self._stack.enter_context(SilentHost(address, {p: self.ports.get(p, 0) for p in dict.fromkeys(tcp)},
                                                    {DNS: self.ports.get(DNS, 0)}))
        for well_known, port in (*host.udp_ports.items(), *host.tcp_ports.items()):
            self.ports.setdefault(well_known, port)
        return host

    def network(self, expect: Expectation, options) -> tuple[Net, StackResolver]:
        """audit/cli.py's build_network, with the well-known ports mapped to the fakes' ports."""
        extra = {a for a in (options.resolver, options.outside_smtp) if a}
        net = Net(allowed=expect.addresses | extra, timeout=options.timeout, tries=options.tries, ports=self.ports)
        return net, StackResolver(expect, net, options.resolver)
