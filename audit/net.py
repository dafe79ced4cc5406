"""The audit's only way onto the network: bounded exchanges whose troubles are facts, never exceptions.

A `Net` is built with the addresses an audit may contact (`Expectation.addresses`, plus `--resolver`
and `--outside-smtp`), a timeout per exchange and a number of tries. Every method takes an address,
never a name (names are resolved only through audit/resolver.py, which asks through this Net), and
raises ValueError for an address outside the allowlist before any packet leaves. Anything the network
does (silence, refusal, reset, garbage, a certificate that does not verify) comes back as a frozen
fact with `error` set, so a check turns it into a WARN or FAIL with evidence, and never hangs: an
exchange waits at most `timeout` per read, `tries` times.

`ports` maps a well-known port to another (`{25: 2525, 53: 5353}`). Only tests use it, to reach fake
servers on ephemeral loopback ports; production code leaves it empty, so port 25 means port 25.
Mail (RFC 5321, 3207, 8314) is in audit/net_smtp.py, reached as `Net.smtp`.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

BODY_LIMIT = 64 * 1024  # bytes of an HTTP body kept; an MTA-STS policy is far smaller (RFC 8461 §3.2)
REPLY_LINE_LIMIT = 4096  # bytes of one protocol line before it counts as garbage


@dataclass(frozen=True)
class DnsAnswer:
    query_text: str  # "198.51.100.53: www.example.com. A +rd"
    rcode: str = ""  # "NOERROR", "NXDOMAIN", "REFUSED", ...; "" when nothing usable came back
    flags: frozenset[str] = frozenset()  # lower case: "qr", "aa", "ra", "tc", "ad", ...
    answer: tuple[str, ...] = ()  # the answer section, one rr per line as text
    authority: tuple[str, ...] = ()
    error: str | None = None
    transport: str = "udp"  # "tcp" when the UDP answer was truncated (RFC 1035 §4.2.2, RFC 7766)
    asked: bool = True  # False: the StackResolver may not ask anyone this (see its error); a WARN

    def records(self, rdtype: str) -> tuple[str, ...]:
        """The rdata text of the answer's records of `rdtype`; TXT strings joined and unquoted."""
        wanted = rdtype.upper()
        found = []
        for line in self.answer:
            parts = line.split(None, 4)
            if len(parts) < 5 or parts[3].upper() != wanted:
                continue
            if wanted in ("TXT", "SPF"):
                rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, parts[4])
                found.append(b"".join(rdata.strings).decode(errors="replace"))
            else:
                found.append(parts[4])
        return tuple(found)

    @property
    def ok(self) -> bool:
        return self.error is None and self.rcode == "NOERROR"


@dataclass(frozen=True)
class Connect:
    target: str  # "192.0.2.25:25"
    outcome: str  # "connected" | "refused" | "timeout" | "unreachable" | "reset"
    banner: str = ""  # the first line, when the server speaks first
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Certificate:
    target: str  # "192.0.2.443:443 SNI www.example.com"
    subject: str = ""  # the subject's CN
    dns_names: tuple[str, ...] = ()
    not_before: datetime.datetime | None = None  # aware, UTC
    not_after: datetime.datetime | None = None
    issuer: str = ""  # RFC 4514 text
    sha256: str = ""
    verified: bool = False  # chains to the trust store (or only `cafile`) AND names server_name (RFC 6125)
    verify_error: str = ""  # OpenSSL's reason when not verified
    error: str | None = None  # no certificate at all: the handshake failed, nobody answered

    def days_left(self, now: datetime.datetime) -> float | None:
        return None if self.not_after is None else (self.not_after - now).total_seconds() / 86400

    def names(self, name: str) -> bool:
        """Whether a SAN names `name` (RFC 6125 §6.4: exact, or a wildcard for the left-most label only)."""
        name = name.lower().rstrip(".")
        for pattern in (n.lower().rstrip(".") for n in self.dns_names):
            if pattern == name or (pattern.startswith("*.") and "." in name
                                   and name.split(".", 1)[1] == pattern[2:]):
                return True
        return False

    @property
    def evidence(self) -> str:
        if self.error:
            return f"{self.target}: {self.error}"
        dates = f"{self.not_before:%Y-%m-%d} .. {self.not_after:%Y-%m-%d}" if self.not_after else "no dates"
        trust = "verified" if self.verified else f"not verified: {self.verify_error}"
        return f"{self.target}: CN={self.subject} SAN={','.join(self.dns_names)} {dates} issuer {self.issuer}; {trust}"


@dataclass(frozen=True)
class HttpResponse:
    target: str  # "https://www.example.com/path at 192.0.2.80:443"
    status: int | None = None
    headers: Mapping[str, str] | None = None  # names in lower case
    body: bytes = b""  # at most BODY_LIMIT bytes
    certificate: Certificate | None = None  # HTTPS only; a response is read even when it does not verify
    error: str | None = None

    @property
    def verified(self) -> bool:
        """HTTPS whose certificate verified; a check of an HTTPS answer must look here, not only at status."""
        return self.certificate is not None and self.certificate.verified

    def header(self, name: str) -> str:
        return (self.headers or {}).get(name.lower(), "")


@dataclass(frozen=True)
class SmtpSession:
    target: str  # "192.0.2.25:25 STARTTLS SNI mx.example.com"
    banner: str = ""  # the greeting's first line, code included (RFC 5321 §4.2)
    ehlo: tuple[str, ...] = ()  # the EHLO reply's lines without codes: before TLS, then after it
    ehlo_after_tls: tuple[str, ...] = ()
    starttls_offered: bool = False  # RFC 3207 §4: the STARTTLS keyword in the EHLO before TLS
    tls: bool = False  # a TLS session was established (STARTTLS accepted, or implicit TLS, RFC 8314)
    auth_before_tls: bool = False  # AUTH advertised in clear text
    auth_after_tls: bool = False
    certificate: Certificate | None = None
    mail_code: int | None = None
    rcpt_code: int | None = None  # the reply to RCPT TO (then RSET: no DATA is ever sent)
    error: str | None = None
    transcript: tuple[str, ...] = ()  # "> EHLO ..." / "< 250-..." lines

    @property
    def banner_code(self) -> int | None:
        return int(self.banner[:3]) if self.banner[:3].isdigit() else None

    @property
    def ehlo_name(self) -> str:
        """The name the server gives in the first EHLO line (RFC 5321 §4.1.1.1)."""
        return self.ehlo[0].split()[0] if self.ehlo and self.ehlo[0].split() else ""

    @property
    def banner_name(self) -> str:
        """The name after the greeting's code (RFC 5321 §4.2: "220 domain ...")."""
        words = self.banner[4:].split()
        return words[0] if words else ""


def certificate_facts(target: str, der: bytes | None, *, verified: bool, verify_error: str = "") -> Certificate:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if not der:
        return Certificate(target, error="the server sent no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        return Certificate(target, subject=str(common[0].value) if common else "", dns_names=names,
                           not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                           issuer=cert.issuer.rfc4514_string(), sha256=hashlib.sha256(der).hexdigest(),
                           verified=verified, verify_error=verify_error)
    except ValueError as error:
        return Certificate(target, error=f"unreadable certificate: {error}")


def describe_error(error: BaseException) -> str:
    if isinstance(error, TimeoutError | socket.timeout | dns.exception.Timeout):
        return "timeout"
    return f"{type(error).__name__}: {error}"


class Net:
    def __init__(self, allowed: Iterable[str], timeout: float, tries: int, source: str | None = None,
                 ports: Mapping[int, int] | None = None):
        self.allowed = frozenset(str(ipaddress.ip_address(a)) for a in allowed)
        self.timeout = timeout
        self.tries = max(1, tries)
        self.source = source
        self.ports = dict(ports or {})  # tests only: well-known port -> the fake's port

    # ------------------------------------------------------------------------------------ plumbing

    def allow(self, host: str) -> str:
        """The address in canonical form, or ValueError: a name (we resolve nothing here) or not ours."""
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(f"{host!r} is not an address: the audit resolves names only through "
                             "its StackResolver") from None
        if address not in self.allowed:
            raise ValueError(f"{address} is not an address of this stack (nor --resolver, --outside-smtp): "
                             "the audit does not contact it")
        return address

    def _port(self, port: int) -> int:
        return self.ports.get(port, port)

    def target_text(self, address: str, port: int) -> str:
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    def open(self, host: str, port: int) -> socket.socket:
        """A connected TCP socket with the per-read timeout set; raises OSError (callers make it a fact)."""
        address = self.allow(host)
        source = (self.source, 0) if self.source else None
        sock = socket.create_connection((address, self._port(port)), timeout=self.timeout, source_address=source)
        sock.settimeout(self.timeout)
        return sock

    def tls_context(self, cafile: str | None, *, verify: bool) -> ssl.SSLContext:
        if not verify:  # only to read the facts of a certificate that did not verify
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=cafile)  # with cafile: only that CA is trusted

    # ----------------------------------------------------------------------------------------- DNS

    def dns(self, server: str, name: str, rdtype: str, *, rd: bool = True, dnssec: bool = False) -> DnsAnswer:
        address = self.allow(server)
        query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        if not rd:
            query.flags &= ~dns.flags.RD
        text = f"{address}: {query.question[0].name} {rdtype.upper()} {'+rd' if rd else '+nord'}"
        text += " +dnssec" if dnssec else ""
        port, error = self._port(53), "no try made"
        for _ in range(self.tries):
            transport = "udp"
            try:
                response = dns.query.udp(query, address, timeout=self.timeout, port=port, source=self.source)
                if response.flags & dns.flags.TC:
                    transport = "tcp"
                    response = dns.query.tcp(query, address, timeout=self.timeout, port=port, source=self.source)
            except Exception as failure:  # noqa: BLE001 - silence, garbage, a wrong id: all facts to report
                error = f"{transport}: {describe_error(failure)}"
                continue
            return DnsAnswer(
                text, rcode=dns.rcode.to_text(response.rcode()),
                flags=frozenset(dns.flags.to_text(response.flags).lower().split()),
                answer=tuple(line for rrset in response.answer for line in rrset.to_text().splitlines()),
                authority=tuple(line for rrset in response.authority for line in rrset.to_text().splitlines()),
                transport=transport)
        return DnsAnswer(text, error=f"{error} ({self.tries} tries, {self.timeout:g} s each)")

    # ------------------------------------------------------------------------------------- connect

    def connect(self, host: str, port: int, *, read_banner: bool = True) -> Connect:
        """A TCP connection and, if the server speaks first (SMTP, IMAP), its first line."""
        address = self.allow(host)
        target = self.target_text(address, port)
        started = time.monotonic()
        outcome, error = "timeout", "no try made"
        for _ in range(self.tries):
            try:
                sock = self.open(address, port)
            except TimeoutError:
                outcome, error = "timeout", f"no answer within {self.timeout:g} s"
                continue
            except ConnectionRefusedError:
                return Connect(target, "refused", error="connection refused", seconds=time.monotonic() - started)
            except OSError as failure:
                name = errno.errorcode.get(failure.errno or 0, type(failure).__name__)
                return Connect(target, "unreachable", error=f"{name}: {failure.strerror or failure}",
                               seconds=time.monotonic() - started)
            with sock:
                banner = ""
                if read_banner:
                    try:
                        banner = sock.recv(REPLY_LINE_LIMIT).decode(errors="replace").splitlines()[0]
                    except (ConnectionResetError, BrokenPipeError):
                        return Connect(target, "reset", error="connection reset", seconds=time.monotonic() - started)
                    except (TimeoutError, OSError, IndexError):
                        banner = ""  # a server that speaks only when spoken to (HTTP) or says nothing
                return Connect(target, "connected", banner=banner, seconds=time.monotonic() - started)
        return Connect(target, outcome, error=error, seconds=time.monotonic() - started)

    # ----------------------------------------------------------------------------------------- TLS

    def _handshake(self, address: str, port: int, server_name: str, cafile: str | None,
                   verify: bool) -> tuple[ssl.SSLSocket, bytes | None]:
        sock = self.open(address, port)
        try:
            wrapped = self.tls_context(cafile, verify=verify).wrap_socket(sock, server_hostname=server_name)
        except BaseException:
            sock.close()
            raise
        return wrapped, wrapped.getpeercert(binary_form=True)

    def tls_session(self, host: str, port: int, *, server_name: str,
                    cafile: str | None) -> tuple[ssl.SSLSocket | None, Certificate]:
        """An open TLS socket (or None) and its certificate's facts: a verifying handshake first, and when
        the certificate does not verify, a second one without verification to read what it says."""
        address = self.allow(host)
        target = f"{self.target_text(address, port)} SNI {server_name}"
        error = "no try made"
        for _ in range(self.tries):
            try:
                wrapped, der = self._handshake(address, port, server_name, cafile, verify=True)
                return wrapped, certificate_facts(target, der, verified=True)
            except ssl.SSLCertVerificationError as failure:
                reason = f"{failure.verify_message} ({failure.reason})"
                try:
                    wrapped, der = self._handshake(address, port, server_name, cafile, verify=False)
                except (OSError, ssl.SSLError) as second:
                    return None, Certificate(target, verify_error=reason, error=describe_error(second))
                return wrapped, certificate_facts(target, der, verified=False, verify_error=reason)
            except TimeoutError as failure:
                error = describe_error(failure)
                continue
            except (OSError, ssl.SSLError, ValueError) as failure:  # ValueError: a server_name ssl refuses
                return None, Certificate(target, error=describe_error(failure))
        return None, Certificate(target, error=f"{error} ({self.tries} tries, {self.timeout:g} s each)")

    def tls(self, host: str, port: int, *, server_name: str, cafile: str | None) -> Certificate:
        """Implicit TLS (465, 993, 443): the certificate's facts and whether it verified."""
        wrapped, certificate = self.tls_session(host, port, server_name=server_name, cafile=cafile)
        if wrapped is not None:
            wrapped.close()
        return certificate

    # ---------------------------------------------------------------------------------------- SMTP

    def smtp(self, host: str, port: int, *, helo: str, starttls: bool, implicit_tls: bool = False,
             server_name: str, cafile: str | None, rcpt: tuple[str, str] | None = None) -> SmtpSession:
        """One polite SMTP session (audit/net_smtp.py): banner, EHLO, STARTTLS or implicit TLS, EHLO
        again, optionally MAIL FROM/RCPT TO then RSET; QUIT. Never DATA."""
        from audit.net_smtp import smtp_session

        return smtp_session(self, host, port, helo=helo, starttls=starttls, implicit_tls=implicit_tls,
                            server_name=server_name, cafile=cafile, rcpt=rcpt)

    # ---------------------------------------------------------------------------------------- HTTP

    def https_get(self, host: str, port: int, *, server_name: str, path: str, cafile: str | None) -> HttpResponse:
        """GET https://server_name/path at host:port; the response is read even if the certificate does
        not verify (then `.verified` is False). Redirects are not followed."""
        target = f"https://{server_name}{path} at {self.target_text(self.allow(host), port)}"
        wrapped, certificate = self.tls_session(host, port, server_name=server_name, cafile=cafile)
        if wrapped is None:
            return HttpResponse(target, certificate=certificate, error=certificate.error)
        with wrapped:
            return self._exchange(wrapped, target, server_name, path, certificate)

    def http_get(self, host: str, port: int, *, host_header: str, path: str) -> HttpResponse:
        """GET http://host_header/path at host:port, plain, for the redirect checks."""
        address = self.allow(host)
        target = f"http://{host_header}{path} at {self.target_text(address, port)}"
        error = "no try made"
        for _ in range(self.tries):
            try:
                sock = self.open(address, port)
            except TimeoutError as failure:
                error = describe_error(failure)
                continue
            except OSError as failure:
                return HttpResponse(target, error=describe_error(failure))
            with sock:
                return self._exchange(sock, target, host_header, path, None)
        return HttpResponse(target, error=f"{error} ({self.tries} tries, {self.timeout:g} s each)")

    def _exchange(self, sock: socket.socket, target: str, host_header: str, path: str,
                  certificate: Certificate | None) -> HttpResponse:
        request = f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: isp-audit\r\nConnection: close\r\n\r\n"
        data = b""
        try:
            sock.sendall(request.encode())
            while len(data) < BODY_LIMIT + REPLY_LINE_LIMIT:
                chunk = sock.recv(16384)
                if not chunk:
                    break
                data += chunk
                head, found, body = data.partition(b"\r\n\r\n")
                length = _content_length(head) if found else None
                if length is not None and len(body) >= length:
                    break
        except (OSError, ssl.SSLError) as failure:
            if not data:
                return HttpResponse(target, certificate=certificate, error=describe_error(failure))
        return _parse_http(target, data, certificate)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def _parse_http(target: str, data: bytes, certificate: Certificate | None) -> HttpResponse:
    head, found, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = lines[0].split()
    if not found or len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        return HttpResponse(target, certificate=certificate,
                            error=f"not an HTTP response: {data[:80].decode(errors='replace')!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    length = _content_length(head)
    return HttpResponse(target, status=int(status[1]), headers=headers,
                        body=body[:length if length is not None else BODY_LIMIT][:BODY_LIMIT], certificate=certificate)


def _dechunk(data: bytes) -> bytes:
    """HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), extensions ignored."""
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0] or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out

