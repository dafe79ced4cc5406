"""The pack's value types: immutable, with equality and a readable repr (dnspython's manner).

`UNKNOWN` stands for a value the engine does not know yet (a first preview); `AddressSet`
is a set of IPv4 and IPv6 addresses as sorted disjoint intervals; `Rec` is one DNS record.
The engine's wire sentinels come from `pulumi_policy`, never spelled out here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from pulumi_policy import proxy as _proxy
from pulumi_policy.deserialize import (
    SPECIAL_ARCHIVE_SIG,
    SPECIAL_ASSET_SIG,
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
)

SIG_KEY = SPECIAL_SIG_KEY
SECRET_SIG = SPECIAL_SECRET_SIG
ASSET_SIG = SPECIAL_ASSET_SIG
ARCHIVE_SIG = SPECIAL_ARCHIVE_SIG
# Every sentinel the engine (and the SDK's proxy) uses for a value unknown at preview.
UNKNOWN_SENTINELS = frozenset(
    value for name, value in vars(_proxy).items() if name.startswith("UNKNOWN_") and name.endswith("_VALUE"))


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def norm_name(text: str) -> str:
    """A DNS name as the pack compares it: lowercase, no final dot."""
    return text.strip().rstrip(".").lower()


@dataclass(frozen=True)
class Rec:
    """One DNS record, normalised: absolute lowercase names without the final dot."""

    name: str
    rtype: str
    value: str  # an address, an absolute name, or TXT text (strings joined)
    priority: int | None = None


Span = tuple[int, int]


class AddressSet:
    """An immutable set of IPv4 and IPv6 addresses kept as sorted disjoint [lo, hi] intervals."""

    __slots__ = ("v4", "v6")
    v4: tuple[Span, ...]
    v6: tuple[Span, ...]

    def __init__(self, v4: Any = None, v6: Any = None):
        object.__setattr__(self, "v4", tuple(v4 or ()))
        object.__setattr__(self, "v6", tuple(v6 or ()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AddressSet is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddressSet) and self.v4 == other.v4 and self.v6 == other.v6

    def __hash__(self) -> int:
        return hash((self.v4, self.v6))

    def __repr__(self) -> str:
        return f"AddressSet({', '.join(self.prefixes()) or 'empty'})"

    @staticmethod
    def of(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> AddressSet:
        span = [(int(network.network_address), int(network.broadcast_address))]
        return AddressSet(span, None) if network.version == 4 else AddressSet(None, span)

    @staticmethod
    def everything() -> AddressSet:
        return AddressSet([(0, 2**32 - 1)], [(0, 2**128 - 1)])

    def is_empty(self) -> bool:
        return not self.v4 and not self.v6

    def size(self, version: int) -> int:
        return sum(hi - lo + 1 for lo, hi in (self.v4 if version == 4 else self.v6))

    def union(self, other: AddressSet) -> AddressSet:
        return AddressSet(_merge(self.v4 + other.v4), _merge(self.v6 + other.v6))

    def minus(self, other: AddressSet) -> AddressSet:
        return AddressSet(_subtract(self.v4, other.v4), _subtract(self.v6, other.v6))

    def intersect(self, other: AddressSet) -> AddressSet:
        return self.minus(self.minus(other))

    def contains(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        spans = self.v4 if parsed.version == 4 else self.v6
        return any(lo <= int(parsed) <= hi for lo, hi in spans)

    def sample(self) -> str | None:
        """One address of the set (the lowest), for messages."""
        if self.v4:
            return str(ipaddress.IPv4Address(self.v4[0][0]))
        if self.v6:
            return str(ipaddress.IPv6Address(self.v6[0][0]))
        return None

    def prefixes(self) -> list[str]:
        """The set as CIDR prefixes (for messages and repr)."""
        out = []
        for lo, hi in self.v4:
            out += [str(n) for n in ipaddress.summarize_address_range(ipaddress.IPv4Address(lo),
                                                                       ipaddress.IPv4Address(hi))]
        for lo, hi in self.v6:
            out += [str(n) for n in ipaddress.summarize_address_range(ipaddress.IPv6Address(lo),
                                                                       ipaddress.IPv6Address(hi))]
        return out


def _merge(spans: tuple[Span, ...]) -> list[Span]:
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(spans: tuple[Span, ...], cut: tuple[Span, ...]) -> list[Span]:
    out: list[Span] = []
    j = 0
    for lo, hi in spans:
        cur = lo
        while j < len(cut) and cut[j][1] < cur:
            j += 1
        k = j
        while k < len(cut) and cut[k][0] <= hi and cur <= hi:
            c_lo, c_hi = cut[k]
            if c_lo > cur:
                out.append((cur, c_lo - 1))
            cur = max(cur, c_hi + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return out
