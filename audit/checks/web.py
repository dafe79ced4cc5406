"""Lessons 8 and 10 (and 6's MTA-STS host) from outside: the webmail and MTA-STS names serve a certificate
that verifies for exactly the name asked, plain HTTP only redirects to HTTPS, and no web name shares an
address with a name server.

Addresses come from the stack's resolver (our name servers for our zones, `--resolver` for the rest), so
the audit sees what a browser would; a name it cannot resolve falls back to the host the stack puts it
on, said so in the evidence.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from audit.checks.dns import dns_line, name_server_addresses
from audit.model import AuditContext, Result, Status, check, each_at_once

if TYPE_CHECKING:
    from audit.expect import WebName
    from audit.net import Certificate, HttpResponse

REDIRECT_STATUSES = (301, 302, 307, 308)  # RFC 9110 §15.4: the redirections that keep the request target
SEVERITY: dict[Status, int] = {"PASS": 0, "WARN": 1, "FAIL": 2}
NOT_WWW_ROLES = ("www", "apex", "webmail")  # the names lesson 8 keeps off the name servers


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=SEVERITY.__getitem__, default="PASS")


def resolve(ctx: AuditContext, name: str) -> tuple[tuple[str, ...], list[str], bool]:
    """The name's addresses through the stack's resolver (CNAMEs followed), the A and AAAA exchanges as
    evidence, and whether any answer came at all (a name not asked, or a silent server, is no answer)."""
    answers = [ctx.resolver.query(name, rdtype) for rdtype in ("A", "AAAA")]  # the resolver keeps them
    answered = any(answer.error is None for answer in answers)
    return ctx.resolver.addresses(name), [dns_line(answer) for answer in answers], answered


def silent(error: str | None) -> bool:
    """Whether a Net error means nobody answered (a WARN) rather than an answer that says no (a FAIL)."""
    return bool(error) and "timeout" in error.lower()


def judge_certificate(certificate: Certificate, name: str, now: datetime.datetime,
                      warn_days: int) -> tuple[Status, str, list[str]]:
    """RFC 6125 §6 (the presented identifier must match the name asked) and RFC 5280 §4.1.2.5 (validity):
    verified for `name` and in date = PASS; expiring within `warn_days` = WARN; not verified, wrong name,
    expired, or no certificate served (refused, failed handshake) = FAIL; no answer at all = WARN."""
    if certificate.not_after is None:
        reason = certificate.error or certificate.verify_error or "no certificate"
        if silent(certificate.error):
            return "WARN", f"no TLS answer: {reason}", [certificate.evidence]
        return "FAIL", f"no certificate served: {reason}", [certificate.evidence]
    days_left = certificate.days_left(now) or 0.0
    evidence = [f"certificate: subject CN {certificate.subject}, names {', '.join(certificate.dns_names) or '(none)'}"
                f", issuer {certificate.issuer}",
                f"valid {certificate.not_before:%Y-%m-%d %H:%M}Z to {certificate.not_after:%Y-%m-%d %H:%M}Z, "
                f"{days_left:.0f} days left"]
    if days_left < 0:
        return "FAIL", f"expired {-days_left:.0f} days ago (RFC 5280 §4.1.2.5)", evidence
    if not certificate.verified:
        reason = "does not verify" if certificate.names(name) else f"does not name {name} (RFC 6125 §6.4)"
        detail = f" ({certificate.verify_error})" if certificate.verify_error else ""
        return "FAIL", f"{reason}{detail}", evidence
    if days_left <= warn_days:
        return "WARN", f"verified for {name} but expires in {days_left:.0f} days (within {warn_days})", evidence
    return "PASS", f"verified for {name}, {days_left:.0f} days left", evidence


def judge_redirect(response: HttpResponse, name: str) -> tuple[Status, str]:
    """Plain HTTP must only send the browser to https://<name>/ (lesson 10: HTTPS only; RFC 9110 §15.4)."""
    if response.error:
        return ("WARN" if silent(response.error) else "FAIL"), f"plain HTTP: {response.error}"
    location = response.header("location")
    if response.status in REDIRECT_STATUSES and location.lower().startswith(f"https://{name.lower()}/"):
        return "PASS", f"plain HTTP: {response.status} to {location}"
    return "FAIL", (f"plain HTTP: {response.status}, Location {location or '(none)'}: "
                    f"expected a redirect to https://{name}/")


def _addresses_to_probe(ctx: AuditContext, web: WebName) -> tuple[tuple[str, ...], list[str], str | None]:
    """The addresses the name resolves to, checked against its host's; a FAIL summary when it leads
    elsewhere; the host's own addresses (said so) when it cannot be resolved."""
    addresses, evidence, answered = resolve(ctx, web.name)
    if not addresses:
        why = "no address" if answered else "not resolved"
        evidence.append(f"{web.name}: {why}; probing {web.host.name} {', '.join(web.host.addresses)} from the stack")
        return web.host.addresses, evidence, None
    foreign = [a for a in addresses if a not in web.host.addresses]
    if foreign:
        return (), evidence, (f"{web.name} resolves to {', '.join(foreign)}, not to {web.host.name} "
                              f"({', '.join(web.host.addresses)}); not contacted")
    return addresses, evidence, None


def _certificate_results(ctx: AuditContext, check_id: str, lesson: str, roles: tuple[str, ...],
                         names: set[str] | None = None) -> Iterator[Result]:
    for web in ctx.expect.web_names:
        if web.role not in roles or (names is not None and web.name not in names):
            continue
        addresses, lookup, elsewhere = _addresses_to_probe(ctx, web)
        if elsewhere:
            yield Result(check_id, lesson, web.name, "FAIL", elsewhere, tuple(lookup))
            continue
        for address in addresses:
            certificate = ctx.net.tls(address, 443, server_name=web.name, cafile=ctx.options.cafile)
            tls_status, tls_summary, tls_evidence = judge_certificate(
                certificate, web.name, ctx.options.now, ctx.options.warn_days)
            plain = ctx.net.http_get(address, 80, host_header=web.name, path="/")
            http_status, http_summary = judge_redirect(plain, web.name)
            yield Result(check_id, lesson, f"{web.name} {address}", worst([tls_status, http_status]),
                         f"{tls_summary}; {http_summary}",
                         (*lookup, f"TLS {certificate.target}, trusting {ctx.options.cafile or 'the system store'}: "
                          f"{'verified' if certificate.verified else 'NOT verified'}", *tls_evidence,
                          f"GET {plain.target}: {http_summary}"))


@check("webmail-certificate", lesson="10", vantage="outside",
       claim="webmail.<domain> on 443 presents a certificate that verifies for that name and is not within "
             "warn_days of expiry, and plain HTTP redirects to https://webmail.<domain>/ (RFC 6125)")
def webmail_certificate(ctx: AuditContext) -> Iterator[Result]:
    yield from _certificate_results(ctx, "webmail-certificate", "10", ("webmail",))


@check("mta-sts-certificate", lesson="6, 10", vantage="outside",
       claim="each mta-sts.<domain> on 443 presents a certificate that verifies for that name and is not within "
             "warn_days of expiry, and plain HTTP redirects to HTTPS (RFC 8461 §3.3, RFC 6125)")
def mta_sts_certificate(ctx: AuditContext) -> Iterator[Result]:
    """RFC 8461 §3.3: a sender fetches the policy over HTTPS and must validate the certificate for
    mta-sts.<domain> (RFC 6125); a policy behind a bad certificate is no policy."""
    names = {f"mta-sts.{m.domain}" for m in ctx.expect.mta_sts}
    yield from _certificate_results(ctx, "mta-sts-certificate", "6, 10", ("mta-sts",), names)


@check("dns-not-www", lesson="8", vantage="outside",
       claim="the addresses of www, the apex and webmail share none with the name servers' addresses "
             "(as declared and as resolved)")
def dns_not_www(ctx: AuditContext) -> Iterator[Result]:
    """Lesson 8: a web host compromised or overloaded must not take DNS with it, so the addresses the
    world gets for the web names and the name servers' addresses (as the stack declares them and as
    they resolve) are disjoint."""
    webs = [web for web in ctx.expect.web_names if web.role in NOT_WWW_ROLES]
    names = list(dict.fromkeys([*(endpoint.name for endpoint in ctx.expect.name_servers), *(w.name for w in webs)]))
    # Every name looked up at once: a silent resolver costs one wait, not one per name.
    lookups = dict(zip(names, each_at_once([partial(resolve, ctx, name) for name in names]), strict=True))
    servers: dict[str, set[str]] = {}
    ns_evidence: list[str] = []
    for server, address in name_server_addresses(ctx):
        servers.setdefault(address, set()).add(server)
    for endpoint in ctx.expect.name_servers:
        resolved, lines, _ = lookups[endpoint.name]
        ns_evidence += lines
        for address in resolved:
            servers.setdefault(address, set()).add(endpoint.name)
    for web in webs:
        addresses, lookup, _ = lookups[web.name]
        evidence = (*lookup, *ns_evidence,
                    f"name-server addresses: {', '.join(sorted(servers)) or '(none)'}")
        shared = [f"{address} ({', '.join(sorted(servers[address]))})" for address in addresses if address in servers]
        if not addresses:
            yield Result("dns-not-www", "8", web.name, "WARN", f"{web.name} did not resolve: not judged", evidence)
        elif shared:
            yield Result("dns-not-www", "8", web.name, "FAIL",
                         f"{web.name} shares {', '.join(shared)} with a name server", evidence)
        else:
            yield Result("dns-not-www", "8", web.name, "PASS",
                         f"{web.name} -> {', '.join(addresses)}: no name server there", evidence)
