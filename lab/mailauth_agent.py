"""Agent actions for the mail-authentication probes, run inside a namespace by `python -m lab.agent`.

Every DNS question goes to the one name server the probe names (the lab's ns1) through a
resolver built without /etc/resolv.conf; dnspython's default resolver is replaced by it too, so
a library that asks the default (dkimpy, checkdmarc) cannot ask anyone else. The `internet`
namespace has no route off this machine anyway; `asked` in each result lists every question.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver


class _LabResolver(dns.resolver.Resolver):
    """Asks only `nameserver`, and remembers every question it was asked."""

    def __init__(self, nameserver: str, asked: list[str], lifetime: float = 5.0):
        super().__init__(configure=False)
        self.nameservers = [nameserver]
        self.lifetime = lifetime
        self.timeout = min(2.0, lifetime)
        self.asked = asked

    def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        self.asked.append(f"{qname} {rdtype}")
        kwargs.pop("search", None)  # never the search list: names are absolute here
        return super().resolve(qname, rdtype, *args, search=False, **kwargs)


def _resolver(nameserver: str, asked: list[str]) -> _LabResolver:
    resolver = _LabResolver(nameserver, asked)
    dns.resolver.default_resolver = resolver
    return resolver


def _txt(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at `name`, each record's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(r.strings).decode(errors="replace") for r in answer]


def dkim_verify(raw_file: str, nameserver: str) -> dict[str, Any]:
    """Every DKIM-Signature of the message in `raw_file`, verified by dkimpy against `nameserver` only;
    plus the From header and the DMARC records a receiver would read (RFC 7489 §6.6.3)."""
    import dkim
    from dkim.util import parse_tag_value

    asked: list[str] = []
    resolver = _resolver(nameserver, asked)

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode() if isinstance(name, bytes) else name
        records = _txt(resolver, text.rstrip("."))
        return records[0].encode() if records else None

    message = Path(raw_file).read_bytes()
    checker = dkim.DKIM(message, minkey=1024)
    signatures = []
    for index, value in enumerate(v for n, v in checker.headers if n.lower() == b"dkim-signature"):
        tags = {k.decode(): v.decode(errors="replace") for k, v in parse_tag_value(value).items()}
        entry: dict[str, Any] = {"d": tags.get("d", ""), "s": tags.get("s", ""), "a": tags.get("a", ""),
                                 "c": tags.get("c", "simple/simple"), "h": tags.get("h", "")}
        try:
            entry["verified"] = bool(checker.verify(idx=index, dnsfunc=dnsfunc))
        except dkim.DKIMException as error:
            entry.update(verified=False, error=f"{type(error).__name__}: {error}")
        if entry["d"] and entry["s"]:
            entry["key_record"] = (_txt(resolver, f"{entry['s']}._domainkey.{entry['d']}") or [""])[0][:120]
        signatures.append(entry)
    from email.parser import BytesHeaderParser

    headers = BytesHeaderParser().parsebytes(message)
    from_header = str(headers.get("From", ""))
    result: dict[str, Any] = {"from": from_header, "signatures": signatures, "asked": asked}
    try:
        from lab.mailauth import header_domain, organizational_domain

        domain = header_domain(from_header)
        result["from_domain"] = domain
        for where in dict.fromkeys([domain, organizational_domain(domain)]):
            records = [r for r in _txt(resolver, f"_dmarc.{where}") if r.startswith("v=DMARC1")]
            if records:
                result["dmarc"] = {"name": f"_dmarc.{where}", "records": records}
                break
    except (ValueError, dns.exception.DNSException) as error:
        result["dmarc_error"] = f"{type(error).__name__}: {error}"
    return result


def https_get(name: str, path: str, nameserver: str, cafile: str, source: str | None = None,
              timeout: float = 5.0) -> dict[str, Any]:
    """GET https://name/path as an MTA-STS sender does (RFC 8461 §3.3): `name` resolved at `nameserver`,
    only `cafile` trusted, the hostname checked, no redirect followed; status, Content-Type, body."""
    asked: list[str] = []
    resolver = _resolver(nameserver, asked)
    try:
        answer = resolver.resolve(name, "A")
    except dns.exception.DNSException as error:
        return {"outcome": "error", "detail": f"{name} A: {type(error).__name__}: {error}", "asked": asked}
    chain = [rrset.to_text() for rrset in answer.response.answer]
    address = str(answer[0])
    context = ssl.create_default_context(cafile=cafile)  # CERT_REQUIRED, check_hostname, only this CA
    try:
        with socket.create_connection((address, 443), timeout=timeout,
                                      source_address=(source, 0) if source else None) as raw, \
                context.wrap_socket(raw, server_hostname=name) as wrapped:
            wrapped.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while len(data) < 128 * 1024:
                chunk = wrapped.recv(16384)
                if not chunk:
                    break
                data += chunk
            peer = wrapped.getpeercert()
    except ssl.SSLCertVerificationError as error:
        return {"outcome": "rejected", "address": address, "dns": chain, "asked": asked,
                "detail": f"{error.verify_message} ({error.reason})"}
    except (OSError, ssl.SSLError) as error:
        return {"outcome": "error", "address": address, "dns": chain, "asked": asked,
                "detail": f"{type(error).__name__}: {error}"}
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    status = lines[0].split()
    sans = [value for kind, value in peer.get("subjectAltName", ()) if kind == "DNS"]
    return {"outcome": "verified", "address": address, "dns": chain, "asked": asked, "status_line": lines[0],
            "status": int(status[1]) if len(status) > 1 and status[1].isdigit() else None,
            "content_type": headers.get("content-type", ""), "location": headers.get("location"),
            "body": body.decode(errors="replace"), "san": sans}


def _dechunk(data: bytes) -> bytes:
    """HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), extensions ignored."""
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


def smtp_starttls(host: str, port: int, server_name: str, cafile: str, source: str | None = None,
                  timeout: float = 10.0) -> dict[str, Any]:
    """STARTTLS to an MX as an MTA-STS sender in enforce mode does (RFC 8461 §4.2): the certificate
    must chain to a trusted CA (here only `cafile`) and name the MX host."""
    import smtplib

    context = ssl.create_default_context(cafile=cafile)
    try:
        with smtplib.SMTP(host, port, timeout=timeout, source_address=(source, 0) if source else None) as client:
            client._host = server_name  # the SNI and the name checked: the MX host's name
            client.ehlo("probe.outside.test")
            code, _ = client.starttls(context=context)
            cipher = client.sock.version() if isinstance(client.sock, ssl.SSLSocket) else None
            sans = [v for k, v in client.sock.getpeercert().get("subjectAltName", ()) if k == "DNS"]
            return {"outcome": "verified", "code": code, "version": cipher, "san": sans}
    except ssl.SSLCertVerificationError as error:
        return {"outcome": "rejected", "detail": f"{error.verify_message} ({error.reason})"}
    except (OSError, ssl.SSLError, smtplib.SMTPException) as error:
        return {"outcome": "error", "detail": f"{type(error).__name__}: {error}"}


def mail_audit(domain: str, nameserver: str) -> dict[str, Any]:
    """checkdmarc's SPF and DMARC checks of `domain`, every question to `nameserver` only. Its MX,
    STARTTLS, MTA-STS-over-HTTPS and BIMI checks are not called: they would connect elsewhere."""
    from checkdmarc.dmarc import check_dmarc
    from checkdmarc.spf import check_spf

    asked: list[str] = []
    resolver = _resolver(nameserver, asked)
    spf = check_spf(domain, resolver=resolver, nameservers=[nameserver], timeout=5.0)
    dmarc = check_dmarc(domain, resolver=resolver, nameservers=[nameserver], timeout=5.0)
    return {"spf": _plain(spf), "dmarc": _plain(dmarc), "asked": asked}


def _plain(value: Any) -> Any:
    """checkdmarc's results as JSON (its dicts may hold sets and other non-JSON values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


ACTIONS = {"dkim_verify": dkim_verify, "https_get": https_get, "smtp_starttls": smtp_starttls,
           "mail_audit": mail_audit}
