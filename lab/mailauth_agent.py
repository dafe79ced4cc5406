"""Agent actions for the mail-authentication probes, run inside a namespace by `python -m lab.agent`.

Every DNS question goes to the one name server the probe names (the lab's ns1) through a
resolver built without /etc/resolv.conf; dnspython's default resolver is replaced by it too, so
a library that asks the default (dkimpy, checkdmarc) cannot ask anyone else. The `internet`
namespace has no route off this machine anyway; `asked` in each result lists every question.
"""

from __future__ import annotations

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
        from audit.mailrecords import header_domain, organizational_domain

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


ACTIONS = {"dkim_verify": dkim_verify, "mail_audit": mail_audit}
