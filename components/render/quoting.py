"""Validation shared by the config renderers: no value may ever add a directive.

Every value that reaches a rendered file goes through one of these checks first. They are
whitelists, not escapers: each accepts only the characters its kind of value can legitimately
hold (a host name, an address, a path, an interface name...), so a newline, `;`, `{`, `}`,
a quote, `$`, `#` or whitespace can never reach Postfix, Dovecot, nginx, nftables or YAML.
A rejected value raises `RenderValueError`, which names the parameter and shows the value.
Patterns are applied with `fullmatch`: a plain `$` also matches before a final newline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_FQDN_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$")
# Paths: the characters of ordinary file names only. No whitespace (splits values),
# no `$` (Postfix/Dovecot/nginx variables), no quotes, `;`, `{`, `}`, `#`, `<`, `,`.
_PATH_RE = re.compile(r"^/[A-Za-z0-9._+@/-]*$")
# Linux accepts almost anything but `/`, `:` and whitespace; nftables quotes names, so keep
# to what routers really use (eth0, enp3s0, eth0.100, br-lan, wg0, veth_x).
_INTERFACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LOCAL_PART_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62}[A-Za-z0-9_+-])?$")
_IFNAMSIZ = 16  # including the terminating NUL, so 15 usable characters
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


class RenderValueError(ValueError):
    """A value that cannot be written into a config file safely; names the parameter."""

    def __init__(self, parameter: str, value: Any, rule: str) -> None:
        self.parameter = parameter
        self.value = value
        super().__init__(f"{parameter}={value!r}: {rule}")


def fqdn(value: Any, parameter: str) -> str:
    """A lowercase fully qualified host name (RFC 1123 labels, at least two labels, no trailing dot)."""
    if not isinstance(value, str) or len(value) > 253 or not _FQDN_RE.fullmatch(value):
        raise RenderValueError(
            parameter, value, "must be a lowercase fully qualified domain name like mail.example.net"
        )
    return value


def mail_address(value: Any, parameter: str) -> str:
    """A plain mail address: a local part of letters, digits and . _ + - at a lowercase FQDN."""
    local_part, _, domain = value.partition("@") if isinstance(value, str) else ("", "", "")
    if not _LOCAL_PART_RE.fullmatch(local_part) or not _FQDN_RE.fullmatch(domain) or len(value) > 254:
        raise RenderValueError(parameter, value, "must be a mail address like postmaster@example.net")
    return value


def ip_address(value: Any, parameter: str, *, version: int | None = None) -> IPAddress:
    """An IPv4 or IPv6 address (string or ipaddress object), optionally of one version only."""
    try:
        address = value if isinstance(value, IPAddress) else ipaddress.ip_address(_plain_str(value, parameter))
    except ValueError:
        raise RenderValueError(parameter, value, "must be an IP address") from None
    if version is not None and address.version != version:
        raise RenderValueError(parameter, value, f"must be an IPv{version} address")
    return address


def ip_network(value: Any, parameter: str, *, version: int | None = None) -> IPNetwork:
    """A network in CIDR notation with no host bits set (a bare address means a /32 or /128)."""
    try:
        network = value if isinstance(value, IPNetwork) else ipaddress.ip_network(_plain_str(value, parameter))
    except ValueError:
        raise RenderValueError(parameter, value, "must be a network in CIDR notation without host bits") from None
    if version is not None and network.version != version:
        raise RenderValueError(parameter, value, f"must be an IPv{version} network")
    return network


def ip_networks(values: Any, parameter: str, *, version: int | None = None) -> list[IPNetwork]:
    return [
        ip_network(value, f"{parameter}[{index}]", version=version)
        for index, value in enumerate(listing(values, parameter))
    ]


def absolute_path(value: Any, parameter: str) -> str:
    """An absolute file path made of ordinary file-name characters, without `..` components."""
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value) or ".." in value.split("/") or len(value) > 1024:
        raise RenderValueError(
            parameter, value, "must be an absolute path of letters, digits and . _ + @ / - (no spaces, quotes or ..)"
        )
    return value


def interface_name(value: Any, parameter: str) -> str:
    """A Linux interface name: at most 15 characters (IFNAMSIZ) of letters, digits, `_`, `.`, `-`."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) < _IFNAMSIZ
        or not _INTERFACE_RE.fullmatch(value)
        or value in {".", ".."}
    ):
        raise RenderValueError(
            parameter, value, f"must be an interface name of 1-{_IFNAMSIZ - 1} letters, digits, _ . - (IFNAMSIZ)"
        )
    return value


def port(value: Any, parameter: str) -> int:
    """A TCP/UDP port number 1-65535 (a real int, not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise RenderValueError(parameter, value, "must be a port number from 1 to 65535")
    return value


def positive_int(value: Any, parameter: str, *, maximum: int | None = None) -> int:
    """A whole number >= 1 (and <= maximum when given)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise RenderValueError(parameter, value, f"must be a whole number of at least 1{bound}")
    return value


def account_name(value: Any, parameter: str) -> str:
    """A SASL login name: letters, digits and . _ @ + - (what system and virtual users look like)."""
    if not isinstance(value, str) or not _ACCOUNT_RE.fullmatch(value):
        raise RenderValueError(parameter, value, "must be a login name of letters, digits and . _ @ + -")
    return value


def listing(values: Any, parameter: str) -> Sequence[Any]:
    """A list-like of values. A bare string is refused: iterating it would yield characters."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise RenderValueError(parameter, values, "must be a list, not a single string")
    return list(values)


def unique(values: Sequence[Any], parameter: str) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise RenderValueError(parameter, value, "is listed twice")
        seen.add(value)


def _plain_str(value: Any, parameter: str) -> str:
    if not isinstance(value, str):
        raise RenderValueError(parameter, value, "must be a string")
    # ipaddress accepts IPv6 scope ids ("fe80::1%eth0"); a scope id could carry anything.
    if "%" in value:
        raise RenderValueError(parameter, value, "must not carry a scope id")
    return value


# ---------------------------------------------------------------------------------------
# Address sets in linear time: a ruleset for hundreds of pools is checked without comparing
# every pool with every other network.


def any_overlap(left: Iterable[IPNetwork], right: Iterable[IPNetwork]) -> bool:
    """Whether a network of `left` overlaps one of `right` (same IP version), by a sweep in address order."""
    intervals = sorted(
        (network.version, int(network.network_address), int(network.broadcast_address), side)
        for side, networks in enumerate((left, right))
        for network in networks
    )
    reach: dict[tuple[int, int], int] = {}  # (version, side) -> highest end seen so far
    for version, start, end, side in intervals:
        if reach.get((version, 1 - side), -1) >= start:
            return True
        reach[(version, side)] = max(reach.get((version, side), -1), end)
    return False


def first_overlap(left: Sequence[IPNetwork], right: Sequence[IPNetwork]) -> tuple[IPNetwork, IPNetwork] | None:
    """The first (left, right) pair that overlaps (same IP version), to name it in an error; None if none.

    The linear sweep answers whether; only then are the pairs compared, in order."""
    if not any_overlap(left, right):
        return None
    return next((a, b) for a in left for b in right if a.version == b.version and a.overlaps(b))


def networks_within(networks: Sequence[IPNetwork], containers: Iterable[IPNetwork]) -> list[bool]:
    """For each of `networks`, whether it lies inside one of `containers` (same IP version): the
    containers are indexed by prefix length once, so each answer is one set lookup per length."""
    by_length: dict[tuple[int, int], set[IPNetwork]] = {}
    for candidate in containers:
        by_length.setdefault((candidate.version, candidate.prefixlen), set()).add(candidate)
    return [_within(network, by_length) for network in networks]


def _within(network: IPNetwork, by_length: dict[tuple[int, int], set[IPNetwork]]) -> bool:
    return any(
        version == network.version and length <= network.prefixlen
        and network.supernet(new_prefix=length) in members
        for (version, length), members in by_length.items()
    )
