"""SMTP TLS Reporting records (RFC 8460 §3), read as a reporting sender reads them.

`_smtp._tls.<domain>` TXT: `v=TLSRPTv1` first, then `;`-separated fields (blanks around `;`
allowed): `rua=` one or more URIs separated by `,` (required; `mailto:` or `https:`, a comma
inside a URI percent-encoded), and extensions `name=value`. Records that do not begin with
`v=TLSRPTv1;` are discarded; when not exactly one is left, or it is invalid, senders send no
reports (§3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "_smtp._tls"
SCHEMES = ("mailto:", "https:")
_EXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+$")


def record_name(domain: str) -> str:
    return f"{PREFIX}.{domain}"


def is_tlsrpt(text: str) -> bool:
    return re.match(r"^v=TLSRPTv1[ \t]*;", text.strip()) is not None


@dataclass(frozen=True)
class TlsRptRecord:
    text: str
    rua: tuple[str, ...]
    errors: tuple[str, ...] = ()


def parse(text: str) -> TlsRptRecord:
    text = text.strip()
    errors: list[str] = []
    if not is_tlsrpt(text):
        errors.append("does not begin with 'v=TLSRPTv1;'")
    parts = [p.strip(" \t") for p in text.split(";")]
    rua: list[str] = []
    seen_rua = False
    for index, part in enumerate(parts[1:], start=1):
        if not part:
            if index != len(parts) - 1:
                errors.append("has an empty field (';;')")
            continue
        if part.startswith("rua="):
            if seen_rua:
                errors.append("has more than one rua=")
                continue
            seen_rua = True
            for uri in (u.strip(" \t") for u in part[4:].split(",")):
                if not uri.lower().startswith(SCHEMES) or len(uri) <= len("https:") or any(c.isspace() for c in uri):
                    errors.append(f"rua URI {uri!r} is not a mailto: or https: URI")
                else:
                    rua.append(uri)
        elif not _EXT.match(part):
            errors.append(f"{part!r} is not a field (name=value)")
    if not seen_rua:
        errors.append("has no rua=")
    return TlsRptRecord(text, tuple(rua), tuple(errors))
