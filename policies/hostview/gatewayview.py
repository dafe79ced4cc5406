"""The gateway as the rules see it: the rulesets delivered to hosts and the NAT they perform.

`rulesets` gives every firewall ruleset the stack delivers, in the nftables reader's model
(`readers.nftconf.Ruleset`); `dnat_map` and `snat_public` answer where a public address is
forwarded and where a private address leaves from.
"""

from __future__ import annotations

import ipaddress

from readers import nftconf
from values import AddressSet

from hostview.evidence import HostFile
from hostview.stackview import StackView


def rulesets(view: StackView) -> list[tuple[HostFile, nftconf.Ruleset]]:
    return [(f, view.parsed(f)) for f in view.files_of_kind("nftables") if view.parsed(f) is not None]


def address_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def snat_public(view: StackView, private: str) -> list[tuple[str, str]]:
    """Where connections from `private` leave: (public address, how) from each gateway ruleset."""
    address = address_of(private)
    if address is None:
        return []
    found = []
    for f, rs in rulesets(view):
        packet = nftconf.Packet(AddressSet.of(ipaddress.ip_network(address)), None, assume_interfaces_match=True)
        hit = nftconf.first_nat(rs.base_chains("postrouting"), packet, rs, ("snat", "masquerade"))
        if hit is None:
            continue
        info, chain = hit
        nat = info.nat
        target = nat.target
        if nat.map_pairs:
            target = next((right for left, right in nat.map_pairs if nftconf.overlaps_text(packet.saddr, left)), "")
        if nat.kind == "snat" and address_of(target) is not None:
            found.append((str(address_of(target)), f"snat of {address} in {f.label}"))
    return found


def dnat_map(view: StackView) -> dict[str, set[str]]:
    """public address -> private addresses it is forwarded to (all rulesets)."""
    mapping: dict[str, set[str]] = {}
    for _f, rs in rulesets(view):
        pairs, _unclear = nftconf.dnat_pairs(rs)
        for pair in pairs:
            pub, priv = address_of(pair.public), address_of(pair.private)
            if pub is not None and priv is not None:
                mapping.setdefault(str(pub), set()).add(str(priv))
    return mapping
