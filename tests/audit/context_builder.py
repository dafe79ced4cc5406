"""An AuditContext for one check against loopback fakes: an Expectation built by hand, a Net allowed only
the fakes' addresses (their ephemeral ports mapped from the well-known ones), short timeouts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from audit.expect import Endpoint, Expectation, MtaStsExpectation, WebName
from audit.model import AuditContext, AuditOptions, Result
from audit.net import Net

TIMEOUT = 2.0  # seconds per exchange: the fakes answer at once, but the test machine may be busy
SILENCE_TIMEOUT = 0.5  # for a test whose fake never answers: a WARN must not cost the suite TIMEOUT

__all__ = ["SILENCE_TIMEOUT", "Endpoint", "MtaStsExpectation", "WebName", "context", "expectation", "results"]


def expectation(*, name_servers: Iterable[Endpoint] = (), mail_hosts: Iterable[Endpoint] = (),
                bind_zones: Iterable[str] = (), web_names: Iterable[WebName] = (),
                mta_sts: Iterable[MtaStsExpectation] = (), submission_ports: Iterable[int] = (587, 465),
                domain: str = "example.net") -> Expectation:
    name_servers, mail_hosts, web_names = tuple(name_servers), tuple(mail_hosts), tuple(web_names)
    endpoints = [*name_servers, *mail_hosts, *(w.host for w in web_names)]
    return Expectation(
        name_servers=name_servers, mail_hosts=mail_hosts, bind_zones=tuple(bind_zones), cloudflare_zones=(),
        web_names=web_names, hosted_mail_domains=(domain,), dkim=(), dmarc=(), mta_sts=tuple(mta_sts), tls_rpt=(),
        submission_ports=tuple(submission_ports), public_blocks=(), customer_pools=(),
        addresses=frozenset(a for e in endpoints for a in e.addresses), domain=domain, stack="test")


def context(expect: Expectation, *, ports: Mapping[int, int], extra: Iterable[str] = (), resolver=None,
            tries: int = 1, timeout: float = TIMEOUT, **options) -> AuditContext:
    """`extra`: addresses beyond the Expectation's (--resolver, --outside-smtp)."""
    net = Net(expect.addresses | frozenset(extra), timeout=timeout, tries=tries, ports=ports)
    if resolver is None:
        from audit.resolver import StackResolver

        resolver = StackResolver(expect, net, options.get("resolver"))
    return AuditContext(expect, net, resolver, AuditOptions(timeout=timeout, tries=tries, **options))


def results(function, ctx: AuditContext) -> list[Result]:
    return list(function(ctx))


def with_options(ctx: AuditContext, **changes) -> AuditContext:
    return dataclasses.replace(ctx, options=dataclasses.replace(ctx.options, **changes))
