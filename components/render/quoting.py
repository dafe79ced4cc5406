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
        self.rule = rule
        # The value is shown as the config errors show it: redacted if it could be a secret. (Imported
        # here: the config package itself parses addresses with this module.)
        from components.config.redaction import shown

        super().__init__(f"{parameter}={shown(value, name=parameter)}: {rule}")


def fqdn(value: Any, parameter: str) -> str:
    """A lowercase fully qualified host name (RFC 1123 labels, at least two labels, no trailing dot)."""
    if not _is_text(value) or len(value) > 253 or not _FQDN_RE.fullmatch(value):
        raise RenderValueError(
            parameter, value, "must be a lowercase fully qualified domain name like mail.example.net"
        )
    return value


def mail_address(value: Any, parameter: str) -> str:
    """A plain mail address: a local part of letters, digits and . _ + - at a lowercase FQDN."""
    local_part, _, domain = value.partition("@") if _is_text(value) else ("", "", "")
    if not _LOCAL_PART_RE.fullmatch(local_part) or not _FQDN_RE.fullmatch(domain) or len(value) > 254:
        raise RenderValueError(parameter, value, "must be a mail address like postmaster@example.net")
    return value


def ip_address(value: Any, parameter: str, *, version: int | None = None) -> IPAddress:
    """An IPv4 or IPv6 address, optionally of one version only, as a fresh canonical object.

    Strings and ipaddress objects are held to the same rules (`parse_address`): an object
    can carry a scope id as freely as a string. Render `str()` of the result."""
    try:
        return parse_address(value, version=version)
    except ValueError as problem:
        raise RenderValueError(parameter, value, str(problem)) from None


def ip_network(value: Any, parameter: str, *, version: int | None = None) -> IPNetwork:
    """A network in CIDR notation with no host bits set (a bare address means a /32 or /128),
    as a fresh canonical object; strings and objects alike (`parse_network`)."""
    try:
        return parse_network(value, version=version)
    except ValueError as problem:
        raise RenderValueError(parameter, value, str(problem)) from None


def ip_networks(values: Any, parameter: str, *, version: int | None = None) -> list[IPNetwork]:
    return [
        ip_network(value, f"{parameter}[{index}]", version=version)
        for index, value in enumerate(listing(values, parameter))
    ]


def absolute_path(value: Any, parameter: str) -> str:
    """An absolute file path made of ordinary file-name characters, without `..` components."""
    if not _is_text(value) or not _PATH_RE.fullmatch(value) or ".." in value.split("/") or len(value) > 1024:
        raise RenderValueError(
            parameter, value, "must be an absolute path of letters, digits and . _ + @ / - (no spaces, quotes or ..)"
        )
    return value


def interface_name(value: Any, parameter: str) -> str:
    """A Linux interface name: at most 15 characters (IFNAMSIZ) of letters, digits, `_`, `.`, `-`."""
    if (
        not _is_text(value)
        or not 0 < len(value) < _IFNAMSIZ
        or not _INTERFACE_RE.fullmatch(value)
        or value in {".", ".."}
    ):
        raise RenderValueError(
            parameter, value, f"must be an interface name of 1-{_IFNAMSIZ - 1} letters, digits, _ . - (IFNAMSIZ)"
        )
    return value


def port(value: Any, parameter: str) -> int:
    """A TCP/UDP port number 1-65535 (a plain int: not a bool, a string or an int subclass)."""
    if type(value) is not int or not 0 < value < 65536:
        raise RenderValueError(parameter, value, "must be a port number from 1 to 65535")
    return value


def positive_int(value: Any, parameter: str, *, maximum: int | None = None) -> int:
    """A whole number >= 1 (and <= maximum when given); a plain int, as `port`."""
    if type(value) is not int or value < 1 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise RenderValueError(parameter, value, f"must be a whole number of at least 1{bound}")
    return value


def account_name(value: Any, parameter: str) -> str:
    """A SASL login name: letters, digits and . _ @ + - (what system and virtual users look like)."""
    if not _is_text(value) or not _ACCOUNT_RE.fullmatch(value):
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


def _is_text(value: Any) -> bool:
    """A plain str: a subclass can change how it formats (`__format__`) after it was checked."""
    return type(value) is str


# ---------------------------------------------------------------------------------------
# Addresses and networks: one strict grammar for the config model and every renderer.
#
# Python's ipaddress is lenient where a config file must not be: an IPv6 scope id takes ANY
# text after `%` ("2001:db8::1%x; }; options {...}") and str() gives it back; a network may
# be spelled with a netmask or hostmask ("10.0.0.0/255.255.255.0", "/0.0.0.255") or a
# zero-padded length ("/024"); it takes ints, bytes and tuples. Here only text (or an
# ipaddress object, re-read from its text) of the characters an address is made of passes,
# IPv4-mapped/compatible IPv6 is refused where an IPv6 host or block is meant, and what passes
# is returned as a fresh object whose str() is canonical (lowercase, compressed IPv6).

_ADDRESS_CHARS_RE = re.compile(r"^[0-9A-Fa-f:.]{2,45}$")
_PREFIX_LENGTH_RE = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated (RFC 4291 2.5.5.1); :: and ::1 are not
_NOT_TEXT = {
    "address": 'must be an IP address written as text, e.g. "192.0.2.1" or "2001:db8::1"',
    "network": 'must be a network written as text, e.g. "192.0.2.0/24" or "2001:db8::/48"',
}


def parse_address(value: Any, *, version: int | None = None) -> IPAddress:
    """`value` (text or an ipaddress address object) as a fresh canonical address, or ValueError(rule)."""
    text = _address_text(value, (ipaddress.IPv4Address, ipaddress.IPv6Address), "address")
    if "/" in text:
        raise ValueError("must be a single address, not a network")
    address = _address_from(text)
    _check_version(address, version, "address")
    return address


def parse_network(value: Any, *, version: int | None = None) -> IPNetwork:
    """`value` (text or an ipaddress network object) as a fresh canonical network, or ValueError(rule).

    CIDR only: `address/length` with a plain decimal length (no netmask, hostmask or leading
    zero) and no host bits set; a bare address is the /32 or /128 of that address."""
    text = _address_text(value, (ipaddress.IPv4Network, ipaddress.IPv6Network), "network")
    address_text, slash, length_text = text.partition("/")
    address = _address_from(address_text, network=True)
    if not slash:
        length_text = str(address.max_prefixlen)
    elif not _PREFIX_LENGTH_RE.fullmatch(length_text) or int(length_text) > address.max_prefixlen:
        raise ValueError(
            f"must be a network in CIDR notation: address/length with a length from 0 to {address.max_prefixlen} "
            "(no netmask such as /255.255.255.0, no hostmask, no leading zero)"
        )
    try:
        network = ipaddress.ip_network(f"{address}/{int(length_text)}", strict=True)
    except ValueError:
        raise ValueError(
            f"has host bits set: {address}/{length_text} is not a network prefix (did you mean "
            f"{ipaddress.ip_network(f'{address}/{int(length_text)}', strict=False)}?)"
        ) from None
    if network.version == 6 and (
        network.subnet_of(_IPV4_MAPPED) or (network.subnet_of(_IPV4_COMPATIBLE) and int(network.broadcast_address) > 1)
    ):
        raise ValueError("is an IPv4-mapped or IPv4-compatible IPv6 block; write the IPv4 network itself")
    _check_version(network, version, "network")
    return network


def _address_text(value: Any, kinds: tuple[type, ...], what: str) -> str:
    """The text to parse: a plain str, or an object of `kinds` read back through str()."""
    if isinstance(value, kinds):
        try:
            value = str(value)  # a scope id, or a subclass's own __str__, shows here and is judged
        except Exception:  # noqa: BLE001 - a subclass's __str__ may raise anything: still a refusal
            value = None
    if type(value) is not str:
        raise ValueError(_NOT_TEXT[what])
    if "%" in value:
        raise ValueError("must not carry an IPv6 zone/scope id (text after '%'): it would be written out verbatim")
    return value


def _address_from(text: str, *, network: bool = False) -> IPAddress:
    what = "network" if network else "address"
    if not _ADDRESS_CHARS_RE.fullmatch(text):
        raise ValueError(f"must be an IP {what} of digits, hex digits, '.' and ':' only (no spaces or other text)")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"must be an IP {what}, e.g. 192.0.2.0/24 or 2001:db8::/48" if network else
                         "must be an IP address, e.g. 192.0.2.1 or 2001:db8::1") from None
    if not network and address.version == 6 and (
        address.ipv4_mapped is not None or (address in _IPV4_COMPATIBLE and int(address) > 1)
    ):
        raise ValueError("is an IPv4-mapped or IPv4-compatible IPv6 address; write the IPv4 address itself")
    # Re-parse the canonical text: the object returned carries nothing its text does not show.
    return ipaddress.ip_address(str(address))


def _check_version(parsed: IPAddress | IPNetwork, version: int | None, what: str) -> None:
    if version is not None and parsed.version != version:
        raise ValueError(f"must be an IPv{version} {what}")


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


# systemd.time(7) calendar events, the subset an operator writes for a nightly job: a shortcut
# (`daily`), or `[WEEKDAYS] [[YEAR-]MONTH-DAY] HOUR:MINUTE[:SECOND]`, each field a list of values,
# `a..b` ranges and `/n` repetitions, every number inside its field's range. Checked by value, not
# by shape: systemd refuses `0` or `25:00` although they are made of calendar characters.
CALENDAR_SHORTCUTS = frozenset({"minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually",
                                "quarterly", "semiannually"})
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {name: i for i, name in enumerate(_WEEKDAYS)} | {
    full: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_CALENDAR_ITEM_RE = re.compile(r"(\d{1,4})(?:\.\.(\d{1,4}))?(?:/(\d{1,4}))?")
_CALENDAR_MAX_LENGTH = 64


def _calendar_field(text: str, low: int, high: int) -> bool:
    if text == "*":  # `*` stands alone: systemd refuses it in a list or with a repetition
        return True
    for item in text.split(","):
        match = _CALENDAR_ITEM_RE.fullmatch(item)
        if match is None:
            return False
        first, last, step = match.groups()
        # systemd refuses a repetition that never repeats inside the field (0, or past its end).
        if step is not None and not 0 < int(step) <= high - int(first):
            return False
        if not (low <= int(first) <= high and (last is None or int(first) <= int(last) <= high)):
            return False
    return True


def _calendar_weekdays(text: str) -> bool:
    for item in text.split(","):
        ends = item.lower().split("..")
        if len(ends) > 2 or any(end not in _WEEKDAY_NAMES for end in ends):
            return False
        if len(ends) == 2 and _WEEKDAY_NAMES[ends[0]] > _WEEKDAY_NAMES[ends[1]]:  # systemd: Fri..Mon is no range
            return False
    return True


def calendar_event(value: Any, parameter: str) -> str:
    """A systemd OnCalendar= event (see CALENDAR_SHORTCUTS and the grammar above)."""
    rule = "must be a systemd calendar event such as '*-*-* 02:30:00', 'Mon..Fri 03:00' or 'daily'"
    if type(value) is not str or not value or len(value) > _CALENDAR_MAX_LENGTH or not value.isascii():
        raise RenderValueError(parameter, value, rule)
    if value in CALENDAR_SHORTCUTS:
        return value
    parts = value.split(" ")
    weekdays = parts.pop(0) if parts and not parts[0][:1].isdigit() and parts[0][:1] != "*" else None
    if weekdays is not None and not _calendar_weekdays(weekdays):
        raise RenderValueError(parameter, value, rule)
    time = parts.pop() if parts and ":" in parts[-1] else None
    date = parts.pop() if parts else None
    fine = not parts and (time is not None or date is not None)
    if fine and date is not None:
        fields = date.split("-")
        ranges = [(1970, 2199), (1, 12), (1, 31)][-len(fields):] if len(fields) in (2, 3) else []
        fine = bool(ranges) and all(_calendar_field(f, lo, hi) for f, (lo, hi) in zip(fields, ranges, strict=True))
    if fine and time is not None:
        fields = time.split(":")
        fine = len(fields) in (2, 3) and all(
            _calendar_field(f, lo, hi) for f, (lo, hi) in zip(fields, [(0, 23), (0, 59), (0, 59)], strict=False))
    if not fine:
        raise RenderValueError(parameter, value, rule)
    return value
