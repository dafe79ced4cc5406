"""The grammar of single config values: names, addresses, networks, interface names.

Each type accepts only what its kind of value can legitimately hold; the models in `model`
are built from these.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)
from pydantic.alias_generators import to_camel

from components.render.quoting import parse_address, parse_network

# A DNS label as RFC 1123 allows it for host names: letters, digits, inner hyphens.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}$")
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z][a-z0-9-]{{0,62}}(?<!-)$")
# Relative record owner names may also hold underscore labels (_dmarc, _domainkey) and "*".
OWNER_RE = re.compile(
    r"^(?:@|\*|(?:\*\.)?(?:_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)(?:\.(?:_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?))*)$"
)
SSH_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
CF_ACCOUNT_RE = re.compile(r"^[0-9a-f]{32}$")
CONFIG_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Printable text for TXT/CAA content: no control characters (newlines, NUL, ...).
_PRINTABLE_RE = re.compile(r"^[\x20-\x7e]*$")

def _hostname(value: str) -> str:
    if not _HOSTNAME_RE.fullmatch(value):
        raise ValueError("must be one lowercase DNS label: letters, digits and inner hyphens, 1-63 characters")
    return value


def domain_name(value: str) -> str:
    value = value.rstrip(".") if value.endswith(".") and value.count(".") > 1 else value
    if len(value) > 253 or not _DOMAIN_RE.fullmatch(value):
        raise ValueError("must be a lowercase fully qualified domain name such as example.net")
    return value


def _printable(value: str) -> str:
    if not _PRINTABLE_RE.fullmatch(value):
        raise ValueError("must be printable ASCII without newlines or control characters")
    return value


def mailbox(value: str) -> str:
    local, sep, domain = value.partition("@")
    if not sep or not re.fullmatch(r"[a-z0-9][a-z0-9._+-]{0,63}", local):
        raise ValueError("must be a plain mailbox such as hostmaster@example.net")
    try:
        domain_name(domain)
    except ValueError:
        raise ValueError("must be a plain mailbox such as hostmaster@example.net (its domain is not valid)") from None
    return value


HostName = Annotated[str, AfterValidator(_hostname)]
DomainName = Annotated[str, AfterValidator(domain_name)]
PrintableText = Annotated[str, AfterValidator(_printable)]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(version: int | None) -> Callable[[Any], Any]:
    """Parse an address strictly (components.render.quoting.parse_address) into a canonical object.

    Only text passes: YAML's 1, true or 1e3 must not become 0.0.0.1. No IPv6 scope id (any text
    after `%` would be written out verbatim), no IPv4-mapped/compatible IPv6 where an IPv6
    host is meant; the object kept is re-made from its canonical text, so str() of it is what
    every file gets (2001:DB8:0::1 is kept as 2001:db8::1)."""

    def check(value: Any) -> Any:
        return parse_address(value, version=version)

    return check


def _network(value: Any) -> Any:
    """Parse a network strictly (components.render.quoting.parse_network): CIDR text only, a plain
    decimal length (no netmask /255.255.255.0, hostmask /0.0.0.255 or /024), no scope id, no host
    bits (10.0.0.1/24: such a typo silently shifts a block), kept canonical."""
    return parse_network(value)


IPAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, BeforeValidator(_address(None))]
IPv4Address = Annotated[ipaddress.IPv4Address, BeforeValidator(_address(4))]
IPv6Address = Annotated[ipaddress.IPv6Address, BeforeValidator(_address(6))]
StrictNetwork = Annotated[IPNetwork, BeforeValidator(_network)]


def record_address(rtype: str | None, content: str) -> str:
    """A/AAAA record content as canonical text (2001:DB8::0:1 -> 2001:db8::1); other types unchanged."""
    if rtype == "A":
        return str(parse_address(content, version=4))
    if rtype == "AAAA":
        return str(parse_address(content, version=6))
    return content


Role = Literal["dns", "mail", "web", "webmail", "db", "gateway"]


class ConfigModel(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )


_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _ifname(value: str) -> str:
    if not _IFNAME_RE.fullmatch(value) or value in (".", ".."):
        raise ValueError("must be a Linux interface name: 1-15 letters, digits, '_', '.', '-'")
    return value


InterfaceName = Annotated[str, AfterValidator(_ifname)]


def duplicates(values: list[Any]) -> set[Any]:
    """The values listed more than once (one pass: hundreds of zones stay cheap)."""
    return {value for value, count in Counter(values).items() if count > 1}


def any_overlap(networks: list[IPNetwork]) -> bool:
    """Whether two of `networks` (same IP version) overlap: a sweep in address order, not every pair."""
    reach: dict[int, int] = {}  # version -> highest broadcast address so far
    for version, start, end in sorted((n.version, int(n.network_address), int(n.broadcast_address)) for n in networks):
        if reach.get(version, -1) >= start:
            return True
        reach[version] = max(reach.get(version, -1), end)
    return False
