"""Small fake servers on loopback for the audit's tests and its benchmark (bench/audit_world.py): DNS,
SMTP, TLS, HTTP(S), and certificates.

Every server is a context manager. `__enter__` binds and listens before it starts its thread, so the
server is ready when `with` returns (a client that connects at once waits in the listen backlog; no
sleeps). `__exit__` closes the listening socket and every open connection and joins the threads.
Each has `.address` (127.0.0.1 unless `host="127.0.0.x"` is given) and `.port` (ephemeral), and
`.ports(well_known)` -> `{well_known: port}` for `Net(..., ports=...)`.

Certificates
    make_certificate(names, not_before=None, not_after=None, ca=None) -> (cert_pem, key_pem)
        names[0] is the subject CN, all are DNS SANs; default validity: an hour ago to 90 days on;
        `ca=None` gives a self-signed certificate, else one signed by `ca` (a CertificateAuthority).
    fake_ca() -> CertificateAuthority: one test CA per process (`.cert_pem`, `.key_pem`, `.cafile`:
        a PEM file path for `cafile=` arguments). `make_ca(name)` makes another.

FakeDns(zones, *, origins=None, flags=None, rcodes=None, refuse_recursion=True, behaviour="answer",
        truncate=False, host="127.0.0.1", port=0)    UDP and TCP on the same port
    port: 0 for an ephemeral one; another server's port, to run two name servers on 127.0.0.1 and
        127.0.0.2 that one `Net(ports={53: port})` reaches both.
    zones: {(name, type): [rdata text, ...]}, names absolute or not (a dot is added), e.g.
        {("example.com", "SOA"): ["ns1.example.com. host.example.com. 1 7200 900 1209600 300"],
         ("www.example.com", "A"): ["192.0.2.80"], ("example.com", "TXT"): ["v=spf1 -all"]}
        (TXT rdata without quotes is quoted for you).
    origins: the zones it is authoritative for (AA); default: every name with an SOA, or if none,
        every name in `zones`. A name at or under an origin: its records with AA, NODATA or NXDOMAIN.
    A name with a CNAME answers any other type with the CNAME alone (not chased).
    Another name: REFUSED when `refuse_recursion` (or when the query has RD off); otherwise it plays
        an open resolver: RA set, answered from `zones` (without AA) or NXDOMAIN.
    flags: {name: "QR AA RA"} the response's flags text for that name; rcodes: {name: "SERVFAIL"}.
    behaviour: "answer" | "silent" (reads, never answers) | "garbage" (bytes that are no DNS message)
        | "wrong-id" (a right answer with another message id).
    truncate: UDP answers are empty with TC set, so a client must ask again over TCP.
    .queries: [(transport "udp"|"tcp", name, type, rd: bool)] in order of arrival.

FakeSmtp(banner="220 mx.fake.test ESMTP", ehlo_lines=("PIPELINING", "8BITMIME"), *, certificate=None,
         starttls=True, implicit_tls=False, rcpt_code=554, tls_ehlo_lines=None, garbage=False,
         silent=False, host="127.0.0.1", port=0)
    EHLO answers "250-fake.test" then `ehlo_lines` (before TLS) or `tls_ehlo_lines` (after TLS; default
    the same), with STARTTLS added before TLS when `starttls`. STARTTLS: 220 and a handshake with
    `certificate` ((cert_pem, key_pem)), or 454 if it has none. `implicit_tls`: the handshake first
    (RFC 8314), then the banner. MAIL 250, RCPT `rcpt_code`, RSET 250, NOOP 250, QUIT 221, DATA 554,
    anything else 502. `silent`: accepts and never speaks. `garbage`: answers everything with noise.
    .commands: every command line received (so a test can assert DATA never came).

FakeTls(certificate, *, greeting=b"", host="127.0.0.1")        465, 993, 443 without HTTP
    Completes a handshake with `certificate`, sends `greeting` (e.g. b"* OK IMAP\\r\\n"), reads until close.
    .server_names: the SNI names clients sent.

FakeHttp(routes, *, host="127.0.0.1") and FakeHttps(routes, certificate, *, host="127.0.0.1")
    routes: {path or (host_header, path): (status, {header: value}, body bytes|str)}; the (host, path)
    key wins; an unknown path is 404. A redirect is a route like (301, {"Location": "https://..."}, b"").
    .requests: [(method, path, host_header)]. FakeHttps has .server_names too.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CertificatePair = tuple[bytes, bytes]  # (cert_pem, key_pem)
HANDSHAKE_SECONDS = 5.0  # a fake never waits longer than this for a client's bytes
_FILES = Path(tempfile.mkdtemp(prefix="audit-fakes-"))  # PEM files ssl needs as paths; one per process


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(data: bytes) -> str:
    descriptor, path = tempfile.mkstemp(dir=_FILES, suffix=".pem")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


@dataclass(frozen=True)
class CertificateAuthority:
    cert_pem: bytes
    key_pem: bytes
    cafile: str  # the certificate as a file, for `cafile=` arguments


def make_ca(name: str = "Audit Test CA") -> CertificateAuthority:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return CertificateAuthority(cert_pem, _key_pem(key), _write(cert_pem))


@functools.cache
def fake_ca() -> CertificateAuthority:
    """The tests' CA, made once per process."""
    return make_ca()


def make_certificate(names: Iterable[str], not_before: datetime.datetime | None = None,
                     not_after: datetime.datetime | None = None,
                     ca: CertificateAuthority | None = None) -> CertificatePair:
    names = list(names)
    now = datetime.datetime.now(datetime.UTC)
    not_before = not_before or now - datetime.timedelta(hours=1)
    not_after = not_after or now + datetime.timedelta(days=90)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    if ca is None:
        issuer_name, signer = subject, key
    else:
        issuer_name = x509.load_pem_x509_certificate(ca.cert_pem).subject
        signer = serialization.load_pem_private_key(ca.key_pem, password=None)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def server_context(certificate: CertificatePair) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(_write(certificate[0]), _write(certificate[1]))
    return context


class _Server:
    """A TCP listener on loopback with one thread per connection; subclasses implement `handle`."""

    def __init__(self, host: str = "127.0.0.1"):
        self.address = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.wanted_port = 0  # 0: ephemeral

    def ports(self, well_known: int) -> dict[int, int]:
        return {well_known: self.port}

    def _listen(self, port: int = 0) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.address, port))
        except OSError:
            listener.close()
            raise
        listener.listen(16)
        self._listener = listener
        self.port = listener.getsockname()[1]

    def __enter__(self):
        self._listen(self.wanted_port)
        self._start(self._accept_loop)
        return self

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the listener was shut down: we are closing
                return
            connection.settimeout(HANDSHAKE_SECONDS)
            with self._lock:
                self._connections.append(connection)
            self._start(self._serve, connection)

    def _wrap(self, context: ssl.SSLContext, connection: socket.socket) -> ssl.SSLSocket:
        """The server side of a handshake; the TLS socket is closed on exit like the plain one."""
        tls = context.wrap_socket(connection, server_side=True)
        with self._lock:
            self._connections.append(tls)
        return tls

    def _serve(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError), connection:
            self.handle(connection)

    def handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _close_sockets(self) -> None:
        self._closing.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def __exit__(self, *exc_info) -> None:
        self._close_sockets()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(HANDSHAKE_SECONDS)


def _drain(connection: socket.socket) -> None:
    """Read until the client closes (or the server is shut down)."""
    connection.settimeout(None)
    while connection.recv(4096):
        pass


def _lines(connection: socket.socket):
    """The client's CRLF lines, one at a time, until it closes."""
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = connection.recv(4096)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        yield line.rstrip(b"\r").decode(errors="replace")


# ---------------------------------------------------------------------------------------------- DNS


def _absolute(name: str) -> str:
    return name.lower() if name.endswith(".") else f"{name.lower()}."


class FakeDns(_Server):
    def __init__(self, zones: Mapping[tuple[str, str], list[str]], *, origins: Iterable[str] | None = None,
                 flags: Mapping[str, str] | None = None, rcodes: Mapping[str, str] | None = None,
                 refuse_recursion: bool = True, behaviour: str = "answer", truncate: bool = False,
                 host: str = "127.0.0.1", port: int = 0):
        super().__init__(host)
        self.wanted_port = port
        self.zones = {(_absolute(n), t.upper()): [self._rdata(t, r) for r in rs] for (n, t), rs in zones.items()}
        names = {n for n, _ in self.zones}
        with_soa = {n for n, t in self.zones if t == "SOA"}
        self.origins = {_absolute(o) for o in origins} if origins is not None else (with_soa or names)
        self.flags = {_absolute(n): f for n, f in (flags or {}).items()}
        self.rcodes = {_absolute(n): r for n, r in (rcodes or {}).items()}
        self.refuse_recursion = refuse_recursion
        self.behaviour = behaviour
        self.truncate = truncate
        self.queries: list[tuple[str, str, str, bool]] = []
        self.failures: list[str] = []  # a query the fake could not answer (a bug of the fake, not the audit's)
        self._udp: socket.socket | None = None

    @staticmethod
    def _rdata(rdtype: str, text: str) -> str:
        if rdtype.upper() == "TXT" and not text.startswith('"'):
            # A character-string holds at most 255 bytes (RFC 1035 §3.3): a DKIM key is served as several.
            chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
            return " ".join('"' + chunk.replace('"', '\\"') + '"' for chunk in chunks)
        return text

    def __enter__(self):
        for _ in range(20):  # UDP and TCP on one port: take a free UDP port, then its TCP twin
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.address, self.wanted_port))
            try:
                self._listen(udp.getsockname()[1])
            except OSError:
                udp.close()
                continue
            self._udp = udp
            break
        else:
            raise OSError("no free port for UDP and TCP together")
        self._start(self._accept_loop)
        self._start(self._udp_loop)
        return self

    def _close_sockets(self) -> None:
        super()._close_sockets()
        if self._udp is not None:
            with contextlib.suppress(OSError):
                self._udp.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom()
            self._udp.close()

    def _udp_loop(self) -> None:
        assert self._udp is not None
        while not self._closing.is_set():
            try:
                data, peer = self._udp.recvfrom(65535)
            except OSError:
                return
            if not data:
                continue
            try:
                reply = self.reply(data, "udp")
            except Exception as error:  # noqa: BLE001 - said by .failures; the loop must keep answering
                self.failures.append(f"{type(error).__name__}: {error}")
                continue
            if reply is not None:
                with contextlib.suppress(OSError):
                    self._udp.sendto(reply, peer)

    def handle(self, connection: socket.socket) -> None:
        while True:
            head = self._receive(connection, 2)
            if head is None:
                return
            data = self._receive(connection, struct.unpack("!H", head)[0])
            if data is None:
                return
            reply = self.reply(data, "tcp")
            if reply is not None:
                connection.sendall(struct.pack("!H", len(reply)) + reply)

    @staticmethod
    def _receive(connection: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _ours(self, name: str) -> bool:
        return any(dns.name.from_text(name).is_subdomain(dns.name.from_text(o)) for o in self.origins)

    def reply(self, data: bytes, transport: str) -> bytes | None:
        """The wire reply to one query, or None for silence."""
        if self.behaviour == "silent":
            return None
        if self.behaviour == "garbage":
            return b"\x13\x37 this is no DNS message \xff\xfe"
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
        rd = bool(query.flags & dns.flags.RD)
        self.queries.append((transport, name, rdtype, rd))
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA
        if transport == "udp" and self.truncate:
            response.flags |= dns.flags.TC
        elif self._ours(name):
            response.flags |= dns.flags.AA
            self._answer(response, name, rdtype, query)
        elif self.refuse_recursion or not rd:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            response.flags |= dns.flags.RA
            self._answer(response, name, rdtype, query)
        if name in self.rcodes:
            response.set_rcode(dns.rcode.from_text(self.rcodes[name]))
        if name in self.flags:
            response.flags = dns.flags.from_text(self.flags[name])
        if self.behaviour == "wrong-id":
            response.id = (query.id + 1) % 65536
        return response.to_wire()

    def _answer(self, response: dns.message.Message, name: str, rdtype: str, query: dns.message.Message) -> None:
        wanted = [rdtype]
        if query.ednsflags & dns.flags.DO:  # want_dnssec() is a setter in dnspython: it returns None
            wanted.append("RRSIG")
        found = False
        for kind in wanted:
            records = self.zones.get((name, kind))
            if records:
                found = True
                response.answer.append(dns.rrset.from_text_list(name, 300, "IN", kind, records))
        alias = self.zones.get((name, "CNAME"))
        if not found and alias and rdtype != "CNAME":  # the alias only: the client follows it
            found = True
            response.answer.append(dns.rrset.from_text_list(name, 300, "IN", "CNAME", alias))
        if not found and not any(n == name for n, _ in self.zones):
            response.set_rcode(dns.rcode.NXDOMAIN)


# --------------------------------------------------------------------------------------------- SMTP


class FakeSmtp(_Server):
    def __init__(self, banner: str = "220 mx.fake.test ESMTP", ehlo_lines: Iterable[str] = ("PIPELINING", "8BITMIME"),
                 *, certificate: CertificatePair | None = None, starttls: bool = True, implicit_tls: bool = False,
                 rcpt_code: int = 554, tls_ehlo_lines: Iterable[str] | None = None, garbage: bool = False,
                 silent: bool = False, host: str = "127.0.0.1", port: int = 0, ehlo_name: str = "fake.test"):
        super().__init__(host)
        self.wanted_port = port
        self.banner = banner
        self.ehlo_name = ehlo_name
        self.ehlo_lines = tuple(ehlo_lines)
        self.tls_ehlo_lines = tuple(tls_ehlo_lines) if tls_ehlo_lines is not None else self.ehlo_lines
        self.context = server_context(certificate) if certificate else None
        self.starttls, self.implicit_tls, self.rcpt_code = starttls, implicit_tls, rcpt_code
        self.garbage, self.silent = garbage, silent
        self.commands: list[str] = []

    def handle(self, connection: socket.socket) -> None:
        if self.silent:
            _drain(connection)
            return
        if self.garbage:
            connection.sendall(b"\x00\xff\x13 ??? \x7f\r\n")
            for line in _lines(connection):
                self.commands.append(line)
                connection.sendall(b"%%% no idea \x00\r\n")
            return
        secure = False
        if self.implicit_tls:
            if self.context is None:
                return
            connection = self._wrap(self.context, connection)
            secure = True
        connection.sendall(f"{self.banner}\r\n".encode())
        self._dialogue(connection, secure)

    def _dialogue(self, connection: socket.socket, secure: bool) -> None:
        for line in _lines(connection):
            self.commands.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                keywords = list(self.tls_ehlo_lines if secure else self.ehlo_lines)
                if self.starttls and not secure:
                    keywords.append("STARTTLS")
                lines = [f"{self.ehlo_name} greets you", *keywords]
                text = "".join(f"250{'-' if i < len(lines) - 1 else ' '}{k}\r\n" for i, k in enumerate(lines))
                connection.sendall(text.encode())
            elif verb == "HELO":
                connection.sendall(b"250 fake.test\r\n")
            elif verb == "STARTTLS" and self.starttls and not secure:
                if self.context is None:
                    connection.sendall(b"454 4.7.0 TLS not available\r\n")
                    continue
                connection.sendall(b"220 2.0.0 go ahead\r\n")
                tls = self._wrap(self.context, connection)
                self._dialogue(tls, True)  # RFC 3207 §4.2: the session starts over
                return
            elif verb in ("MAIL", "RSET", "NOOP"):
                connection.sendall(b"250 2.0.0 ok\r\n")
            elif verb == "RCPT":
                connection.sendall(f"{self.rcpt_code} fake says {self.rcpt_code}\r\n".encode())
            elif verb == "DATA":
                connection.sendall(b"554 5.7.1 no data for fakes\r\n")
            elif verb == "QUIT":
                connection.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                connection.sendall(b"502 5.5.2 not implemented\r\n")


# ---------------------------------------------------------------------------------------- TLS, HTTP


class FakeTls(_Server):
    def __init__(self, certificate: CertificatePair, *, greeting: bytes = b"", host: str = "127.0.0.1",
                 port: int = 0):
        super().__init__(host)
        self.wanted_port = port
        self.context = server_context(certificate)
        self.context.sni_callback = self._remember_name
        self.greeting = greeting
        self.server_names: list[str | None] = []

    def _remember_name(self, _socket, name, _context) -> None:
        self.server_names.append(name)

    def handle(self, connection: socket.socket) -> None:
        tls = self._wrap(self.context, connection)
        if self.greeting:
            tls.sendall(self.greeting)
        _drain(tls)


Route = tuple[int, Mapping[str, str], bytes | str]


class FakeHttp(_Server):
    def __init__(self, routes: Mapping[str | tuple[str, str], Route], *, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host)
        self.wanted_port = port
        self.routes = dict(routes)
        self.requests: list[tuple[str, str, str]] = []

    def handle(self, connection: socket.socket) -> None:
        self._http(connection)

    def _http(self, connection: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = connection.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
        method, path = (lines[0].split() + ["", ""])[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        host_header = headers.get("host", "")
        self.requests.append((method, path, host_header))
        status, extra, body = self.routes.get((host_header, path)) or self.routes.get(path) or (404, {}, b"")
        body = body.encode() if isinstance(body, str) else body
        text = f"HTTP/1.1 {status} Fake\r\n" + "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        text += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        connection.sendall(text.encode() + body)


class FakeHttps(FakeHttp):
    def __init__(self, routes: Mapping[str | tuple[str, str], Route], certificate: CertificatePair, *,
                 host: str = "127.0.0.1", port: int = 0):
        super().__init__(routes, host=host, port=port)
        self.context = server_context(certificate)
        self.context.sni_callback = self._remember_name
        self.server_names: list[str | None] = []

    def _remember_name(self, _socket, name, _context) -> None:
        self.server_names.append(name)

    def handle(self, connection: socket.socket) -> None:
        self._http(self._wrap(self.context, connection))


__all__ = ["CertificateAuthority", "CertificatePair", "FakeDns", "FakeHttp", "FakeHttps", "FakeSmtp", "FakeTls",
           "fake_ca", "make_ca", "make_certificate", "server_context"]
