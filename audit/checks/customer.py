"""Lessons 1, 3 and 4 from a customer line (`--vantage customer`): port 25 to the outside is blocked,
our own mail host is reachable on 25 and for submission, and our name servers resolve for customers.

These checks run only when the audit is started from a customer address; from outside they would
judge the wrong thing (an outsider must be refused recursion, see audit/checks/dns.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from audit.checks.dns import dns_line, name_server_addresses
from audit.model import AuditContext, Result, Status, check

if TYPE_CHECKING:
    from audit.net import Connect

SMTP_PORT = 25
IMPLICIT_TLS_SUBMISSION = 465  # RFC 8314 §3.3: TLS from the first byte, no STARTTLS


@check("port25-blocked", lesson="1", vantage="customer",
       claim="from a customer line, TCP/25 to --outside-smtp is refused, reset, unreachable or times out")
def port25_blocked(ctx: AuditContext) -> Iterator[Result]:
    """Lesson 1 (and M3AAWG's port 25 management practice): customers' direct-to-MX traffic is blocked at
    our border. Any outcome but a connection proves it; a connection (a banner) breaks it."""
    server = ctx.options.outside_smtp
    if not server:
        yield Result("port25-blocked", "1", "(no --outside-smtp)", "WARN",
                     "not checked: give --outside-smtp, a mail server outside our network")
        return
    target = f"{server}:{SMTP_PORT}"
    try:
        seen = ctx.net.connect(server, SMTP_PORT)
    except ValueError as refused:  # a name, or an address the Net was not given: nothing was sent
        yield Result("port25-blocked", "1", target, "WARN", f"not checked: {refused}")
        return
    line = f"from the customer line: {_connect_line(seen)}"
    if seen.outcome == "connected":
        yield Result("port25-blocked", "1", target, "FAIL",
                     f"a customer reaches {target}: {seen.banner or 'connected'}", (line,))
    else:
        yield Result("port25-blocked", "1", target, "PASS", f"blocked ({seen.outcome})", (line,))


def _connect_line(seen: Connect) -> str:
    return f"TCP {seen.target}: {seen.outcome}" + (f" {seen.banner!r}" if seen.banner else "") + (
        f" ({seen.error})" if seen.error else "")


def _smtp_port(ctx: AuditContext, address: str) -> tuple[Status, str, list[str]]:
    """Port 25 of our mail host: connected with a 220 greeting (RFC 5321 §4.2)."""
    seen = ctx.net.connect(address, SMTP_PORT)
    line = _connect_line(seen)
    if seen.outcome == "timeout":
        return "WARN", f"{SMTP_PORT}: no answer", [line]
    if seen.outcome != "connected":
        return "FAIL", f"{SMTP_PORT}: {seen.outcome}", [line]
    if not seen.banner:
        return "WARN", f"{SMTP_PORT}: connected, but no greeting within the timeout", [line]
    if not seen.banner.startswith("220"):
        return "FAIL", f"{SMTP_PORT}: no 220 greeting (RFC 5321 §4.2)", [line]
    return "PASS", f"{SMTP_PORT}: {seen.banner}", [line]


def _submission_port(ctx: AuditContext, host: str, address: str, port: int) -> tuple[Status, str, list[str]]:
    """A submission port: 465 TLS from the first byte (RFC 8314 §3.3), the others STARTTLS offered and
    AUTH only after it (RFC 3207 §4, RFC 4954 §4). A session that never started: silence is a WARN, a
    refusal (or garbage) a FAIL. The certificate itself is judged by the mail checks, not here."""
    implicit = port == IMPLICIT_TLS_SUBMISSION
    session = ctx.net.smtp(address, port, helo=f"audit.{ctx.expect.domain or 'invalid'}", starttls=not implicit,
                           implicit_tls=implicit, server_name=host, cafile=ctx.options.cafile)
    evidence = [f"SMTP {session.target}" + (f": {session.error}" if session.error else ""),
                *(f"  {line}" for line in session.transcript)]
    if not session.banner:
        reason = session.error or "no greeting"
        return ("WARN" if "timeout" in reason else "FAIL"), f"{port}: no SMTP session ({reason})", evidence
    if session.banner_code != 220:
        return "FAIL", f"{port}: greeting {session.banner!r}, not 220 (RFC 5321 §4.2)", evidence
    if not implicit and not session.starttls_offered:
        return "FAIL", f"{port}: STARTTLS not offered (RFC 3207 §4)", evidence
    if session.auth_before_tls and not implicit:
        return "FAIL", f"{port}: AUTH offered before STARTTLS (RFC 4954 §4)", evidence
    if not session.tls:
        return "FAIL", f"{port}: no TLS session ({session.error or 'not established'})", evidence
    if not session.auth_after_tls:
        return "FAIL", f"{port}: no AUTH offered over TLS: customers cannot submit (RFC 4954 §4)", evidence
    if implicit:
        return "PASS", f"{port}: TLS, 220 greeting, AUTH offered (RFC 8314)", evidence
    return "PASS", f"{port}: STARTTLS offered, AUTH only after it", evidence


@check("own-mail-reachable", lesson="1, 4", vantage="customer",
       claim="from a customer line each mail-host address greets with 220 on 25, offers STARTTLS and AUTH only "
             "after it on 587 (and 2525), and TLS with AUTH on 465 (RFC 3207 §4, RFC 4954 §4, RFC 8314)")
def own_mail_reachable(ctx: AuditContext) -> Iterator[Result]:
    """Lesson 1 blocks 25 to the outside only: our own mail hosts stay reachable. Lesson 4: submission on
    587 (STARTTLS, RFC 3207 §4; AUTH only over TLS, RFC 4954 §4) and 465 (implicit TLS, RFC 8314 §3.3).
    One Result per mail-host address; a refusal is a FAIL, silence a WARN."""
    ports = [port for port in ctx.expect.submission_ports if port != SMTP_PORT]
    for host in ctx.expect.mail_hosts:
        for address in host.addresses:
            verdicts = [_smtp_port(ctx, address),
                        *(_submission_port(ctx, host.name, address, port) for port in ports)]
            statuses = [status for status, _, _ in verdicts]
            status: Status = "FAIL" if "FAIL" in statuses else "WARN" if "WARN" in statuses else "PASS"
            yield Result("own-mail-reachable", "1, 4", f"{host.name} {address}", status,
                         "; ".join(summary for _, summary, _ in verdicts),
                         tuple(line for _, _, lines in verdicts for line in lines))


@check("recursion-offered", lesson="3", vantage="customer",
       claim="from a customer line every name-server address resolves a name outside our zones (RA with "
             "NOERROR or NXDOMAIN)")
def recursion_offered(ctx: AuditContext) -> Iterator[Result]:
    """Lesson 3's other half: recursion is refused to the world but offered to our customers, who have no
    other resolver. RA (RFC 1035 §4.1.1) with NOERROR or NXDOMAIN = recursion done; REFUSED or no RA =
    refused; SERVFAIL with RA = offered but it could not resolve (upstream trouble): WARN."""
    name = ctx.options.outside_name
    for server, address in name_server_addresses(ctx):
        answer = ctx.net.dns(address, name, "A", rd=True)
        target = f"{server} {address}"
        evidence = (dns_line(answer),)
        if answer.error:
            status: Status = "WARN"
            summary = "no answer: not judged"
        elif "ra" in answer.flags and answer.rcode in ("NOERROR", "NXDOMAIN"):
            status, summary = "PASS", f"{name} resolved for the customer: {answer.rcode} with RA"
        elif "ra" in answer.flags and answer.rcode == "SERVFAIL":
            status, summary = "WARN", f"{name}: SERVFAIL with RA (recursion offered, resolution failed)"
        else:
            status, summary = "FAIL", (f"{name}: {answer.rcode}{' with RA' if 'ra' in answer.flags else ' without RA'}"
                                       ": customers get no recursion")
        yield Result("recursion-offered", "3", target, status, summary, evidence)
