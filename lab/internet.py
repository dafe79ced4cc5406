"""The lab's stand-in Internet, run inside the `internet` namespace: a root, an outside domain, mail sinks.

- An authoritative DNS stub (dnspython): on the root servers' addresses it serves a root zone
  that delegates the outside domain to `ns.<domain>` and our zones to our name servers; on
  `ns.<domain>` it serves the outside domain (www, mx, MX). So our resolver's recursion,
  unchanged, has somewhere to go. The lab's root is unsigned: the lab gives ns1 a negative
  trust anchor for it at run time (`rndc nta .`), nothing in our named.conf changes.
- An SMTP sink on `mx.<domain>`:25 and a submission sink on :587 that accept everything and
  log every connection and message (peer address, HELO, envelope) as JSON lines, which the
  probes read: where a mail from our mail host really came from. Each message's data is kept
  as received (`messages/<ns>.eml` next to the log, named in its record as `raw_file`), so a
  probe can verify its DKIM signatures as a receiver would.

`python -m lab.internet CONFIG.json` runs them all until killed (the lab starts it detached).
"""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

SINK_MAX_MESSAGE = 10 * 1024 * 1024
SINK_MESSAGES_DIRNAME = "messages"  # next to the sink's log: one .eml file per message received


# ---------------------------------------------------------------------------------------------
# Configuration (written by the lab from the topology)


def internet_config(topology: Any, sink_log: Path) -> dict[str, Any]:
    """What the services need, from the topology: addresses, zones' text, the sink's log file."""
    from lab.topology import OLD_B_ROOT, ROOT_SERVERS

    cfg, inet = topology.stack.cfg, topology.stack.lab.internet
    domain = inet.domain
    ns_hosts = cfg.hosts_with("dns")
    our_zones = _our_zones(cfg)
    root = [
        "$ORIGIN .",
        "$TTL 86400",
        f"@ IN SOA a.root-servers.net. nstld.{domain}. 1 1800 900 604800 86400",
        *(f"@ IN NS {name}." for name in ROOT_SERVERS),
        *(f"{name}. IN A {address}" for name, address in ROOT_SERVERS.items()),
        f"{domain}. IN NS ns.{domain}.",
        f"ns.{domain}. IN A {inet.name_server}",
    ]
    for zone in our_zones:
        root += [f"{zone}. IN NS {cfg.fqdn(h)}." for h in ns_hosts]
    root += [f"{cfg.fqdn(h)}. IN A {h.public_address}" for h in ns_hosts]
    outside = [
        f"$ORIGIN {domain}.",
        "$TTL 300",
        f"@ IN SOA ns.{domain}. hostmaster.{domain}. 1 3600 600 86400 300",
        f"@ IN NS ns.{domain}.",
        f"@ IN MX 10 mx.{domain}.",
        f"ns IN A {inet.name_server}",
        f"mx IN A {inet.mail_sink}",
        f"www IN A {_www_address(inet)}",
        '@ IN TXT "v=spf1 ip4:' + str(inet.mail_sink) + ' -all"',
    ]
    return {
        "dns": [
            {"addresses": [*ROOT_SERVERS.values(), OLD_B_ROOT], "origin": ".", "zone": "\n".join(root) + "\n"},
            {"addresses": [str(inet.name_server)], "origin": f"{domain}.", "zone": "\n".join(outside) + "\n"},
        ],
        "smtp": [
            {"address": str(inet.mail_sink), "port": 25, "banner": f"mx.{domain} ESMTP lab sink"},
            {"address": str(inet.mail_sink), "port": 587, "banner": f"mx.{domain} ESMTP lab submission sink"},
        ],
        "sink_log": str(sink_log),
        "sink_messages": str(Path(str(sink_log)).parent / SINK_MESSAGES_DIRNAME),
    }


def _www_address(inet: Any) -> str:
    """www.<outside domain>: an address of the outside world that nothing in the lab owns."""
    import ipaddress

    return str(ipaddress.ip_address(int(inet.prefix.network_address) + 80))


def _our_zones(cfg: Any) -> list[str]:
    from components.dns_data import pool_zone_name, reverse_zones

    zones = [z.name for z in cfg.zones]
    zones += [data.zone for data in reverse_zones(cfg)]
    if cfg.networks.customer_pools:
        zones.append(pool_zone_name(cfg))
    return zones


# ---------------------------------------------------------------------------------------------
# The authoritative stub


@dataclass
class AuthoritativeZone:
    origin: dns.name.Name
    zone: dns.zone.Zone

    @classmethod
    def from_text(cls, origin: str, text: str) -> AuthoritativeZone:
        name = dns.name.from_text(origin)
        return cls(name, dns.zone.from_text(text, origin=name, relativize=False, check_origin=True))

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """Answer as an authoritative server: answer, referral, NODATA or NXDOMAIN (no recursion)."""
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        if not qname.is_subdomain(self.origin):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        # A delegation on the way down (the parent answers DS at the cut itself).
        labels = len(qname) - len(self.origin)
        for depth in range(1, labels + 1):
            cut = qname.split(len(self.origin) + depth)[1]
            ns = self.zone.get_rdataset(cut, dns.rdatatype.NS)
            if ns is not None and not (cut == qname and qtype == dns.rdatatype.DS):
                response.authority.append(dns.rrset.from_rdata_list(cut, ns.ttl, list(ns)))
                for target in ns:
                    glue = self.zone.get_rdataset(target.target, dns.rdatatype.A)
                    if glue is not None:
                        response.additional.append(dns.rrset.from_rdata_list(target.target, glue.ttl, list(glue)))
                return response
        response.flags |= dns.flags.AA
        node = self.zone.get_node(qname)
        if node is not None:
            found = node.get_rdataset(dns.rdataclass.IN, qtype)
            if found is not None:
                response.answer.append(dns.rrset.from_rdata_list(qname, found.ttl, list(found)))
                return response
        elif not any(name.is_subdomain(qname) for name in self.zone.nodes):
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        response.authority.append(dns.rrset.from_rdata_list(self.origin, soa.ttl, list(soa)))
        return response


def _wire(response: dns.message.Message, query: dns.message.Message, over_udp: bool) -> bytes:
    limit = 65535
    if over_udp:
        limit = max(512, query.payload) if query.edns >= 0 else 512
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        truncated = dns.message.make_response(query)
        truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
        return truncated.to_wire()


def _answer(zone: AuthoritativeZone, data: bytes, over_udp: bool) -> bytes | None:
    try:
        query = dns.message.from_wire(data)
    except Exception:  # noqa: BLE001 - garbage in: no answer, like a real server
        return None
    return _wire(zone.respond(query), query, over_udp)


class _DnsDatagram(asyncio.DatagramProtocol):
    def __init__(self, zone: AuthoritativeZone):
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = _answer(self.zone, data, over_udp=True)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


async def _dns_stream(zone: AuthoritativeZone, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            length = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
            answer = _answer(zone, await asyncio.wait_for(reader.readexactly(length), 10), over_udp=False)
            if answer is None:
                break
            writer.write(struct.pack("!H", len(answer)) + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------------
# The SMTP sinks


class SinkLog:
    def __init__(self, path: Path, messages: Path):
        self.path = path
        self.messages = messages
        path.parent.mkdir(parents=True, exist_ok=True)

    def keep(self, data: bytes) -> Path:
        """The message exactly as received (headers and body, dots unstuffed), so that a probe can
        verify its signatures as a receiver would: one file per message next to the log."""
        self.messages.mkdir(parents=True, exist_ok=True)
        path = self.messages / f"{time.time_ns()}.eml"
        path.write_bytes(data)
        return path

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": time.time(), **record}) + "\n")


async def _smtp_session(banner: str, port: int, log: SinkLog, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")[0]
    local = writer.get_extra_info("sockname")[0]
    helo, mail_from, rcpts = "", "", []
    log.write({"event": "connect", "port": port, "peer": peer, "local": local})

    async def reply(text: str) -> None:
        writer.write(text.encode() + b"\r\n")
        await writer.drain()

    try:
        await reply(f"220 {banner}")
        while True:
            line = (await asyncio.wait_for(reader.readline(), 30)).decode(errors="replace").rstrip("\r\n")
            if not line:
                break
            verb = line.split(" ", 1)[0].upper()
            argument = line[len(verb):].strip()
            if verb in ("EHLO", "HELO"):
                helo = argument
                await reply(f"250-{banner.split()[0]}\r\n250-SIZE {SINK_MAX_MESSAGE}\r\n250 8BITMIME"
                            if verb == "EHLO" else f"250 {banner.split()[0]}")
            elif verb == "MAIL":
                mail_from, rcpts = argument, []
                await reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(argument)
                await reply("250 2.1.5 Ok")
            elif verb == "DATA":
                await reply("354 End data with <CR><LF>.<CR><LF>")
                body = bytearray()
                while True:
                    chunk = await asyncio.wait_for(reader.readline(), 30)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    if chunk.startswith(b"."):
                        chunk = chunk[1:]  # RFC 5321 §4.5.2: the receiver removes the transparency dot
                    if len(body) < SINK_MAX_MESSAGE:
                        body += chunk
                log.write({"event": "message", "port": port, "peer": peer, "local": local, "helo": helo,
                           "mail_from": mail_from, "rcpt_to": rcpts, "bytes": len(body),
                           "headers": body.split(b"\r\n\r\n", 1)[0].decode(errors="replace")[:2000],
                           "raw_file": str(log.keep(bytes(body)))})
                await reply("250 2.0.0 Ok: queued by the lab sink")
            elif verb in ("RSET", "NOOP"):
                await reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                await reply("221 2.0.0 Bye")
                break
            else:
                await reply("502 5.5.2 Command not recognized")
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    servers: list[Any] = []
    for entry in config["dns"]:
        zone = AuthoritativeZone.from_text(entry["origin"], entry["zone"])
        for address in entry["addresses"]:
            transport, _ = await loop.create_datagram_endpoint(lambda z=zone: _DnsDatagram(z), local_addr=(address, 53))
            servers.append(transport)
            servers.append(await asyncio.start_server(lambda r, w, z=zone: _dns_stream(z, r, w), address, 53))
    log = SinkLog(Path(config["sink_log"]), Path(config["sink_messages"]))
    for entry in config["smtp"]:
        servers.append(await asyncio.start_server(
            lambda r, w, e=entry: _smtp_session(e["banner"], e["port"], log, r, w), entry["address"], entry["port"]))
    print("ready", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
