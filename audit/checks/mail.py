"""Lessons 4, 5 and 10 on the mail hosts, as an outside sender sees them.

- `fcrdns`: each mail-host address has one PTR naming the host's FQDN, whose A/AAAA give the address
  back (forward-confirmed reverse DNS; receivers such as Gmail refuse mail without it);
- `smtp-banner`: the 220 greeting (RFC 5321 §4.2) and the EHLO reply (§4.1.1.1) on 25 name that PTR name;
- `mail-tls`: STARTTLS (RFC 3207) on 25 and the STARTTLS submission ports, implicit TLS (RFC 8314) on 465
  and on 993 (IMAPS), with a certificate that verifies for the host's FQDN (RFC 6125) and is in date;
- `no-open-relay`: MAIL FROM and RCPT TO two outside addresses on 25 is refused (RFC 5321 §3.6.2: a relay
  for strangers is spam's best friend); never DATA, so no mail is sent;
- `submission-auth`: the submission ports offer AUTH only under TLS (RFC 3207 §4, RFC 4954 §4, RFC 8314).

Each target is one address of one mail host (and one port); a host that does not answer is a WARN.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from functools import partial

import dns.reversename

from audit.expect import Endpoint
from audit.mailrecords import organizational_domain
from audit.model import AuditContext, Result, Status, check, each_at_once
from audit.net import Certificate

SMTP_PORT = 25
IMPLICIT_TLS_PORTS = (465, 993)  # RFC 8314 §3.3 (submissions), §3.2 (IMAP over TLS)
IMAPS_PORT = 993
RELAY_PROBE_LOCAL_PART = "relay-test"


def helo_name(ctx: AuditContext) -> str:
    """What the audit says in EHLO: a name of the outside domain it asks about, never one of ours (a
    server that greets its own name back would prove nothing)."""
    return f"audit.{organizational_domain(ctx.options.outside_name)}"


def _name(text: str) -> str:
    return text.strip().lower().rstrip(".")


def _same_address(left: str, right: str) -> bool:
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return False


def _targets(ctx: AuditContext) -> Iterator[tuple[Endpoint, str]]:
    for host in ctx.expect.mail_hosts:
        for address in host.addresses:
            yield host, address


def timed(function: Callable[[], Result]) -> Result:
    started = time.monotonic()
    result = function()
    return Result(result.check, result.lesson, result.target, result.status, result.summary, result.evidence,
                  round(time.monotonic() - started, 3))


def ptr_names(ctx: AuditContext, address: str) -> tuple[tuple[str, ...], str | None, list[str]]:
    """The PTR names of `address` through the stack resolver: (names, error, evidence lines)."""
    owner = dns.reversename.from_address(address).to_text()
    answer = ctx.resolver.query(owner, "PTR")
    names = tuple(_name(n) for n in answer.records("PTR"))
    line = f"{answer.query_text} -> {answer.error or answer.rcode} {', '.join(names) or '(no PTR)'}"
    return names, answer.error, [line]


# ---------------------------------------------------------------------------------------- fcrdns


@check("fcrdns", lesson="5", vantage="outside",
       claim="each mail-host address (IPv4 and IPv6) has one PTR naming the host's FQDN, whose A/AAAA include "
             "that address (forward-confirmed reverse DNS)")
def fcrdns(ctx: AuditContext) -> Iterator[Result]:
    yield from each_at_once([partial(timed, partial(_fcrdns_one, ctx, host, address))
                             for host, address in _targets(ctx)])


def _fcrdns_one(ctx: AuditContext, host: Endpoint, address: str) -> Result:
    target, fqdn = f"{host.name} {address}", _name(host.name)

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("fcrdns", "5", target, status, summary, tuple(evidence))

    names, error, evidence = ptr_names(ctx, address)
    if error:
        return result("WARN", f"the PTR of {address} could not be asked", evidence)
    if names != (fqdn,):
        return result("FAIL", f"PTR of {address} names {', '.join(names) or 'nothing'}, not exactly {fqdn}",
                      [*evidence, f"expected one PTR naming {fqdn}"])
    rdtype = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
    forward = ctx.resolver.query(fqdn, rdtype)
    found = forward.records(rdtype)
    evidence.append(f"{forward.query_text} -> {forward.error or forward.rcode} {', '.join(found) or '(none)'}")
    if forward.error:
        return result("WARN", f"the {rdtype} of {fqdn} could not be asked", evidence)
    if not any(_same_address(a, address) for a in found):
        return result("FAIL", f"{fqdn} {rdtype} does not give {address} back", evidence)
    return result("PASS", f"{address} -> PTR {fqdn} -> {rdtype} {address}", evidence)


# ----------------------------------------------------------------------------------- smtp-banner


def greeting_name(banner: str) -> str:
    """The first word after the greeting's code: `220 mx.isp.test ESMTP Postfix` -> mx.isp.test."""
    words = banner[4:].split() if banner[:3].isdigit() else []
    return _name(words[0]) if words else ""


@check("smtp-banner", lesson="5", vantage="outside",
       claim="on port 25 the 220 greeting and the EHLO reply name the PTR name of the address "
             "(RFC 5321 §4.2, §4.1.1.1)")
def smtp_banner(ctx: AuditContext) -> Iterator[Result]:
    yield from each_at_once([partial(timed, partial(_banner_one, ctx, host, address))
                             for host, address in _targets(ctx)])


def _banner_one(ctx: AuditContext, host: Endpoint, address: str) -> Result:
    target = f"{host.name} {address}:{SMTP_PORT}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("smtp-banner", "5", target, status, summary, tuple(evidence))

    names, error, evidence = ptr_names(ctx, address)
    # Without a single PTR the banner is judged against the host's FQDN (fcrdns fails on its own).
    wanted = names[0] if len(names) == 1 else _name(host.name)
    session = ctx.net.smtp(address, SMTP_PORT, helo=helo_name(ctx), starttls=False, server_name=host.name,
                           cafile=ctx.options.cafile)
    evidence.append(f"{address}:{SMTP_PORT} greeting: {session.banner!r}")
    if not session.banner:
        if any(line.startswith("< ") for line in session.transcript):  # it spoke, but no SMTP
            return result("FAIL", f"{address}:{SMTP_PORT} answers with no SMTP greeting: {session.error}",
                          [*evidence, *session.transcript[-4:]])
        return result("WARN", f"no greeting from {address}:{SMTP_PORT}: {session.error or 'silence'}",
                      [*evidence, *session.transcript[-4:]])
    evidence.append(f"EHLO {helo_name(ctx)} -> {session.ehlo[0] if session.ehlo else session.error!r}")
    greeted, ehlo_named = greeting_name(session.banner), _name(session.ehlo_name)
    problems = []
    if not session.banner.startswith("220"):
        problems.append(f"the greeting is not 220 (RFC 5321 §4.2): {session.banner[:40]!r}")
    if greeted != wanted:
        problems.append(f"the greeting names {greeted or 'nothing'}, not {wanted}")
    if ehlo_named != wanted:
        problems.append(f"the EHLO reply names {ehlo_named or 'nothing'}, not {wanted}")
    if problems:
        return result("FAIL", "; ".join(problems), evidence)
    return result("PASS", f"greeting and EHLO name {wanted}, the PTR name", evidence)


# -------------------------------------------------------------------------------------- mail-tls


def certificate_verdict(ctx: AuditContext, certificate: Certificate, server_name: str) -> tuple[Status, str, list[str]]:
    """A certificate judged for `server_name`: FAIL when it does not verify, names another host or is
    out of date; WARN when it expires within warn_days; with its names, issuer, dates and days left."""
    now = ctx.options.now
    if certificate.error or certificate.not_after is None or certificate.not_before is None:
        return "FAIL", f"no certificate to judge: {certificate.error or 'no dates'}", [certificate.evidence]
    days_left = certificate.days_left(now) or 0.0
    evidence = [f"certificate: names {', '.join(certificate.dns_names) or '(none)'}; issuer {certificate.issuer}; "
                f"valid {certificate.not_before:%Y-%m-%d} to {certificate.not_after:%Y-%m-%d} "
                f"({days_left:.0f} days left); verified: {certificate.verified}"
                + (f" ({certificate.verify_error})" if certificate.verify_error else "")]
    if not certificate.names(server_name):
        return "FAIL", f"the certificate does not name {server_name} (RFC 6125 §6.4)", evidence
    if certificate.not_after <= now or certificate.not_before > now:
        return "FAIL", f"the certificate is out of date (valid until {certificate.not_after:%Y-%m-%d})", evidence
    if not certificate.verified:
        return "FAIL", f"the certificate does not verify: {certificate.verify_error or 'untrusted'}", evidence
    if days_left < ctx.options.warn_days:
        return "WARN", f"the certificate expires in {days_left:.0f} days (warn at {ctx.options.warn_days})", evidence
    return "PASS", f"verified for {server_name}, {days_left:.0f} days left", evidence


def tls_ports(ctx: AuditContext) -> tuple[int, ...]:
    """25, every submission port, and IMAPS."""
    return tuple(dict.fromkeys([SMTP_PORT, *ctx.expect.submission_ports, IMAPS_PORT]))


@check("mail-tls", lesson="5, 10", vantage="outside",
       claim="STARTTLS on 25 and 587, implicit TLS on 465 and 993, each with a certificate that verifies for "
             "the mail host's FQDN and is not within warn_days of expiry (RFC 3207, RFC 8314, RFC 6125)")
def mail_tls(ctx: AuditContext) -> Iterator[Result]:
    # Every address and port at once: a silent mail host costs one timeout, not one per port and address.
    yield from each_at_once([partial(timed, partial(_tls_one, ctx, host, address, port))
                             for host, address in _targets(ctx) for port in tls_ports(ctx)])


def _tls_one(ctx: AuditContext, host: Endpoint, address: str, port: int) -> Result:
    target = f"{host.name} {address}:{port}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("mail-tls", "5, 10", target, status, summary, tuple(evidence))

    if port in IMPLICIT_TLS_PORTS:
        certificate = ctx.net.tls(address, port, server_name=host.name, cafile=ctx.options.cafile)
        evidence = [f"{address}:{port} implicit TLS (RFC 8314), SNI {host.name}"]
        if certificate.error:
            return result("WARN", f"no TLS handshake on {port}: {certificate.error}", evidence)
    else:
        session = ctx.net.smtp(address, port, helo=helo_name(ctx), starttls=True, server_name=host.name,
                               cafile=ctx.options.cafile)
        evidence = [f"{address}:{port} greeting {session.banner!r}; STARTTLS offered: {session.starttls_offered}"]
        if not session.banner:
            return result("WARN", f"no greeting on {port}: {session.error or 'silence'}", evidence)
        if not session.starttls_offered:
            return result("FAIL", f"port {port} does not offer STARTTLS (RFC 3207)",
                          [*evidence, *(f"EHLO: {line}" for line in session.ehlo)])
        if session.certificate is None:
            return result("FAIL", f"STARTTLS on {port} gave no TLS session: {session.error}", evidence)
        certificate = session.certificate
    status, summary, lines = certificate_verdict(ctx, certificate, host.name)
    return result(status, f"port {port}: {summary}", [*evidence, *lines])


# --------------------------------------------------------------------------------- no-open-relay


@check("no-open-relay", lesson="4", vantage="outside",
       claim="on port 25 a message from an outside address to an outside address is refused at RCPT (5xx); "
             "no DATA is ever sent")
def no_open_relay(ctx: AuditContext) -> Iterator[Result]:
    yield from each_at_once([partial(timed, partial(_relay_one, ctx, host, address))
                             for host, address in _targets(ctx)])


def _relay_one(ctx: AuditContext, host: Endpoint, address: str) -> Result:
    target = f"{host.name} {address}:{SMTP_PORT}"
    outside = f"{RELAY_PROBE_LOCAL_PART}@{organizational_domain(ctx.options.outside_name)}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("no-open-relay", "4", target, status, summary, tuple(evidence))

    session = ctx.net.smtp(address, SMTP_PORT, helo=helo_name(ctx), starttls=False, server_name=host.name,
                           cafile=ctx.options.cafile, rcpt=(outside, outside))
    evidence = [f"{address}:{SMTP_PORT} greeting {session.banner!r}", *session.transcript]
    code = session.rcpt_code
    if session.mail_code is not None and session.mail_code != 250:
        return result("WARN", f"MAIL FROM <{outside}> answered {session.mail_code}: the relay question was not "
                              f"asked", evidence)
    if code is None:
        return result("WARN", f"no RCPT answer from {address}: {session.error or 'silence'}", evidence)
    if 500 <= code < 600:
        return result("PASS", f"RCPT TO <{outside}> from <{outside}> refused with {code}", evidence)
    if 200 <= code < 300:
        return result("FAIL", f"open relay: RCPT TO <{outside}> from <{outside}> accepted with {code} "
                              f"(no DATA was sent)", evidence)
    return result("WARN", f"RCPT TO <{outside}> answered {code}: neither accepted nor refused for good", evidence)


# ------------------------------------------------------------------------------- submission-auth


@check("submission-auth", lesson="4", vantage="outside",
       claim="each submission port offers AUTH only under TLS: after STARTTLS on 587 (and 2525), on implicit "
             "TLS on 465 (RFC 3207 §4, RFC 4954 §4, RFC 8314)")
def submission_auth(ctx: AuditContext) -> Iterator[Result]:
    yield from each_at_once([partial(timed, partial(_submission_one, ctx, host, address, port))
                             for host, address in _targets(ctx) for port in ctx.expect.submission_ports])


def _submission_one(ctx: AuditContext, host: Endpoint, address: str, port: int) -> Result:
    target = f"{host.name} {address}:{port}"
    implicit = port in IMPLICIT_TLS_PORTS

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("submission-auth", "4", target, status, summary, tuple(evidence))

    session = ctx.net.smtp(address, port, helo=helo_name(ctx), starttls=not implicit, implicit_tls=implicit,
                           server_name=host.name, cafile=ctx.options.cafile)
    evidence = [f"{address}:{port} greeting {session.banner!r}; STARTTLS offered: {session.starttls_offered}; "
                f"AUTH before TLS: {session.auth_before_tls}; AUTH after TLS: {session.auth_after_tls}",
                *(f"EHLO: {line}" for line in session.ehlo)]
    if not session.banner:
        return result("WARN", f"no greeting on {port}: {session.error or 'silence'}", evidence)
    if session.auth_before_tls and not implicit:  # on 465 the first EHLO is already under TLS
        return result("FAIL", f"port {port} offers AUTH before TLS: passwords could cross in clear "
                              f"(RFC 4954 §4)", evidence)
    if not implicit and not session.starttls_offered:
        return result("FAIL", f"port {port} offers no STARTTLS (RFC 3207)", evidence)
    if not session.auth_after_tls:
        return result("FAIL", f"port {port} offers no AUTH under TLS: submission without authentication"
                              + (f" ({session.error})" if session.error else ""), evidence)
    return result("PASS", f"port {port}: AUTH only under TLS", evidence)
