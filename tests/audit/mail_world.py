"""A small mail world on loopback for the mail and mail-authentication checks' tests.

One mail host `mx.isp.test` at 127.0.0.1 (and 2001:db8::25, which only the DNS knows: nothing connects
to it), one name server (a FakeDns) at 127.0.0.1, every fake on its own ephemeral port reached through
`Net(ports=...)`. `good_zones()` is the DNS of a stack that holds every lesson; each test breaks one
thing, as an operator's hand edit or a package upgrade would.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import dns.reversename

from audit.expect import DkimExpectation, DmarcExpectation, Endpoint, Expectation, MtaStsExpectation
from audit.model import CHECKS, AuditContext, AuditOptions, Result
from audit.net import Net
from audit.resolver import StackResolver
from tests.audit.fakes import FakeDns, fake_ca, make_certificate

LOOPBACK = "127.0.0.1"
MX_NAME = "mx.isp.test"
MX_V6 = "2001:db8::25"
DOMAIN = "isp.test"
REVERSE_V4 = dns.reversename.from_address(LOOPBACK).to_text()
REVERSE_V6 = dns.reversename.from_address(MX_V6).to_text()
KEY_SIGNING = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsigningkeyAAAA" + "Q" * 40 + "IDAQAB"
KEY_NEXT = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnextkeyBBBBBB" + "R" * 40 + "IDAQAB"
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.isp.test\r\nmax_age: 604800\r\n"
POLICY_ID = "20261206a1"
DMARC = "v=DMARC1; p=reject; adkim=r; aspf=r; rua=mailto:postmaster@isp.test"
TLS_RPT = "v=TLSRPTv1; rua=mailto:tls-reports@isp.test"


def expectation(**changes) -> Expectation:
    """What the stack config would say (built by hand: these tests judge the checks, not expect.py)."""
    base = Expectation(
        name_servers=(Endpoint("ns1.isp.test", (LOOPBACK,)),),
        mail_hosts=(Endpoint(MX_NAME, (LOOPBACK,)),),
        bind_zones=(DOMAIN, "0.0.127.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"),
        cloudflare_zones=(),
        web_names=(),
        hosted_mail_domains=(DOMAIN,),
        dkim=(DkimExpectation(DOMAIN, "s2026", "rsa", KEY_SIGNING, True),
              DkimExpectation(DOMAIN, "s2027", "rsa", KEY_NEXT, False)),
        dmarc=(DmarcExpectation(DOMAIN, "reject", "r", DMARC),),
        mta_sts=(MtaStsExpectation(DOMAIN, POLICY, POLICY_ID, (MX_NAME,)),),
        tls_rpt=((DOMAIN, ("mailto:tls-reports@isp.test",)),),
        submission_ports=(587, 465),
        public_blocks=("127.0.0.0/8", "2001:db8::/32"),
        customer_pools=(),
        addresses=frozenset({LOOPBACK}),
        domain=DOMAIN,
    )
    return dataclasses.replace(base, **changes)


def good_zones() -> dict[tuple[str, str], list[str]]:
    zones = {
        (DOMAIN, "SOA"): ["ns1.isp.test. hostmaster.isp.test. 1 7200 900 1209600 300"],
        (DOMAIN, "MX"): [f"10 {MX_NAME}."],
        (DOMAIN, "TXT"): [f"v=spf1 ip4:{LOOPBACK} ip6:{MX_V6} -all"],
        (MX_NAME, "A"): [LOOPBACK],
        (MX_NAME, "AAAA"): [MX_V6],
        (REVERSE_V4, "PTR"): [f"{MX_NAME}."],
        (REVERSE_V6, "PTR"): [f"{MX_NAME}."],
        (f"s2026._domainkey.{DOMAIN}", "TXT"): [f"v=DKIM1; k=rsa; p={KEY_SIGNING}"],
        (f"s2027._domainkey.{DOMAIN}", "TXT"): [f"v=DKIM1; k=rsa; p={KEY_NEXT}"],
        (f"_dmarc.{DOMAIN}", "TXT"): [DMARC],
        (f"_mta-sts.{DOMAIN}", "TXT"): [f"v=STSv1; id={POLICY_ID}"],
        (f"_smtp._tls.{DOMAIN}", "TXT"): [TLS_RPT],
        (f"mta-sts.{DOMAIN}", "A"): [LOOPBACK],
    }
    return zones


def mail_certificate(names=(MX_NAME,), **dates) -> tuple[bytes, bytes]:
    return make_certificate(list(names), ca=fake_ca(), **dates)


@contextlib.contextmanager
def world(zones: dict | None = None, servers: dict | None = None, *, expect: Expectation | None = None,
          dns_behaviour: str = "answer", **options) -> Iterator[AuditContext]:
    """An AuditContext over a FakeDns with `zones` and `servers` {well-known port: a fake server (not yet
    entered)}, trusting only the tests' CA."""
    expect = expect or expectation()
    zones = good_zones() if zones is None else zones
    with contextlib.ExitStack() as stack:
        name_server = stack.enter_context(FakeDns(zones, origins=expect.bind_zones, behaviour=dns_behaviour))
        ports = {53: name_server.port}
        for port, server in (servers or {}).items():
            ports[port] = stack.enter_context(server).port
        net = Net(expect.addresses, timeout=0.5, tries=1, ports=ports)
        audit_options = AuditOptions(timeout=0.5, tries=1, cafile=fake_ca().cafile, **options)
        yield AuditContext(expect, net, StackResolver(expect, net, None), audit_options)


def run(check_id: str, ctx: AuditContext) -> list[Result]:
    declared = next(c for c in CHECKS if c.id == check_id)
    return list(declared.function(ctx))


def one(check_id: str, ctx: AuditContext, target_part: str = "") -> Result:
    """The one result whose target contains `target_part`."""
    found = [r for r in run(check_id, ctx) if target_part in r.target]
    assert len(found) == 1, found
    return found[0]


def text(result: Result) -> str:
    return "\n".join([result.summary, *result.evidence])
