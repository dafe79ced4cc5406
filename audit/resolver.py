"""Names as the audit looks them up: our own zones from our own name servers, anything else only
through the resolver the operator gave (`--resolver`), never the system's.

A name in one of `expect.bind_zones` is asked of our name servers with RD off (RFC 1034 §4.3.1: an
authoritative answer, no recursion asked), IPv4 addresses first, and the first server that answers
(any rcode) gives the answer; a server that once did not answer is asked last from then on, so a silent
name server costs the run one timeout, not one per question. Any other name (a Cloudflare zone, a PTR
the upstream provider serves, an SPF include) goes to `resolver` with RD on, or is not asked at all:
then the DnsAnswer has `asked=False` and says why, and a check makes it a WARN. Answers are kept for
the run (one audit asks each question once). `spf_dns()` plugs this into pyspf, which otherwise asks
the system resolver.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import dns.name
import dns.reversename

from audit.net import DnsAnswer, Net

if TYPE_CHECKING:
    from audit.expect import Expectation

CNAME_HOPS = 8  # a longer CNAME chain is a loop or a mistake; stop there
NOT_ASKED = "not asked"


def _absolute(name: str) -> str:
    return dns.name.from_text(name).to_text().lower()


def unanswerable(name: str, rdtype: str) -> DnsAnswer:
    return DnsAnswer(f"{name} {rdtype}: {NOT_ASKED}", asked=False,
                     error=f"{NOT_ASKED}: {name} is not in a zone our name servers serve; give --resolver")


class StackResolver:
    def __init__(self, expect: Expectation, net: Net, resolver: str | None = None):
        self.expect = expect
        self.net = net
        self.resolver = resolver
        self.zones = tuple(dns.name.from_text(z) for z in expect.bind_zones)
        addresses = [a for ns in expect.name_servers for a in ns.addresses]
        # every server's IPv4 before any IPv6: an auditing host without IPv6 loses no time first
        self.servers = tuple(dict.fromkeys(sorted(addresses, key=lambda a: ipaddress.ip_address(a).version)))
        self.asked: list[str] = []  # every question that went out, in order (query_text)
        self.silent: set[str] = set()  # our servers that did not answer a question of this run
        self._answers: dict[tuple[str, str], DnsAnswer] = {}

    def ours(self, name: str) -> bool:
        """Whether `name` is at or under a zone our name servers answer for."""
        candidate = dns.name.from_text(name)
        return any(candidate.is_subdomain(zone) for zone in self.zones)

    def query(self, name: str, rdtype: str) -> DnsAnswer:
        key = (_absolute(name), rdtype.upper())
        if key not in self._answers:
            self._answers[key] = self._ask(*key)
        return self._answers[key]

    def _ask(self, name: str, rdtype: str) -> DnsAnswer:
        if self.ours(name):
            answer = unanswerable(name, rdtype)
            # Those that answered so far first, in their order (sorted is stable), the silent ones after them.
            for server in sorted(self.servers, key=lambda server: server in self.silent):
                answer = self.net.dns(server, name, rdtype, rd=False)
                self.asked.append(answer.query_text)
                if answer.error is None:
                    return answer
                self.silent.add(server)
            if not self.servers:
                return DnsAnswer(f"{name} {rdtype}", error="the stack has no name server addresses")
            return answer  # the last server's error: none of ours answered
        if self.resolver:
            answer = self.net.dns(self.resolver, name, rdtype, rd=True)
            self.asked.append(answer.query_text)
            return answer
        return unanswerable(name, rdtype)

    def _follow(self, name: str, rdtype: str) -> tuple[str, ...]:
        """Records of `rdtype` at `name`, following CNAMEs (also from one of our zones to elsewhere)."""
        for _ in range(CNAME_HOPS):
            answer = self.query(name, rdtype)
            records = answer.records(rdtype)
            if records:
                return records
            targets = answer.records("CNAME")
            if not targets:
                return ()
            name = targets[-1]
        return ()

    def addresses(self, name: str) -> tuple[str, ...]:
        """IPv4 then IPv6 addresses of `name`."""
        return self._follow(name, "A") + self._follow(name, "AAAA")

    def ptr(self, address: str) -> tuple[str, ...]:
        """The PTR names of `address` (without the final dot), looked up under in-addr.arpa / ip6.arpa."""
        reverse = dns.reversename.from_address(address).to_text()
        return tuple(n.rstrip(".").lower() for n in self._follow(reverse, "PTR"))

    def txt(self, name: str) -> tuple[str, ...]:
        """Each TXT record's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
        return self._follow(name, "TXT")

    def mx(self, domain: str) -> tuple[tuple[int, str], ...]:
        """(preference, host without the final dot), lowest preference first."""
        found = []
        for record in self.query(domain, "MX").records("MX"):
            preference, _, host = record.partition(" ")
            found.append((int(preference), host.rstrip(".").lower()))
        return tuple(sorted(found))

    # ------------------------------------------------------------------------------------ pyspf

    def spf_dns(self) -> Callable[..., list[tuple[tuple[str, str], Any]]]:
        """A replacement for pyspf's module-level `spf.DNSLookup(name, qtype, strict, timeout)`: the same
        answers (A/AAAA address, MX (preference, name), PTR name, TXT strings, CNAME target), asked only
        through this resolver; trouble raises spf.TempError as pyspf's own lookup does. Use `pyspf()`."""
        import spf

        def lookup(name: str, qtype: str, strict: bool = True, timeout: float = 30) -> list:
            answer = self.query(name, qtype)
            if answer.error is not None or answer.rcode not in ("NOERROR", "NXDOMAIN"):
                raise spf.TempError(f"DNS {answer.query_text}: {answer.error or answer.rcode}")
            found: list[tuple[tuple[str, str], Any]] = []
            for line in answer.answer:
                owner, _ttl, _class, kind, rdata = line.split(None, 4)
                owner = owner.rstrip(".")
                if kind == "CNAME":
                    found.append(((owner, "CNAME"), rdata.rstrip(".")))
                elif kind == qtype and kind in ("A", "AAAA"):
                    found.append(((owner, kind), rdata))
                elif kind == qtype == "MX":
                    preference, _, host = rdata.partition(" ")
                    found.append(((owner, kind), (int(preference), host.rstrip("."))))
                elif kind == qtype == "PTR":
                    found.append(((owner, kind), rdata.rstrip(".")))
                elif kind == qtype and kind in ("TXT", "SPF"):
                    found.append(((owner, kind), _txt_strings(rdata)))
            return found

        return lookup

    @contextlib.contextmanager
    def pyspf(self) -> Iterator[None]:
        """`with resolver.pyspf(): spf.query(i=..., s=..., h=..., querytime=...).check()` asks only here."""
        import spf

        saved = spf.DNSLookup
        spf.DNSLookup = self.spf_dns()
        try:
            yield
        finally:
            spf.DNSLookup = saved


def _txt_strings(rdata: str) -> tuple[bytes, ...]:
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    return tuple(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, rdata).strings)
