"""Expectation.from_config: what the audit expects of each repo stack, and that it follows the config."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from audit.cli import load_config
from audit.expect import Endpoint, Expectation
from components.config import parse_stack_config
from components.render import mtasts
from tests.conftest import REPO, stack_values


def expect_of(stack: str, overrides: tuple[str, ...] = ()) -> Expectation:
    return Expectation.from_config(load_config(stack, REPO, overrides), stack)


def test_dev_stack():
    expect = expect_of("dev")
    assert expect.name_servers == (Endpoint("ns1.example.org", ("203.0.113.11",)),)
    assert expect.mail_hosts == (Endpoint("mail.example.org", ("203.0.113.25",)),)
    # Forward zones on Cloudflare; the reverse zones and the pool zone on our BIND.
    assert expect.cloudflare_zones == ("example.org",)
    assert expect.bind_zones == ("113.0.203.in-addr.arpa", "pool.example.org")
    web = {(w.name, w.role): w.host.name for w in expect.web_names}
    assert web == {("www.example.org", "www"): "www.example.org", ("example.org", "apex"): "www.example.org",
                   ("webmail.example.org", "webmail"): "www.example.org"}
    assert expect.mta_sts == ()  # dev has no mail.mtaSts
    assert [(d.domain, d.selector, d.algorithm, d.signing) for d in expect.dkim] == [
        ("example.org", "s2026a", "rsa", True)]
    assert expect.dkim[0].name == "s2026a._domainkey.example.org"
    assert [(d.zone, d.policy, d.alignment) for d in expect.dmarc] == [("example.org", "reject", "r")]
    assert expect.tls_rpt == (("example.org", ("mailto:hostmaster@example.org",)),)
    assert expect.submission_ports == (587, 465)
    assert expect.public_blocks == ("203.0.113.0/27",)
    assert expect.customer_pools == ("203.0.113.64/26",)


def test_prod_stack():
    expect = expect_of("prod")
    assert [(n.name, n.addresses) for n in expect.name_servers] == [
        ("ns1.example.net", ("198.51.100.11", "2001:db8:100::11")),
        ("ns2.example.net", ("198.51.100.12", "2001:db8:100::12"))]
    assert expect.mail_hosts == (Endpoint("mail.example.net", ("198.51.100.25", "2001:db8:100::25")),)
    assert set(expect.cloudflare_zones) == {"example.net", "example.com"}
    assert "pool.example.net" in expect.bind_zones
    assert "100.51.198.in-addr.arpa" in expect.bind_zones
    assert not set(expect.bind_zones) & set(expect.cloudflare_zones)
    assert expect.hosted_mail_domains == ("example.net", "example.com")
    assert {(d.domain, d.selector) for d in expect.dkim} == {("example.net", "s2026a"), ("example.com", "s2026a")}
    mta_sts = {m.domain: m for m in expect.mta_sts}
    assert set(mta_sts) == {"example.net", "example.com"}
    for policy in mta_sts.values():
        assert "mode: testing" in policy.policy
        assert policy.mx == ("mail.example.net",)
        assert policy.id == mtasts.policy_id(policy.policy)
    mta_sts_names = {w.name: w.host.name for w in expect.web_names if w.role == "mta-sts"}
    assert mta_sts_names == {"mta-sts.example.net": "www.example.net", "mta-sts.example.com": "www.example.net"}
    assert expect.submission_ports == (587, 465, 2525)


def test_lab_stack_serves_its_forward_zone_on_bind():
    expect = expect_of("lab")
    assert expect.cloudflare_zones == ()
    assert expect.bind_zones[0] == "isp.test"
    assert set(expect.bind_zones) == {"isp.test", "100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa",
                                      "pool.isp.test"}
    webmail = next(w for w in expect.web_names if w.role == "webmail")
    assert webmail.host == Endpoint("webmail.isp.test", ("198.51.100.43",))
    assert [(m.domain, m.mx) for m in expect.mta_sts] == [("isp.test", ("mail.isp.test",))]
    assert "mode: enforce" in expect.mta_sts[0].policy


@pytest.mark.parametrize("stack", ["dev", "prod", "lab"])
def test_allowlist_holds_only_the_stacks_public_addresses(stack):
    expect = expect_of(stack)
    cfg = load_config(stack, REPO)
    blocks = [ipaddress.ip_network(b) for b in expect.public_blocks]
    for address in expect.addresses:
        assert any(ipaddress.ip_address(address) in block for block in blocks), address
    published = {str(a) for h in cfg.hosts for a in (h.public_address, h.public_address6) if a is not None}
    assert expect.addresses == published
    every_endpoint = [*expect.name_servers, *expect.mail_hosts, *(w.host for w in expect.web_names)]
    assert {a for e in every_endpoint for a in e.addresses} <= expect.addresses


def test_expectation_is_frozen():
    expect = expect_of("dev")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expect.bind_zones = ()  # type: ignore[misc]


def test_follows_the_config():
    """A change of config changes what is expected: the DMARC policy, the signing key, the reverse zones."""
    values = stack_values("dev")
    values["zones"] = [{"name": "example.org", "dmarcPolicy": "quarantine", "dmarcAlignment": "strict"}]
    expect = Expectation.from_config(parse_stack_config(values))
    assert [(d.policy, d.alignment) for d in expect.dmarc] == [("quarantine", "s")]
    assert "p=quarantine; adkim=s" in expect.dmarc[0].record
    values.pop("mail")
    values["zones"] = [{"name": "example.org"}]
    unsigned = Expectation.from_config(parse_stack_config(values))
    assert unsigned.dkim == ()
    assert [d.policy for d in unsigned.dmarc] == ["none"]  # nothing signs: DMARC stays p=none


def test_reverse_zones_on_cloudflare():
    """Reverse zones holding only host PTRs move to Cloudflare; those with pool names stay on BIND."""
    expect = expect_of("prod", ('isp:dns={"reverseZonesOn":"cloudflare"}',))
    assert "100.51.198.in-addr.arpa" in expect.cloudflare_zones
    assert "100.51.198.in-addr.arpa" not in expect.bind_zones
    assert set(expect.bind_zones) == {"113.0.203.in-addr.arpa", "2.0.192.in-addr.arpa", "pool.example.net"}


def test_set_override_reaches_the_expectation():
    expect = expect_of("lab", ('isp:mail={"submissionPorts":[587,465,2525]}',))
    assert expect.submission_ports == (587, 465, 2525)
