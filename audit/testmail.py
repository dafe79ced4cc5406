"""`--send-test-mail ADDRESS`: the only mail the audit ever sends, one short message to our own mail host.

It goes to port 25 of our first mail host that answers (an address of the stack, through the Net: its
allowlist and timeouts), with STARTTLS when offered (RFC 3207, verified against --cafile or the system's
store), from the null reverse-path (RFC 5321 §4.5.5: no bounce can loop back, and no sender domain's
SPF is claimed). The verdict is the server's reply to the end of DATA (RFC 5321 §4.1.1.4).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from audit.expect import Expectation
from audit.model import AuditOptions, Result

CHECK_ID = "test-mail"
LESSON = "-"  # not one lesson: that mail reaches a mailbox of ours at all
CLAIM = "our mail host accepts one message for ADDRESS on port 25 (RFC 5321 §4.1.1.4)"
SMTP_PORT = 25


def hosted_mailbox_problem(address: str, expect: Expectation) -> str | None:
    """Why ADDRESS is not a mailbox in one of our hosted mail domains (None when it is)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>" for c in address):
        return f"{address!r} is not a mail address (local@domain)"
    if domain.lower().rstrip(".") not in expect.hosted_mail_domains:
        return (f"{domain} is not a hosted mail domain of this stack ({', '.join(expect.hosted_mail_domains)}): "
                "the audit sends mail only to its own mail hosts")
    return None


class _NetSmtp(smtplib.SMTP):
    """smtplib over a socket the Net opened: the allowlist, the port map and the timeout hold."""

    def __init__(self, net, **kwargs):
        self._net = net
        super().__init__(**kwargs)

    def _get_socket(self, host, port, timeout):  # the Net sets its own timeout
        return self._net.open(host, port)


def _message(address: str, expect: Expectation, now) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"isp-audit <postmaster@{expect.domain}>"
    message["To"] = address
    message["Subject"] = f"isp-audit test message ({expect.stack or expect.domain})"
    message["Date"] = formatdate(now.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid("isp-audit", expect.domain or None)
    message.set_content("A test message sent by `python -m audit --send-test-mail`. Nothing to do.\n")
    return message


def send_test_mail(address: str, expect: Expectation, net, options: AuditOptions) -> Result:
    started = time.monotonic()
    transcript: list[str] = []
    for host in expect.mail_hosts:
        for ip in host.addresses:
            target = f"{host.name} {ip}:{SMTP_PORT}"
            try:
                outcome = _deliver(net, ip, host.name, address, expect, options, transcript)
            except ssl.SSLError as error:  # it answered; its TLS is what is wrong (RFC 3207, RFC 6125)
                transcript.append(f"{target}: STARTTLS: {error}")
                return _result(address, "FAIL", "STARTTLS failed: the message was not sent",
                               transcript, started)
            except (OSError, smtplib.SMTPException) as error:
                transcript.append(f"{target}: {type(error).__name__}: {error}")
                continue
            return _result(address, *outcome, [f"to {target}", *transcript], started)
    return _result(address, "WARN", "no mail host of ours answered on port 25", transcript, started)


def _deliver(net, ip: str, name: str, address: str, expect: Expectation, options: AuditOptions,
             transcript: list[str]) -> tuple[str, str]:
    helo = f"isp-audit.{expect.domain}" if expect.domain else socket.getfqdn()
    with _NetSmtp(net, local_hostname=helo, timeout=options.timeout) as smtp:
        code, banner = smtp.connect(ip, SMTP_PORT)
        transcript.append(f"S: {code} {banner.decode(errors='replace')}")
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            # smtplib names the server by the host it connected to (an address): verify the MX name instead.
            smtp._host = name
            smtp.starttls(context=ssl.create_default_context(cafile=options.cafile))
            transcript.append("C: STARTTLS (verified)")
            smtp.ehlo()
        try:
            refused = smtp.send_message(_message(address, expect, options.now), from_addr="", to_addrs=[address])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = error.recipients[address]
            transcript.append(f"RCPT TO:<{address}> -> {code} {text.decode(errors='replace')}")
            return ("FAIL" if code >= 500 else "WARN"), f"RCPT refused: {code}"
        except smtplib.SMTPResponseException as error:
            transcript.append(f"-> {error.smtp_code} {error.smtp_error.decode(errors='replace')}")
            status = "FAIL" if error.smtp_code >= 500 else "WARN"
            return status, f"refused: {error.smtp_code} {error.smtp_error.decode(errors='replace')}"
        transcript.append(f"DATA -> 250 (accepted{'; refused ' + str(refused) if refused else ''})")
        return "PASS", f"accepted one message for {address}"


def _result(address: str, status: str, summary: str, evidence: list[str], started: float) -> Result:
    return Result(CHECK_ID, LESSON, address, status, summary, tuple(evidence),  # type: ignore[arg-type]
                  round(time.monotonic() - started, 3))
