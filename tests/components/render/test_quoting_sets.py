"""The linear-time address-set checks agree with comparing every pair, as the renderers did before."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from components.render import quoting


@st.composite
def networks(draw) -> list:
    """Small IPv4/IPv6 prefixes packed close together, so overlaps and containment are common."""
    out = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            length = draw(st.integers(20, 30))
            address = ipaddress.ip_address("100.64.0.0") + draw(st.integers(0, 4096))
            out.append(ipaddress.ip_network(f"{address}/{length}", strict=False))
        else:
            length = draw(st.integers(116, 126))
            address = ipaddress.ip_address("2001:db8::") + draw(st.integers(0, 4096))
            out.append(ipaddress.ip_network(f"{address}/{length}", strict=False))
    return out


@settings(max_examples=300, deadline=None)
@given(networks(), networks())
def test_any_overlap_is_the_pairwise_check(left, right):
    pairwise = any(a.version == b.version and a.overlaps(b) for a in left for b in right)
    assert quoting.any_overlap(left, right) == pairwise


@settings(max_examples=300, deadline=None)
@given(networks(), networks())
def test_first_overlap_is_the_first_pair_in_pairwise_order(left, right):
    pairs = [(a, b) for a in left for b in right if a.version == b.version and a.overlaps(b)]
    assert quoting.first_overlap(left, right) == (pairs[0] if pairs else None)


@settings(max_examples=300, deadline=None)
@given(networks(), networks())
def test_networks_within_is_the_pairwise_check(candidates, containers):
    pairwise = [any(c.version == n.version and n.subnet_of(c) for c in containers) for n in candidates]
    assert quoting.networks_within(candidates, containers) == pairwise


def test_a_pool_inside_a_server_network_and_a_dialup_pool_outside_every_pool():
    pools = [ipaddress.ip_network("100.64.0.0/16"), ipaddress.ip_network("2001:db8::/48")]
    assert quoting.any_overlap(pools, [ipaddress.ip_network("100.64.7.0/24")])
    assert not quoting.any_overlap(pools, [ipaddress.ip_network("100.65.0.0/24"), ipaddress.ip_network("10.0.0.0/8")])
    assert quoting.networks_within([ipaddress.ip_network("100.64.3.0/24"), ipaddress.ip_network("100.65.0.0/24")],
                                   pools) == [True, False]
