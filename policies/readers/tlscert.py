"""Certificates and ACME requests, for lesson 10 (the webmail certificate matches its name).

- `read_leaf`: the first certificate of a PEM chain (the server's own), parsed with
  `cryptography`: its SAN DNS names, CN, validity.
- `covers`: RFC 6125 section 6.4 as browsers apply it: a DNS-ID matches exactly
  (case-insensitive, trailing dot ignored), or a wildcard `*` that is the whole left-most
  label matches exactly one label (`*.example.net` covers `webmail.example.net`, not
  `example.net` nor `a.webmail.example.net`); partial wildcards (`w*.example.net`) and
  wildcards over a public suffix alone (`*.net`) match nothing. The CN is never used: the
  CA/Browser Forum requires a SAN and browsers ignore the CN.
- `acme_requests`: the names a certbot, acme.sh or lego invocation asks for (`-d`,
  `--domains`, comma lists), with certbot's `--cert-name` and installer plugin (`--apache`,
  `--nginx`: it rewrites the web server's config at run time), and certbot `cli.ini` files.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from readers import shellwords

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - the pack's requirements include cryptography
    x509 = None  # type: ignore[assignment]

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
ACME_TOOLS = {"certbot", "certbot-auto", "letsencrypt", "acme.sh", "lego"}


@dataclass(frozen=True)
class Leaf:
    dns_names: tuple[str, ...]  # SAN DNS names, as written
    has_san: bool
    common_names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime


def read_leaf(text: str) -> Leaf:
    """The leaf (first) certificate of a PEM text; ValueError when there is none or it is unreadable."""
    if x509 is None:
        raise ValueError("the cryptography package is not installed in the pack's environment")
    match = _PEM_CERT.search(text or "")
    if not match:
        raise ValueError("no PEM CERTIFICATE block")
    try:
        certificate = x509.load_pem_x509_certificate(match.group(0).encode("ascii", "replace"))
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names, has_san = tuple(str(n) for n in san.get_values_for_type(x509.DNSName)), True
        except x509.ExtensionNotFound:
            names, has_san = (), False
        common = tuple(str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
        return Leaf(names, has_san, common, certificate.not_valid_before_utc, certificate.not_valid_after_utc)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed DER surfaces as many exception types
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


def _norm(name: str) -> str | None:
    name = name.strip().rstrip(".").lower()
    if not name or any(c.isspace() for c in name):
        return None
    try:
        return name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None


def covers(pattern: str, host: str) -> bool:
    """Does the presented identifier `pattern` (a SAN DNS name) cover `host`, per RFC 6125?"""
    pattern_n, host_n = _norm(pattern), _norm(host)
    if pattern_n is None or host_n is None or "*" in host_n:
        return False
    if "*" not in pattern_n:
        return pattern_n == host_n
    first, _, rest = pattern_n.partition(".")
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False
    host_first, _, host_rest = host_n.partition(".")
    return bool(host_first) and host_rest == rest


def covered_by(names: tuple[str, ...] | list[str], host: str) -> bool:
    return any(covers(name, host) for name in names)


@dataclass(frozen=True)
class AcmeRequest:
    tool: str
    names: tuple[str, ...]
    cert_name: str | None  # certbot --cert-name, else the first name (the live/ directory)
    line: int
    text: str
    # certbot's installer plugin ("apache", "nginx"): it rewrites that server's config on the host at run
    # time (adds the TLS site and, unless --no-redirect, the redirect). None for certonly and other tools.
    installer: str | None = None
    no_redirect: bool = False


def _split_names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def _request(call: shellwords.Call) -> AcmeRequest | None:
    names: list[str] = []
    cert_name: str | None = None
    args = call.args
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        value: str | None = None
        key = word
        if word.startswith("--") and "=" in word:
            key, value = word.split("=", 1)
        elif word.startswith("-d") and len(word) > 2 and not word.startswith("--"):
            key, value = "-d", word[2:]
        if key in ("-d", "--domains", "--domain"):
            if value is None and index < len(args):
                value = args[index]
                index += 1
            names.extend(_split_names(value or ""))
        elif key == "--cert-name":
            if value is None and index < len(args):
                value = args[index]
                index += 1
            cert_name = value
    if not names and cert_name is None:
        return None
    return AcmeRequest(call.tool, tuple(names), cert_name or (names[0] if names else None), call.line, call.text,
                       _installer(call), "--no-redirect" in args)


def _installer(call: shellwords.Call) -> str | None:
    """certbot's installer: `--apache`/`--nginx` (authenticator and installer) or `-i`/`--installer`, unless the
    subcommand is certonly (which never touches the web server's config)."""
    if call.tool not in ("certbot", "certbot-auto", "letsencrypt") or "certonly" in call.args:
        return None
    args = list(call.args)
    for index, word in enumerate(args):
        if word in ("--apache", "--nginx"):
            return word[2:]
        if word in ("-i", "--installer") and index + 1 < len(args):
            return args[index + 1]
        if word.startswith("--installer="):
            return word.split("=", 1)[1]
    return None


_INI_LINE = re.compile(r"^\s*(domains|cert-name)\s*=\s*(.*?)\s*$", re.MULTILINE)


def acme_requests(text: str, *, ini: bool = False) -> list[AcmeRequest]:
    """ACME requests in a script/unit/command (or, with `ini`, a certbot cli.ini file)."""
    if not isinstance(text, str):
        return []
    if ini:
        names: list[str] = []
        cert_name = None
        for key, value in _INI_LINE.findall(text):
            if key == "domains":
                names.extend(_split_names(value))
            else:
                cert_name = value or None
        if not names:
            return []
        return [AcmeRequest("certbot", tuple(names), cert_name or names[0], 0, "cli.ini")]
    return [r for r in (_request(c) for c in shellwords.find_calls(text, ACME_TOOLS)) if r is not None]
