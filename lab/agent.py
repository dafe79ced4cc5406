"""What a probe does from inside a namespace: DNS queries, TCP connects, SMTP sessions, an SPF check.

The lab runs `ip netns exec <namespace> python -m lab.agent <action>` with the action's
arguments as JSON on stdin and reads one JSON result from stdout. An agent only observes and
reports (codes, flags, banners, addresses); the probes in lab/probes.py judge. A password is
read from the file it is given and never appears in a result.
"""

from __future__ import annotations

import contextlib
import errno
import json
import smtplib
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver


def dns_queries(server: str, queries: list[list[str]], source: str | None = None, timeout: float = 4.0,
                recursion_desired: bool = True, tries: int = 2) -> dict[str, Any]:
    """Each [name, type] asked of `server` over UDP: rcode, flags and the answer as text."""
    results = []
    for qname, qtype in queries:
        query = dns.message.make_query(qname, qtype)
        if not recursion_desired:
            query.flags &= ~dns.flags.RD
        entry: dict[str, Any] = {"name": qname, "type": qtype}
        for _ in range(tries):
            try:
                response = dns.query.udp(query, server, timeout=timeout, source=source)
            except dns.exception.Timeout:
                entry["error"] = f"no answer within {timeout:g} s"
                continue
            except OSError as error:
                entry["error"] = str(error)
                break
            entry.pop("error", None)
            entry.update(
                rcode=dns.rcode.to_text(response.rcode()),
                flags=dns.flags.to_text(response.flags).lower().split(),
                answer=[line for rrset in response.answer for line in rrset.to_text().splitlines()],
                authority=[line for rrset in response.authority for line in rrset.to_text().splitlines()],
            )
            break
        results.append(entry)
    return {"server": server, "source": source, "results": results}


def tcp(host: str, port: int, timeout: float = 4.0, source: str | None = None, read_banner: bool = True) -> dict:
    """Open a TCP connection: connected (with the first line the server says), refused/reset, or timeout."""
    started = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
    except ConnectionRefusedError:
        return {"outcome": "reset", "detail": "connection refused (TCP reset)", "seconds": time.monotonic() - started}
    except TimeoutError:
        return {"outcome": "timeout", "detail": f"no answer within {timeout:g} s"}
    except OSError as error:
        name = errno.errorcode.get(error.errno or 0, "")
        return {"outcome": "error", "detail": f"{name} {error.strerror or error}"}
    with sock:
        local = sock.getsockname()[0]
        banner = ""
        if read_banner:
            try:
                sock.settimeout(timeout)
                banner = sock.recv(512).decode(errors="replace").splitlines()[0]
            except (TimeoutError, OSError, IndexError):
                banner = ""
        return {"outcome": "connected", "local": local, "banner": banner}


def _password(path: str | None) -> str:
    return Path(path).read_text().strip() if path else ""


def smtp(host: str, port: int, helo: str, timeout: float = 15.0, starttls: bool = False,
         user: str | None = None, password_file: str | None = None,
         messages: list[dict[str, Any]] | None = None, source: str | None = None) -> dict[str, Any]:
    """One SMTP session, step by step, every server reply recorded; nothing raises past a step.

    `messages`: [{"from": addr, "to": [addr...], "subject": s, "size": bytes}] sent in turn;
    each records the reply to MAIL, to every RCPT and to DATA (when a recipient was accepted).
    """
    steps: list[dict[str, Any]] = []

    def record(step: str, code: int, text: bytes | str) -> tuple[int, str]:
        message = text.decode(errors="replace") if isinstance(text, bytes) else text
        steps.append({"step": step, "code": code, "text": " ".join(message.split())})
        return code, message

    try:
        client = smtplib.SMTP(timeout=timeout, source_address=(source, 0) if source else None)
        code, banner = client.connect(host, port)
        client._host = host  # what starttls() sends as SNI; only the constructor sets it
        record("banner", code, banner)
    except (OSError, smtplib.SMTPException) as error:
        return {"steps": steps, "error": f"connect: {error}"}
    try:
        record("ehlo", *client.ehlo(helo))
        auth_before_tls = "auth" in client.esmtp_features
        if starttls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the lab's certificates are self-signed stand-ins
            record("starttls", *client.starttls(context=context))
            record("ehlo", *client.ehlo(helo))
        result: dict[str, Any] = {"auth_offered_before_tls": auth_before_tls,
                                  "auth_offered": "auth" in client.esmtp_features}
        if user:
            try:
                code, text = client.login(user, _password(password_file))
                record(f"auth as {user}", code, text)
            except smtplib.SMTPAuthenticationError as error:
                record(f"auth as {user}", error.smtp_code, error.smtp_error)
        for message in messages or []:
            record("mail from", *client.docmd("MAIL", f"FROM:<{message['from']}>"))
            accepted = 0
            for recipient in message["to"]:
                code, _ = record(f"rcpt to {recipient}", *client.docmd("RCPT", f"TO:<{recipient}>"))
                accepted += 200 <= code < 300
            if not accepted:
                client.rset()
                continue
            try:
                record("end of data", *client.data(_body(message)))
            except smtplib.SMTPDataError as refused:  # DATA itself refused
                record("data", refused.smtp_code, refused.smtp_error)
                client.rset()
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
        return {"steps": steps, **result}
    except (OSError, smtplib.SMTPException) as error:
        return {"steps": steps, "error": f"{type(error).__name__}: {error}"}


def _body(message: dict[str, Any]) -> bytes:
    headers = (f"From: <{message['from']}>\r\nTo: <{message['to'][0]}>\r\nSubject: {message.get('subject', 'lab')}\r\n"
               f"Message-ID: <{message.get('id', 'lab')}@lab>\r\n\r\n")
    size = int(message.get("size", 200))
    line = b"The ISP lab says hello; this line only fills the message up to its size.\r\n"
    body = (line * (size // len(line) + 1))[:size]
    # Lines of a message body must not start with a dot (SMTP transparency): ours never do.
    return headers.encode() + body


def spf(ip: str, sender: str, helo: str, nameserver: str) -> dict[str, Any]:
    """pyspf's verdict for a mail from `sender` at `ip`, looking names up at `nameserver`."""
    import spf as pyspf

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.lifetime = 5.0
    dns.resolver.default_resolver = resolver  # pyspf asks dnspython's default resolver
    result, explanation = pyspf.check2(i=ip, s=sender, h=helo)
    record = [r.to_text() for r in resolver.resolve(sender.split("@")[1], "TXT")]
    return {"result": result, "explanation": explanation, "txt": record}


ACTIONS = {"dns": dns_queries, "tcp": tcp, "smtp": smtp, "spf": spf}


def main(argv: list[str]) -> int:
    action = ACTIONS[argv[0]]
    arguments = json.loads(sys.stdin.read() or "{}")
    try:
        result = action(**arguments)
    except Exception as error:  # noqa: BLE001 - reported to the probe, which judges
        result = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
